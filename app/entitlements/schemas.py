from marshmallow import fields, validate

from ..core.schemas import QuerySchema, Schema, StrictInteger, UtcDateTime

QUANTITY = validate.Range(min=1, max=2**53)


class CheckQuery(QuerySchema):
    feature = fields.String(required=True, metadata={"example": "api_calls"})
    quantity = fields.Integer(load_default=1, validate=QUANTITY, metadata={"example": 1})


class CheckSchema(Schema):
    allowed = fields.Boolean(metadata={"example": True})
    feature = fields.String(metadata={"example": "webhooks"})
    current_usage = fields.Integer(metadata={"example": 1})
    limit = fields.Integer(allow_none=True, metadata={"description": "null: unlimited", "example": 2})
    available = fields.Integer(allow_none=True, metadata={"example": 1})
    reason = fields.String(metadata={"description": "When not allowed", "example": "LIMIT_EXCEEDED"})
    message = fields.String(metadata={"example": "Webhook limit exceeded. Used: 2, Limit: 2"})
    upgrade_url = fields.String(metadata={"example": "https://api.example.com/billing"})


class UsageRecordRequest(Schema):
    feature = fields.String(required=True, metadata={"example": "api_calls"})
    quantity = StrictInteger(load_default=1, validate=QUANTITY, metadata={"example": 1})
    metadata = fields.Dict(allow_none=True, metadata={"example": {"endpoint": "/api/v1/posts"}})
    idempotency_key = fields.String(
        validate=validate.Length(min=1, max=255),
        allow_none=True,
        metadata={"description": "Seen before in this workspace: counted once, answered as the first time"},
    )


class UsageRecordedSchema(Schema):
    recorded = fields.Boolean(metadata={"example": True})
    feature = fields.String(metadata={"example": "api_calls"})
    current_usage = fields.Integer(metadata={"example": 5001})
    limit = fields.Integer(allow_none=True, metadata={"example": 10000})


class FeatureUsageSchema(Schema):
    used = fields.Integer(metadata={"example": 5001})
    limit = fields.Integer(allow_none=True, metadata={"example": 10000})
    available = fields.Integer(allow_none=True, metadata={"example": 4999})
    percentage = fields.Float(allow_none=True, metadata={"example": 50.01})
    reset_at = UtcDateTime(metadata={"example": "2026-02-01T00:00:00Z"})
    unit = fields.String(metadata={"example": "bytes"})


class SummarySchema(Schema):
    workspace_id = fields.String()
    tier = fields.String(metadata={"example": "pro"})
    entitlements = fields.Dict(keys=fields.String(), values=fields.Nested(FeatureUsageSchema))


class UsageSchema(Schema):
    server_count = fields.Integer(metadata={"example": 3})
    active_servers = fields.Integer(metadata={"example": 2})
    requests_this_month = fields.Integer(metadata={"description": "api_calls this period", "example": 1200})
    tool_calls_this_month = fields.Integer(metadata={"example": 140})
    period_start = fields.Date(metadata={"example": "2026-11-01"})
    period_end = fields.Date(metadata={"description": "The next period's first day", "example": "2026-12-01"})


class DailyQuery(QuerySchema):
    from_ = fields.Date(data_key="from", metadata={"description": "First day (default: 29 days before `to`)"})
    to = fields.Date(metadata={"description": "Last day (default: today, UTC)"})


class DaySchema(Schema):
    date = fields.Date(metadata={"example": "2026-11-22"})
    api_calls = fields.Integer(metadata={"example": 412})


class DailySchema(Schema):
    data = fields.List(fields.Nested(DaySchema))
