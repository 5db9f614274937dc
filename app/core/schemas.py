"""Base schema, field types and the response envelopes of API.md §4."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from flask import g
from marshmallow import EXCLUDE, ValidationError, fields, post_dump, pre_load
from marshmallow import Schema as _Schema

from .clock import iso


def _nul_paths(value, path: str = "") -> list[str]:
    """Where a NUL character hides in parsed input: PostgreSQL text cannot store one."""
    if isinstance(value, str):
        return [path or "_schema"] if "\x00" in value else []
    if isinstance(value, Mapping):  # a dict, or webargs' proxy of the query string
        found = [p for k, v in value.items() for p in _nul_paths(v, f"{path}.{k}" if path else str(k))]
        return found + [path or "_schema" for k in value if isinstance(k, str) and "\x00" in k]
    if isinstance(value, list):
        return [p for v in value for p in _nul_paths(v, path)]
    return []


class _RejectsNul(_Schema):
    @pre_load
    def _reject_nul(self, data, **kwargs):
        found = _nul_paths(data)
        if found:
            raise ValidationError({p: ["Must not contain NUL characters."] for p in found})
        return data


class Schema(_RejectsNul):
    """Request bodies reject unknown (and read-only) fields with 422: marshmallow's RAISE."""


class QuerySchema(_RejectsNul):
    """Query strings ignore parameter names they do not know (API.md §5)."""

    class Meta:
        unknown = EXCLUDE


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC with a `Z` suffix, whatever the database handed back."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)

    def _deserialize(self, value, attr, data, **kwargs):
        from datetime import UTC

        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


def StrictInteger(**kwargs):  # noqa: N802 - reads as a field type
    """Integral JSON numbers only: 1.5 is a 422, never truncated (API.md §9)."""
    return fields.Integer(strict=True, **kwargs)


class ErrorSchema(_Schema):
    error = fields.String(required=True, metadata={"example": "validation_failed"})
    message = fields.String(required=True, metadata={"example": "The given data was invalid."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"example": {"name": ["The name field is required."]}},
    )
    request_id = fields.String(allow_none=True, metadata={"example": "req_8hX2kQ9mZt4Lw7Rb"})
    required_scope = fields.String()
    retry_after = fields.Integer()
    limit = fields.Integer()
    remaining = fields.Integer()
    reset_at = fields.String()

    class Meta:
        unknown = EXCLUDE


class ReceivedSchema(_Schema):
    """What a provider webhook (Stripe, the identity provider) answers once an event is taken."""

    received = fields.Boolean(metadata={"example": True})


class PageMeta(_Schema):
    current_page = fields.Integer(required=True)
    # `from`/`to` are Python keywords: declared under other names and renamed with data_key.
    from_ = fields.Integer(data_key="from", allow_none=True, required=True)
    last_page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    to = fields.Integer(allow_none=True, required=True)
    total = fields.Integer(required=True)


class PageLinks(_Schema):
    first = fields.String(required=True)
    last = fields.String(required=True)
    prev = fields.String(allow_none=True, required=True)
    next = fields.String(allow_none=True, required=True)


class _PageEnvelope(_Schema):
    @post_dump
    def _select_fields(self, data, **kwargs):
        """`fields=` and `include=` decide which keys each item keeps (core.lists sets them)."""
        keep, drop = g.get("list_fields"), g.get("list_drop", ())
        for item in data.get("data", []):
            for key in list(item):
                if (keep is not None and key not in keep) or key in drop:
                    del item[key]
        return data


def _named(name: str, bases: tuple, attrs: dict):
    return type(name, bases, attrs)


@cache
def envelope(schema: type[_Schema]) -> type[_Schema]:
    base = schema.__name__.removesuffix("Schema")
    return _named(f"{base}Response", (_Schema,), {"data": fields.Nested(schema, required=True)})


@cache
def created_envelope(schema: type[_Schema], example: str) -> type[_Schema]:
    base = schema.__name__.removesuffix("Schema")
    return _named(
        f"{base}CreatedResponse",
        (_Schema,),
        {
            "message": fields.String(required=True, metadata={"example": example}),
            "data": fields.Nested(schema, required=True),
        },
    )


@cache
def page_envelope(schema: type[_Schema]) -> type[_Schema]:
    base = schema.__name__.removesuffix("Schema")
    return _named(
        f"{base}Page",
        (_PageEnvelope,),
        {
            "data": fields.List(fields.Nested(schema), required=True),
            "meta": fields.Nested(PageMeta, required=True),
            "links": fields.Nested(PageLinks, required=True),
        },
    )
