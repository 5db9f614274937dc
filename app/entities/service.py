"""Records of any entity: create, read, list, update, delete, with references, uniqueness,
relations and events, the same for built-in and custom entities (issue 4)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError

from ..core.auth import Principal, has_scope, membership_of, role_at_least
from ..core.clock import iso, utcnow
from ..core.errors import ApiError, conflict, flatten_messages, validation_failed
from ..core.events import record_event
from ..core.ids import new_id
from ..core.lists import ListSpec, paginate
from ..core.ratelimit import hit
from ..entitlements import service as entitlements
from ..extensions import db
from ..workspaces.service import member_summaries
from . import query, registry
from .builtins import order_items, order_total
from .declarations import MEMBERS, WINDOWS, Entity
from .models import EntityLink, EntityRecord, EntityUniqueValue, JsonMerge
from .schemas import input_schema, output_schema


def entity_or_404(workspace_id: str, name: str) -> Entity:
    entity = registry.entity_named(workspace_id, name)
    if entity is None:
        raise ApiError(404, "entity_not_found", f"There is no entity '{name}'.")
    return entity


def check_rate_limit(entity: Entity, principal: Principal) -> None:
    """An entity's own limit, beside the tier's (declaration `rate_limit`)."""
    if entity.rate_limit is not None:
        limit, window = entity.rate_limit
        hit(f"{limit}/{WINDOWS[window]}", "entity", principal.workspace_id or "", entity.name, principal.credential_id)


def response_schema(entity: Entity):
    related = tuple(e for r in entity.relations if (e := registry.builtins().get(r.entity)) is not None)
    return output_schema(entity, related)


# --- reading ---------------------------------------------------------------------------------


def _as_dict(entity: Entity, record: EntityRecord) -> dict:
    item: dict[str, Any] = {"id": record.id}
    item.update({f.name: record.data.get(f.name) for f in entity.fields})
    item["created_at"], item["updated_at"] = iso(record.created_at), iso(record.updated_at)
    return item


def _records(workspace_id: str, entity_name: str):
    return sa.select(EntityRecord).where(EntityRecord.workspace_id == workspace_id, EntityRecord.entity == entity_name)


def _embed(workspace_id: str, entity: Entity, items: list[dict], wanted: set[str]) -> list[dict]:
    """Each relation asked for with one query for the whole page, never one per row."""
    for name in sorted(wanted):
        relation = entity.relation(name)
        if relation is None:
            continue
        if relation.type == "belongs_to":
            ids = {item[relation.foreign_key] for item in items if item.get(relation.foreign_key)}
            if relation.entity == MEMBERS:
                found = member_summaries(workspace_id, ids)
            else:
                target = entity_or_404(workspace_id, relation.entity)
                found = {
                    r.id: _as_dict(target, r)
                    for r in db.session.scalars(_records(workspace_id, target.name).where(EntityRecord.id.in_(ids)))
                }
            for item in items:
                item[name] = found.get(item.get(relation.foreign_key) or "")
        else:
            target = entity_or_404(workspace_id, relation.entity)
            children: dict[str, list] = defaultdict(list)
            rows = db.session.execute(
                _records(workspace_id, target.name)
                .add_columns(EntityLink.to_id)
                .join(EntityLink, EntityLink.from_id == EntityRecord.id)
                .where(EntityLink.field == relation.foreign_key, EntityLink.to_id.in_([i["id"] for i in items]))
                .order_by(EntityRecord.created_at, EntityRecord.id)
            )
            for row in rows:
                children[row.to_id].append(_as_dict(target, row.EntityRecord))
            for item in items:
                item[name] = children.get(item["id"], [])
    return items


def _select(entity: Entity, item: dict, fields: str | None) -> dict:
    if not fields:
        return item
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    known = {"id", "created_at", "updated_at", *(f.name for f in entity.fields)}
    unknown = sorted(wanted - known)
    if unknown:
        raise ApiError(400, "bad_request", f"Unknown field(s) in 'fields': {', '.join(unknown)}.")
    relations = {r.name for r in entity.relations}
    return {k: v for k, v in item.items() if k in wanted | {"id"} | relations}


def _relations_asked(entity: Entity, include: str | None) -> set[str]:
    wanted = {i.strip() for i in (include or "").split(",") if i.strip()}
    unknown = sorted(wanted - {r.name for r in entity.relations})
    if unknown:
        raise ApiError(400, "bad_request", f"Unknown relation(s) in 'include': {', '.join(unknown)}.")
    return wanted


def _find(workspace_id: str, entity: Entity, record_id: str, lock: bool = False) -> EntityRecord:
    stmt = _records(workspace_id, entity.name).where(EntityRecord.id == record_id)
    record = db.session.scalar(stmt.with_for_update() if lock else stmt)
    if record is None:
        raise ApiError(404, "not_found", f"No {entity.singular} has the id {record_id}.")
    return record


def get_record(workspace_id: str, entity: Entity, record_id: str, args: dict | None = None) -> dict:
    args = args or {}
    wanted = _relations_asked(entity, args.get("include"))
    item = _as_dict(entity, _find(workspace_id, entity, record_id))
    [item] = _embed(workspace_id, entity, [item], wanted)
    return _select(entity, item, args.get("fields"))


def list_records(workspace_id: str, entity: Entity, args: dict) -> dict:
    stmt = query.apply_filter(_records(workspace_id, entity.name), entity, args.get("filter"))
    args = dict(args)
    for alias, name in (("start_date", "created_after"), ("end_date", "created_before")):
        if args.get(alias) is not None and args.get(name) is None:
            args[name] = args[alias]
    if args.get("order") and args.get("sort") and "," not in args["sort"]:
        args["sort"] = ("-" if args["order"] == "desc" else "") + args["sort"].lstrip("-")
    spec = ListSpec(
        EntityRecord,
        response_schema(entity),
        sortable=entity.sortable,
        searchable=entity.searchable,
        filterable=("status",) if "status" in entity.filterable else (),
        includes={r.name: r.name for r in entity.relations},
        columns={name: query.column(entity, name) for name in {*entity.sortable, *entity.searchable, "status"}},
        prepare=lambda rows, wanted: _embed(workspace_id, entity, [_as_dict(entity, r) for r in rows], wanted),
    )
    return paginate(stmt, spec, args)


# --- writing ---------------------------------------------------------------------------------


def load(entity: Entity, body: dict, creating: bool) -> dict:
    """Validate a request body against the entity's generated schema (422 on failure)."""
    try:
        return input_schema(entity, creating)().load(body)
    except ValidationError as error:
        raise validation_failed(flatten_messages(error.messages)) from None


