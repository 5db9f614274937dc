"""Servers made from specs, their tools, the plan limit and usage."""

import pytest

from tests import factories
from tests.assertions import ISO_Z, denied, error

from .specs import document, make_server, make_spec, op, petstore_yaml

SERVERS = "/api/v1/mcp/servers"


def test_create_a_server_from_a_spec(client, owner):
    spec = make_spec(client, owner)
    response = client.post(
        f"/api/v1/mcp/specs/{spec['id']}/servers",
        json={
            "slug": "pets",
            "name": "Pets",
            "auth_mode": "bearer",
            "base_url": "https://petstore.example.com/v1",
            "rate_limit_per_minute": 30,
        },
        headers=owner.headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["message"] == "MCP server created successfully."
    server = body["data"]
    assert server["id"].startswith("mcs_") and server["spec_id"] == spec["id"]
    assert server["tools"] == ["createPets", "listPets", "showPetById"]
    assert server["tool_count"] == 3
    assert server["skipped"] == {"deprecated": 0, "non_json": 0}
    assert (server["auth_mode"], server["rate_limit_per_minute"], server["is_active"]) == ("bearer", 30, True)
    assert ISO_Z.match(server["created_at"])


def test_skipped_operations_are_counted(client, owner):
    raw = document(
        {
            "/a": {
                "get": op(operationId="kept"),
                "delete": op(deprecated=True),
                "post": op(requestBody={"content": {"text/csv": {"schema": {"type": "string"}}}}),
            }
        }
    )
    server = make_server(client, owner, make_spec(client, owner, raw)["id"])
    assert server["tools"] == ["kept"] and server["skipped"] == {"deprecated": 1, "non_json": 1}


def test_slug_is_unique_in_the_workspace_only(client, owner, other):
    spec = make_spec(client, owner)
    make_server(client, owner, spec["id"])
    body = {"slug": "petstore", "name": "Again", "auth_mode": "none", "base_url": "https://a.example.com"}
    response = client.post(f"/api/v1/mcp/specs/{spec['id']}/servers", json=body, headers=owner.headers)
    assert error(response, 409, "conflict")["errors"]["slug"]
    make_server(client, other, make_spec(client, other)["id"])  # the same slug elsewhere is fine


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"auth_mode": "oauth"}, "auth_mode"),
        ({"auth_mode": "api_key"}, "auth_header"),  # needs a header or a query parameter
        ({"auth_mode": "api_key", "auth_header": "X-Key", "auth_query_param": "key"}, "auth_header"),
        ({"auth_mode": "bearer", "auth_header": "X-Key"}, "auth_mode"),
        ({"auth_header": "Bad Header"}, "auth_header"),
        ({"rate_limit_per_minute": 1.5}, "rate_limit_per_minute"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"base_url": "http://example.com"}, "base_url"),
        ({"base_url": "https://127.0.0.1/"}, "base_url"),
        ({"base_url": "https://10.1.2.3/"}, "base_url"),
        ({"base_url": "https://169.254.169.254/"}, "base_url"),
        ({"base_url": "https://[::1]/"}, "base_url"),
        ({"tools": ["x"]}, "tools"),
    ],
)
def test_invalid_servers_are_422(client, owner, fields, field):
    spec = make_spec(client, owner)
    body = {"slug": "ok", "name": "Ok", "auth_mode": "none", "base_url": "https://api.example.com", **fields}
    response = client.post(f"/api/v1/mcp/specs/{spec['id']}/servers", json=body, headers=owner.headers)
    assert field in error(response, 422, "validation_failed")["errors"]


def test_loopback_base_url_only_when_allow_listed(client, owner, upstream):
    make_server(client, owner, make_spec(client, owner)["id"], base_url=upstream.base_url)


