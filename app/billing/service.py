"""Stripe billing: checkout and portal sessions, the subscription and the budget cap, and the
Stripe webhook that keeps the workspace's tier in step (issue 5). Stripe is reached with its own
library (`STRIPE_API_BASE` points it at another host, for tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import stripe
from flask import current_app, request
from sqlalchemy.exc import IntegrityError

from ..core.clock import as_utc, utcnow
from ..core.errors import ApiError, not_found, validation_failed
from ..extensions import db
from ..workspaces import service as workspaces
from .models import BillingAccount, StripeEvent

PLANS = ("starter", "pro")
TOLERANCE_SECONDS = 300
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


def _unavailable() -> ApiError:
    return ApiError(
        503, "service_unavailable", "Billing is not configured on this server (STRIPE_SECRET_KEY is not set)."
    )


def client() -> stripe.StripeClient:
    config = current_app.config
    if not config.get("STRIPE_SECRET_KEY"):
        raise _unavailable()
    base = {"api": config["STRIPE_API_BASE"]} if config.get("STRIPE_API_BASE") else None
    return stripe.StripeClient(config["STRIPE_SECRET_KEY"], base_addresses=base, max_network_retries=0)  # type: ignore[arg-type]


def _price(plan: str) -> str:
    price = current_app.config.get(f"STRIPE_PRICE_{plan.upper()}")
    if not price:
        raise _unavailable()
    return price


def _account(workspace_id: str) -> BillingAccount:
    account = db.session.get(BillingAccount, workspace_id)
    if account is None:
        account = BillingAccount(workspace_id=workspace_id, cancel_at_period_end=False)
        db.session.add(account)
    return account


def _upstream(error: stripe.StripeError) -> ApiError:
    return ApiError(502, "upstream_error", f"The payment provider refused the request: {error.user_message or 'error'}")


def checkout(workspace_id: str, plan: str) -> dict:
    """A Stripe Checkout session subscribing the workspace to `plan`."""
    if plan not in PLANS:
        raise validation_failed({"plan_id": [f"Must be one of: {', '.join(PLANS)}."]})
    stripe_client, price = client(), _price(plan)
    account = _account(workspace_id)
    base = request.host_url.rstrip("/")
    try:
        if account.customer_id is None:
            customer = stripe_client.v1.customers.create(params={"metadata": {"workspace_id": workspace_id}})
            account.customer_id = customer.id
            db.session.commit()  # one customer per workspace, even if the session fails below
        session = stripe_client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": account.customer_id,
                "client_reference_id": workspace_id,
                "line_items": [{"price": price, "quantity": 1}],
                "metadata": {"workspace_id": workspace_id, "plan_id": plan},
                "success_url": f"{base}/billing?checkout=success",
                "cancel_url": f"{base}/billing?checkout=cancelled",
            }
        )
    except stripe.StripeError as error:
        raise _upstream(error) from None
    return {"url": session.url}


def portal(workspace_id: str) -> dict:
    stripe_client = client()
    account = db.session.get(BillingAccount, workspace_id)
    if account is None or account.customer_id is None:
        raise not_found("This workspace has no billing account yet: subscribe through checkout first.")
    try:
        session = stripe_client.v1.billing_portal.sessions.create(
            params={"customer": account.customer_id, "return_url": request.host_url.rstrip("/") + "/billing"}
        )
    except stripe.StripeError as error:
        raise _upstream(error) from None
    return {"url": session.url}


def subscription(workspace_id: str, tier: str) -> dict:
    client()  # 503 while billing is off
    account = db.session.get(BillingAccount, workspace_id)
    return {
        "tier": tier,
        "plan": account.plan if account else None,
        "status": account.status if account else None,
        "current_period_start": account.current_period_start if account else None,
        "current_period_end": account.current_period_end if account else None,
        "cancel_at_period_end": bool(account and account.cancel_at_period_end),
    }


def budget(workspace_id: str) -> dict:
    client()
    account = db.session.get(BillingAccount, workspace_id)
    cap = account.budget_cap_eur if account else None
    return {"cap_eur": float(cap) if cap is not None else None}


def budget_cap(workspace_id: str) -> Decimal | None:
    """entitlements' view of the cap (registered in create_app); None while billing is off."""
    if not current_app.config.get("STRIPE_SECRET_KEY"):
        return None
    account = db.session.get(BillingAccount, workspace_id)
    return account.budget_cap_eur if account else None