def _prepare(workspace_id: str, entity: Entity, data: dict, creating: bool) -> dict:
    """Defaults, computed fields and references: what the schema alone cannot check."""
    if creating:
        for f in entity.fields:
            if f.name not in data and f.default is not None and not f.generated:
                data[f.name] = f.default
    if entity.builtin and entity.name == "orders" and "items" in data:
        items, errors = order_items(data["items"])
        if errors:
            raise validation_failed(errors)
        products = {i["product_id"] for i in items}
        known = set(
            db.session.scalars(
                _records(workspace_id, "products")
                .with_only_columns(EntityRecord.id)
                .where(EntityRecord.id.in_(products))
            )
        )
        missing = {
            f"items.{n}.product_id": ["No product has this id."]
            for n, i in enumerate(items)
            if i["product_id"] not in known
        }
        if missing:
            raise validation_failed(missing)
        data["items"], data["total"] = items, order_total(items)
    missing_references: dict[str, list[str]] = {}
    for f in entity.fields:
        value = data.get(f.name)
        if f.type != "reference" or value is None:
            continue
        if f.references == MEMBERS:
            exists = membership_of(value, workspace_id) is not None
        else:
            # FOR KEY SHARE: a concurrent delete of the referenced record waits for this commit
            # (and then sees the new reference), or this waits for the delete (and refuses)
            exists = db.session.scalar(
                sa.select(EntityRecord.id)
                .where(
                    EntityRecord.id == value,
                    EntityRecord.workspace_id == workspace_id,
                    EntityRecord.entity == f.references,
                )
                .with_for_update(read=True, key_share=True)
            )
        if not exists:
            missing_references[f.name] = [f"No {f.references} record of this workspace has the id {value}."]
    if missing_references:
        raise validation_failed(missing_references)
    return data


def _unique_value(value) -> str:
    return value.lower() if isinstance(value, str) else json.dumps(value)


def _claim_unique(record: EntityRecord, entity: Entity, data: dict) -> None:
    """One row per unique value: the database refuses a second one (409 conflict)."""
    for f in entity.unique_fields:
        if f.name not in data:
            continue
        db.session.execute(
            sa.delete(EntityUniqueValue).where(
                EntityUniqueValue.record_id == record.id, EntityUniqueValue.field == f.name
            )
        )
        if data[f.name] is None:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(
                    EntityUniqueValue(
                        workspace_id=record.workspace_id,
                        entity=entity.name,
                        field=f.name,
                        value=_unique_value(data[f.name]),
                        record_id=record.id,
                    )
                )
        except IntegrityError:
            db.session.rollback()
            raise conflict(f.name, f"Another {entity.singular} already has this {f.name}.") from None


