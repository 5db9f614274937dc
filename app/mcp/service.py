"""Specs, servers and tools, as the API and the CLI manage them (issue 8).

Tool calls and credentials are in calls.py; the import job in tasks.py.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..core import outbound
from ..core.clock import utcnow
from ..core.credentials_cache import credentials_changed
from ..core.errors import ApiError, conflict, not_found, validation_failed
from ..core.ids import new_id
from ..core.jobs import jobs
from ..entitlements import service as entitlements
from ..extensions import db
from . import documents, generation, tasks
from .models import McpServer, McpSpec, McpTool

FEATURE = "mcp_servers"


# --- specs -----------------------------------------------------------------------------------


def specs_query(workspace_id: str):
    return sa.select(McpSpec).where(McpSpec.workspace_id == workspace_id)


def get_spec(workspace_id: str, spec_id: str) -> McpSpec:
    spec = db.session.scalar(specs_query(workspace_id).where(McpSpec.id == spec_id))
    if spec is None:
        raise not_found("Spec not found.")
    return spec


def _size(raw: str | dict) -> int:
    return len(raw.encode()) if isinstance(raw, str) else len(json.dumps(raw, separators=(",", ":")))


def create_spec(workspace_id: str, data: dict) -> McpSpec:
    """Small documents are imported in the request (422 when invalid); big ones and URLs by a job."""
    now = utcnow()
    spec = McpSpec(
        id=new_id("spc"),
        workspace_id=workspace_id,
        name=data["name"],
        version=data.get("version"),
        status="processing",
        created_at=now,
        updated_at=now,
    )
    if "source_url" in data:
        try:
            outbound.check_url(data["source_url"])
        except outbound.BlockedUrl as exc:
            raise validation_failed({"source_url": [str(exc)]}) from None
        spec.source_url = data["source_url"]
    elif _size(data["raw_spec"]) > current_app.config["MCP_SPEC_SYNC_MAX_BYTES"]:
        raw = data["raw_spec"]
        spec.pending_text = raw if isinstance(raw, str) else json.dumps(raw)
    else:
        try:
            tasks.fill(spec, documents.parse(data["raw_spec"]))
        except documents.DocumentError as exc:
            raise validation_failed({"raw_spec": [str(exc)]}) from None
    db.session.add(spec)
    db.session.commit()
    if spec.status == "processing":
        jobs.enqueue(tasks.import_spec, spec.id, queue=tasks.QUEUE, job_timeout=tasks.JOB_TIMEOUT)
    return spec


def import_spec_now(workspace_id: str, text: str, name: str | None = None) -> McpSpec:
    """Operators' import (CLI): validated at once, whatever its size; 422 when invalid."""
    now = utcnow()
    spec = McpSpec(
        id=new_id("spc"), workspace_id=workspace_id, name="", status="processing", created_at=now, updated_at=now
    )
    try:
        tasks.fill(spec, documents.parse(text))
    except documents.DocumentError as exc:
        raise validation_failed({"raw_spec": [str(exc)]}) from None
    spec.name = (name or spec.title or "Imported spec")[:255]
    db.session.add(spec)
    db.session.commit()
    return spec


def update_spec(workspace_id: str, spec_id: str, data: dict) -> McpSpec:
    spec = get_spec(workspace_id, spec_id)
    for name in ("name", "version"):
        if name in data:
            setattr(spec, name, data[name])
    spec.updated_at = utcnow()
    db.session.commit()
    return spec


def delete_spec(workspace_id: str, spec_id: str) -> None:
    spec = get_spec(workspace_id, spec_id)
    used = db.session.scalar(sa.select(sa.func.count()).where(McpServer.spec_id == spec.id)) or 0
    if used:
        raise ApiError(409, "conflict", f"The spec is used by {used} server(s); delete them first.")
    db.session.delete(spec)
    db.session.commit()


# --- servers ---------------------------------------------------------------------------------


def servers_query(workspace_id: str):
    return sa.select(McpServer).where(McpServer.workspace_id == workspace_id)


def server_count(workspace_id: str) -> int:
    """The `mcp_servers` entitlement."""
    return db.session.scalar(sa.select(sa.func.count()).where(McpServer.workspace_id == workspace_id)) or 0


def active_server_count(workspace_id: str) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).where(McpServer.workspace_id == workspace_id, McpServer.is_active.is_(True))
        )
        or 0
    )


def with_tool_names(servers: list[McpServer], _includes: set[str] | None = None) -> list[McpServer]:
    """Each server gets `tools` (active tool names) and `tool_count`, in one query for all."""
    names: dict[str, list[str]] = {s.id: [] for s in servers}
    counts: dict[str, int] = dict.fromkeys(names, 0)
    if servers:
        rows = db.session.execute(
            sa.select(McpTool.server_id, McpTool.name, McpTool.is_active)
            .where(McpTool.server_id.in_(list(names)))
            .order_by(McpTool.name)
        )
        for server_id, name, active in rows:
            counts[server_id] += 1
            if active:
                names[server_id].append(name)
    for server in servers:
        server.tools, server.tool_count = names[server.id], counts[server.id]  # type: ignore[attr-defined]
    return servers


