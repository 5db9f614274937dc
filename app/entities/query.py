"""The `filter` parameter of entity lists: a JSON object of field → value or {operator: value},
combined with AND, turned into SQL on the stored documents (400 invalid_filter otherwise)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import sqlalchemy as sa

from ..core.clock import iso
from ..core.errors import ApiError
from ..core.lists import like_escape
from .declarations import Entity
from .models import EntityRecord, JsonField

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "startswith", "is_null")
NUMBER_TYPES = ("integer", "number")
MAX_NUMBER = 2**53  # exact in JSON, in every backend's numeric type


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_filter", message)


def kind_of(entity: Entity, name: str) -> str:
    """How a field's values compare: number, boolean, date, datetime (stored as fixed-format
    text, so they compare as text once a value is normalised), timestamp (a column) or text."""
    field = entity.field(name)
    if field is None:
        return "timestamp" if name in ("created_at", "updated_at") else "text"
    if field.type in NUMBER_TYPES:
        return "number"
    return field.type if field.type in ("boolean", "date", "datetime") else "text"


def column(entity: Entity, name: str):
    """A field as SQL: the record's own columns, or the document's field cast for comparing."""
    if name in ("id", "created_at", "updated_at"):
        return getattr(EntityRecord, name)
    kind = kind_of(entity, name)
    return JsonField(name, kind if kind in ("number", "boolean") else "text")


def _normalised(kind: str, value):
    """The value as stored (or as the column compares it); None if it is not one of `kind`."""
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= MAX_NUMBER
        return value if ok else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if not isinstance(value, str):
        return None
    if kind == "text":
        return value
    try:
        if kind == "date":
            return date.fromisoformat(value).isoformat() if len(value) == 10 else None
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return iso(parsed) if kind == "datetime" else parsed


def _value(entity: Entity, name: str, value, operator: str):
    kind = kind_of(entity, name)
    if operator in ("in", "nin") and not isinstance(value, list):
        raise _invalid(f"'{operator}' on '{name}' takes a list.")
    values = [_normalised(kind, v) for v in (value if operator in ("in", "nin") else [value])]
    if any(v is None for v in values):
        article = "an" if kind[0] in "aeiou" else "a"
        raise _invalid(f"'{name}' is compared with {article} {kind if kind != 'text' else 'string'} value.")
    return values if operator in ("in", "nin") else values[0]


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
    if operator == "startswith":  # ignoring case, like `contains` (and alike on every backend)
        return expr.ilike(like_escape(value) + "%", escape="\\")
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


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def apply_filter(stmt, entity: Entity, raw: str | None):
    if not raw:
        return stmt
    try:
        spec = json.loads(raw, parse_constant=_not_json)
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
