from flask import request
from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.ratelimit import exempt
from ..core.schemas import ReceivedSchema, envelope
from . import service
from .schemas import BudgetRequest, BudgetSchema, CheckoutRequest, SubscriptionSchema, UrlSchema

blp = Blueprint("billing", __name__, url_prefix="/api/v1/billing", description="Stripe billing")
hooks = Blueprint("provider_webhooks", __name__, url_prefix="/api/webhooks", description="Provider webhooks")

# Billing is the owner's (API.md §3).
OWNER = "owner"


@blp.route("/checkout")
class Checkout(MethodView):
    @blp.auth(scope="billing:write", role=OWNER)
    @blp.arguments(CheckoutRequest)
    @blp.response(200, envelope(UrlSchema))
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, data):
        """A Stripe Checkout session for `starter` or `pro`; send the customer to its `url`"""
        return responses.one(service.checkout(current.workspace_id or "", data["plan_id"]))


@blp.route("/portal")
class Portal(MethodView):
    @blp.auth(scope="billing:write", role=OWNER)
    @blp.response(200, envelope(UrlSchema))
    @blp.alt_response(502, response="BAD_GATEWAY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self):
        """A Stripe customer portal session (404 before the first checkout)"""
        return responses.one(service.portal(current.workspace_id or ""))


@blp.route("/subscription")
class Subscription(MethodView):
    @blp.auth(scope="billing:read", role=OWNER)
    @blp.response(200, envelope(SubscriptionSchema))
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """The workspace's tier and its subscription as Stripe last told us"""
        return responses.one(service.subscription(current.workspace_id or "", current.tier))


@blp.route("/budget")
class Budget(MethodView):
    @blp.auth(scope="billing:read", role=OWNER)
    @blp.response(200, envelope(BudgetSchema))
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self):
        """The cap on a period's overage spending (EUR; null: none)"""
        return responses.one(service.budget(current.workspace_id or ""))

    @blp.auth(scope="billing:write", role=OWNER)
    @blp.arguments(BudgetRequest)
    @blp.response(200, envelope(BudgetSchema))
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, data):
        """Set the budget cap (0–10,000 EUR, or null)"""
        return responses.one(service.set_budget(current.workspace_id or "", data["cap_eur"]))


@hooks.route("/stripe")
class StripeWebhook(MethodView):
    decorators = [exempt]  # Stripe's retries must never be refused by a rate limit

    @hooks.response(200, ReceivedSchema)
    @hooks.alt_response(400, response="BAD_REQUEST")
    @hooks.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self):
        """Stripe events (public; authenticated by the `Stripe-Signature` header)"""
        service.receive(request.get_data(), request.headers.get("Stripe-Signature"))
        return {"received": True}