def get_server(workspace_id: str, server_id: str) -> McpServer:
    server = db.session.scalar(servers_query(workspace_id).where(McpServer.id == server_id))
    if server is None:
        raise not_found("Server not found.")
    return server


def server_by_slug(workspace_id: str, slug: str) -> McpServer | None:
    return db.session.scalar(servers_query(workspace_id).where(McpServer.slug == slug))


def _check_base_url(url: str) -> None:
    try:
        outbound.check_url(url)
    except outbound.BlockedUrl as exc:
        raise validation_failed({"base_url": [str(exc)]}) from None


def _check_auth(server: McpServer) -> None:
    if server.auth_mode == "api_key":
        if bool(server.auth_header) == bool(server.auth_query_param):
            raise validation_failed({"auth_header": ["auth_mode api_key needs auth_header or auth_query_param (one)."]})
    elif server.auth_header or server.auth_query_param:
        raise validation_failed({"auth_mode": ["auth_header and auth_query_param are for auth_mode api_key."]})


def create_server(workspace_id: str, spec_id: str, data: dict, tier: str | None = None) -> McpServer:
    """A server with one tool per operation of a ready spec. With a `tier` (API calls) the plan's
    `mcp_servers` limit applies; operators' scripts pass none."""
    spec = get_spec(workspace_id, spec_id)
    if spec.status != "ready" or spec.document is None:
        raise ApiError(409, "conflict", f"The spec is {spec.status}; a server needs a ready spec.")
    _check_base_url(data["base_url"])
    if tier is not None:
        entitlements.require(workspace_id, tier, FEATURE, lambda: server_count(workspace_id))
    now = utcnow()
    server = McpServer(
        id=new_id("mcs"),
        workspace_id=workspace_id,
        spec_id=spec.id,
        slug=data["slug"],
        name=data["name"],
        auth_mode=data["auth_mode"],
        auth_header=data.get("auth_header"),
        auth_query_param=data.get("auth_query_param"),
        base_url=data["base_url"],
        rate_limit_per_minute=data.get("rate_limit_per_minute"),
        is_active=data.get("is_active", True),
        created_at=now,
        updated_at=now,
    )
    _check_auth(server)
    generated = generation.generate(spec.document)
    server.skipped_deprecated, server.skipped_non_json = generated.skipped_deprecated, generated.skipped_non_json
    db.session.add(server)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise conflict("slug", "A server with this slug already exists in the workspace.") from None
    rows = [
        {
            "id": new_id("mct"),
            "server_id": server.id,
            "name": tool.name,
            "description": tool.description,
            "method": tool.method,
            "path": tool.path,
            "input_schema": tool.input_schema,
            "operation": tool.operation,
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        }
        for tool in generated.tools
    ]
    if rows:
        db.session.execute(sa.insert(McpTool), rows)
    db.session.commit()
    return with_tool_names([server])[0]


def update_server(workspace_id: str, server_id: str, data: dict) -> McpServer:
    server = get_server(workspace_id, server_id)
    if "base_url" in data:
        _check_base_url(data["base_url"])
    for name, value in data.items():
        setattr(server, name, value)
    if data.get("auth_mode") not in (None, "api_key"):
        # leaving api_key: its header or parameter goes with it unless given again
        server.auth_header = data.get("auth_header")
        server.auth_query_param = data.get("auth_query_param")
    _check_auth(server)
    server.updated_at = utcnow()
    db.session.commit()
    credentials_changed()  # remembered tool-call lookups (calls.py)
    return with_tool_names([server])[0]


def delete_server(workspace_id: str, server_id: str) -> None:
    server = get_server(workspace_id, server_id)
    db.session.delete(server)  # tools, credentials and logs go with it (ON DELETE CASCADE)
    db.session.commit()
    credentials_changed()  # remembered tool-call lookups (calls.py)


# --- tools -----------------------------------------------------------------------------------


def tools_query(workspace_id: str, server_id: str):
    server = get_server(workspace_id, server_id)
    return sa.select(McpTool).where(McpTool.server_id == server.id)


def get_tool(workspace_id: str, server_id: str, tool_id: str) -> McpTool:
    tool = db.session.scalar(tools_query(workspace_id, server_id).where(McpTool.id == tool_id))
    if tool is None:
        raise not_found("Tool not found.")
    return tool


def update_tool(workspace_id: str, server_id: str, tool_id: str, data: dict) -> McpTool:
    tool = get_tool(workspace_id, server_id, tool_id)
    tool.is_active = data["is_active"]
    tool.updated_at = utcnow()
    db.session.commit()
    credentials_changed()  # remembered tool-call lookups (calls.py)
    return tool
