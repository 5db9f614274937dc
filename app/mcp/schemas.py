from marshmallow import ValidationError, fields, validate, validates_schema

from ..core.lists import ListQuery
from ..core.schemas import QuerySchema, Schema, StrictInteger, UtcDateTime
from .models import AUTH_MODES, SPEC_STATUSES

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,62}$", error="Lower-case letters, digits and '-', at most 63.")
HEADER_NAME = validate.Regexp(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$", error="Not a valid header name.")
CREDENTIAL_TYPES = ("api_key", "bearer", "basic")


class _Raw(fields.Field):
    """A JSON object, or JSON/YAML text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (str, dict)):
            raise ValidationError("Must be an OpenAPI document: an object, or JSON or YAML text.")
        return value


# --- specs -----------------------------------------------------------------------------------


class SpecSchema(Schema):
    id = fields.String(metadata={"example": "spc_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    name = fields.String(metadata={"example": "Petstore"})
    version = fields.String(allow_none=True, metadata={"example": "1.0.0"})
    source_url = fields.String(allow_none=True, metadata={"example": None})
    status = fields.String(metadata={"description": "processing, ready or failed", "example": "ready"})
    error = fields.String(allow_none=True, metadata={"description": "Why the import failed", "example": None})
    openapi_version = fields.String(allow_none=True, metadata={"example": "3.0.0"})
    title = fields.String(allow_none=True, metadata={"example": "Swagger Petstore"})
    operation_count = fields.Integer(allow_none=True, metadata={"example": 3})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    updated_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})


class SpecCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255), metadata={"example": "Petstore"})
    version = fields.String(validate=validate.Length(max=100), allow_none=True, metadata={"example": "1.0.0"})
    source_url = fields.String(
        validate=validate.Length(min=1, max=2048),
        metadata={
            "description": "Fetched once by a job (https; 20 MiB at most)",
            "example": "https://api.example.com/openapi.json",
        },
    )
    raw_spec = _Raw(
        metadata={
            "description": "The OpenAPI 3.0/3.1 document: an object, or JSON or YAML text. Over 1 MB it is "
            "imported by a job (status `processing`). Only local `$ref`s (`#/…`) are accepted.",
            "example": {"openapi": "3.1.0", "info": {"title": "Petstore", "version": "1.0.0"}, "paths": {}},
        }
    )

    @validates_schema
    def _one_source(self, data, **kwargs):
        if ("source_url" in data) == ("raw_spec" in data):
            raise ValidationError("Give exactly one of source_url and raw_spec.", "raw_spec")


class SpecUpdate(Schema):
    name = fields.String(validate=validate.Length(min=1, max=255))
    version = fields.String(validate=validate.Length(max=100), allow_none=True)


class SpecListQuery(ListQuery):
    status = fields.String(validate=validate.OneOf(SPEC_STATUSES), metadata={"example": "ready"})


# --- servers and tools -----------------------------------------------------------------------


class SkippedSchema(Schema):
    deprecated = fields.Integer(attribute="skipped_deprecated", metadata={"example": 0})
    non_json = fields.Integer(
        attribute="skipped_non_json", metadata={"description": "Operations whose body is not JSON", "example": 1}
    )


class ServerSchema(Schema):
    id = fields.String(metadata={"example": "mcs_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    spec_id = fields.String(metadata={"example": "spc_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    slug = fields.String(metadata={"example": "petstore"})
    name = fields.String(metadata={"example": "Petstore"})
    auth_mode = fields.String(metadata={"example": "bearer"})
    auth_header = fields.String(allow_none=True, metadata={"example": None})
    auth_query_param = fields.String(allow_none=True, metadata={"example": None})
    base_url = fields.String(metadata={"example": "https://petstore.example.com/v1"})
    rate_limit_per_minute = fields.Integer(allow_none=True, metadata={"example": 120})
    is_active = fields.Boolean(metadata={"example": True})
    tools = fields.List(fields.String(), metadata={"description": "Names of the active tools", "example": ["listPets"]})
    tool_count = fields.Integer(metadata={"description": "Every tool, active or not", "example": 3})
    skipped = fields.Function(lambda s: SkippedSchema().dump(s), metadata={"example": {"deprecated": 0, "non_json": 1}})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    updated_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})


class ServerUpdate(Schema):
    name = fields.String(validate=validate.Length(min=1, max=255), metadata={"example": "Petstore"})
    base_url = fields.String(
        validate=validate.Length(min=1, max=2048),
        metadata={"description": "Where the upstream API lives (https)", "example": "https://petstore.example.com/v1"},
    )
    auth_mode = fields.String(validate=validate.OneOf(AUTH_MODES), metadata={"example": "bearer"})
    auth_header = fields.String(
        validate=HEADER_NAME,
        allow_none=True,
        metadata={"description": "api_key: the header carrying the key", "example": None},
    )
    auth_query_param = fields.String(
        validate=validate.Length(min=1, max=100),
        allow_none=True,
        metadata={"description": "api_key: the query parameter carrying the key (instead of a header)"},
    )
    rate_limit_per_minute = StrictInteger(
        validate=validate.Range(min=1, max=100_000), allow_none=True, metadata={"example": 120}
    )
    is_active = fields.Boolean(metadata={"description": "An inactive server answers no tool call"})


class ServerCreate(ServerUpdate):
    slug = fields.String(
        required=True,
        validate=[SLUG, validate.NoneOf(("entities",), error="'entities' is the workspace's entities endpoint.")],
        metadata={"description": "The MCP endpoint is /mcp/{workspace_slug}/{slug}", "example": "petstore"},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=255), metadata={"example": "Petstore"})
    base_url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2048),
        metadata={"description": "Where the upstream API lives (https)", "example": "https://petstore.example.com/v1"},
    )
    auth_mode = fields.String(required=True, validate=validate.OneOf(AUTH_MODES), metadata={"example": "bearer"})


class ToolSchema(Schema):
    id = fields.String(metadata={"example": "mct_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    name = fields.String(metadata={"example": "listPets"})
    description = fields.String(allow_none=True, metadata={"example": "List all pets"})
    method = fields.String(metadata={"example": "GET"})
    path = fields.String(metadata={"example": "/pets"})
    input_schema = fields.Dict(metadata={"description": "JSON Schema 2020-12 of the arguments"})
    is_active = fields.Boolean(metadata={"example": True})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    updated_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})


class ToolUpdate(Schema):
    is_active = fields.Boolean(required=True)


class ToolListQuery(ListQuery):
    is_active = fields.Boolean()


# --- credentials -----------------------------------------------------------------------------


class CredentialSchema(Schema):
    id = fields.String(metadata={"example": "mcc_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    label = fields.String(metadata={"example": "Production key"})
    auth_type = fields.String(metadata={"example": "bearer"})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    last_used_at = UtcDateTime(allow_none=True, metadata={"example": None})


class CredentialCreate(Schema):
    label = fields.String(
        required=True, validate=validate.Length(min=1, max=255), metadata={"example": "Production key"}
    )
    secret = fields.String(
        required=True,
        validate=validate.Length(min=1, max=4096),
        metadata={
            "description": "Stored encrypted; never returned. basic: `user:password`",
            "example": "sk_upstream_…",
        },
    )
    auth_type = fields.String(required=True, validate=validate.OneOf(CREDENTIAL_TYPES), metadata={"example": "bearer"})


# --- tool calls and logs ---------------------------------------------------------------------


class ToolCallRequest(Schema):
    server = fields.String(
        required=True,
        validate=validate.Length(min=1, max=63),
        metadata={"description": "Slug or id", "example": "petstore"},
    )
    tool = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": "showPetById"})
    arguments = fields.Dict(load_default=dict, metadata={"example": {"petId": "42"}})


class ToolTestRequest(Schema):
    tool_name = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": "listPets"})
    input = fields.Dict(load_default=dict, metadata={"example": {"limit": 5}})


class CallResultSchema(Schema):
    content = fields.Raw(metadata={"description": "The upstream body: JSON when it is JSON, else text"})
    content_type = fields.String(allow_none=True, metadata={"example": "application/json"})
    status_code = fields.Integer(metadata={"example": 200})
    is_error = fields.Boolean(metadata={"description": "The upstream answered non-2xx", "example": False})
    truncated = fields.Boolean(metadata={"description": "The body was cut at MCP_RESPONSE_MAX_BYTES", "example": False})
    size = fields.Integer(metadata={"description": "Bytes of the body returned", "example": 1234})
    duration_ms = fields.Integer(metadata={"description": "The upstream request's time", "example": 87})


class ToolCallResponse(Schema):
    result = fields.Nested(CallResultSchema)


class ToolTestResponse(Schema):
    success = fields.Boolean(metadata={"example": True})
    result = fields.Nested(CallResultSchema)
    total_ms = fields.Integer(metadata={"description": "Validation, upstream call and logging", "example": 95})


class CallLogSchema(Schema):
    id = fields.String(metadata={"example": "mcl_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    server_id = fields.String()
    tool_name = fields.String(metadata={"example": "listPets"})
    method = fields.String(metadata={"example": "GET"})
    status_code = fields.Integer(allow_none=True, metadata={"example": 200})
    is_error = fields.Boolean(metadata={"example": False})
    error = fields.String(allow_none=True, metadata={"example": None})
    duration_ms = fields.Integer(metadata={"example": 87})
    request_bytes = fields.Integer(metadata={"example": 0})
    response_bytes = fields.Integer(metadata={"example": 1234})
    source = fields.String(metadata={"description": "rest or protocol", "example": "rest"})
    api_key_id = fields.String(allow_none=True, metadata={"description": "The calling key (or session)"})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})


class ResourceSchema(Schema):
    uri = fields.String(metadata={"example": "entities://tasks/tsk_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    mime_type = fields.String(metadata={"example": "application/json"})
    content = fields.Raw(metadata={"description": "The OpenAPI document, or the record"})


class CursorMeta(Schema):
    limit = fields.Integer(metadata={"example": 50})
    next_cursor = fields.String(allow_none=True, metadata={"example": "MTIz"})
    has_more = fields.Boolean(metadata={"example": True})


class CallLogPage(Schema):
    data = fields.List(fields.Nested(CallLogSchema))
    meta = fields.Nested(CursorMeta)


class CallLogQuery(QuerySchema):
    cursor = fields.String(
        validate=validate.Length(max=100), metadata={"description": "next_cursor of the previous page"}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200), metadata={"example": 50})
    method = fields.String(validate=validate.Length(max=10), metadata={"example": "GET"})
    status_code = fields.Integer(validate=validate.Range(min=100, max=599), metadata={"example": 500})
    from_ = UtcDateTime(data_key="from", metadata={"description": "Calls at or after (ISO 8601)"})
    to = UtcDateTime(metadata={"description": "Calls before (ISO 8601)"})


# --- the MCP protocol endpoint (JSON-RPC 2.0; documented in protocol_doc.py) --------------------


class JsonRpcRequest(Schema):
    jsonrpc = fields.String(required=True, validate=validate.Equal("2.0"), metadata={"example": "2.0"})
    id = fields.Raw(metadata={"description": "A string or an integer; absent in a notification", "example": 1})
    method = fields.String(required=True, metadata={"example": "tools/call"})
    params = fields.Dict(metadata={"example": {"name": "getPetById", "arguments": {"petId": 42}}})


class JsonRpcError(Schema):
    code = fields.Integer(
        metadata={
            "description": "-32700 parse error, -32600 invalid request, -32601 unknown method, …",
            "example": -32602,
        }
    )
    message = fields.String(metadata={"example": "Unknown tool: getPet"})
    data = fields.Raw(metadata={"description": "More about the error, when there is more"})


class JsonRpcResponse(Schema):
    jsonrpc = fields.String(metadata={"example": "2.0"})
    id = fields.Raw(metadata={"description": "The request's id (null when it could not be read)", "example": 1})
    result = fields.Dict(metadata={"description": "On success: the method's result", "example": {}})
    error = fields.Nested(JsonRpcError, metadata={"description": "On failure, instead of result"})
