from marshmallow import fields, validate

from ..core.schemas import Schema, UtcDateTime


class CheckoutRequest(Schema):
    plan_id = fields.String(required=True, metadata={"example": "starter"})


class UrlSchema(Schema):
    url = fields.String(metadata={"example": "https://checkout.stripe.com/c/pay/cs_test_a1"})


class SubscriptionSchema(Schema):
    tier = fields.String(metadata={"example": "pro"})
    plan = fields.String(allow_none=True, metadata={"example": "pro"})
    status = fields.String(allow_none=True, metadata={"example": "active"})
    current_period_start = UtcDateTime(allow_none=True)
    current_period_end = UtcDateTime(allow_none=True)
    cancel_at_period_end = fields.Boolean()


class BudgetSchema(Schema):
    cap_eur = fields.Float(allow_none=True, metadata={"example": 10.0})


class BudgetRequest(Schema):
    cap_eur = fields.Float(
        required=True,
        allow_none=True,
        allow_nan=False,
        validate=validate.Range(min=0, max=10_000),
        metadata={"description": "EUR per period, 0–10,000; null: no cap", "example": 10.0},
    )
