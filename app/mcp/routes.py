from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.lists import ListQuery, ListSpec, paginate
from ..core.schemas import created_envelope, envelope, page_envelope
from . import service
from .models import McpServer, McpSpec, McpTool
from .schemas import (
    ServerCreate,
    ServerSchema,
    ServerUpdate,
    SpecCreate,
    SpecListQuery,
    SpecSchema,
    SpecUpdate,
    ToolListQuery,
    ToolSchema,
    ToolUpdate,
)

blp = Blueprint("mcp", __name__, url_prefix="/api/v1/mcp", description="MCP: OpenAPI specs served as MCP tools")

SPECS = ListSpec(
    McpSpec,
    SpecSchema,
    sortable=("created_at", "updated_at", "name"),
    searchable=("name", "title"),
    filterable=("status",),
)
SERVERS = ListSpec(
    McpServer,
    ServerSchema,
    sortable=("created_at", "updated_at", "name", "slug"),
    searchable=("name", "slug"),
    prepare=service.with_tool_names,
)
TOOLS = ListSpec(
    McpTool, ToolSchema, sortable=("name", "created_at"), searchable=("name", "description"), default_sort="name"
)
SPEC_IMPORT_MESSAGE = "Spec imported successfully."


@blp.route("/specs")
class Specs(MethodView):
    @blp.auth(scope="mcp:read")
    @blp.arguments(SpecListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(SpecSchema))
    def get(self, query):
        """List OpenAPI specs (`status`: processing, ready, failed)"""
        return paginate(service.specs_query(current.workspace_id), SPECS, query)

    @blp.auth(scope="mcp:write")
    @blp.arguments(SpecCreate)
    @blp.response(201, created_envelope(SpecSchema, SPEC_IMPORT_MESSAGE))
    @blp.alt_response(202, schema=created_envelope(SpecSchema, SPEC_IMPORT_MESSAGE), description="Import queued")
    def post(self, data):
        """Import an OpenAPI 3.0/3.1 document (body up to 20 MiB)

        A document up to 1 MB is validated now: `201` with `status: ready`, or `422`. A bigger one, or
        one at `source_url`, is imported by a job: `202` with `status: processing`, later `ready` or
        `failed` with `error`. Every `$ref` that is not local (`#/…`) is refused.
        """
        spec = service.create_spec(current.workspace_id, data)
        if spec.status == "processing":
            return responses.created(spec, "Spec import queued."), 202
        return responses.created(spec, SPEC_IMPORT_MESSAGE)


@blp.route("/specs/<string:spec_id>")
class SpecItem(MethodView):
    @blp.auth(scope="mcp:read")
    @blp.response(200, envelope(SpecSchema))
    def get(self, spec_id):
        """Get a spec and its import status"""
        return responses.one(service.get_spec(current.workspace_id, spec_id))

    @blp.auth(scope="mcp:write")
    @blp.arguments(SpecUpdate)
    @blp.response(200, envelope(SpecSchema))
    def patch(self, data, spec_id):
        """Rename a spec or change its version label"""
        return responses.one(service.update_spec(current.workspace_id, spec_id, data))

    @blp.auth(scope="mcp:delete")
    @blp.response(204)
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, spec_id):
        """Delete a spec (`409` while servers use it)"""
        service.delete_spec(current.workspace_id, spec_id)


@blp.route("/specs/<string:spec_id>/servers")
class SpecServers(MethodView):
    @blp.auth(scope="mcp:write")
    @blp.arguments(ServerCreate)
    @blp.response(201, created_envelope(ServerSchema, "MCP server created successfully."))
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, spec_id):
        """Create an MCP server from a ready spec: one tool per operation

        Deprecated operations and operations whose body is not JSON are skipped and counted in
        `skipped`. Plan limit: `mcp_servers`.
        """
        server = service.create_server(current.workspace_id, spec_id, data, tier=current.tier)
        return responses.created(server, "MCP server created successfully.")


@blp.route("/servers")
class Servers(MethodView):
    @blp.auth(scope="mcp:read")
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(ServerSchema))
    def get(self, query):
        """List MCP servers with the names of their active tools"""
        return paginate(service.servers_query(current.workspace_id), SERVERS, query)


@blp.route("/servers/<string:server_id>")
class ServerItem(MethodView):
    @blp.auth(scope="mcp:read")
    @blp.response(200, envelope(ServerSchema))
    def get(self, server_id):
        """Get an MCP server"""
        return responses.one(service.with_tool_names([service.get_server(current.workspace_id, server_id)])[0])

    @blp.auth(scope="mcp:write")
    @blp.arguments(ServerUpdate)
    @blp.response(200, envelope(ServerSchema))
    def patch(self, data, server_id):
        """Update an MCP server (name, base URL, auth, rate limit, is_active)"""
        return responses.one(service.update_server(current.workspace_id, server_id, data))

    @blp.auth(scope="mcp:delete")
    @blp.response(204)
    def delete(self, server_id):
        """Delete an MCP server with its tools, credentials and logs"""
        service.delete_server(current.workspace_id, server_id)


@blp.route("/servers/<string:server_id>/tools")
class Tools(MethodView):
    @blp.auth(scope="mcp:read")
    @blp.arguments(ToolListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(ToolSchema))
    def get(self, query, server_id):
        """List a server's tools with their input schemas (`is_active` filters)"""
        stmt = service.tools_query(current.workspace_id, server_id)
        if query.get("is_active") is not None:
            stmt = stmt.where(McpTool.is_active.is_(query["is_active"]))
        return paginate(stmt, TOOLS, query)


@blp.route("/servers/<string:server_id>/tools/<string:tool_id>")
class ToolItem(MethodView):
    @blp.auth(scope="mcp:write")
    @blp.arguments(ToolUpdate)
    @blp.response(200, envelope(ToolSchema))
    def patch(self, data, server_id, tool_id):
        """Turn a tool on or off (`is_active`); an inactive tool is neither listed to agents nor callable"""
        return responses.one(service.update_tool(current.workspace_id, server_id, tool_id, data))
