"""The workspace's entities as MCP tools (POST /mcp/{workspace}/entities) and GET /mcp/resources."""

import json
from urllib.parse import quote

from jsonschema import Draft202012Validator

from tests import factories
from tests.assertions import error

from .specs import make_server, make_spec


def slug_of(account):
    from app.workspaces.service import get_workspace

    return get_workspace(account.workspace_id).slug


def rpc(client, account, method, params=None):
    message = {"jsonrpc": "2.0", "id": 1, "method": method, **({"params": params} if params is not None else {})}
    return client.post(f"/mcp/{slug_of(account)}/entities", json=message, headers=account.headers)


def result(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "error" not in response.get_json(), response.get_json()
    return response.get_json()["result"]


def call(client, account, name, arguments):
    return result(rpc(client, account, "tools/call", {"name": name, "arguments": arguments}))


def test_entities_are_tools_with_schemas_from_their_declarations(client, owner):
    tools = {t["name"]: t for t in result(rpc(client, owner, "tools/list"))["tools"]}
    for entity in ("tasks", "comments", "customers", "products", "orders"):
        for action in ("list", "get", "create", "update", "delete"):
            Draft202012Validator.check_schema(tools[f"{entity}_{action}"]["inputSchema"])
    create = tools["tasks_create"]["inputSchema"]
    assert create["required"] == ["title"]
    assert create["properties"]["title"] == {"type": "string", "description": "string", "maxLength": 200}
    assert create["properties"]["status"]["enum"] == ["todo", "in_progress", "completed", None]
    assert tools["tasks_delete"]["inputSchema"]["required"] == ["id"]


def test_an_agent_works_on_tasks(client, owner):
    created = call(client, owner, "tasks_create", {"title": "Write the report", "priority": "high"})
    assert created["isError"] is False
    task = created["structuredContent"]
    assert task["id"].startswith("tsk_") and task["status"] == "todo"
    got = call(client, owner, "tasks_get", {"id": task["id"], "fields": "title"})["structuredContent"]
    assert got == {"id": task["id"], "title": "Write the report"}
    updated = call(client, owner, "tasks_update", {"id": task["id"], "status": "completed"})["structuredContent"]
    assert updated["status"] == "completed"
    call(client, owner, "tasks_create", {"title": "Another"})
    listed = call(client, owner, "tasks_list", {"filter": {"status": "completed"}, "per_page": 10})["structuredContent"]
    assert [t["title"] for t in listed["data"]] == ["Write the report"] and listed["meta"]["total"] == 1
    # the REST list sees the same data
    assert client.get("/api/v1/tasks", headers=owner.headers).get_json()["meta"]["total"] == 2
    (listed_resource, *_) = [
        r for r in result(rpc(client, owner, "resources/list"))["resources"] if r["uri"].endswith(task["id"])
    ]
    (content,) = result(rpc(client, owner, "resources/read", {"uri": listed_resource["uri"]}))["contents"]
    assert json.loads(content["text"])["title"] == "Write the report"
    deleted = call(client, owner, "tasks_delete", {"id": task["id"]})
    assert deleted["isError"] is False
    missing = call(client, owner, "tasks_get", {"id": task["id"]})
    assert missing["isError"] is True and missing["structuredContent"]["error"] == "not_found"


def test_bad_arguments_and_unknown_tools(client, owner):
    invalid = call(client, owner, "tasks_create", {"priority": "urgent"})
    assert invalid["isError"] is True and invalid["structuredContent"]["error"] == "validation_failed"
    unknown = rpc(client, owner, "tools/call", {"name": "nothing_list", "arguments": {}})
    assert unknown.get_json()["error"]["code"] == -32602
    bad_filter = call(client, owner, "tasks_list", {"filter": {"nope": 1}})
    assert bad_filter["isError"] is True and bad_filter["structuredContent"]["error"] == "invalid_filter"


def test_the_callers_scopes_and_role_apply(client, owner, other):
    reader = factories.SimpleNamespace(
        headers=factories.bearer(
            factories.key(owner.user_id, owner.workspace_id, ["mcp:read", "mcp:write", "tasks:read"])
        ),
        workspace_id=owner.workspace_id,
    )
    names = {t["name"] for t in result(rpc(client, reader, "tools/list"))["tools"]}
    assert names == {"tasks_list", "tasks_get"}
    refused = call(client, reader, "tasks_create", {"title": "x"})
    assert refused["isError"] is True and refused["structuredContent"]["required_scope"] == "tasks:write"
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    assert all(t["name"].endswith(("_list", "_get")) for t in result(rpc(client, viewer, "tools/list"))["tools"])
    error(
        client.post(
            f"/mcp/{slug_of(owner)}/entities", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=other.headers
        ),
        404,
        "not_found",
    )


def test_a_server_cannot_take_the_entities_slug(client, owner):
    spec = make_spec(client, owner)
    body = {"slug": "entities", "name": "x", "auth_mode": "none", "base_url": "https://a.example.com"}
    error(
        client.post(f"/api/v1/mcp/specs/{spec['id']}/servers", json=body, headers=owner.headers),
        422,
        "validation_failed",
    )


def test_resources_over_rest(client, owner, other):
    server = make_server(client, owner, make_spec(client, owner)["id"])
    task = call(client, owner, "tasks_create", {"title": "Read me"})["structuredContent"]
    for uri in (f"openapi://servers/{server['slug']}", quote(f"openapi://servers/{server['slug']}", safe="")):
        response = client.get(f"/api/v1/mcp/resources/{uri}", headers=owner.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        data = response.get_json()["data"]
        assert data["uri"] == "openapi://servers/petstore" and data["content"]["info"]["title"] == "Swagger Petstore"
    record = client.get(f"/api/v1/mcp/resources/entities://tasks/{task['id']}", headers=owner.headers).get_json()[
        "data"
    ]
    assert record["content"]["title"] == "Read me"
    for uri in (f"entities://tasks/{task['id']}", "openapi://servers/petstore", "nope://x", "entities://nothing/1"):
        error(client.get(f"/api/v1/mcp/resources/{uri}", headers=other.headers), 404, "not_found")
    no_tasks = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["mcp:read"]))
    error(client.get(f"/api/v1/mcp/resources/entities://tasks/{task['id']}", headers=no_tasks), 404, "not_found")