def test_a_spec_that_is_not_ready_makes_no_server(client, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_SYNC", False)  # the job does not run: it stays processing
    monkeypatch.setitem(app.config, "MCP_SPEC_SYNC_MAX_BYTES", 10)
    monkeypatch.setattr(app.extensions["core.jobs"], "enqueue", lambda *a, **k: None)
    response = client.post("/api/v1/mcp/specs", json={"name": "x", "raw_spec": petstore_yaml()}, headers=owner.headers)
    spec = response.get_json()["data"]
    assert spec["status"] == "processing"
    body = {"slug": "ok", "name": "Ok", "auth_mode": "none", "base_url": "https://api.example.com"}
    error(client.post(f"/api/v1/mcp/specs/{spec['id']}/servers", json=body, headers=owner.headers), 409, "conflict")


def test_plan_limit_and_usage_counts(client, app):
    free = factories.account("free@example.com")  # mcp_servers: 1 on the free tier
    spec = make_spec(client, free)
    server = make_server(client, free, spec["id"])
    body = {"slug": "second", "name": "Second", "auth_mode": "none", "base_url": "https://api.example.com"}
    refused = error(
        client.post(f"/api/v1/mcp/specs/{spec['id']}/servers", json=body, headers=free.headers),
        403,
        "feature_limit_reached",
    )
    assert (refused["feature"], refused["limit"], refused["current_usage"]) == ("mcp_servers", 1, 1)
    usage = client.get("/api/v1/usage", headers=free.headers).get_json()["data"]
    assert (usage["server_count"], usage["active_servers"]) == (1, 1)
    client.patch(f"{SERVERS}/{server['id']}", json={"is_active": False}, headers=free.headers)
    usage = client.get("/api/v1/usage", headers=free.headers).get_json()["data"]
    assert (usage["server_count"], usage["active_servers"]) == (1, 0)
    summary = client.get("/api/v1/entitlements/summary", headers=free.headers).get_json()["data"]
    assert summary["entitlements"]["mcp_servers"]["used"] == 1


def test_list_get_patch_delete(client, owner):
    spec = make_spec(client, owner)
    first = make_server(client, owner, spec["id"])
    make_server(client, owner, spec["id"], slug="zoo", name="Zoo")
    page = client.get(f"{SERVERS}?sort=slug", headers=owner.headers)
    assert page.status_code == 200 and page.headers["X-Total-Count"] == "2"
    assert [(s["slug"], s["tools"]) for s in page.get_json()["data"]] == [
        ("petstore", ["createPets", "listPets", "showPetById"]),
        ("zoo", ["createPets", "listPets", "showPetById"]),
    ]
    got = client.get(f"{SERVERS}/{first['id']}", headers=owner.headers).get_json()["data"]
    assert got == first
    patched = client.patch(
        f"{SERVERS}/{first['id']}",
        json={"name": "New", "auth_mode": "api_key", "auth_query_param": "key", "rate_limit_per_minute": None},
        headers=owner.headers,
    ).get_json()["data"]
    assert (patched["name"], patched["auth_mode"], patched["auth_query_param"]) == ("New", "api_key", "key")
    back = client.patch(f"{SERVERS}/{first['id']}", json={"auth_mode": "basic"}, headers=owner.headers).get_json()[
        "data"
    ]
    assert (back["auth_mode"], back["auth_query_param"]) == ("basic", None)
    error(client.patch(f"{SERVERS}/{first['id']}", json={"slug": "x"}, headers=owner.headers), 422, "validation_failed")
    error(
        client.patch(f"{SERVERS}/{first['id']}", json={"base_url": "https://10.0.0.1"}, headers=owner.headers),
        422,
        "validation_failed",
    )
    error(client.delete(f"/api/v1/mcp/specs/{spec['id']}", headers=owner.headers), 409, "conflict")
    for server in page.get_json()["data"]:
        assert client.delete(f"{SERVERS}/{server['id']}", headers=owner.headers).status_code == 204
    error(client.get(f"{SERVERS}/{first['id']}", headers=owner.headers), 404, "not_found")
    assert client.delete(f"/api/v1/mcp/specs/{spec['id']}", headers=owner.headers).status_code == 204


def test_tools_list_and_patch(client, owner):
    server = make_server(client, owner, make_spec(client, owner)["id"])
    tools_url = f"{SERVERS}/{server['id']}/tools"
    page = client.get(tools_url, headers=owner.headers)
    assert page.status_code == 200
    tools = page.get_json()["data"]
    assert [t["name"] for t in tools] == ["createPets", "listPets", "showPetById"]  # by name
    show = tools[2]
    assert show["id"].startswith("mct_") and (show["method"], show["path"]) == ("GET", "/pets/{petId}")
    assert show["input_schema"]["required"] == ["petId"]
    off = client.patch(f"{tools_url}/{show['id']}", json={"is_active": False}, headers=owner.headers)
    assert off.status_code == 200 and off.get_json()["data"]["is_active"] is False
    assert client.get(f"{SERVERS}/{server['id']}", headers=owner.headers).get_json()["data"]["tools"] == [
        "createPets",
        "listPets",
    ]
    assert [
        t["name"] for t in client.get(f"{tools_url}?is_active=false", headers=owner.headers).get_json()["data"]
    ] == ["showPetById"]
    error(
        client.patch(f"{tools_url}/{show['id']}", json={"name": "x", "is_active": True}, headers=owner.headers),
        422,
        "validation_failed",
    )
    error(client.patch(f"{tools_url}/{show['id']}", json={}, headers=owner.headers), 422, "validation_failed")
    error(client.patch(f"{tools_url}/mct_nope", json={"is_active": True}, headers=owner.headers), 404, "not_found")


def test_another_workspaces_servers_and_tools_are_404(client, owner, other):
    server = make_server(client, owner, make_spec(client, owner)["id"])
    tool = client.get(f"{SERVERS}/{server['id']}/tools", headers=owner.headers).get_json()["data"][0]
    url = f"{SERVERS}/{server['id']}"
    error(client.get(url, headers=other.headers), 404, "not_found")
    error(client.patch(url, json={"name": "x"}, headers=other.headers), 404, "not_found")
    error(client.delete(url, headers=other.headers), 404, "not_found")
    error(client.get(f"{url}/tools", headers=other.headers), 404, "not_found")
    error(client.patch(f"{url}/tools/{tool['id']}", json={"is_active": False}, headers=other.headers), 404, "not_found")
    other_spec = make_spec(client, other)
    body = {"slug": "x", "name": "x", "auth_mode": "none", "base_url": "https://a.example.com"}
    spec_of_owner = server["spec_id"]
    error(client.post(f"/api/v1/mcp/specs/{spec_of_owner}/servers", json=body, headers=other.headers), 404, "not_found")
    assert client.get(SERVERS, headers=other.headers).get_json()["meta"]["total"] == 0
    assert other_spec["id"] != spec_of_owner


def test_scopes(client, owner):
    server = make_server(client, owner, make_spec(client, owner)["id"])
    reader = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["mcp:read"]))
    assert client.get(SERVERS, headers=reader).status_code == 200
    denied(client.patch(f"{SERVERS}/{server['id']}", json={"name": "x"}, headers=reader), "mcp:write")
    denied(client.delete(f"{SERVERS}/{server['id']}", headers=reader), "mcp:delete")
    other_scope = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["webhooks:read"]))
    denied(client.get(SERVERS, headers=other_scope), "mcp:read")
