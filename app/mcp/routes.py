from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.http import body_limit
from ..core.lists import ListQuery, ListSpec, paginate
from ..core.schemas import created_envelope, envelope, page_envelope
from . import calls, resources, service
from .models import McpCredential, McpServer, McpSpec, McpTool
from .schemas import (
    CallLogPage,
    CallLogQuery,
    CredentialCreate,
    CredentialSchema,
    ResourceSchema,
    ServerCreate,
    ServerSchema,
    ServerUpdate,
    SpecCreate,
    SpecListQuery,
    SpecSchema,
    SpecUpdate,
    ToolCallRequest,
    ToolCallResponse,
    ToolListQuery,
    ToolSchema,
    ToolTestRequest,
    ToolTestResponse,
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
CREDENTIALS = ListSpec(McpCredential, CredentialSchema, sortable=("created_at", "label"))
# Credentials are secrets of the upstream API: managing them is for admins (API.md §3).
ADMIN = "admin"
SPEC_IMPORT_MESSAGE = "Spec imported successfully."


@blp.route("/specs")
class Specs(MethodView):
    decorators = [body_limit("MCP_SPEC_MAX_BYTES")]  # a whole OpenAPI document (API.md §1)

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


@blp.route("/servers/<string:server_id>/credentials")
class Credentials(MethodView):
    @blp.auth(scope="mcp:read", role=ADMIN)
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(CredentialSchema))
    def get(self, query, server_id):
        """List a server's credentials (label, type, created and last-used time; never the secret)"""
        return paginate(calls.credentials_query(current.workspace_id, server_id), CREDENTIALS, query)

    @blp.auth(scope="mcp:write", role=ADMIN)
    @blp.arguments(CredentialCreate)
    @blp.response(201, created_envelope(CredentialSchema, "Credential stored."))
    def post(self, data, server_id):
        """Store a credential, encrypted; tool calls send the newest one of the server's auth_mode

        `api_key` goes in the server's `auth_header` or `auth_query_param`, `bearer` as
        `Authorization: Bearer …`, `basic` (`user:password`) as `Authorization: Basic …`.
        """
        return responses.created(calls.add_credential(current.workspace_id, server_id, data), "Credential stored.")


@blp.route("/servers/<string:server_id>/credentials/<string:credential_id>")
class CredentialItem(MethodView):
    @blp.auth(scope="mcp:delete", role=ADMIN)
    @blp.response(204)
    def delete(self, server_id, credential_id):
        """Delete a credential"""
        calls.delete_credential(current.workspace_id, server_id, credential_id)


@blp.route("/tools/call")
class ToolCall(MethodView):
    @blp.auth(scope="mcp:write")
    @blp.arguments(ToolCallRequest)
    @blp.response(200, ToolCallResponse)
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(502, response="BAD_GATEWAY")
    def post(self, data):
        """Call a tool: its upstream request, with the server's credential

        `arguments` are checked against the tool's input schema first (`422`). An upstream answer
        that is not 2xx is a result with `is_error: true`; an upstream that cannot be reached is
        `502 upstream_error`; past the server's `rate_limit_per_minute`, `429`.
        """
        return calls.call_by_reference(
            current.workspace_id, data["server"], data["tool"], data["arguments"], current.credential_id
        )


@blp.route("/servers/<string:server_id>/test")
class ServerTest(MethodView):
    @blp.auth(scope="mcp:write")
    @blp.arguments(ToolTestRequest)
    @blp.response(200, ToolTestResponse)
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(502, response="BAD_GATEWAY")
    def post(self, data, server_id):
        """Try one tool of the server with an input, and see the result with its timing"""
        return calls.test_tool(current.workspace_id, server_id, data["tool_name"], data["input"], current.credential_id)


@blp.route("/servers/<string:server_id>/logs")
class Logs(MethodView):
    @blp.auth(scope="mcp:read")
    @blp.arguments(CallLogQuery, location="query", error_status_code=400)
    @blp.response(200, CallLogPage)
    def get(self, query, server_id):
        """The server's tool calls, newest first: a cursor list (`next_cursor`, `has_more`)"""
        return calls.logs_page(current.workspace_id, server_id, query)


@blp.route("/resources/<path:uri>", merge_slashes=False)
class Resource(MethodView):
    @blp.auth(scope="mcp:read")
    @blp.response(200, envelope(ResourceSchema))
    def get(self, uri):
        """Read a resource: `openapi://servers/{slug}` (a server's OpenAPI document) or
        `entities://{entity}/{id}` (a record; needs `{entity}:read`). The uri may be URL-encoded."""
        return responses.one(resources.read(current.workspace_id, current, uri))
