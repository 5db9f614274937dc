"""The MCP endpoints in the OpenAPI document. They are plain Flask routes speaking JSON-RPC 2.0
over MCP's Streamable HTTP transport, not the REST contract, so flask-smorest does not see them;
their operations are written here from the same schemas and error responses."""

from __future__ import annotations

from apispec import APISpec
from flask import Flask

from . import protocol
from .schemas import JsonRpcError, JsonRpcRequest, JsonRpcResponse

TRANSPORT = f"""MCP over the Streamable HTTP transport (revision {protocol.LATEST}; also
{", ".join(protocol.SUPPORTED[1:])}), stateless: no session id, every answer is `application/json`.
Methods: `initialize`, `ping`, `tools/list` (cursor-paginated, {protocol.PAGE_SIZE} a page),
`tools/call`, `resources/list`, `resources/read`; any other method answers the JSON-RPC error
-32601. A notification (no `id`) answers `202` with no body. `GET` and `DELETE` answer `405` with
`Allow: POST` (no server-sent stream, no session to end). Authenticated with an API key of the
workspace: `mcp:read` to list and read, `mcp:write` to call a tool."""

EXAMPLES = {
    "initialize": {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol.LATEST,
            "capabilities": {},
            "clientInfo": {"name": "my-agent", "version": "1.0"},
        },
    },
    "tools/list": {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
    "tools/call": {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "getPetById", "arguments": {"petId": 42}},
    },
    "notifications/initialized": {"jsonrpc": "2.0", "method": "notifications/initialized"},
}
RESULT_EXAMPLE = {
    "jsonrpc": "2.0",
    "id": 3,
    "result": {
        "content": [{"type": "text", "text": '{"id": 42, "name": "Rex"}'}],
        "structuredContent": {"id": 42, "name": "Rex"},
        "isError": False,
    },
}
ERROR_ENVELOPE = {"$ref": "#/components/schemas/Error"}
RPC_RESPONSE = {"$ref": "#/components/schemas/JsonRpcResponse"}


def _error(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _operation(summary: str, description: str) -> dict:
    return {
        "tags": ["mcp"],
        "summary": summary,
        "description": f"{description}\n\n{TRANSPORT}",
        "security": [{"bearerAuth": []}],
        "parameters": [
            {
                "name": "MCP-Protocol-Version",
                "in": "header",
                "required": False,
                "description": "The revision the client speaks (after initialize); an unsupported one answers 400",
                "schema": {"type": "string", "enum": list(protocol.SUPPORTED)},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/JsonRpcRequest"},
                    "examples": {name: {"value": value} for name, value in EXAMPLES.items()},
                }
            },
        },
        "responses": {
            "200": {
                "description": "The JSON-RPC response: `result`, or `error` (an unknown tool: -32602)",
                "content": {"application/json": {"schema": RPC_RESPONSE, "example": RESULT_EXAMPLE}},
            },
            "202": {"description": "A notification or a client's response was accepted (no body)"},
            "400": {
                "description": "A JSON-RPC error (-32700 not JSON, -32600 a batch or not a request, an "
                "unsupported MCP-Protocol-Version), or the error envelope (a bad Idempotency-Key)",
                "content": {"application/json": {"schema": {"oneOf": [RPC_RESPONSE, ERROR_ENVELOPE]}}},
            },
            "401": {
                "description": "No valid API key; `WWW-Authenticate: Bearer`",
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "example": 'Bearer realm="core-api"'}},
                "content": {"application/json": {"schema": ERROR_ENVELOPE}},
            },
            "403": {
                "description": "The request's Origin is not allowed (DNS rebinding), or the key lacks the scope",
                "content": {"application/json": {"schema": ERROR_ENVELOPE}},
            },
            "404": _error("NOT_FOUND"),
            "409": _error("CONFLICT"),
            "413": _error("REQUEST_ENTITY_TOO_LARGE"),
            "415": _error("UNSUPPORTED_MEDIA_TYPE"),
            "422": _error("UNPROCESSABLE_ENTITY"),
            "429": _error("TOO_MANY_REQUESTS"),
            "default": _error("DEFAULT_ERROR"),
        },
    }


def document(app: Flask, spec: APISpec) -> None:
    """Add the two endpoints of protocol_routes to the app's document (path parameters come from
    their URL rules, as flask-smorest does for its own routes)."""
    spec.components.schema("JsonRpcError", schema=JsonRpcError)
    spec.components.schema("JsonRpcRequest", schema=JsonRpcRequest)
    spec.components.schema("JsonRpcResponse", schema=JsonRpcResponse)
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("mcp_protocol.")}
    spec.path(
        rule=rules["mcp_protocol.server_endpoint"],
        operations={
            "post": _operation(
                "An MCP server made from an OpenAPI spec",
                "The server's active tools (one per operation of its spec) and its spec as a resource "
                "(`openapi://servers/{server_slug}`). A tool call goes to the server's upstream with its "
                "stored credential and is logged like `POST /api/v1/mcp/tools/call`.",
            )
        },
    )
    spec.path(
        rule=rules["mcp_protocol.entities_endpoint"],
        operations={
            "post": _operation(
                "The workspace's entities as an MCP server",
                "Tools `{entity}_list`, `_get`, `_create`, `_update`, `_delete` for each entity the "
                "workspace declares, with the caller's scopes and role applied; records as resources "
                "(`entities://{entity}/{id}`).",
            )
        },
    )
