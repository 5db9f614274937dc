"""Stripe billing, offline: the stripe library talks to a local stand-in that records what it was
asked, and webhook payloads are signed the way Stripe signs them (issue 5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import time_machine

from tests import factories
from tests.assertions import denied
from tests.assertions import error as assert_error

from . import SECRET

BILLING = "/api/v1/billing"
HOOK = "/api/webhooks/stripe"


def signed(client, event: dict, secret: str = SECRET, timestamp: int | None = None):
    payload = json.dumps(event)
    timestamp = timestamp or int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return client.post(
        HOOK,
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": f"t={timestamp},v1={signature}"},
    )


def event(id_: str, type_: str, obj: dict, created: int = 1_700_000_000) -> dict:
    return {"id": id_, "object": "event", "type": type_, "created": created, "data": {"object": obj}}


def subscription(status="active", price="price_pro", cancel=False) -> dict:
    return {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_test1",
        "status": status,
        "cancel_at_period_end": cancel,
        "current_period_start": 1_700_000_000,
        "current_period_end": 1_702_592_000,
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": price}}]},
    }


def tier_of(client, owner) -> str:
    return client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=owner.headers).json["data"]["tier"]


def test_without_stripe_billing_answers_503(client, owner):
    for method, path, body in [
        ("post", "/checkout", {"plan_id": "starter"}),
        ("post", "/portal", None),
        ("get", "/subscription", None),
        ("get", "/budget", None),
        ("post", "/budget", {"cap_eur": 5}),
    ]:
        response = getattr(client, method)(BILLING + path, json=body, headers=owner.headers)
        assert "not configured" in assert_error(response, 503, "service_unavailable")["message"]
    assert_error(client.post(HOOK, data="{}", content_type="application/json"), 503, "service_unavailable")


def test_checkout_makes_a_customer_once_and_a_subscription_session(client, owner, stripe_stand_in):
    response = client.post(f"{BILLING}/checkout", json={"plan_id": "starter"}, headers=owner.headers)
    assert response.status_code == 200, response.json
    assert response.json == {"data": {"url": "https://checkout.stripe.test/cs_1"}}
    [customer] = stripe_stand_in.params("/v1/customers")
    assert customer["metadata[workspace_id]"] == owner.workspace_id
    [session] = stripe_stand_in.params("/v1/checkout/sessions")
    assert session["mode"] == "subscription" and session["customer"] == "cus_test1"
    assert session["client_reference_id"] == owner.workspace_id
    assert (session["line_items[0][price]"], session["line_items[0][quantity]"]) == ("price_starter", "1")
    assert session["metadata[plan_id]"] == "starter" and session["success_url"].endswith("/billing?checkout=success")
    client.post(f"{BILLING}/checkout", json={"plan_id": "pro"}, headers=owner.headers)
    assert len(stripe_stand_in.params("/v1/customers")) == 1  # the workspace keeps its customer
    assert stripe_stand_in.params("/v1/checkout/sessions")[-1]["line_items[0][price]"] == "price_pro"
    for plan in ("enterprise", "free", ""):
        response = client.post(f"{BILLING}/checkout", json={"plan_id": plan}, headers=owner.headers)
        assert "plan_id" in assert_error(response, 422, "validation_failed")["errors"]


def test_billing_is_the_owners(client, owner, stripe_stand_in):
    admin = factories.member(owner.workspace_id, "admin@example.com", "admin")
    denied(client.post(f"{BILLING}/checkout", json={"plan_id": "pro"}, headers=admin.headers), "billing:write")
    denied(client.get(f"{BILLING}/budget", headers=admin.headers), "billing:read")
    assert stripe_stand_in.asked == []


def test_portal_needs_a_billing_account(client, owner, stripe_stand_in):
    assert_error(client.post(f"{BILLING}/portal", headers=owner.headers), 404, "not_found")
    client.post(f"{BILLING}/checkout", json={"plan_id": "starter"}, headers=owner.headers)
    response = client.post(f"{BILLING}/portal", headers=owner.headers)
    assert response.json == {"data": {"url": "https://billing.stripe.test/p"}}
    assert stripe_stand_in.params("/v1/billing_portal/sessions")[0]["customer"] == "cus_test1"


def test_webhooks_move_the_tier_once_and_never_back_in_time(client, owner, stripe_stand_in):
    client.post(f"{BILLING}/checkout", json={"plan_id": "starter"}, headers=owner.headers)
    completed = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "client_reference_id": owner.workspace_id,
        "customer": "cus_test1",
        "subscription": "sub_1",
        "metadata": {"workspace_id": owner.workspace_id, "plan_id": "starter"},
    }
    response = signed(client, event("evt_1", "checkout.session.completed", completed))
    assert response.status_code == 200 and response.json == {"received": True}
    assert tier_of(client, owner) == "starter"
    assert client.get("/api/v1/workspaces", headers=owner.headers).headers["X-RateLimit-Limit"] == "1000"
    signed(
        client, event("evt_3", "customer.subscription.updated", subscription(price="price_pro"), created=1_700_000_300)
    )
    assert tier_of(client, owner) == "pro"
    # an older event arriving late, and the same event twice, change nothing
    signed(
        client,
        event("evt_2", "customer.subscription.updated", subscription(price="price_starter"), created=1_700_000_200),
    )
    signed(
        client,
        event("evt_3", "customer.subscription.updated", subscription(price="price_starter"), created=1_700_000_300),
    )
    assert tier_of(client, owner) == "pro"
    state = client.get(f"{BILLING}/subscription", headers=owner.headers).json["data"]
    assert (state["tier"], state["plan"], state["status"], state["cancel_at_period_end"]) == (
        "pro",
        "pro",
        "active",
        False,
    )
    assert state["current_period_end"] == "2023-12-14T22:13:20Z"
    signed(
        client, event("evt_4", "invoice.payment_failed", {"object": "invoice", "customer": "cus_test1"}, 1_700_000_400)
    )
    assert client.get(f"{BILLING}/subscription", headers=owner.headers).json["data"]["status"] == "past_due"
    signed(
        client, event("evt_5", "customer.subscription.deleted", subscription(status="canceled"), created=1_700_000_500)
    )
    assert tier_of(client, owner) == "free"


def test_a_bad_signature_is_400_and_changes_nothing(client, owner, stripe_stand_in):
    body = event("evt_9", "customer.subscription.updated", subscription())
    assert_error(signed(client, body, secret="whsec_wrong"), 400, "bad_request")
    assert_error(signed(client, body, timestamp=int(time.time()) - 3600), 400, "bad_request")  # replayed later
    assert_error(client.post(HOOK, data=json.dumps(body), content_type="application/json"), 400, "bad_request")
    assert tier_of(client, owner) == "free"


def test_budget_cap(client, owner, stripe_stand_in):
    assert client.get(f"{BILLING}/budget", headers=owner.headers).json == {"data": {"cap_eur": None}}
    assert client.post(f"{BILLING}/budget", json={"cap_eur": 10}, headers=owner.headers).json == {
        "data": {"cap_eur": 10.0}
    }
    assert client.get(f"{BILLING}/budget", headers=owner.headers).json == {"data": {"cap_eur": 10.0}}
    for bad in (-1, 10_000.01, "ten", True):
        assert_error(
            client.post(f"{BILLING}/budget", json={"cap_eur": bad}, headers=owner.headers), 422, "validation_failed"
        )
    assert_error(client.post(f"{BILLING}/budget", json={}, headers=owner.headers), 422, "validation_failed")
    assert client.post(f"{BILLING}/budget", json={"cap_eur": None}, headers=owner.headers).json == {
        "data": {"cap_eur": None}
    }


def test_a_subscribed_workspace_meters_by_its_billing_period(client, owner, stripe_stand_in):
    """Metered usage resets on the subscription's billing day (the 31st falls on a shorter
    month's last day); unsubscribed, on the 1st of the month."""
    client.post(f"{BILLING}/checkout", json={"plan_id": "pro"}, headers=owner.headers)
    jan31 = int(datetime(2026, 1, 31, 10, 0, tzinfo=UTC).timestamp())
    billed = {**subscription(), "current_period_start": jan31, "current_period_end": jan31 + 28 * 86400}
    used = "/api/v1/entitlements/check?feature=seo_reports"

    def seo_reports() -> tuple[int, str]:
        usage = client.get(used, headers=owner.headers).json["current_usage"]
        summary = client.get("/api/v1/entitlements/summary", headers=owner.headers).json["data"]
        return usage, summary["entitlements"]["seo_reports"]["reset_at"]

    def record(quantity: int) -> None:
        body = {"feature": "seo_reports", "quantity": quantity}
        assert client.post("/api/v1/entitlements/usage", json=body, headers=owner.headers).status_code == 200

    with time_machine.travel(datetime(2026, 2, 27, 12, 0, tzinfo=UTC), tick=False):
        signed(client, event("evt_1", "customer.subscription.created", billed, created=jan31))
        record(5)
        assert seo_reports() == (5, "2026-02-28T00:00:00Z")
    with time_machine.travel(datetime(2026, 2, 28, 0, 30, tzinfo=UTC), tick=False):
        assert seo_reports() == (0, "2026-03-31T00:00:00Z")
        record(2)
    with time_machine.travel(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), tick=False):
        record(3)
    with time_machine.travel(datetime(2026, 3, 30, 23, 0, tzinfo=UTC), tick=False):
        assert seo_reports() == (5, "2026-03-31T00:00:00Z")
        cancelled = event("evt_2", "customer.subscription.deleted", subscription(status="canceled"), jan31 + 60)
        signed(client, cancelled)
        assert seo_reports() == (3, "2026-04-01T00:00:00Z")  # the calendar month: March 10th's 3 only
