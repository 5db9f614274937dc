import re

from marshmallow import ValidationError, fields, validate, validates

from ..config import TIERS
from ..core.auth import ACTIONS
from ..core.schemas import Schema, StrictInteger, UtcDateTime

SCOPE = re.compile(r"^(\*|(read|write|delete)|[a-z][a-z0-9_-]{1,40}:(read|write|delete))$")


class ApiKeyUserSchema(Schema):
    id = fields.String()
    email = fields.String()
    name = fields.String(allow_none=True)


class ApiKeySchema(Schema):
    id = fields.String(metadata={"example": "key_7Hj2Kl9Mn4Pq8Rs1Tu5Vw3Xy"})
    name = fields.String(metadata={"example": "Production API Key"})
    prefix = fields.String(metadata={"example": "sk_live_abcd"})
    scopes = fields.List(fields.String(), metadata={"example": ["webhooks:read", "webhooks:write"]})
    rate_limit_tier = fields.String(allow_none=True, metadata={"example": "pro"})
    user_id = fields.String()
    workspace_id = fields.String()
    last_used_at = UtcDateTime(allow_none=True)
    expires_at = UtcDateTime(allow_none=True, metadata={"example": None})
    grace_period_ends_at = UtcDateTime(allow_none=True)
    revoked_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})


class ApiKeyListItemSchema(ApiKeySchema):
    user = fields.Nested(ApiKeyUserSchema, metadata={"description": "Only with include=user"})


class ApiKeyWithSecretSchema(ApiKeySchema):
    key = fields.String(metadata={"description": "Shown once: store it now.", "example": "sk_live_…"})


class ApiKeyCreate(Schema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=255), metadata={"example": "Mobile App Key"}
    )
    scopes = fields.List(
        fields.String(validate=validate.Length(max=64)),
        validate=validate.Length(min=1, max=100),
        metadata={"example": ["webhooks:read", "events:read"]},
    )
    rate_limit_tier = fields.String(validate=validate.OneOf(TIERS), allow_none=True, metadata={"example": "starter"})
    expires_at = UtcDateTime(allow_none=True, metadata={"example": "2027-01-01T00:00:00Z"})

    @validates("scopes")
    def _scopes(self, value, **kwargs):
        bad = [s for s in value if not SCOPE.match(s)]
        if bad:
            raise ValidationError(
                f"Unknown scope(s): {', '.join(bad)}. Use '*', {', '.join(ACTIONS)} or resource:action."
            )


class ApiKeyRotate(Schema):
    grace_period_hours = StrictInteger(
        validate=validate.Range(min=0, max=720), load_default=24, metadata={"example": 24}
    )


class ApiKeyRotatedSchema(ApiKeyWithSecretSchema):
    """The new key, with when the key it replaced stops working."""

    grace_period_ends_at = UtcDateTime(
        attribute="previous_grace_period_ends_at", metadata={"example": "2026-01-16T10:30:00Z"}
    )
    previous_key_id = fields.String()