def _link(record_id: str, entity: Entity, data: dict) -> None:
    for f in entity.record_references:
        if f.name not in data:
            continue
        db.session.execute(sa.delete(EntityLink).where(EntityLink.from_id == record_id, EntityLink.field == f.name))
        if data[f.name] is not None:
            db.session.add(EntityLink(from_id=record_id, field=f.name, to_id=data[f.name]))


def record_count(workspace_id: str) -> int:
    """The `records` entitlement: records of every entity of the workspace."""
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(EntityRecord).where(EntityRecord.workspace_id == workspace_id)
        )
        or 0
    )


def create_record(workspace_id: str, entity: Entity, data: dict, tier: str | None = None) -> dict:
    """With a `tier` (API calls) the plan's `records` limit applies; operators' scripts pass none."""
    data = _prepare(workspace_id, entity, dict(data), creating=True)
    if tier is not None:
        entitlements.require(workspace_id, tier, "records", lambda: record_count(workspace_id))
    now = utcnow()
    record = EntityRecord(
        id=new_id(entity.prefix),
        workspace_id=workspace_id,
        entity=entity.name,
        data=data,
        created_at=now,
        updated_at=now,
    )
    db.session.add(record)
    db.session.flush()
    _claim_unique(record, entity, data)
    _link(record.id, entity, data)
    item = _as_dict(entity, record)
    record_event(workspace_id, f"{entity.singular}.created", response_schema(entity)().dump(item))
    db.session.commit()
    return item


def update_record(workspace_id: str, entity: Entity, record_id: str, patch: dict) -> dict:
    """Only the given fields change, merged by the database: concurrent PATCHes of different
    fields both survive."""
    record = _find(workspace_id, entity, record_id)
    patch = _prepare(workspace_id, entity, dict(patch), creating=False)
    if patch:
        db.session.execute(
            sa.update(EntityRecord)
            .where(EntityRecord.id == record.id)
            .values(data=_merged(patch), updated_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
        _claim_unique(record, entity, patch)
        _link(record.id, entity, patch)
        db.session.refresh(record)
    item = _as_dict(entity, record)
    record_event(workspace_id, f"{entity.singular}.updated", response_schema(entity)().dump(item))
    db.session.commit()
    return item


def _merged(patch: dict) -> JsonMerge:
    return JsonMerge(sa.bindparam("patch", json.dumps(patch), type_=sa.String()), tuple(patch))


def delete_record(workspace_id: str, entity: Entity, record_id: str) -> None:
    _delete(workspace_id, entity, _find(workspace_id, entity, record_id, lock=True))
    db.session.commit()


def _delete(workspace_id: str, entity: Entity, record: EntityRecord) -> None:
    """Records referencing this one decide: restrict → 409, cascade → deleted first (events too)."""
    referencing = db.session.execute(
        sa.select(EntityRecord, EntityLink.field)
        .join(EntityLink, EntityLink.from_id == EntityRecord.id)
        .where(EntityLink.to_id == record.id)
    ).all()
    for child, field_name in referencing:
        child_entity = entity_or_404(workspace_id, child.entity)
        f = child_entity.field(field_name)
        if f is None or f.on_delete != "cascade":
            raise ApiError(
                409,
                "conflict",
                f"This {entity.singular} is referenced by {child_entity.name} ({child.id}); delete those first.",
            )
    for child, _ in referencing:
        _delete(workspace_id, entity_or_404(workspace_id, child.entity), child)
    record_event(workspace_id, f"{entity.singular}.deleted", response_schema(entity)().dump(_as_dict(entity, record)))
    db.session.delete(record)
    db.session.flush()


# --- OPTIONS ---------------------------------------------------------------------------------


def options(principal: Principal, entity: Entity) -> dict:
    role = principal.role
    permissions = {
        action: has_scope(principal.scopes, f"{entity.name}:{action}")
        and role_at_least(role, "viewer" if action == "read" else "member")
        for action in ("read", "write", "delete")
    }
    schema = {"id": {"type": "string", "required": False, "generated": True}}
    schema.update({f.name: f.describe() for f in entity.fields})
    schema["created_at"] = {"type": "datetime", "required": False, "generated": True}
    schema["updated_at"] = {"type": "datetime", "required": False, "generated": True}
    return {
        "entity": entity.name,
        "methods": ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        "schema": schema,
        "relations": {r.name: r.describe() for r in entity.relations},
        "permissions": permissions,
        "rate_limit": {"limit": entity.rate_limit[0], "window": entity.rate_limit[1]} if entity.rate_limit else None,
    }
