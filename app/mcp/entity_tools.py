"""The workspace's entities (issue 4) as MCP tools: `tasks_list`, `tasks_get`, `tasks_create`,
`tasks_update`, `tasks_delete`, … with input schemas from the declarations, the caller's scopes
and roles applied, and the records as resources (`entities://tasks/tsk_…`)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import g
from jsonschema import Draft202012Validator

from ..core.auth import Principal, has_scope, role_at_least
from ..core.errors import ApiError
from ..core.schemas import page_envelope
from ..entities import registry
from ..entities import service as entities
from ..entities.declarations import Entity, Field
from ..entities.models import EntityRecord
from ..extensions import db
from .generation import SCHEMA_DIALECT
from .protocol import (
    INVALID_PARAMS,
    PAGE_SIZE,
    RESOURCE_NOT_FOUND,
    Handler,
    RpcError,
    next_cursor,
    page_cursor,
    text_result,
)

ACTIONS = {"list": "read", "get": "read", "create": "write", "update": "write", "delete": "delete"}
URI_PREFIX = "entities://"
_ID = {"type": "string", "minLength": 1, "maxLength": 40, "description": "The record's id"}
_FORMATS = {"email": "email", "url": "uri", "date": "date", "datetime": "date-time"}


def may(principal: Principal, entity: Entity, action: str) -> bool:
    return has_scope(principal.scopes, f"{entity.name}:{action}") and role_at_least(
        principal.role, "viewer" if action == "read" else "member"
    )


def _field_schema(f: Field) -> dict:
    if f.type == "json":
        return {"description": "Any JSON value"}
    kind = {"integer": "integer", "number": "number", "boolean": "boolean"}.get(f.type, "string")
    schema: dict = {"type": kind if f.required else [kind, "null"], "description": f.type}
    if f.values:
        schema["enum"] = [*f.values] if f.required else [*f.values, None]
    if f.type in _FORMATS:
        schema["format"] = _FORMATS[f.type]
    if f.max_length is not None:
        schema["maxLength"] = f.max_length
    if f.min is not None:
        schema["minimum"] = f.min
    if f.max is not None:
        schema["maximum"] = f.max
    if f.default is not None:
        schema["default"] = f.default
    return schema


def _object(properties: dict, required: list[str]) -> dict:
    schema = {"$schema": SCHEMA_DIALECT, "type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def input_schemas(entity: Entity) -> dict[str, dict]:
    writable = {f.name: _field_schema(f) for f in entity.fields if not f.generated}
    required = [f.name for f in entity.fields if f.required and not f.generated]
    shaping = {
        "include": {
            "type": "string",
            "description": f"Relations to embed: {', '.join(r.name for r in entity.relations) or 'none'}",
        },
        "fields": {"type": "string", "description": "Only these fields (and id), comma-separated"},
    }
    listing = {
        "page": {"type": "integer", "minimum": 1, "default": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
        "sort": {"type": "string", "description": f"Comma-separated, '-' for descending: {', '.join(entity.sortable)}"},
        "search": {"type": "string", "description": f"Text search in {', '.join(entity.searchable) or 'nothing'}"},
        "filter": {
            "type": "object",
            "description": f'Filters on {", ".join(entity.filterable) or "nothing"}: {{"status": "todo"}}, '
            '{"priority": {"in": ["high"]}}; operators eq ne gt gte lt lte in nin contains startswith is_null',
        },
        **shaping,
    }
    return {
        "list": _object(listing, []),
        "get": _object({"id": _ID, **shaping}, ["id"]),
        "create": _object(writable, required),
        "update": _object({"id": _ID, **writable}, ["id"]),
        "delete": _object({"id": _ID}, ["id"]),
    }


def _tool_name(entity: Entity, action: str) -> str:
    return f"{entity.name}_{action}"


def _run(workspace_id: str, principal: Principal, entity: Entity, action: str, arguments: dict):
    entities.check_rate_limit(entity, principal)
    if action == "list":
        args = {"page": 1, "per_page": 25, **{k: v for k, v in arguments.items() if k != "filter"}}
        if "filter" in arguments:
            args["filter"] = json.dumps(arguments["filter"])
        page = entities.list_records(workspace_id, entity, args)
        g.pop("response_headers", None)  # Link and X-Total-Count belong to REST pages
        body = page_envelope(entities.response_schema(entity))().dump(page)
        return {"data": body["data"], "meta": body["meta"]}
    if action == "get":
        return entities.get_record(workspace_id, entity, arguments["id"], arguments)
    if action == "delete":
        entities.delete_record(workspace_id, entity, arguments["id"])
        return {"deleted": True, "id": arguments["id"]}
    body = {k: v for k, v in arguments.items() if k != "id"}
    data = entities.load(entity, body, creating=action == "create")
    if action == "create":
        return entities.create_record(workspace_id, entity, data, tier=principal.tier)
    return entities.update_record(workspace_id, entity, arguments["id"], data)


def entities_handler(workspace_id: str, principal: Principal) -> Handler:
    def readable() -> list[Entity]:
        return [e for e in registry.entities_of(workspace_id) if may(principal, e, "read")]

    def tools_list(params: dict) -> dict:
        offset = page_cursor(params)
        tools = [
            {
                "name": _tool_name(entity, action),
                "description": f"{action.capitalize()} {entity.name} of the workspace",
                "inputSchema": schema,
            }
            for entity in registry.entities_of(workspace_id)
            for action, schema in input_schemas(entity).items()
            if may(principal, entity, ACTIONS[action])
        ]
        result: dict = {"tools": tools[offset : offset + PAGE_SIZE]}
        if offset + PAGE_SIZE < len(tools):
            result["nextCursor"] = next_cursor(offset + PAGE_SIZE)
        return result

    def tools_call(params: dict) -> dict:
        name, arguments = params.get("name"), params.get("arguments")
        arguments = {} if arguments is None else arguments
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "tools/call needs 'name' (a string) and 'arguments' (an object).")
        entity_name, _, action = name.rpartition("_")
        entity = registry.entity_named(workspace_id, entity_name) if action in ACTIONS else None
        if entity is None:
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {name[:64]}")
        if not may(principal, entity, ACTIONS[action]):
            return text_result({"error": "access_denied", "required_scope": f"{entity.name}:{ACTIONS[action]}"}, True)
        problems = [p.message[:300] for p in Draft202012Validator(input_schemas(entity)[action]).iter_errors(arguments)]
        if problems:
            return text_result({"error": "validation_failed", "errors": {"arguments": problems}}, True)
        try:
            content = _run(workspace_id, principal, entity, action, arguments)
        except ApiError as exc:
            if exc.status == 429:
                raise
            db.session.rollback()
            return text_result({"error": exc.code, "message": exc.message, **exc.fields}, True)
        return text_result(content, False)

    def resources_list(params: dict) -> dict:
        offset = page_cursor(params)
        names = {e.name: e for e in readable()}
        rows = db.session.execute(
            sa.select(EntityRecord.entity, EntityRecord.id)
            .where(EntityRecord.workspace_id == workspace_id, EntityRecord.entity.in_(list(names)))
            .order_by(EntityRecord.entity, EntityRecord.id)
            .offset(offset)
            .limit(PAGE_SIZE + 1)
        ).all()
        resources = [
            {"uri": f"{URI_PREFIX}{entity}/{record_id}", "name": record_id, "mimeType": "application/json"}
            for entity, record_id in rows[:PAGE_SIZE]
        ]
        result: dict = {"resources": resources}
        if len(rows) > PAGE_SIZE:
            result["nextCursor"] = next_cursor(offset + PAGE_SIZE)
        return result

    def resources_read(params: dict) -> dict:
        uri = params.get("uri")
        record = read_record(workspace_id, principal, uri) if isinstance(uri, str) else None
        if record is None:
            raise RpcError(RESOURCE_NOT_FOUND, "Resource not found.", {"uri": uri})
        return {"contents": [{"uri": uri, "mimeType": "application/json", "text": json.dumps(record)}]}

    return Handler(
        name="entities",
        title="Workspace entities",
        methods={
            "tools/list": tools_list,
            "tools/call": tools_call,
            "resources/list": resources_list,
            "resources/read": resources_read,
        },
        scopes={"tools/call": "mcp:write"},
    )


def read_record(workspace_id: str, principal: Principal, uri: str) -> dict | None:
    """`entities://{entity}/{id}` → the record, if the caller may read it; else None."""
    if not uri.startswith(URI_PREFIX):
        return None
    entity_name, _, record_id = uri[len(URI_PREFIX) :].partition("/")
    entity = registry.entity_named(workspace_id, entity_name)
    if entity is None or not record_id or not may(principal, entity, "read"):
        return None
    try:
        return entities.get_record(workspace_id, entity, record_id)
    except ApiError:
        return None
