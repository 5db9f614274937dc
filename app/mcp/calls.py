"""Credentials and tool calls: arguments checked against the tool's schema, the upstream called
with the stored secret, every call logged (never bodies or secrets) and metered (issue 8)."""

from __future__ import annotations

import base64
import binascii
import time
from datetime import timedelta

import sqlalchemy as sa
from jsonschema import Draft202012Validator
from sqlalchemy.orm.attributes import set_committed_value

from ..core import crypto, outbound
from ..core.clock import utcnow
from ..core.credentials_cache import credentials_cache, credentials_changed
from ..core.errors import ApiError, not_found, validation_failed
from ..core.ids import new_id
from ..core.ratelimit import hit
from ..entitlements import service as entitlements
from ..extensions import db
from . import upstream
from .models import McpCallLog, McpCredential, McpServer, McpTool
from .service import get_server, server_by_slug

TOOL_CALLS = "mcp_tool_calls"
# The log row: a Core INSERT, written by the statement that counts the call (the ORM's insert
# paths cost more)
INSERT_LOG = sa.insert(McpCallLog)
LAST_USED_EVERY = timedelta(minutes=1)  # a credential's last_used_at is that precise, not one write a call


# --- credentials -----------------------------------------------------------------------------


def credentials_query(workspace_id: str, server_id: str):
    server = get_server(workspace_id, server_id)
    return sa.select(McpCredential).where(McpCredential.server_id == server.id)


def add_credential(workspace_id: str, server_id: str, data: dict) -> McpCredential:
    server = get_server(workspace_id, server_id)
    credential = McpCredential(
        id=new_id("mcc"),
        server_id=server.id,
        label=data["label"],
        auth_type=data["auth_type"],
        secret_encrypted=crypto.encrypt(data["secret"].encode()),
        created_at=utcnow(),
    )
    db.session.add(credential)
    db.session.commit()
    credentials_changed()  # remembered lookups hold the server's newest credential
    return credential


def delete_credential(workspace_id: str, server_id: str, credential_id: str) -> None:
    credential = db.session.scalar(credentials_query(workspace_id, server_id).where(McpCredential.id == credential_id))
    if credential is None:
        raise not_found("Credential not found.")
    db.session.delete(credential)
    db.session.commit()
    credentials_changed()


# Built once, with the server, tool name and auth type bound per call: building a statement
# costs more than running it, and these run on every tool call's path
_ACTIVE_TOOL = sa.select(McpTool).where(
    McpTool.server_id == sa.bindparam("server_id"), McpTool.name == sa.bindparam("name"), McpTool.is_active.is_(True)
)
_NEWEST_CREDENTIAL_ID = (
    sa.select(McpCredential.id)
    .where(McpCredential.server_id == sa.bindparam("server_id"), McpCredential.auth_type == sa.bindparam("auth_type"))
    .order_by(McpCredential.created_at.desc(), McpCredential.id.desc())
    .limit(1)
    .scalar_subquery()
)
_ACTIVE_TOOL_AND_CREDENTIAL = _ACTIVE_TOOL.add_columns(McpCredential).outerjoin(
    McpCredential, McpCredential.id == _NEWEST_CREDENTIAL_ID
)
# A REST call names the server by slug or id (`mcs_…`); a slug match comes first
_SERVER_BY_REF = (
    sa.select(McpServer)
    .where(
        McpServer.workspace_id == sa.bindparam("workspace_id"),
        sa.or_(McpServer.slug == sa.bindparam("ref"), McpServer.id == sa.bindparam("ref")),
    )
    .order_by((McpServer.slug == sa.bindparam("ref")).desc())
    .limit(1)
)


# --- the lookups of a call, remembered ---------------------------------------------------------
# A call's server, tool and credential are remembered by the process (core.credentials_cache: every
# change to them calls credentials_changed()), so a call makes no query before its upstream request.
# What is remembered is a copy no session holds, shared by threads: read only, but for the
# credential's last_used_at, which a call moves forward.


def _unattached(instance):
    """A copy of a loaded row that no session holds (a session would expire or flush it)."""
    if instance is None:
        return None
    return type(instance)(
        **{column.key: getattr(instance, column.key) for column in sa.inspect(type(instance)).column_attrs}
    )


def endpoint_server(workspace_id: str, slug: str) -> McpServer | None:
    """The server of a protocol endpoint (`/mcp/{workspace}/{slug}`), remembered."""
    return credentials_cache().remembered(
        ("mcp-server", workspace_id, slug), lambda: _unattached(server_by_slug(workspace_id, slug))
    )


def _tool_and_credential(server: McpServer, tool_name: str) -> tuple[McpTool | None, McpCredential | None]:
    """The active tool of that name and the server's newest credential of its auth_mode (one
    query), remembered."""
    params = {"server_id": server.id, "name": tool_name, "auth_type": server.auth_mode}

    def load() -> tuple[McpTool | None, McpCredential | None]:
        if server.auth_mode == "none":
            return _unattached(db.session.scalar(_ACTIVE_TOOL, params)), None
        row = db.session.execute(_ACTIVE_TOOL_AND_CREDENTIAL, params).one_or_none()
        return (_unattached(row[0]), _unattached(row[1])) if row is not None else (None, None)

    return credentials_cache().remembered(("mcp-tool", server.id, tool_name, server.auth_mode), load)


