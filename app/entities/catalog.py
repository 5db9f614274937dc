"""A workspace's entity catalog: the built-ins, and custom entities it defines, changes (only by
adding or relaxing) and deletes with their records."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, request
from werkzeug.routing import BaseConverter, ValidationError

from ..core.clock import utcnow
from ..core.errors import ApiError, conflict, validation_failed
from ..core.events import record_event
from ..entitlements import service as entitlements
from ..extensions import db
from . import registry
from .declarations import DeclarationError, Entity, Field, parse
from .models import CustomEntity, EntityLink, EntityRecord

# API.md §3's resources: names the API has or will have, whatever routes exist today
RESERVED = frozenset(
    {
        "auth",
        "workspaces",
        "members",
        "api_keys",
        "webhooks",
        "events",
        "entitlements",
        "billing",
        "usage",
        "seo",
        "pixel",
        "mcp",
        "files",
        "ai",
        "entities",
        "health",
        "docs",
        "openapi",
    }
)
EVENT_TYPES = ("entity.created", "entity.updated", "entity.deleted")


def route_names() -> frozenset[str]:
    """First path segments under /api/v1 that a route of the app owns (not the generic one)."""
    cached = current_app.extensions.get("entities.route_names")
    if cached is None:
        segments = set()
        for rule in current_app.url_map.iter_rules():
            parts = rule.rule.split("/")
            if rule.rule.startswith("/api/v1/") and len(parts) > 3 and "<" not in parts[3]:
                segments.add(parts[3])
        cached = current_app.extensions["entities.route_names"] = frozenset(segments)
    return cached


def taken(name: str) -> bool:
    return name in RESERVED or name in route_names() or name in registry.builtins()


class EntityNameConverter(BaseConverter):
    """The generic entity routes match only names no other route owns, so those keep their own
    404 and 405 answers."""

    regex = r"[a-z][a-z0-9_]{0,62}"

    def to_python(self, value: str) -> str:
        if taken(value):
            raise ValidationError()
        return value


def describe(entity: Entity) -> dict:
    return {
        "name": entity.name,
        "singular": entity.singular,
        "id_prefix": entity.prefix,
        "builtin": entity.builtin,
        "fields_": {f.name: f.describe() for f in entity.fields},
        "relations": {r.name: r.describe() for r in entity.relations},
        "searchable": list(entity.searchable),
        "sortable": list(entity.sortable),
        "filterable": list(entity.filterable),
        "rate_limit": {"limit": entity.rate_limit[0], "window": entity.rate_limit[1]} if entity.rate_limit else None,
    }


def listing(workspace_id: str) -> dict:
    """Every entity of the workspace, as one page of the contract's list envelope."""
    items = [describe(e) for e in registry.entities_of(workspace_id)]
    url = request.base_url
    return {
        "data": items,
        "meta": {
            "current_page": 1,
            "from_": 1,
            "last_page": 1,
            "per_page": len(items),
            "to": len(items),
            "total": len(items),
        },
        "links": {"first": url, "last": url, "prev": None, "next": None},
    }


def _parse(workspace_id: str, declaration: dict) -> Entity:
    known = {e.name for e in registry.entities_of(workspace_id)}
    try:
        return parse(declaration, builtin=False, known_entities=known)
    except DeclarationError as error:
        raise validation_failed(error.errors) from None


def custom_entity_count(workspace_id: str) -> int:
    """The `custom_entities` entitlement."""
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(CustomEntity).where(CustomEntity.workspace_id == workspace_id)
        )
        or 0
    )


