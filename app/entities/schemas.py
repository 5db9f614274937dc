"""marshmallow schemas generated from entity declarations, and the registry API's own schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache

from marshmallow import INCLUDE, ValidationError, fields, post_dump, validate

from ..core.clock import iso
from ..core.lists import ListQuery
from ..core.schemas import QuerySchema, Schema, StrictInteger, UtcDateTime
from .declarations import MEMBERS, Entity, Field

# --- field types: strict in, stored as JSON-ready values, dumped as stored ---------------------


class StrictNumber(fields.Field):
    """A JSON number (not a string, not a boolean); ints stay ints."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
            raise ValidationError("Must be a number.")
        return value


class StrictBoolean(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class IsoDate(fields.Field):
    """`2026-01-15`, stored as that string (it sorts as it reads)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return date.fromisoformat(value).isoformat() if isinstance(value, str) and len(value) == 10 else _bad()
        except ValueError:
            raise ValidationError("Must be a date: YYYY-MM-DD.") from None


class IsoDateTime(fields.Field):
    """Any ISO 8601 time in, UTC with `Z` stored and out."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else _bad()
        except ValueError:
            raise ValidationError("Must be an ISO 8601 date and time.") from None
        return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _bad():
    raise ValueError


TEXT_TYPES = ("string", "text", "email", "url", "enum", "reference")
_FIELDS: dict[str, type[fields.Field]] = {
    "string": fields.String,
    "text": fields.String,
    "enum": fields.String,
    "reference": fields.String,
    "email": fields.Email,
    "url": fields.Url,
    "integer": fields.Integer,
    "number": StrictNumber,
    "boolean": StrictBoolean,
    "date": IsoDate,
    "datetime": IsoDateTime,
    "json": fields.Raw,
}
_OPENAPI = {
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "json": {},
}


def _validators(f: Field) -> list:
    rules: list = []
    if f.type in TEXT_TYPES:
        rules.append(
            validate.Length(min=1 if f.required else 0, max=f.max_length or (40 if f.type == "reference" else None))
        )
    if f.type in ("integer", "number") and (f.min is not None or f.max is not None):
        rules.append(validate.Range(min=f.min, max=f.max))
    if f.type == "integer":
        rules.append(validate.Range(min=-(2**53), max=2**53))  # exact in JSON and in every backend
    if f.type == "enum":
        rules.append(validate.OneOf(f.values))
    return rules


def _input_field(f: Field, creating: bool) -> fields.Field:
    metadata: dict[str, object] = {"description": f"{f.type}{' → ' + f.references if f.references else ''}"}
    metadata.update(_OPENAPI.get(f.type, {}))
    if f.default is not None:
        metadata["default"] = f.default
    if f.type == "integer":
        return StrictInteger(
            required=creating and f.required, allow_none=not f.required, validate=_validators(f), metadata=metadata
        )
    field_class = _FIELDS[f.type]
    return field_class(
        required=creating and f.required, allow_none=not f.required, validate=_validators(f), metadata=metadata
    )


@cache
def input_schema(entity: Entity, creating: bool) -> type[Schema]:
    """Create (required fields required) or update (every field optional) body of one entity."""
    attrs = {f.name: _input_field(f, creating) for f in entity.fields if not f.generated}
    kind = "Create" if creating else "Update"
    return type(f"{_title(entity.name)}{kind}", (Schema,), attrs)


def _output_field(f: Field) -> fields.Field:
    # stored values are JSON-ready already: dumped as they are, documented with their type
    metadata = {**_OPENAPI.get(f.type, {"type": "integer"} if f.type == "integer" else {"type": "string"})}
    metadata["description"] = f.type
    return fields.Raw(allow_none=True, metadata=metadata)


class MemberRefSchema(Schema):
    id = fields.String(metadata={"example": "usr_7Hj2Kl9Mn4Pq8Rs1Tu5Vw3Xy"})
    name = fields.String(allow_none=True)
    email = fields.String()


def _plain_attrs(entity: Entity) -> dict:
    attrs: dict = {"id": fields.String(metadata={"example": f"{entity.prefix}_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})}
    attrs.update({f.name: _output_field(f) for f in entity.fields})
    for name in ("created_at", "updated_at"):
        attrs[name] = IsoDateTime(metadata={"type": "string", "format": "date-time", "example": "2026-01-15T10:30:00Z"})
    return attrs


@cache
def plain_schema(entity: Entity) -> type[Schema]:
    """A record without its relations (what an `include` embeds)."""
    return type(f"{_title(entity.name)}Embedded", (Schema,), _plain_attrs(entity))


@cache
def output_schema(entity: Entity, related: tuple[Entity, ...] = ()) -> type[Schema]:
    """A record, with each relation as `include` embeds it (only when asked for)."""
    attrs = _plain_attrs(entity)
    by_name = {e.name: e for e in related}
    for relation in entity.relations:
        if relation.entity == MEMBERS:
            target: type[Schema] = MemberRefSchema
        elif relation.entity in by_name:
            target = plain_schema(by_name[relation.entity])
        else:
            continue
        description = f"Only with include={relation.name}"
        attrs[relation.name] = (
            fields.List(fields.Nested(target), metadata={"description": description})
            if relation.type == "has_many"
            else fields.Nested(target, allow_none=True, metadata={"description": description})
        )
    return type(f"{_title(entity.name)}Schema", (Schema,), attrs)


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# --- queries ---------------------------------------------------------------------------------


class RecordListQuery(ListQuery):
    filter = fields.String(
        metadata={
            "description": 'JSON: `{"status": "todo"}`, `{"priority": {"in": ["high", "medium"]}}`; operators '
            "eq ne gt gte lt lte in nin contains startswith is_null, combined with AND"
        }
    )
    order = fields.String(validate=validate.OneOf(("asc", "desc")), metadata={"description": "With a plain `sort`"})
    start_date = UtcDateTime(metadata={"description": "Alias of created_after"})
    end_date = UtcDateTime(metadata={"description": "Alias of created_before"})


class RecordQuery(QuerySchema):
    include = fields.String(metadata={"description": "Relations to embed", "example": "assignee,comments"})
    # declared last: the name shadows marshmallow's `fields` in this class body
    fields = fields.String(metadata={"description": "Only these fields (and `id`)", "example": "id,title"})  # type: ignore[assignment]


# --- the registry API ------------------------------------------------------------------------


class EntitySummarySchema(Schema):
    name = fields.String(metadata={"example": "tasks"})
    singular = fields.String(metadata={"example": "task"})
    id_prefix = fields.String(metadata={"example": "tsk"})
    builtin = fields.Boolean()
    fields_ = fields.Dict(data_key="fields", metadata={"description": "name → field declaration"})
    relations = fields.Dict()
    searchable = fields.List(fields.String())
    sortable = fields.List(fields.String())
    filterable = fields.List(fields.String())
    rate_limit = fields.Dict(allow_none=True)


class RecordBody(Schema):
    """A custom entity's record as sent: checked against its declaration by the service."""

    class Meta:
        unknown = INCLUDE


class RecordSchema(Schema):
    """A custom entity's record: `id`, its declared fields, `created_at`, `updated_at`."""

    id = fields.String(metadata={"example": "prj_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})

    @post_dump(pass_original=True)
    def _every_field(self, data, original, **kwargs):
        return dict(original)


class EntityDeclaration(Schema):
    """The declaration format (see README): checked in full by declarations.parse."""

    name = fields.String(required=True, metadata={"example": "projects"})
    singular = fields.String(required=True, metadata={"example": "project"})
    id_prefix = fields.String(required=True, metadata={"example": "prj"})
    fields_ = fields.Dict(
        data_key="fields",
        required=True,
        metadata={"example": {"title": {"type": "string", "required": True, "max_length": 200}}},
    )
    relations = fields.Dict()
    searchable = fields.List(fields.String())
    sortable = fields.List(fields.String())
    filterable = fields.List(fields.String())
    rate_limit = fields.Dict(allow_none=True, metadata={"example": {"limit": 1000, "window": "1h"}})


class EntityChange(Schema):
    """PATCH: new fields, or relaxed ones (not required any more, longer, wider range, more values)."""

    fields_ = fields.Dict(data_key="fields", metadata={"example": {"budget": {"type": "number", "min": 0}}})
    searchable = fields.List(fields.String())
    sortable = fields.List(fields.String())
    filterable = fields.List(fields.String())
    rate_limit = fields.Dict(allow_none=True)


class OptionsSchema(Schema):
    entity = fields.String(metadata={"example": "tasks"})
    methods = fields.List(fields.String(), metadata={"example": ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]})
    schema = fields.Dict()
    relations = fields.Dict()
    permissions = fields.Dict(metadata={"example": {"read": True, "write": True, "delete": False}})
    rate_limit = fields.Dict(allow_none=True, metadata={"example": {"limit": 1000, "window": "1h"}})
