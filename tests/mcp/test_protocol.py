"""The MCP endpoint's rules, through the Flask test client (the SDK client: test_protocol_sdk.py)."""

import json

import pytest

from tests import factories
from tests.assertions import error
from tests.conftest import requires_redis

from .specs import document, make_server, make_spec, op, upstream_spec


@pytest.fixture
def server(client, owner, upstream):
    spec = make_spec(client, owner, upstream_spec())
    server = make_server(client, owner, spec["id"], slug="items", auth_mode="bearer", base_url=upstream.base_url)
    client.post(
        f"/api/v1/mcp/servers/{server['id']}/credentials",
        json={"label": "x", "secret": "upstream-secret", "auth_type": "bearer"},
        headers=owner.headers,
    )
    return server


def url_of(account, server_slug="items"):
    from app.workspaces.service import get_workspace

    return f"/mcp/{get_workspace(account.workspace_id).slug}/{server_slug}"


def rpc(client, account, method, params=None, headers=None, request_id=1, server_slug="items"):
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return client.post(url_of(account, server_slug), json=message, headers={**account.headers, **(headers or {})})


def result(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["jsonrpc"] == "2.0" and "error" not in body, body
    return body["result"]


def rpc_error(response, code, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code, body
    return body


def test_initialize_and_ping(client, owner, server):
    response = rpc(
        client,
        owner,
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    )
    answer = result(response)
    assert answer["protocolVersion"] == "2025-06-18"
    assert answer["capabilities"]["tools"] == {"listChanged": False}
    assert answer["serverInfo"]["name"] == "items"
    assert response.mimetype == "application/json" and "Mcp-Session-Id" not in response.headers
    assert (
        result(rpc(client, owner, "initialize", {"protocolVersion": "1999-01-01"}))["protocolVersion"] == "2025-11-25"
    )
    assert result(rpc(client, owner, "ping", headers={"MCP-Protocol-Version": "2025-03-26"})) == {}


def test_transport_rules(client, owner, server):
    url = url_of(owner)
    for method in ("get", "delete"):
        response = getattr(client, method)(url, headers=owner.headers)
        error(response, 405, "method_not_allowed")
        assert response.headers["Allow"] == "POST"
    notification = client.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=owner.headers
    )
    assert notification.status_code == 202 and notification.get_data() == b""
    bad = client.post(url, data="{nope", content_type="application/json", headers=owner.headers)
    rpc_error(bad, -32700, 400)
    batch = client.post(url, json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}], headers=owner.headers)
    rpc_error(batch, -32600, 400)
    rpc_error(client.post(url, json={"id": 1, "method": "ping"}, headers=owner.headers), -32600, 400)
    rpc_error(rpc(client, owner, "ping", headers={"MCP-Protocol-Version": "2024-11-05"}), -32600, 400)
    rpc_error(rpc(client, owner, "server/discover", headers={"MCP-Protocol-Version": "2026-07-28"}), -32601)
    rpc_error(rpc(client, owner, "prompts/list"), -32601)


def test_auth_origin_and_tenancy(client, owner, other, server):
    url = url_of(owner)
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    unauthenticated = client.post(url, json=message)
    error(unauthenticated, 401, "unauthorized")
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
    error(client.post(url, json=message, headers={"Authorization": "Bearer sk_live_nope"}), 401, "unauthorized")
    error(
        client.post(url, json=message, headers={**owner.headers, "Origin": "https://evil.example"}),
        403,
        "access_denied",
    )
    assert (
        client.post(url, json=message, headers={**owner.headers, "Origin": "https://app.example.com"}).status_code
        == 200
    )
    error(client.post(url, json=message, headers=other.headers), 404, "not_found")  # not a member
    error(rpc(client, owner, "ping", server_slug="nope"), 404, "not_found")
    error(client.post("/mcp/no-such-workspace/items", json=message, headers=owner.headers), 404, "not_found")
    client.patch(f"/api/v1/mcp/servers/{server['id']}", json={"is_active": False}, headers=owner.headers)
    error(rpc(client, owner, "ping"), 404, "not_found")


def test_a_renamed_workspace_answers_at_its_new_slug_only(client, owner, server):
    # the caller's membership carries the slug (and may be remembered): a rename must reach it
    old = url_of(owner)
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert client.post(old, json=message, headers=owner.headers).status_code == 200
    renamed = client.patch(f"/api/v1/workspaces/{owner.workspace_id}", json={"slug": "renamed"}, headers=owner.headers)
    assert renamed.status_code == 200, renamed.get_json()
    error(client.post(old, json=message, headers=owner.headers), 404, "not_found")
    assert client.post("/mcp/renamed/items", json=message, headers=owner.headers).status_code == 200