def define(workspace_id: str, tier: str, declaration: dict) -> Entity:
    entity = _parse(workspace_id, declaration)
    if taken(entity.name) or entity.singular in RESERVED:
        raise validation_failed({"name": [f"'{entity.name}' is a name the API uses; choose another."]})
    if db.session.get(CustomEntity, (workspace_id, entity.name)) is not None:
        raise conflict("name", f"This workspace already has an entity named '{entity.name}'.")
    entitlements.require(workspace_id, tier, "custom_entities", lambda: custom_entity_count(workspace_id))
    now = utcnow()
    db.session.add(
        CustomEntity(
            workspace_id=workspace_id, name=entity.name, declaration=declaration, created_at=now, updated_at=now
        )
    )
    record_event(workspace_id, "entity.created", describe(entity))
    db.session.commit()
    return entity


def _custom(workspace_id: str, name: str) -> CustomEntity:
    row = db.session.get(CustomEntity, (workspace_id, name))
    if row is None:
        if name in registry.builtins():
            raise ApiError(
                422,
                "validation_failed",
                "Built-in entities cannot be changed or deleted.",
                errors={"name": ["Built-in."]},
            )
        raise ApiError(404, "entity_not_found", f"There is no entity '{name}'.")
    return row


def _relaxes(old: Field, new: Field) -> list[str]:
    """What makes `new` stricter than `old` (or a different kind of field)."""
    problems = []
    if new.type != old.type or new.references != old.references:
        problems.append("its type cannot change")
    if new.required and not old.required:
        problems.append("it cannot become required")
    if new.unique and not old.unique:
        problems.append("it cannot become unique")
    if new.max_length is not None and (old.max_length is None or new.max_length < old.max_length):
        problems.append("max_length cannot shrink")
    if new.min is not None and (old.min is None or new.min > old.min):
        problems.append("min cannot rise")
    if new.max is not None and (old.max is None or new.max < old.max):
        problems.append("max cannot fall")
    if old.values and not set(old.values) <= set(new.values):
        problems.append("enum values cannot be removed")
    return problems


def change(workspace_id: str, name: str, changes: dict) -> Entity:
    """Add fields or relax existing ones; lists and the rate limit may be replaced. Anything
    destructive (a field removed, a type changed, a rule tightened) is refused: delete instead."""
    row = _custom(workspace_id, name)
    old = parse(row.declaration, builtin=False)
    declaration = {**row.declaration, **{k: v for k, v in changes.items() if k != "fields_"}}
    declaration["fields"] = {**row.declaration["fields"], **changes.get("fields_", {})}
    new = _parse(workspace_id, declaration)
    errors: dict[str, list[str]] = {}
    for field in new.fields:
        before = old.field(field.name)
        if before is None and field.required and field.default is None:
            errors[f"fields.{field.name}"] = ["A new field is optional, or has a default (existing records lack it)."]
        elif before is not None and (problems := _relaxes(before, field)):
            errors[f"fields.{field.name}"] = [
                f"Only relaxing changes: {'; '.join(problems)}. Delete the entity instead."
            ]
    if errors:
        raise validation_failed(errors)
    row.declaration, row.updated_at = declaration, utcnow()
    record_event(workspace_id, "entity.updated", describe(new))
    db.session.commit()
    return new


def remove(workspace_id: str, name: str) -> None:
    """The entity and all its records. Refused while another entity's records point at them."""
    row = _custom(workspace_id, name)
    entity = parse(row.declaration, builtin=False)
    referenced = db.session.scalar(
        sa.select(EntityRecord.entity)
        .join(EntityLink, EntityLink.from_id == EntityRecord.id)
        .where(
            EntityLink.to_id.in_(
                sa.select(EntityRecord.id).where(EntityRecord.workspace_id == workspace_id, EntityRecord.entity == name)
            ),
            EntityRecord.entity != name,
        )
        .limit(1)
    )
    if referenced:
        raise ApiError(409, "conflict", f"Records of '{referenced}' reference {name}; delete those first.")
    db.session.execute(
        sa.delete(EntityRecord).where(EntityRecord.workspace_id == workspace_id, EntityRecord.entity == name)
    )
    db.session.delete(row)
    record_event(workspace_id, "entity.deleted", describe(entity))
    db.session.commit()
