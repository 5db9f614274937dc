"""`GET /api/v1/mcp/resources/{uri}`: what the MCP endpoints serve as resources, over REST.

`openapi://servers/{slug}`: a server's OpenAPI document; `entities://{entity}/{id}`: a record.
"""

from __future__ import annotations

from ..core.auth import Principal
from ..core.errors import not_found
from ..extensions import db
from . import entity_tools
from .models import McpSpec
from .service import server_by_slug

OPENAPI_PREFIX = "openapi://servers/"


def read(workspace_id: str, principal: Principal, uri: str) -> dict:
    content = None
    if uri.startswith(OPENAPI_PREFIX):
        server = server_by_slug(workspace_id, uri[len(OPENAPI_PREFIX) :])
        spec = db.session.get(McpSpec, server.spec_id) if server is not None else None
        content = spec.document if spec is not None else None
    elif uri.startswith(entity_tools.URI_PREFIX):
        content = entity_tools.read_record(workspace_id, principal, uri)
    if content is None:
        raise not_found("Resource not found.")
    return {"uri": uri, "mime_type": "application/json", "content": content}
