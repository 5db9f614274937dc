"""The `filter` parameter of entity lists: a JSON object of field → value or {operator: value},
combined with AND, turned into SQL on the stored documents (400 invalid_filter otherwise)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from ..core.errors import ApiError
from ..core.lists import like_escape
from .declarations import Entity
from .models import EntityRecord, JsonField

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "startswith", "is_null")
NUMBER_TYPES = ("integer", "number")


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_filter", message)


def kind_of(entity: Entity, name: str) -> str:
    field = entity.field(name)
    if field is None:
        return "datetime" if name in ("created_at", "updated_at") else "text"
    if field.type in NUMBER_TYPES:
        return "number"
    return "boolean" if field.type == "boolean" else "text"


def column(entity: Entity, name: str):
    """A field as SQL: the record's own columns, or the document's field cast for comparing."""
    if name in ("id", "created_at", "updated_at"):
        return getattr(EntityRecord, name)
    return JsonField(name, kind_of(entity, name))


def _value(entity: Entity, name: str, value, operator: str):
    kind = kind_of(entity, name)
    ok = {
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "text": lambda v: isinstance(v, str),
        "datetime": lambda v: isinstance(v, str) and _datetime(v) is not None,
    }[kind]
    values = value if operator in ("in", "nin") else [value]
    if operator in ("in", "nin") and not isinstance(value, list):
        raise _invalid(f"'{operator}' on '{name}' takes a list.")
    if not all(ok(v) for v in values):
        raise _invalid(f"'{name}' is compared with {'a ' + kind if kind != 'text' else 'a string'} value.")
    if kind == "datetime":
        values = [_datetime(v) for v in values]
    return values if operator in ("in", "nin") else values[0]


def _datetime(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _condition(entity: Entity, name: str, operator: str, value):
    if operator == "is_null":
        if not isinstance(value, bool):
            raise _invalid("'is_null' takes true or false.")
        expr = column(entity, name)
        return expr.is_(None) if value else expr.is_not(None)
    if operator in ("contains", "startswith") and kind_of(entity, name) != "text":
        raise _invalid(f"'{operator}' works on text fields; '{name}' is not one.")
    value = _value(entity, name, value, operator)
    expr = column(entity, name)
    if operator == "contains":
        return expr.ilike("%" + like_escape(value) + "%", escape="\\")
    if operator == "startswith":
        return expr.like(like_escape(value) + "%", escape="\\")
    return {
        "eq": lambda: expr == value,
        "ne": lambda: sa.or_(expr != value, expr.is_(None)),
        "gt": lambda: expr > value,
        "gte": lambda: expr >= value,
        "lt": lambda: expr < value,
        "lte": lambda: expr <= value,
        "in": lambda: expr.in_(value),
        "nin": lambda: sa.or_(expr.not_in(value), expr.is_(None)),
    }[operator]()


def apply_filter(stmt, entity: Entity, raw: str | None):
    if not raw:
        return stmt
    try:
        spec = json.loads(raw)
    except ValueError:
        raise _invalid("'filter' must be a JSON object.") from None
    if not isinstance(spec, dict):
        raise _invalid("'filter' must be a JSON object.")
    for name, condition in spec.items():
        if name not in entity.filterable and name != "id":
            raise _invalid(f"Cannot filter on '{name}'. Filterable: {', '.join(('id', *entity.filterable))}.")
        pairs = condition.items() if isinstance(condition, dict) else [("eq", condition)]
        if isinstance(condition, dict) and not condition:
            raise _invalid(f"No operator for '{name}'.")
        for operator, value in pairs:
            if operator not in OPERATORS:
                raise _invalid(f"Unknown operator '{operator}'. Operators: {', '.join(OPERATORS)}.")
            if value is None and operator == "eq":
                operator, value = "is_null", True
            stmt = stmt.where(_condition(entity, name, operator, value))
    return stmt