def _server_by_reference(workspace_id: str, server_ref: str) -> McpServer | None:
    """The server a REST call names, by slug or id, remembered."""
    params = {"workspace_id": workspace_id, "ref": server_ref}
    return credentials_cache().remembered(
        ("mcp-server-ref", workspace_id, server_ref), lambda: _unattached(db.session.scalar(_SERVER_BY_REF, params))
    )


def _secret(server: McpServer, credential: McpCredential | None) -> str | None:
    if server.auth_mode == "none":
        return None
    secret = crypto.decrypt(credential.secret_encrypted) if credential is not None else None
    if secret is None:
        raise validation_failed(
            {"server": [f"The server needs a credential of type {server.auth_mode} (POST …/credentials)."]}
        )
    return secret.decode()


# --- tool calls ------------------------------------------------------------------------------


def check_arguments(tool: McpTool, arguments: dict) -> None:
    errors: dict[str, list[str]] = {}
    for problem in Draft202012Validator(tool.input_schema).iter_errors(arguments):
        where = ".".join(["arguments", *(str(p) for p in problem.absolute_path)])
        errors.setdefault(where, []).append(problem.message[:300])
    if errors:
        raise validation_failed(errors, "The arguments do not match the tool's input schema.")


def call(server: McpServer, tool_name: str, arguments: dict, *, source: str, caller_id: str | None) -> dict:
    """Validate, call upstream, log and meter. 404 for an unknown or inactive tool, 409 for an
    inactive server, 429 past the server's rate limit, 502 when the upstream is unreachable."""
    if not server.is_active:
        raise ApiError(409, "conflict", "The server is inactive.")
    tool, credential = _tool_and_credential(server, tool_name)
    if tool is None:
        raise not_found("Tool not found.")
    check_arguments(tool, arguments)
    if server.rate_limit_per_minute:
        hit(f"{server.rate_limit_per_minute}/minute", "mcp-server", server.id)
    secret = _secret(server, credential)
    request = upstream.build(server, tool, arguments, secret)
    started = time.monotonic()
    result, failure = None, None
    try:
        result = upstream.send(request)
    except outbound.OutboundError as exc:
        failure = str(exc)
    now = utcnow()
    log = dict(
        id=new_id("mcl"),
        workspace_id=server.workspace_id,
        server_id=server.id,
        tool_name=tool.name,
        method=tool.method,
        status_code=result["status_code"] if result else None,
        is_error=result["is_error"] if result else True,
        error=(failure or (f"HTTP {result['status_code']}" if result and result["is_error"] else None)),
        duration_ms=result["duration_ms"] if result else int((time.monotonic() - started) * 1000),
        request_bytes=len(request.body or b""),
        response_bytes=result["size"] if result else 0,
        source=source,
        api_key_id=caller_id,
        created_at=now,
    )
    if credential is not None and (credential.last_used_at is None or credential.last_used_at < now - LAST_USED_EVERY):
        db.session.execute(
            sa.update(McpCredential).where(McpCredential.id == credential.id).values(last_used_at=now),
            execution_options={"synchronize_session": False},
        )
        set_committed_value(credential, "last_used_at", now)  # the remembered copy: not again for a minute
    entitlements.add_usage(server.workspace_id, TOOL_CALLS, 1, along_with=(INSERT_LOG, log))
    db.session.commit()
    if result is None:
        raise ApiError(502, "upstream_error", f"The upstream API could not be reached: {failure}")
    return result


def call_by_reference(workspace_id: str, server_ref: str, tool_name: str, arguments: dict, caller_id: str) -> dict:
    server = _server_by_reference(workspace_id, server_ref)
    if server is None:
        raise not_found("Server not found.")
    return {"result": call(server, tool_name, arguments, source="rest", caller_id=caller_id)}


def test_tool(workspace_id: str, server_id: str, tool_name: str, arguments: dict, caller_id: str) -> dict:
    started = time.monotonic()
    result = call(get_server(workspace_id, server_id), tool_name, arguments, source="rest", caller_id=caller_id)
    return {"success": not result["is_error"], "result": result, "total_ms": int((time.monotonic() - started) * 1000)}


# --- the call log: a cursor list (API.md §4) -----------------------------------------------


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def _seq(cursor: str) -> int:
    try:
        seq = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "Invalid cursor.", errors={"cursor": ["Invalid cursor."]}) from None
    if not 0 < seq < 2**63:
        raise ApiError(400, "bad_request", "Invalid cursor.", errors={"cursor": ["Invalid cursor."]})
    return seq


def logs_page(workspace_id: str, server_id: str, query: dict) -> dict:
    """Newest first, keyed by the log's insertion order: rows added meanwhile appear on no later
    page, and none is repeated or skipped."""
    server = get_server(workspace_id, server_id)
    stmt = sa.select(McpCallLog).where(McpCallLog.server_id == server.id)
    if query.get("cursor"):
        stmt = stmt.where(McpCallLog.seq < _seq(query["cursor"]))
    if query.get("method"):
        stmt = stmt.where(McpCallLog.method == query["method"].upper())
    if query.get("status_code") is not None:
        stmt = stmt.where(McpCallLog.status_code == query["status_code"])
    if query.get("from_") is not None:
        stmt = stmt.where(McpCallLog.created_at >= query["from_"])
    if query.get("to") is not None:
        stmt = stmt.where(McpCallLog.created_at < query["to"])
    limit = query["limit"]
    rows = list(db.session.scalars(stmt.order_by(McpCallLog.seq.desc()).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": rows,
        "meta": {"limit": limit, "next_cursor": _cursor(rows[-1].seq) if has_more else None, "has_more": has_more},
    }