def test_tools_list_and_call(client, owner, server, upstream):
    tools = result(rpc(client, owner, "tools/list"))["tools"]
    assert [t["name"] for t in tools] == ["big", "getItem", "putItem", "slow", "status"]
    assert tools[1]["inputSchema"]["required"] == ["item_id"] and "nextCursor" not in result(
        rpc(client, owner, "tools/list")
    )
    called = result(rpc(client, owner, "tools/call", {"name": "getItem", "arguments": {"item_id": "9"}}))
    assert called["isError"] is False
    assert called["structuredContent"]["path"] == "/items/9"
    assert json.loads(called["content"][0]["text"]) == called["structuredContent"]
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer upstream-secret"
    failing = result(rpc(client, owner, "tools/call", {"name": "status", "arguments": {"code": 500}}))
    assert failing["isError"] is True and failing["structuredContent"] == {"status": 500}
    invalid = result(rpc(client, owner, "tools/call", {"name": "getItem", "arguments": {}}))
    assert invalid["isError"] is True and invalid["structuredContent"]["error"] == "validation_failed"
    rpc_error(rpc(client, owner, "tools/call", {"name": "nope", "arguments": {}}), -32602)
    rpc_error(rpc(client, owner, "tools/call", {"name": "getItem", "arguments": []}), -32602)
    logs = client.get(f"/api/v1/mcp/servers/{server['id']}/logs", headers=owner.headers).get_json()["data"]
    assert [(e["tool_name"], e["source"]) for e in logs] == [("status", "protocol"), ("getItem", "protocol")]


@requires_redis
def test_changes_reach_a_remembered_endpoint_at_once(client, owner, server, upstream):
    getitem = {"name": "getItem", "arguments": {"item_id": "9"}}
    assert result(rpc(client, owner, "tools/call", getitem))["isError"] is False  # remembered from here on
    url = f"/api/v1/mcp/servers/{server['id']}"
    tools = client.get(f"{url}/tools", headers=owner.headers).get_json()["data"]
    get_item = next(t for t in tools if t["name"] == "getItem")
    client.patch(f"{url}/tools/{get_item['id']}", json={"is_active": False}, headers=owner.headers)
    rpc_error(rpc(client, owner, "tools/call", getitem), -32602)
    client.patch(f"{url}/tools/{get_item['id']}", json={"is_active": True}, headers=owner.headers)
    assert result(rpc(client, owner, "tools/call", getitem))["isError"] is False
    client.patch(url, json={"is_active": False}, headers=owner.headers)
    error(rpc(client, owner, "ping"), 404, "not_found")
    client.patch(url, json={"is_active": True}, headers=owner.headers)
    assert result(rpc(client, owner, "ping")) == {}
    assert client.delete(url, headers=owner.headers).status_code == 204
    error(rpc(client, owner, "ping"), 404, "not_found")


def test_scopes(client, owner, server):
    reader = factories.SimpleNamespace(
        headers=factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["mcp:read"])),
        workspace_id=owner.workspace_id,
    )
    assert result(rpc(client, reader, "tools/list"))["tools"]
    error(rpc(client, reader, "tools/call", {"name": "status", "arguments": {"code": 200}}), 403, "access_denied")
    nothing = factories.SimpleNamespace(
        headers=factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["webhooks:read"])),
        workspace_id=owner.workspace_id,
    )
    error(rpc(client, nothing, "ping"), 403, "access_denied")


def test_tools_list_is_paginated(client, owner):
    paths = {f"/r{i:03}": {"get": op(operationId=f"op{i:03}")} for i in range(130)}
    server = make_server(client, owner, make_spec(client, owner, document(paths))["id"], slug="many")
    first = result(rpc(client, owner, "tools/list", server_slug="many"))
    assert len(first["tools"]) == 100 and first["nextCursor"]
    second = result(rpc(client, owner, "tools/list", {"cursor": first["nextCursor"]}, server_slug="many"))
    assert len(second["tools"]) == 30 and "nextCursor" not in second
    assert len({t["name"] for t in first["tools"] + second["tools"]}) == 130
    rpc_error(rpc(client, owner, "tools/list", {"cursor": "%%"}, server_slug="many"), -32602)
    assert server["tool_count"] == 130


def test_resources(client, owner, server):
    (resource,) = result(rpc(client, owner, "resources/list"))["resources"]
    assert resource["uri"] == "openapi://servers/items" and resource["mimeType"] == "application/json"
    (content,) = result(rpc(client, owner, "resources/read", {"uri": resource["uri"]}))["contents"]
    assert json.loads(content["text"])["paths"]["/items/{item_id}"]
    rpc_error(rpc(client, owner, "resources/read", {"uri": "openapi://servers/other"}), -32002)
