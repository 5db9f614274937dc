"""Credentials, tool calls through the SSRF-safe client to a local upstream, the call log."""

import base64
import json
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from app.mcp.models import McpTool
from app.mcp.tasks import purge_call_logs
from tests import factories
from tests.assertions import ISO_Z, error
from tests.conftest import requires_redis
from tests.core import counted_statements, spare_app

from .specs import make_server, make_spec, upstream_spec

SECRET = "sk_upstream_Zq8Y3vT1w9"
CALL = "/api/v1/mcp/tools/call"


@pytest.fixture
def server(client, owner, upstream):
    spec = make_spec(client, owner, upstream_spec())
    server = make_server(client, owner, spec["id"], slug="items", auth_mode="bearer", base_url=upstream.base_url)
    add_credential(client, owner, server["id"], "bearer")
    return server


def add_credential(client, account, server_id, auth_type, secret=SECRET):
    response = client.post(
        f"/api/v1/mcp/servers/{server_id}/credentials",
        json={"label": "Prod", "secret": secret, "auth_type": auth_type},
        headers=account.headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def call(client, account, tool, arguments=None, server="items"):
    return client.post(
        CALL, json={"server": server, "tool": tool, "arguments": arguments or {}}, headers=account.headers
    )


def test_a_call_builds_the_upstream_request_from_the_operation(client, owner, server, upstream):
    response = call(
        client, owner, "getItem", {"item_id": "a/b c", "expand": True, "tags": ["x", "y"], "X-Trace": "t-1"}
    )
    assert response.status_code == 200, response.get_json()
    result = response.get_json()["result"]
    assert (result["status_code"], result["is_error"], result["truncated"]) == (200, False, False)
    assert result["content_type"] == "application/json" and result["size"] > 0 and result["duration_ms"] >= 0
    seen = result["content"]
    assert seen["method"] == "GET"
    assert seen["raw_path"].startswith("/items/a%2Fb%20c?")  # the path parameter encoded
    assert seen["query"] == {"expand": ["true"], "tags": ["x", "y"]}
    assert seen["headers"]["x-trace"] == "t-1"
    assert seen["headers"]["authorization"] == f"Bearer {SECRET}"  # the stored credential


def test_json_body_and_server_by_id(client, owner, server, upstream):
    response = call(client, owner, "putItem", {"item_id": "7", "body": {"name": "n", "count": 2}}, server=server["id"])
    seen = response.get_json()["result"]["content"]
    assert seen["method"] == "PUT" and seen["path"] == "/items/7"
    assert json.loads(seen["body"]) == {"name": "n", "count": 2}
    assert seen["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("auth", "expect"),
    [
        ({"auth_mode": "api_key", "auth_header": "X-Api-Key"}, lambda s: s["headers"]["x-api-key"] == SECRET),
        ({"auth_mode": "api_key", "auth_query_param": "key"}, lambda s: s["query"]["key"] == [SECRET]),
        (
            {"auth_mode": "basic"},
            lambda s: s["headers"]["authorization"] == "Basic " + base64.b64encode(SECRET.encode()).decode(),
        ),
        ({"auth_mode": "none"}, lambda s: "authorization" not in s["headers"]),
    ],
)
def test_credentials_are_injected_by_auth_mode(client, owner, upstream, auth, expect):
    spec = make_spec(client, owner, upstream_spec())
    server = make_server(client, owner, spec["id"], slug="auth", base_url=upstream.base_url, **auth)
    if auth["auth_mode"] != "none":
        add_credential(client, owner, server["id"], "bearer", secret="wrong-type")  # another type: not used
        add_credential(client, owner, server["id"], auth["auth_mode"])
    seen = call(client, owner, "getItem", {"item_id": "1"}, server="auth").get_json()["result"]["content"]
    assert expect(seen)


def test_a_server_without_a_credential_of_its_type_is_422(client, owner, upstream):
    spec = make_spec(client, owner, upstream_spec())
    make_server(client, owner, spec["id"], slug="bare", auth_mode="bearer", base_url=upstream.base_url)
    assert (
        "server"
        in error(call(client, owner, "getItem", {"item_id": "1"}, server="bare"), 422, "validation_failed")["errors"]
    )
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("arguments", "where"),
    [
        ({}, "arguments"),  # item_id is required
        ({"item_id": "1", "nope": 1}, "arguments"),
        ({"item_id": "1", "expand": "yes"}, "arguments.expand"),
        ({"item_id": "1", "tags": [1]}, "arguments.tags.0"),
    ],
)
def test_arguments_are_checked_against_the_schema_before_any_request(client, owner, server, upstream, arguments, where):
    body = error(call(client, owner, "getItem", arguments), 422, "validation_failed")
    assert where in body["errors"]
    body = error(call(client, owner, "putItem", {"item_id": "1", "body": {"count": -1}}), 422, "validation_failed")
    assert set(body["errors"]) == {"arguments.body", "arguments.body.count"}
    assert upstream.requests == []


