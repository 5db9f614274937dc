"""Routes generated from the declarations: for each built-in entity, list/create/OPTIONS on
`/api/v1/{entity}` and get/update/delete on `/api/v1/{entity}/{id}`, documented with its schemas."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask.views import MethodView

from ..core import auth as core_auth
from ..core import responses
from ..core.api import SECURITY, Blueprint
from ..core.auth import current
from ..core.errors import not_found
from ..core.schemas import created_envelope, envelope, page_envelope
from . import catalog, registry, service
from . import openapi as entities_openapi
from .declarations import Entity
from .schemas import (
    EntityChange,
    EntityDeclaration,
    EntitySummarySchema,
    OptionsSchema,
    RecordBody,
    RecordListQuery,
    RecordQuery,
    RecordSchema,
    input_schema,
)

blp = Blueprint("entities", __name__, url_prefix="/api/v1", description="Entities: generated CRUD APIs")


ERROR_RESPONSES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
}


def _documents_errors(*statuses: int):
    """The generic routes check scopes at run time (the entity is in the path): document what
    @blp.auth would have documented."""

    def decorator(func):
        for status in statuses:
            func = blp.alt_response(status, response=ERROR_RESPONSES[status])(func)
        return func

    return decorator


def options_view(entity_of):
    """OPTIONS: the entity's metadata and the caller's permissions. A CORS preflight (no
    credentials) is answered empty, before authentication."""

    @blp.doc(security=SECURITY)
    @blp.response(200, envelope(OptionsSchema))
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    def options(self, **kwargs):
        """Entity metadata: schema, relations, your permissions, rate limit"""
        if request.headers.get("Access-Control-Request-Method"):
            return Response(status=204)
        principal = core_auth.authenticated()
        if principal.membership is None:
            raise not_found("Workspace not found.")
        return responses.one(service.options(principal, entity_of(principal, **kwargs)))

    return options


def _builtin_views(entity: Entity) -> None:
    name, title = entity.name, entity.singular.replace("_", " ").capitalize()
    out = service.response_schema(entity)

    @blp.route(f"/{name}", endpoint=f"{name}_collection")
    class Collection(MethodView):
        @blp.auth(scope=f"{name}:read")
        @blp.arguments(RecordListQuery, location="query", error_status_code=400)
        @blp.response(200, page_envelope(out))
        @blp.alt_response(400, response="BAD_REQUEST")
        @blp.doc(summary=f"List {name}")
        def get(self, args):
            service.check_rate_limit(entity, current)
            return service.list_records(current.workspace_id, entity, args)

        @blp.auth(scope=f"{name}:write")
        @blp.arguments(input_schema(entity, True))
        @blp.response(201, created_envelope(out, f"{title} created successfully."))
        @blp.alt_response(409, response="CONFLICT")
        @blp.doc(summary=f"Create a {entity.singular}")
        def post(self, data):
            service.check_rate_limit(entity, current)
            record = service.create_record(current.workspace_id, entity, data, tier=current.tier)
            return responses.created(record, f"{title} created successfully.")

        options = options_view(lambda principal: entity)

    @blp.route(f"/{name}/<string:record_id>", endpoint=f"{name}_item")
    class Item(MethodView):
        @blp.auth(scope=f"{name}:read")
        @blp.arguments(RecordQuery, location="query", error_status_code=400)
        @blp.response(200, envelope(out))
        @blp.alt_response(400, response="BAD_REQUEST")
        @blp.doc(summary=f"Get a {entity.singular}")
        def get(self, args, record_id):
            service.check_rate_limit(entity, current)
            return responses.one(service.get_record(current.workspace_id, entity, record_id, args))

        @blp.auth(scope=f"{name}:write")
        @blp.arguments(input_schema(entity, False))
        @blp.response(200, envelope(out))
        @blp.alt_response(409, response="CONFLICT")
        @blp.doc(summary=f"Update a {entity.singular}: only the fields given change")
        def patch(self, data, record_id):
            service.check_rate_limit(entity, current)
            return responses.one(service.update_record(current.workspace_id, entity, record_id, data))

        @blp.auth(scope=f"{name}:delete")
        @blp.response(204)
        @blp.alt_response(409, response="CONFLICT")
        @blp.doc(summary=f"Delete a {entity.singular}")
        def delete(self, record_id):
            service.check_rate_limit(entity, current)
            service.delete_record(current.workspace_id, entity, record_id)


for _entity in registry.builtins().values():
    _builtin_views(_entity)


# --- custom entities: one generic pair of routes, checked against the workspace's declaration --


def _custom(action: str, name: str):
    """Scope `<entity>:<action>` (or the generic one), then the workspace's entity or 404."""
    principal = core_auth.authorize(f"{name}:{action}")
    entity = service.entity_or_404(principal.workspace_id or "", name)
    service.check_rate_limit(entity, principal)
    return principal, entity