def period_anchor(workspace_id: str) -> date | None:
    """entitlements' view: a subscribed workspace's periods start on its billing day (the day
    of the subscription's current period start); None while billing is off or unsubscribed."""
    if not current_app.config.get("STRIPE_SECRET_KEY"):
        return None
    account = db.session.get(BillingAccount, workspace_id)
    if account is None or account.plan is None or account.current_period_start is None:
        return None
    return as_utc(account.current_period_start).date()


def set_budget(workspace_id: str, cap_eur: float | None) -> dict:
    client()
    cap = None if cap_eur is None else Decimal(str(cap_eur)).quantize(Decimal("0.01"))
    _account(workspace_id).budget_cap_eur = cap
    db.session.commit()
    return {"cap_eur": float(cap) if cap is not None else None}


# --- the webhook -----------------------------------------------------------------------------


def receive(payload: bytes, signature: str | None) -> None:
    """Verify, then apply each Stripe event once; an older subscription event never rolls back a
    newer one."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise _unavailable()
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except (ValueError, stripe.SignatureVerificationError):
        raise ApiError(400, "bad_request", "Invalid Stripe signature.") from None
    try:
        with db.session.begin_nested():
            db.session.add(StripeEvent(id=event.id, type=event.type, received_at=utcnow()))
    except IntegrityError:
        db.session.rollback()
        return  # handled already
    obj = event.to_dict()["data"]["object"]  # plain dicts (stripe objects are not)
    if event.type == "checkout.session.completed":
        _checkout_completed(obj)
    elif event.type in SUBSCRIPTION_EVENTS:
        _subscription_changed(obj, event.created, deleted=event.type.endswith("deleted"))
    elif event.type in ("invoice.paid", "invoice.payment_failed"):
        account = _by_customer(obj.get("customer"))
        if account is not None:
            account.status = "active" if event.type == "invoice.paid" else "past_due"
    db.session.commit()


def _by_customer(customer_id: str | None) -> BillingAccount | None:
    if not customer_id:
        return None
    return db.session.query(BillingAccount).filter_by(customer_id=customer_id).one_or_none()


def _checkout_completed(session) -> None:
    workspace_id = session.get("client_reference_id") or (session.get("metadata") or {}).get("workspace_id")
    if not workspace_id or workspaces.get_workspace_or_none(workspace_id) is None:
        return
    account = _account(workspace_id)
    account.customer_id = session.get("customer") or account.customer_id
    account.subscription_id = session.get("subscription") or account.subscription_id
    plan = (session.get("metadata") or {}).get("plan_id")
    if plan in PLANS and account.subscription_event_at is None:
        account.plan, account.status = plan, "active"
        workspaces.apply_tier(workspace_id, plan)


def _plan_of(subscription) -> str | None:
    prices = {current_app.config.get(f"STRIPE_PRICE_{plan.upper()}"): plan for plan in PLANS}
    for item in (subscription.get("items") or {}).get("data", []):
        plan = prices.get((item.get("price") or {}).get("id"))
        if plan:
            return plan
    return None


def _when(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def _subscription_changed(subscription, created: int, deleted: bool) -> None:
    account = _by_customer(subscription.get("customer"))
    if account is None:
        return
    if account.subscription_event_at is not None and created < account.subscription_event_at:
        return  # older than what we applied
    account.subscription_event_at = created
    account.subscription_id = subscription.get("id")
    account.status = "canceled" if deleted else subscription.get("status")
    account.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    account.current_period_start = _when(subscription.get("current_period_start"))
    account.current_period_end = _when(subscription.get("current_period_end"))
    plan = (
        None
        if deleted or subscription.get("status") not in ("active", "trialing", "past_due")
        else _plan_of(subscription)
    )
    account.plan = plan
    workspaces.apply_tier(account.workspace_id, plan or "free")
