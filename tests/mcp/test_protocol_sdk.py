"""The official MCP Python SDK client against the app under gunicorn (two workers, stateless):
list tools, call a tool that reaches a local upstream with the stored credential, read a
resource, and the 401 case. The app runs in other processes, so this test has a database of its
own (a scratch PostgreSQL database, or SQLite in a temporary instance folder)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import httpx2
import pytest
from cryptography.fernet import Fernet
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import TEST_DATABASE_URL
from tests.processes import flask_cli, gunicorn, scratch_database

from . import Upstream
from .specs import upstream_spec

EMAIL = "agent-owner@example.com"


def _api(port: int, key: str, path: str, body: dict) -> dict:
    """POST as a client would: a 503 (on SQLite, the web process's periodic jobs writing at start
    can lock the database for a moment) is retried."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    for attempt in range(5):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == 4:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """(mcp url, api key, upstream) with a server `items` whose bearer credential is stored."""
    tmp = tmp_path_factory.mktemp("mcp-sdk")
    upstream = Upstream()
    with ExitStack() as stack:
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "INSTANCE_PATH": str(tmp),
            "SECRET_KEY": "mcp-sdk-test-secret",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        if TEST_DATABASE_URL:
            env["DATABASE_URL"] = stack.enter_context(scratch_database())
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "users", "create", EMAIL, "--password", "password123")
        slug = flask_cli(env, "workspaces", "create", "Agents", "--owner", EMAIL).splitlines()[-1]
        key = flask_cli(env, "keys", "create", "--user", EMAIL, "--workspace", slug, "--scopes", "*").splitlines()[-1]
        port = stack.enter_context(gunicorn(env, tmp / "gunicorn.log", workers=2, threads=4))
        spec = _api(port, key, "/api/v1/mcp/specs", {"name": "Items", "raw_spec": upstream_spec()})["data"]
        server = _api(
            port,
            key,
            f"/api/v1/mcp/specs/{spec['id']}/servers",
            {"slug": "items", "name": "Items", "auth_mode": "bearer", "base_url": upstream.base_url},
        )["data"]
        _api(
            port,
            key,
            f"/api/v1/mcp/servers/{server['id']}/credentials",
            {"label": "upstream", "secret": "upstream-bearer-secret", "auth_type": "bearer"},
        )
        yield f"http://127.0.0.1:{port}/mcp/{slug}/items", key, upstream
    upstream.stop()


async def _session(url: str, key: str, work, mode: str = "auto", seen: list | None = None):
    async def record(response):
        if seen is not None:
            seen.append((response.status_code, response.headers.get("WWW-Authenticate")))

    hooks = {"response": [record]}
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30, event_hooks=hooks) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            return await work(client)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_the_sdk_client_lists_calls_and_reads(deployed, mode):
    url, key, upstream = deployed

    async def work(client):
        tools = await client.list_tools()
        called = await client.call_tool("getItem", {"item_id": "a/1", "expand": True})
        failed = await client.call_tool("status", {"code": 404})
        resources = await client.list_resources()
        read = await client.read_resource(str(resources.resources[0].uri))
        return tools, called, failed, resources, read

    tools, called, failed, resources, read = asyncio.run(_session(url, key, work, mode))
    assert sorted(t.name for t in tools.tools) == ["big", "getItem", "putItem", "slow", "status"]
    get_item = next(t for t in tools.tools if t.name == "getItem")
    assert get_item.input_schema["required"] == ["item_id"]
    assert called.is_error is False
    assert called.structured_content["raw_path"] == "/items/a%2F1?expand=true"
    assert json.loads(called.content[0].text)["method"] == "GET"
    seen = next(r for r in reversed(upstream.requests) if r["path"].startswith("/items/"))
    assert seen["headers"]["authorization"] == "Bearer upstream-bearer-secret"  # the stored credential
    assert failed.is_error is True and failed.structured_content == {"status": 404}
    assert str(resources.resources[0].uri) == "openapi://servers/items"
    assert json.loads(read.contents[0].text)["info"]["title"] == "Edge cases"


def test_the_sdk_client_without_a_valid_key_gets_401(deployed):
    url, _, _ = deployed

    async def work(client):
        return await client.list_tools()

    seen: list = []
    with pytest.raises(BaseException, match="unhandled errors"):  # an ExceptionGroup around MCPError
        asyncio.run(_session(url, "sk_live_not_a_real_key_at_all_0000000", work, "legacy", seen))
    assert seen and all(status == 401 for status, _ in seen)
    assert seen[0][1].startswith("Bearer")
