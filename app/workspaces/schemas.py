import re
import zoneinfo

from marshmallow import ValidationError, fields, validate, validates

from ..config import TIERS
from ..core.auth import ROLES
from ..core.schemas import Schema, UtcDateTime

SLUG = validate.Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="Use lower-case letters, digits and single hyphens.")
LOCALE = re.compile(r"^[a-z]{2,3}(?:_[A-Z]{2})?$")
_ZONES = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = zoneinfo.available_timezones()
    return _ZONES


class SettingsSchema(Schema):
    timezone = fields.String(metadata={"example": "Europe/London"})
    locale = fields.String(metadata={"example": "en_GB"})

    @validates("timezone")
    def _timezone(self, value, **kwargs):
        if value not in _zones():
            raise ValidationError("Must be an IANA time zone, like Europe/London.")

    @validates("locale")
    def _locale(self, value, **kwargs):
        if not LOCALE.match(value):
            raise ValidationError("Must be a locale like en_GB.")


class WorkspaceSchema(Schema):
    id = fields.String(dump_only=True, metadata={"example": "ws_4Fq9ZkT2mW8xLr3Np6Vb1Hc0"})
    name = fields.String(metadata={"example": "Acme Corporation"})
    slug = fields.String(metadata={"example": "acme-corporation"})
    tier = fields.String(metadata={"example": "free"})
    settings = fields.Dict(metadata={"example": {"timezone": "UTC", "locale": "en_GB"}})
    created_at = UtcDateTime(dump_only=True, metadata={"example": "2026-01-15T10:30:00Z"})
    updated_at = UtcDateTime(dump_only=True, metadata={"example": "2026-01-15T10:30:00Z"})


class WorkspaceCreate(Schema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=255), metadata={"example": "Acme Corporation"}
    )
    slug = fields.String(validate=[validate.Length(min=1, max=63), SLUG], metadata={"example": "acme-corp"})
    tier = fields.String(validate=validate.OneOf(TIERS), metadata={"example": "free"})
    settings = fields.Nested(SettingsSchema)


class WorkspaceUpdate(Schema):
    name = fields.String(validate=validate.Length(min=1, max=255))
    slug = fields.String(validate=[validate.Length(min=1, max=63), SLUG])
    tier = fields.String(validate=validate.OneOf(TIERS))
    settings = fields.Nested(SettingsSchema, metadata={"example": {"timezone": "Europe/London"}})


class MemberUserSchema(Schema):
    id = fields.String()
    email = fields.String()
    name = fields.String(allow_none=True)


class MemberSchema(Schema):
    user_id = fields.String(dump_only=True, metadata={"example": "usr_9aB3cD4eF5gH6iJ7kL8mN9oP"})
    workspace_id = fields.String(dump_only=True)
    role = fields.String(metadata={"example": "member"})
    user = fields.Nested(MemberUserSchema, dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


class MemberCreate(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254), metadata={"example": "ana@example.com"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES), metadata={"example": "member"})


class MemberUpdate(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES), metadata={"example": "admin"})
