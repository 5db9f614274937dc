"""`POST /mcp/{workspace_slug}/{server_slug}`: the MCP endpoint agents connect to (issue 8).

Checks in order: the method (405), the Origin (403), the API key (401), the workspace and the
server (404), then the message: one JSON-RPC message per POST, answered as application/json.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify, request

from ..core import auth as core_auth
from ..core.errors import ApiError, not_found
from ..workspaces import service as workspaces
from . import calls, entity_tools, protocol
from .protocol import RpcError

blp = Blueprint("mcp_protocol", __name__, url_prefix="/mcp")


def _origin_allowed(origin: str) -> bool:
    # DNS rebinding: a browser page must not reach this endpoint from an origin we do not know
    allowed = [request.host_url.rstrip("/"), *current_app.config["CORS_ORIGINS"]]
    return any(hmac.compare_digest(origin.rstrip("/"), a.rstrip("/")) for a in allowed)


def _json(body: dict, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _workspace_id(slug: str, principal: core_auth.Principal) -> str:
    """The caller's own workspace costs no query: its membership carries the slug."""
    if principal.membership is not None and principal.membership.slug == slug:
        return principal.membership.workspace_id
    workspace = workspaces.get_workspace_by_slug(slug)
    if workspace is None:
        raise not_found("Workspace not found.")
    return workspace.id


def serve(workspace_slug: str, handler_for: Callable[[str, core_auth.Principal], protocol.Handler]) -> Response:
    origin = request.headers.get("Origin")
    if origin and not _origin_allowed(origin):
        raise ApiError(403, "access_denied", "This Origin may not use the MCP endpoint.")
    principal = core_auth.authenticated()
    workspace_id = _workspace_id(workspace_slug, principal)
    core_auth.authorize("mcp:read", workspace_id=workspace_id)
    handler = handler_for(workspace_id, principal)
    try:
        message = protocol.parse(request.get_data(cache=False))
    except RpcError as exc:
        return _json(protocol.error_body(None, exc.code, exc.message), 400)
    if "method" not in message or "id" not in message:
        return Response(status=202)  # a notification, or a client's response: nothing to answer
    method, request_id, params = message["method"], message["id"], message.get("params") or {}
    known = method in ("initialize", "ping") or method in handler.methods
    version = request.headers.get("MCP-Protocol-Version")
    if known and version is not None and version not in protocol.SUPPORTED:
        return _json(
            protocol.error_body(
                request_id, protocol.INVALID_REQUEST, f"Unsupported MCP-Protocol-Version {version[:40]!r}."
            ),
            400,
        )
    needed = handler.scopes.get(method, "mcp:read")
    if needed != "mcp:read":
        core_auth.authorize(needed, workspace_id=workspace_id)
    try:
        if method == "initialize":
            result = protocol.initialize(handler, params)
        elif method == "ping":
            result = {}
        elif method in handler.methods:
            result = handler.methods[method](params)
        else:
            raise RpcError(protocol.METHOD_NOT_FOUND, f"Method not found: {method[:100]}")
    except RpcError as exc:
        return _json(protocol.error_body(request_id, exc.code, exc.message, exc.data))
    return _json(protocol.result_body(request_id, result))


def _server_handler(server_slug: str):
    def handler_for(workspace_id: str, principal: core_auth.Principal) -> protocol.Handler:
        server = calls.endpoint_server(workspace_id, server_slug)
        if server is None or not server.is_active:
            raise not_found("Server not found.")
        return protocol.server_handler(server, principal.credential_id)

    return handler_for


@blp.route("/<string:workspace_slug>/entities", methods=["POST"], provide_automatic_options=False)
def entities_endpoint(workspace_slug: str):
    """The workspace's entities as tools: no spec needed (a server may not take the slug)."""
    return serve(workspace_slug, entity_tools.entities_handler)


@blp.route("/<string:workspace_slug>/<string:server_slug>", methods=["POST"], provide_automatic_options=False)
def server_endpoint(workspace_slug: str, server_slug: str):
    return serve(workspace_slug, _server_handler(server_slug))