@blp.route("/<entity:entity_name>", endpoint="custom_collection")
class CustomCollection(MethodView):
    @blp.doc(security=SECURITY, summary="List the records of a custom entity")
    @blp.arguments(RecordListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(RecordSchema))
    @_documents_errors(400, 401, 403, 404, 429)
    def get(self, args, entity_name):
        principal, entity = _custom("read", entity_name)
        return service.list_records(principal.workspace_id or "", entity, args)

    @blp.doc(security=SECURITY, summary="Create a record of a custom entity")
    @blp.arguments(RecordBody)
    @blp.response(201, created_envelope(RecordSchema, "Record created successfully."))
    @_documents_errors(401, 403, 404, 409, 429)
    def post(self, body, entity_name):
        principal, entity = _custom("write", entity_name)
        data = service.load(entity, body, creating=True)
        record = service.create_record(principal.workspace_id or "", entity, data, tier=principal.tier)
        return responses.created(record, f"{entity.singular.replace('_', ' ').capitalize()} created successfully.")

    options = options_view(
        lambda principal, entity_name: service.entity_or_404(principal.workspace_id or "", entity_name)
    )


@blp.route("/<entity:entity_name>/<string:record_id>", endpoint="custom_item")
class CustomItem(MethodView):
    @blp.doc(security=SECURITY, summary="Get a record of a custom entity")
    @blp.arguments(RecordQuery, location="query", error_status_code=400)
    @blp.response(200, envelope(RecordSchema))
    @_documents_errors(400, 401, 403, 404, 429)
    def get(self, args, entity_name, record_id):
        principal, entity = _custom("read", entity_name)
        return responses.one(service.get_record(principal.workspace_id or "", entity, record_id, args))

    @blp.doc(security=SECURITY, summary="Update a record of a custom entity: only the fields given change")
    @blp.arguments(RecordBody)
    @blp.response(200, envelope(RecordSchema))
    @_documents_errors(401, 403, 404, 409, 429)
    def patch(self, body, entity_name, record_id):
        principal, entity = _custom("write", entity_name)
        data = service.load(entity, body, creating=False)
        return responses.one(service.update_record(principal.workspace_id or "", entity, record_id, data))

    @blp.doc(security=SECURITY, summary="Delete a record of a custom entity")
    @blp.response(204)
    @_documents_errors(400, 401, 403, 404, 409, 422, 429)
    def delete(self, entity_name, record_id):
        principal, entity = _custom("delete", entity_name)
        service.delete_record(principal.workspace_id or "", entity, record_id)


# --- the registry itself ---------------------------------------------------------------------


@blp.route("/entities", endpoint="entities")
class Entities(MethodView):
    @blp.auth(scope="entities:read")
    @blp.response(200, page_envelope(EntitySummarySchema))
    def get(self):
        """The workspace's entities: the built-ins and its custom ones (one page)"""
        return catalog.listing(current.workspace_id or "")

    @blp.auth(scope="entities:write", role="admin")
    @blp.arguments(EntityDeclaration)
    @blp.response(201, created_envelope(EntitySummarySchema, "Entity created successfully."))
    @blp.alt_response(409, response="CONFLICT")
    def post(self, declaration):
        """Define a custom entity: its CRUD API exists at once under /api/v1/{name}"""
        entity = catalog.define(current.workspace_id or "", current.tier, _declaration(declaration))
        return responses.created(catalog.describe(entity), "Entity created successfully.")


@blp.route("/entities/openapi.json", endpoint="entities_openapi")
class EntitiesDocument(MethodView):
    @blp.auth(scope="entities:read")
    @blp.response(200, description="An OpenAPI 3.0.3 document")
    def get(self):
        """The OpenAPI document of this workspace's custom entities (members only)"""
        return jsonify(entities_openapi.document(current.workspace_id or ""))


@blp.route("/entities/<string:name>", endpoint="entity")
class EntityItem(MethodView):
    @blp.auth(scope="entities:read")
    @blp.response(200, envelope(EntitySummarySchema))
    def get(self, name):
        """One entity's declaration"""
        return responses.one(catalog.describe(service.entity_or_404(current.workspace_id or "", name)))

    @blp.auth(scope="entities:write", role="admin")
    @blp.arguments(EntityChange)
    @blp.response(200, envelope(EntitySummarySchema))
    def patch(self, changes, name):
        """Add fields or relax existing ones (nothing destructive: delete the entity for that)"""
        return responses.one(catalog.describe(catalog.change(current.workspace_id or "", name, changes)))

    @blp.auth(scope="entities:delete", role="admin")
    @blp.response(204)
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, name):
        """Delete a custom entity and all its records"""
        catalog.remove(current.workspace_id or "", name)


def _declaration(loaded: dict) -> dict:
    """The declaration as stored: `fields` under its own name."""
    declaration = {k: v for k, v in loaded.items() if k != "fields_"}
    declaration["fields"] = loaded["fields_"]
    return declaration
