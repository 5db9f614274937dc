"""The OpenAPI document of one workspace's custom entities (API.md §12): the built-ins are in the
API's own document; custom ones exist for one workspace, so only its members get theirs."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app

from ..core.api import SECURITY
from ..core.schemas import ErrorSchema, created_envelope, envelope, page_envelope
from . import registry, service
from .schemas import RecordListQuery, RecordQuery, input_schema

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(schema) -> dict:
    return {"description": "OK", **_json(schema)}


def _errors(*statuses: int) -> dict:
    return {str(status): {"description": "Error", **_json(ERROR)} for status in statuses}


def document(workspace_id: str) -> dict:
    spec = APISpec(
        title="Core API: custom entities",
        version=current_app.config["API_VERSION"],
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": f"The custom entities of workspace {workspace_id}."},
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "cookieAuth", {"type": "apiKey", "in": "cookie", "name": current_app.config["SESSION_COOKIE_NAME"]}
    )
    spec.components.schema("Error", schema=ErrorSchema)
    for entity in registry.custom_entities(workspace_id):
        out, singular = service.response_schema(entity), entity.singular.replace("_", " ")
        common = {"tags": [entity.name], "security": SECURITY}
        spec.path(
            path=f"/api/v1/{entity.name}",
            operations={
                "get": {
                    **common,
                    "summary": f"List {entity.name}",
                    "parameters": [{"in": "query", "schema": RecordListQuery}],
                    "responses": {"200": _ok(page_envelope(out)), **_errors(400, 401, 403, 404, 429)},
                },
                "post": {
                    **common,
                    "summary": f"Create a {singular}",
                    "requestBody": _json(input_schema(entity, True)),
                    "responses": {
                        "201": _ok(created_envelope(out, f"{singular.capitalize()} created successfully.")),
                        **_errors(400, 401, 403, 404, 409, 422, 429),
                    },
                },
            },
        )
        spec.path(
            path=f"/api/v1/{entity.name}/{{record_id}}",
            parameters=[{"in": "path", "name": "record_id", "required": True, "schema": {"type": "string"}}],
            operations={
                "get": {
                    **common,
                    "summary": f"Get a {singular}",
                    "parameters": [{"in": "query", "schema": RecordQuery}],
                    "responses": {"200": _ok(envelope(out)), **_errors(400, 401, 403, 404, 429)},
                },
                "patch": {
                    **common,
                    "summary": f"Update a {singular}: only the fields given change",
                    "requestBody": _json(input_schema(entity, False)),
                    "responses": {"200": _ok(envelope(out)), **_errors(400, 401, 403, 404, 409, 422, 429)},
                },
                "delete": {
                    **common,
                    "summary": f"Delete a {singular}",
                    "responses": {"204": {"description": "Deleted"}, **_errors(400, 401, 403, 404, 409, 422, 429)},
                },
            },
        )
    return spec.to_dict()
