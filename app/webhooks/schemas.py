from marshmallow import ValidationError, fields, validate, validates, validates_schema

from ..core.auth import current
from ..core.events import unknown_type_patterns
from ..core.lists import ListQuery
from ..core.schemas import Schema, UtcDateTime
from .models import STATUSES
from .signing import secret_problem


def _url_field(**kwargs):
    return fields.String(
        validate=validate.Length(min=1, max=2048),
        metadata={
            "description": "HTTPS; plain HTTP only for hosts in OUTBOUND_ALLOWED_HOSTS",
            "example": "https://your-app.com/webhooks",
        },
        **kwargs,
    )


def _events_field(**kwargs):
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Event types or patterns: `task.created`, `task.*`, `*`", "example": ["api_key.*"]},
        **kwargs,
    )


class _ChecksEvents(Schema):
    @validates("events")
    def _known(self, value, **kwargs):
        unknown = unknown_type_patterns(value, current.workspace_id)
        if unknown:
            raise ValidationError(f"Unknown event type(s): {', '.join(unknown)}.")


class EndpointSchema(Schema):
    id = fields.String(metadata={"example": "whe_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    url = fields.String(metadata={"example": "https://your-app.com/webhooks"})
    description = fields.String(allow_none=True, metadata={"example": "Order sync"})
    events = fields.List(fields.String(), metadata={"example": ["api_key.created", "member.*"]})
    is_active = fields.Boolean(metadata={"example": True})
    success_count = fields.Integer(metadata={"example": 150})
    failure_count = fields.Integer(metadata={"example": 2})
    consecutive_failures = fields.Integer(metadata={"example": 0})
    last_delivery_at = UtcDateTime(allow_none=True, metadata={"example": "2026-01-15T10:30:00Z"})
    disabled_reason = fields.String(allow_none=True, metadata={"example": None})
    created_at = UtcDateTime(metadata={"example": "2026-01-01T00:00:00Z"})
    updated_at = UtcDateTime(metadata={"example": "2026-01-01T00:00:00Z"})


class EndpointWithSecretSchema(EndpointSchema):
    secret = fields.String(
        metadata={"description": "Shown once: store it now.", "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    )


class EndpointCreate(_ChecksEvents):
    url = _url_field(required=True)
    events = _events_field(required=True)
    secret = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "`whsec_` + base64 of 24–64 bytes; generated when not given"},
    )
    description = fields.String(validate=validate.Length(max=500), allow_none=True)

    @validates("secret")
    def _secret(self, value, **kwargs):
        problem = secret_problem(value)
        if problem:
            raise ValidationError(problem)


class EndpointUpdate(_ChecksEvents):
    url = _url_field()
    events = _events_field()
    is_active = fields.Boolean(metadata={"description": "true re-enables and resets consecutive_failures"})
    description = fields.String(validate=validate.Length(max=500), allow_none=True)


class RotatedSecretSchema(Schema):
    id = fields.String()
    secret = fields.String(metadata={"example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    previous_secret_expires_at = UtcDateTime(metadata={"example": "2026-01-16T10:30:00Z"})


class TestResultSchema(Schema):
    success = fields.Boolean(metadata={"example": True})
    status_code = fields.Integer(allow_none=True, metadata={"example": 200})
    response_time_ms = fields.Integer(metadata={"example": 145})
    response_body = fields.String(metadata={"description": "On success", "example": '{"received": true}'})
    error = fields.String(metadata={"description": "On failure", "example": "HTTP 500"})


class AttemptSchema(Schema):
    number = fields.Integer(metadata={"example": 1})
    attempted_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    status_code = fields.Integer(allow_none=True, metadata={"example": 500})
    duration_ms = fields.Integer(metadata={"example": 120})
    error = fields.String(allow_none=True, metadata={"example": "HTTP 500"})
    response_body = fields.String(allow_none=True, metadata={"description": "The first 4 KiB"})


class DeliverySchema(Schema):
    id = fields.String(metadata={"example": "dlv_7Hj2Kl9Mn4Pq8Rs1Tu5Vw3Xy"})
    endpoint_id = fields.String()
    event_id = fields.String(metadata={"example": "evt_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    event_type = fields.String(metadata={"example": "api_key.created"})
    status = fields.String(metadata={"example": "retrying"})
    attempt = fields.Integer(metadata={"description": "Attempts made so far", "example": 2})
    response_code = fields.Integer(allow_none=True, metadata={"example": 500})
    next_retry_at = UtcDateTime(allow_none=True, metadata={"example": "2026-01-15T10:35:00Z"})
    delivered_at = UtcDateTime(allow_none=True, metadata={"example": None})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})


class DeliveryDetailSchema(DeliverySchema):
    attempts = fields.List(fields.Nested(AttemptSchema))


class RetriedSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"example": "pending"})
    attempt = fields.Integer(metadata={"description": "The number of the attempt now queued", "example": 3})


class DeliveryListQuery(ListQuery):
    status = fields.String(validate=validate.OneOf(STATUSES), metadata={"example": "failed"})


class ReplayRequest(Schema):
    since = UtcDateTime(required=True, metadata={"example": "2026-01-15T00:00:00Z"})
    until = UtcDateTime(metadata={"description": "Default: now", "example": "2026-01-16T00:00:00Z"})

    @validates_schema
    def _window(self, data, **kwargs):
        if data.get("until") is not None and data.get("since") is not None and data["until"] <= data["since"]:
            raise ValidationError("'until' must be after 'since'.", "until")


class ReplaySchema(Schema):
    endpoint_id = fields.String()
    since = UtcDateTime()
    until = UtcDateTime()
