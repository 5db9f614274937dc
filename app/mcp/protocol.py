"""The MCP protocol (Streamable HTTP, stateless, JSON answers) for one server's tools.

Hand-written JSON-RPC (NOTES.md: mounting the SDK's ASGI server in Flask hung, and in-memory
sessions break across gunicorn workers): each POST carries one message and gets one answer.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..core.errors import ApiError
from ..extensions import db
from . import calls
from .models import McpServer, McpSpec, McpTool

LATEST = "2025-11-25"
SUPPORTED = (LATEST, "2025-06-18", "2025-03-26")
PAGE_SIZE = 100
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
RESOURCE_NOT_FOUND = -32002


class RpcError(Exception):
    def __init__(self, code: int, message: str, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclass
class Handler:
    """What one endpoint offers: its name, and a function per method. `scopes` says which
    scope each method needs (mcp:read unless listed)."""

    name: str
    title: str
    methods: dict[str, Callable[[dict], dict]]
    scopes: dict[str, str] = field(default_factory=dict)


def error_body(request_id, code: int, message: str, data=None) -> dict:
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def result_body(request_id, result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def parse(raw: bytes) -> dict:
    """One JSON-RPC message, or RpcError (parse error, a batch, not a request)."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RpcError(PARSE_ERROR, "Parse error: the body is not JSON.") from None
    if isinstance(message, list):
        raise RpcError(INVALID_REQUEST, "Batches are not supported: send one message per request.")
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message.")
    if "method" in message and not isinstance(message["method"], str):
        raise RpcError(INVALID_REQUEST, "Invalid request: 'method' must be a string.")
    if "params" in message and not isinstance(message["params"], dict):
        raise RpcError(INVALID_REQUEST, "Invalid request: 'params' must be an object.")
    if "id" in message and (not isinstance(message["id"], (str, int)) or isinstance(message["id"], bool)):
        raise RpcError(INVALID_REQUEST, "Invalid request: 'id' must be a string or an integer.")
    return message


def initialize(handler: Handler, params: dict) -> dict:
    asked = params.get("protocolVersion")
    capabilities: dict = {"tools": {"listChanged": False}}
    if "resources/list" in handler.methods:
        capabilities["resources"] = {"listChanged": False, "subscribe": False}
    return {
        "protocolVersion": asked if asked in SUPPORTED else LATEST,
        "capabilities": capabilities,
        "serverInfo": {"name": handler.name, "title": handler.title, "version": "1.0.0"},
    }


def page_cursor(params: dict) -> int:
    cursor = params.get("cursor")
    if cursor is None:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RpcError(INVALID_PARAMS, "Invalid cursor.") from None
    if offset < 0:
        raise RpcError(INVALID_PARAMS, "Invalid cursor.")
    return offset


def next_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def text_result(content, is_error: bool) -> dict:
    """A tool result: the content as text, and as structuredContent when it is a JSON object."""
    text = content if isinstance(content, str) else json.dumps(content)
    result: dict = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if isinstance(content, dict):
        result["structuredContent"] = content
    return result


# --- one server's tools ----------------------------------------------------------------------


def openapi_uri(server: McpServer) -> str:
    return f"openapi://servers/{server.slug}"


def server_handler(server: McpServer, caller_id: str | None) -> Handler:
    def tools_list(params: dict) -> dict:
        offset = page_cursor(params)
        tools = db.session.scalars(
            sa.select(McpTool)
            .where(McpTool.server_id == server.id, McpTool.is_active.is_(True))
            .order_by(McpTool.name)
            .offset(offset)
            .limit(PAGE_SIZE + 1)
        ).all()
        listed = [
            {"name": t.name, "description": t.description or "", "inputSchema": t.input_schema}
            for t in tools[:PAGE_SIZE]
        ]
        result: dict = {"tools": listed}
        if len(tools) > PAGE_SIZE:
            result["nextCursor"] = next_cursor(offset + PAGE_SIZE)
        return result

    def tools_call(params: dict) -> dict:
        name, arguments = params.get("name"), params.get("arguments")
        arguments = {} if arguments is None else arguments
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "tools/call needs 'name' (a string) and 'arguments' (an object).")
        try:
            result = calls.call(server, name, arguments, source="protocol", caller_id=caller_id)
        except ApiError as exc:
            if exc.status == 404:  # the one 404 of a call on a known server: no such active tool
                raise RpcError(INVALID_PARAMS, f"Unknown tool: {name[:64]}") from None
            if exc.status == 429:
                raise
            # bad arguments, a missing credential, an unreachable upstream: the model can act on it
            return text_result({"error": exc.code, "message": exc.message, **exc.fields}, True)
        return text_result(result["content"], result["is_error"])

    def resources_list(params: dict) -> dict:
        return {
            "resources": [
                {
                    "uri": openapi_uri(server),
                    "name": f"{server.slug}-openapi",
                    "title": f"{server.name}: OpenAPI document",
                    "mimeType": "application/json",
                }
            ]
        }

    def resources_read(params: dict) -> dict:
        if params.get("uri") != openapi_uri(server):
            raise RpcError(RESOURCE_NOT_FOUND, "Resource not found.", {"uri": params.get("uri")})
        spec = db.session.get(McpSpec, server.spec_id)
        document = spec.document if spec is not None else None
        return {
            "contents": [{"uri": openapi_uri(server), "mimeType": "application/json", "text": json.dumps(document)}]
        }

    return Handler(
        name=server.slug,
        title=server.name,
        methods={
            "tools/list": tools_list,
            "tools/call": tools_call,
            "resources/list": resources_list,
            "resources/read": resources_read,
        },
        scopes={"tools/call": "mcp:write"},
    )