def test_header_values_cannot_smuggle_lines(client, owner, server, upstream):
    error(call(client, owner, "getItem", {"item_id": "1", "X-Trace": "a\r\nX-Evil: 1"}), 422, "validation_failed")
    assert upstream.requests == []


def test_upstream_errors_and_big_answers(client, owner, server, upstream, app, monkeypatch):
    result = call(client, owner, "status", {"code": 503}).get_json()["result"]
    assert (result["status_code"], result["is_error"], result["content"]) == (503, True, {"status": 503})
    monkeypatch.setitem(app.config, "MCP_RESPONSE_MAX_BYTES", 1000)
    big = call(client, owner, "big").get_json()["result"]
    assert (big["truncated"], big["size"], big["content"]) == (True, 1000, "x" * 1000)


def test_unreachable_or_slow_upstream_is_502(client, owner, server, upstream, app, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    client.patch(
        f"/api/v1/mcp/servers/{server['id']}",
        json={"base_url": f"http://127.0.0.1:{closed_port}"},
        headers=owner.headers,
    )
    body = error(call(client, owner, "getItem", {"item_id": "1"}), 502, "upstream_error")
    assert "Connection refused" in body["message"] and SECRET not in json.dumps(body)
    client.patch(f"/api/v1/mcp/servers/{server['id']}", json={"base_url": upstream.base_url}, headers=owner.headers)
    upstream.slow_seconds = 1.0
    monkeypatch.setitem(app.config, "MCP_UPSTREAM_TIMEOUT", 0.3)
    assert "Timed out" in error(call(client, owner, "slow"), 502, "upstream_error")["message"]
    logs = client.get(f"/api/v1/mcp/servers/{server['id']}/logs", headers=owner.headers).get_json()["data"]
    assert [(entry["tool_name"], entry["status_code"], entry["is_error"]) for entry in logs] == [
        ("slow", None, True),
        ("getItem", None, True),
    ]
    assert "Timed out" in logs[0]["error"]


def test_upstream_turning_private_is_refused_at_call_time(client, owner, server, app, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOWED_HOSTS", [])  # 127.0.0.1 no longer allow-listed
    assert (
        "Only https URLs are allowed"
        in error(call(client, owner, "getItem", {"item_id": "1"}), 502, "upstream_error")["message"]
    )


def test_per_server_rate_limit(client, owner, server):
    client.patch(f"/api/v1/mcp/servers/{server['id']}", json={"rate_limit_per_minute": 2}, headers=owner.headers)
    for _ in range(2):
        assert call(client, owner, "getItem", {"item_id": "1"}).status_code == 200
    limited = error(call(client, owner, "getItem", {"item_id": "1"}), 429, "rate_limit_exceeded")
    assert limited["limit"] == 2
    assert int(call(client, owner, "getItem", {"item_id": "1"}).headers["Retry-After"]) >= 1


def test_inactive_or_unknown_tools_and_servers(client, owner, server, other):
    tools = client.get(f"/api/v1/mcp/servers/{server['id']}/tools", headers=owner.headers).get_json()["data"]
    get_item = next(t for t in tools if t["name"] == "getItem")
    client.patch(
        f"/api/v1/mcp/servers/{server['id']}/tools/{get_item['id']}", json={"is_active": False}, headers=owner.headers
    )
    error(call(client, owner, "getItem", {"item_id": "1"}), 404, "not_found")
    error(call(client, owner, "nope"), 404, "not_found")
    error(call(client, owner, "status", {"code": 200}, server="missing"), 404, "not_found")
    error(call(client, other, "status", {"code": 200}), 404, "not_found")  # another workspace
    error(call(client, other, "status", {"code": 200}, server=server["id"]), 404, "not_found")
    client.patch(f"/api/v1/mcp/servers/{server['id']}", json={"is_active": False}, headers=owner.headers)
    error(call(client, owner, "status", {"code": 200}), 409, "conflict")


def test_the_test_endpoint(client, owner, server):
    response = client.post(
        f"/api/v1/mcp/servers/{server['id']}/test",
        json={"tool_name": "status", "input": {"code": 201}},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True and body["result"]["status_code"] == 201 and body["total_ms"] >= 0
    failing = client.post(
        f"/api/v1/mcp/servers/{server['id']}/test",
        json={"tool_name": "status", "input": {"code": 500}},
        headers=owner.headers,
    ).get_json()
    assert failing["success"] is False and failing["result"]["is_error"] is True


def test_scopes_for_calls(client, owner, server):
    reader = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["mcp:read"]))
    assert (
        client.post(
            CALL, json={"server": "items", "tool": "status", "arguments": {"code": 200}}, headers=reader
        ).status_code
        == 403
    )


# --- credentials -----------------------------------------------------------------------------


def test_credentials_are_never_returned_and_not_stored_in_plain_text(client, owner, server, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"/api/v1/mcp/servers/{server['id']}/credentials"
    created = add_credential(client, owner, server["id"], "bearer", secret="another-SECRET-value-42")
    assert set(created) == {"id", "label", "auth_type", "created_at", "last_used_at"}
    assert created["id"].startswith("mcc_") and created["last_used_at"] is None
    listed = client.get(url, headers=owner.headers)
    assert listed.status_code == 200 and "SECRET" not in listed.get_data(as_text=True)
    assert SECRET not in listed.get_data(as_text=True)
    call(client, owner, "getItem", {"item_id": "1"})
    used = {c["id"]: c for c in client.get(url, headers=owner.headers).get_json()["data"]}[created["id"]]
    assert ISO_Z.match(used["last_used_at"])  # the newest bearer credential was the one sent
    # a dump of every table holds neither secret in plain text
    for table in db.metadata.sorted_tables:
        dump = repr(db.session.execute(sa.select(table)).all())
        assert SECRET not in dump and "another-SECRET-value-42" not in dump, table.name
    assert SECRET not in caplog.text and "another-SECRET-value-42" not in caplog.text
    assert client.delete(f"{url}/{created['id']}", headers=owner.headers).status_code == 204
    error(client.delete(f"{url}/{created['id']}", headers=owner.headers), 404, "not_found")


def test_credentials_are_for_admins_of_the_workspace(client, owner, server, other):
    url = f"/api/v1/mcp/servers/{server['id']}/credentials"
    member = factories.member(owner.workspace_id, "member@example.com", "member")
    body = {"label": "x", "secret": "s", "auth_type": "bearer"}
    error(client.post(url, json=body, headers=member.headers), 403, "access_denied")
    error(client.get(url, headers=member.headers), 403, "access_denied")
    error(client.get(url, headers=other.headers), 404, "not_found")
    error(client.post(url, json=body, headers=other.headers), 404, "not_found")
    error(client.post(url, json={**body, "auth_type": "none"}, headers=owner.headers), 422, "validation_failed")
    error(client.post(url, json={**body, "secret": ""}, headers=owner.headers), 422, "validation_failed")


# --- the log ---------------------------------------------------------------------------------


def logs(client, account, server_id, query=""):
    response = client.get(f"/api/v1/mcp/servers/{server_id}/logs{query}", headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_each_call_is_logged_without_bodies_or_secrets(client, owner, server):
    call(client, owner, "putItem", {"item_id": "7", "body": {"name": "private-name"}})
    (entry,) = logs(client, owner, server["id"])["data"]
    assert entry["id"].startswith("mcl_") and ISO_Z.match(entry["created_at"])
    assert (entry["tool_name"], entry["method"], entry["status_code"], entry["is_error"]) == (
        "putItem",
        "PUT",
        200,
        False,
    )
    assert entry["source"] == "rest" and entry["api_key_id"].startswith("key_")
    assert entry["request_bytes"] == len('{"name":"private-name"}') and entry["response_bytes"] > 0
    assert "private-name" not in json.dumps(entry) and SECRET not in json.dumps(entry)


def test_the_log_is_a_cursor_list_without_repeats_or_gaps_while_calls_are_added(client, owner, server):
    for code in (200, 201, 202, 203, 204):
        call(client, owner, "status", {"code": code})
    first = logs(client, owner, server["id"], "?limit=2")
    assert first["meta"]["limit"] == 2 and first["meta"]["has_more"] is True
    call(client, owner, "status", {"code": 299})  # a new call meanwhile: newest, so on no later page
    second = logs(client, owner, server["id"], f"?limit=2&cursor={first['meta']['next_cursor']}")
    third = logs(client, owner, server["id"], f"?limit=2&cursor={second['meta']['next_cursor']}")
    assert third["meta"] == {"limit": 2, "next_cursor": None, "has_more": False}
    seen = [e["status_code"] for page in (first, second, third) for e in page["data"]]
    assert seen == [204, 203, 202, 201, 200]
    assert [e["status_code"] for e in logs(client, owner, server["id"])["data"]] == [299, 204, 203, 202, 201, 200]


def test_log_filters_and_bad_queries(client, owner, server, other):
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        call(client, owner, "status", {"code": 200})
    with time_machine.travel(t0 + timedelta(hours=1), tick=False):
        call(client, owner, "status", {"code": 404})
        call(client, owner, "putItem", {"item_id": "1", "body": {"name": "x"}})
    codes = lambda q: [e["status_code"] for e in logs(client, owner, server["id"], q)["data"]]  # noqa: E731
    assert codes("?method=put") == [200]
    assert codes("?status_code=404") == [404]
    assert codes("?from=2026-03-01T12:30:00Z") == [200, 404]
    assert codes("?to=2026-03-01T12:30:00Z") == [200]
    for bad in ("?cursor=%%%", "?cursor=LTE", "?limit=0", "?limit=abc", "?status_code=1", "?from=yesterday"):
        error(client.get(f"/api/v1/mcp/servers/{server['id']}/logs{bad}", headers=owner.headers), 400, "bad_request")
    error(client.get(f"/api/v1/mcp/servers/{server['id']}/logs", headers=other.headers), 404, "not_found")


def test_retention_job_deletes_old_logs(client, owner, server, app, monkeypatch):
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        call(client, owner, "status", {"code": 200})
    with time_machine.travel(t0 + timedelta(days=20), tick=False):
        call(client, owner, "status", {"code": 201})
    with time_machine.travel(t0 + timedelta(days=30, seconds=1), tick=False):
        assert purge_call_logs() == 1
        assert purge_call_logs() == 0  # safe to run twice
    assert [e["status_code"] for e in logs(client, owner, server["id"])["data"]] == [201]
    monkeypatch.setitem(app.config, "MCP_LOG_RETENTION_DAYS", 5)
    with time_machine.travel(t0 + timedelta(days=26), tick=False):
        assert purge_call_logs() == 1


def test_tool_calls_are_metered(client, owner, server):
    call(client, owner, "status", {"code": 200})
    call(client, owner, "status", {"code": 500})
    error(call(client, owner, "getItem", {}), 422, "validation_failed")  # refused before the call: not counted
    usage = client.get("/api/v1/usage", headers=owner.headers).get_json()["data"]
    assert usage["tool_calls_this_month"] == 2
    assert usage["requests_this_month"] >= 3  # the calls' requests count as api_calls


# --- remembered lookups ----------------------------------------------------------------------


@requires_redis
def test_a_remembered_call_makes_no_query_before_its_upstream_request(client, owner, server):
    assert call(client, owner, "getItem", {"item_id": "1"}).status_code == 200  # looks them up
    with counted_statements() as seen:
        assert call(client, owner, "getItem", {"item_id": "2"}).status_code == 200
    assert any("INSERT INTO mcp_call_logs" in statement for statement in seen), seen
    assert not [statement for statement in seen if statement.lstrip().startswith("SELECT")], seen
    # the credential's last use is still written, once a minute, not once a call
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=2)):
        with counted_statements() as seen:
            assert call(client, owner, "getItem", {"item_id": "3"}).status_code == 200
        assert any(statement.lstrip().startswith("UPDATE mcp_credentials") for statement in seen), seen


@requires_redis
def test_every_change_reaches_the_next_call_at_once(client, owner, server, upstream):
    def sent_authorization(**arguments):
        response = call(client, owner, "getItem", {"item_id": "1"}, **arguments)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["result"]["content"]["headers"].get("authorization")

    url = f"/api/v1/mcp/servers/{server['id']}"
    assert sent_authorization() == f"Bearer {SECRET}"  # remembered from here on
    newer = add_credential(client, owner, server["id"], "bearer", secret="rotated-secret")
    assert sent_authorization() == "Bearer rotated-secret"
    assert client.delete(f"{url}/credentials/{newer['id']}", headers=owner.headers).status_code == 204
    assert sent_authorization() == f"Bearer {SECRET}"

    tools = client.get(f"{url}/tools", headers=owner.headers).get_json()["data"]
    get_item = next(t for t in tools if t["name"] == "getItem")
    client.patch(f"{url}/tools/{get_item['id']}", json={"is_active": False}, headers=owner.headers)
    error(call(client, owner, "getItem", {"item_id": "1"}), 404, "not_found")
    client.patch(f"{url}/tools/{get_item['id']}", json={"is_active": True}, headers=owner.headers)
    assert sent_authorization(server=server["id"]) == f"Bearer {SECRET}"

    assert client.patch(url, json={"auth_mode": "none"}, headers=owner.headers).status_code == 200
    assert sent_authorization() is None and sent_authorization(server=server["id"]) is None
    client.patch(url, json={"is_active": False}, headers=owner.headers)
    error(call(client, owner, "getItem", {"item_id": "1"}), 409, "conflict")
    assert client.delete(url, headers=owner.headers).status_code == 204
    error(call(client, owner, "getItem", {"item_id": "1"}), 404, "not_found")
    error(call(client, owner, "getItem", {"item_id": "1"}, server=server["id"]), 404, "not_found")


@requires_redis
def test_a_credential_deleted_by_another_process_is_not_sent_from_here(client, owner, server):
    assert call(client, owner, "getItem", {"item_id": "1"}).status_code == 200  # remembered here
    url = f"/api/v1/mcp/servers/{server['id']}/credentials"
    with spare_app() as other_process:
        elsewhere = other_process.test_client()
        (credential,) = elsewhere.get(url, headers=owner.headers).get_json()["data"]
        assert elsewhere.delete(f"{url}/{credential['id']}", headers=owner.headers).status_code == 204
    error(call(client, owner, "getItem", {"item_id": "1"}), 422, "validation_failed")


@requires_redis
def test_a_remembered_lookup_is_loaded_again_after_a_minute(client, owner, server):
    assert call(client, owner, "getItem", {"item_id": "1"}).status_code == 200  # remembered here
    # a change that bypasses the services (and so the epoch) is seen within a minute
    db.session.execute(sa.update(McpTool).where(McpTool.name == "getItem").values(is_active=False))
    assert call(client, owner, "getItem", {"item_id": "1"}).status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61)):
        error(call(client, owner, "getItem", {"item_id": "1"}), 404, "not_found")
