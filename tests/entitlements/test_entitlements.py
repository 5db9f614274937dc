"""Plans and entitlements: check, usage records, summary, periods, thresholds, enforcement on
counted resources and on API calls (issue 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from app.entitlements import metering
from app.entitlements import service as entitlements
from app.entitlements.models import UsageCounter
from app.extensions import db
from tests import factories
from tests.assertions import error as assert_error
from tests.conftest import requires_redis
from tests.core import key_id_of
from tests.core.test_ratelimit import spend

CHECK = "/api/v1/entitlements/check"
USAGE = "/api/v1/entitlements/usage"
SUMMARY = "/api/v1/entitlements/summary"
T0 = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)


def record(client, owner, **body):
    return client.post(USAGE, json={"feature": "seo_reports", **body}, headers=owner.headers)


def test_check_answers_the_seed_shape(client, owner):
    response = client.get(f"{CHECK}?feature=webhooks", headers=owner.headers)
    assert response.status_code == 200
    assert response.json == {"allowed": True, "feature": "webhooks", "current_usage": 0, "limit": 2, "available": 2}
    refused = client.get(f"{CHECK}?feature=webhooks&quantity=3", headers=owner.headers).json
    assert refused["allowed"] is False and refused["reason"] == "LIMIT_EXCEEDED"
    assert refused["message"] == "Webhook limit exceeded. Used: 0, Limit: 2"
    assert refused["upgrade_url"].endswith("/billing")
    assert (
        "feature"
        in assert_error(client.get(f"{CHECK}?feature=nope", headers=owner.headers), 422, "validation_failed")["errors"]
    )
    assert_error(client.get(f"{CHECK}?feature=webhooks&quantity=0", headers=owner.headers), 400, "bad_request")
    assert_error(client.get(CHECK, headers=owner.headers), 400, "bad_request")


def test_usage_is_counted_and_deduplicated_by_key(client, owner):
    first = record(client, owner, quantity=2, metadata={"page": "/"}, idempotency_key="k1")
    assert first.status_code == 200
    assert first.json == {"recorded": True, "feature": "seo_reports", "current_usage": 2, "limit": 10}
    again = record(client, owner, quantity=2, idempotency_key="k1")
    assert again.json == first.json  # counted once, answered as the first time
    assert record(client, owner).json["current_usage"] == 3
    assert client.get(f"{CHECK}?feature=seo_reports", headers=owner.headers).json["current_usage"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"feature": "nope"}, "feature"),
        ({"feature": "webhooks"}, "feature"),  # counted, not metered
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": "2"}, "quantity"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_bad_usage_records_are_422(client, owner, body, field):
    assert field in assert_error(record(client, owner, **body), 422, "validation_failed")["errors"]


def test_usage_past_the_limit_is_refused_and_not_counted(client, owner):
    assert record(client, owner, quantity=10).status_code == 200
    body = assert_error(record(client, owner), 403, "feature_limit_reached")
    assert (body["feature"], body["limit"], body["current_usage"]) == ("seo_reports", 10, 10)
    assert body["upgrade_url"]
    assert client.get(f"{CHECK}?feature=seo_reports", headers=owner.headers).json["current_usage"] == 10


def test_periods_reset_monthly(client, owner):
    with time_machine.travel(T0, tick=False):
        record(client, owner, quantity=10)
        assert record(client, owner).status_code == 403
        summary = client.get(SUMMARY, headers=owner.headers).json["data"]["entitlements"]
        assert summary["seo_reports"]["reset_at"] == "2026-04-01T00:00:00Z"
    with time_machine.travel(datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC), tick=False):
        assert client.get(f"{CHECK}?feature=seo_reports", headers=owner.headers).json["current_usage"] == 0
        assert record(client, owner).status_code == 200


def test_summary(client, owner):
    # storage is the bytes the workspace's files hold (counted by files: tests/files)
    client.post(
        "/api/v1/files",
        json={"filename": "a.pdf", "content_type": "application/pdf", "size": 5_000_000},
        headers=owner.headers,
    )
    response = client.get(SUMMARY, headers=owner.headers)
    assert response.status_code == 200
    data = response.json["data"]
    assert (data["workspace_id"], data["tier"]) == (owner.workspace_id, "free")
    storage = data["entitlements"]["storage"]
    assert storage == {
        "used": 5_000_000,
        "limit": 100_000_000,
        "available": 95_000_000,
        "percentage": 5.0,
        "unit": "bytes",
    }
    assert data["entitlements"]["api_keys"]["used"] == 1  # the fixture's key
    assert data["entitlements"]["members"]["used"] == 1
    assert "reset_at" in data["entitlements"]["api_calls"] and "reset_at" not in storage


def test_thresholds_are_events_once_per_period(client, owner):
    with time_machine.travel(T0, tick=False):
        record(client, owner, quantity=7)
        record(client, owner, quantity=1)  # 8 of 10: 80%
        record(client, owner, quantity=1)
        record(client, owner, quantity=1)  # 10 of 10
        events = client.get("/api/v1/events?type=entitlement.*&sort=created_at", headers=owner.headers).json["data"]
    assert sorted((e["data"]["threshold"], e["type"]) for e in events) == [
        (80, "entitlement.threshold_reached"),
        (100, "entitlement.limit_reached"),
    ]
    assert events[0]["data"]["feature"] == "seo_reports"


@pytest.mark.parametrize(
    ("feature", "path", "body"),
    [
        ("webhooks", "/api/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["*"]}),
        ("api_keys", "/api/v1/api-keys", {"name": "k"}),
        ("records", "/api/v1/tasks", {"title": "t"}),
        (
            "custom_entities",
            "/api/v1/entities",
            {"name": "things", "singular": "thing", "id_prefix": "thg", "fields": {"a": {"type": "string"}}},
        ),
    ],
)
def test_creating_past_a_counted_limit_is_403_and_creates_nothing(client, owner, feature, path, body):
    entitlements.set_override(owner.workspace_id, feature, 1 if feature != "api_keys" else 1)
    if feature != "api_keys":  # the fixture's key already fills the api_keys limit of 1
        first = client.post(path, json=body, headers=owner.headers)
        assert first.status_code == 201, first.json
    if feature == "custom_entities":
        body = {**body, "name": "others", "singular": "other"}
    refused = assert_error(client.post(path, json=body, headers=owner.headers), 403, "feature_limit_reached")
    assert (refused["feature"], refused["limit"], refused["current_usage"]) == (feature, 1, 1)
    assert client.get(f"{CHECK}?feature={feature}", headers=owner.headers).json["current_usage"] == 1


def test_members_past_the_limit(client, owner):
    for n in range(2):
        factories.member(owner.workspace_id, f"m{n}@example.com", "member")  # 3 members: the free limit
    factories.user("fourth@example.com")
    response = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/members",
        json={"email": "fourth@example.com", "role": "member"},
        headers=owner.headers,
    )
    assert assert_error(response, 403, "feature_limit_reached")["feature"] == "members"


def test_overrides_by_cli(app, owner):
    slug = db.session.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": owner.workspace_id}).scalar()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["entitlements", "set", slug, "webhooks", "7"]).exit_code == 0
    assert entitlements.limit_of(owner.workspace_id, "free", "webhooks") == 7
    assert runner.invoke(args=["entitlements", "set", slug, "webhooks", "unlimited"]).exit_code == 0
    assert entitlements.limit_of(owner.workspace_id, "free", "webhooks") is None
    shown = runner.invoke(args=["entitlements", "show", slug])
    assert "webhooks" in shown.output and "unlimited" in shown.output
    assert runner.invoke(args=["entitlements", "clear", slug, "webhooks"]).exit_code == 0
    assert entitlements.limit_of(owner.workspace_id, "free", "webhooks") == 2
    bad = runner.invoke(args=["entitlements", "set", slug, "nope", "1"])
    assert bad.exit_code != 0 and "Unknown feature" in bad.output


def test_every_authenticated_request_counts_and_the_limit_holds(client, owner):
    entitlements.set_override(owner.workspace_id, "api_calls", 3)
    statuses = [client.get("/api/v1/workspaces", headers=owner.headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 403]
    refused = assert_error(client.get("/api/v1/workspaces", headers=owner.headers), 403, "feature_limit_reached")
    assert refused["feature"] == "api_calls" and refused["limit"] == 3
    # never on the entitlements, usage, billing and auth endpoints: a capped workspace can see why
    summary = client.get(SUMMARY, headers=owner.headers)
    assert summary.status_code == 200
    # the three calls allowed and the summary itself: refused requests are not API calls
    assert summary.json["data"]["entitlements"]["api_calls"]["used"] == 4
    assert client.get("/api/v1/auth/me", headers=owner.headers).status_code == 200
    assert client.get("/api/v1/workspaces").status_code == 401  # no credential: nothing counted


def test_a_rate_limited_request_is_not_an_api_call(client, owner):
    reader = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["*"]))
    used = client.get(SUMMARY, headers=reader).json["data"]["entitlements"]["api_calls"]["used"]
    spend("60/minute", f"api_key:{key_id_of(owner.key)}", 60)
    assert client.get("/api/v1/workspaces", headers=owner.headers).status_code == 429
    # only the second summary read itself was added
    assert client.get(SUMMARY, headers=reader).json["data"]["entitlements"]["api_calls"]["used"] == used + 1


@requires_redis
def test_counted_requests_are_copied_from_redis_to_the_database(client, owner):
    for _ in range(3):
        client.get("/api/v1/workspaces", headers=owner.headers)
    assert metering.flush_api_calls() >= 1
    assert metering.flush_api_calls() >= 1  # again: the same totals, nothing added twice
    stored = db.session.scalar(
        sa.select(sa.func.sum(UsageCounter.used)).where(
            UsageCounter.workspace_id == owner.workspace_id, UsageCounter.feature == metering.REQUESTS
        )
    )
    assert stored == 3
    assert client.get(f"{CHECK}?feature=api_calls", headers=owner.headers).json["current_usage"] == 4


def test_paid_tiers_go_past_metered_limits_as_overage(client):
    paying = factories.account("paying@example.com", tier="starter")
    assert record(client, paying, quantity=100).status_code == 200
    over = record(client, paying, quantity=5)
    assert over.status_code == 200 and over.json["current_usage"] == 105 and over.json["limit"] == 100
    check = client.get(f"{CHECK}?feature=seo_reports", headers=paying.headers).json
    assert check["allowed"] is True and check["available"] == 0
    entitlements.set_override(paying.workspace_id, "webhooks", 0)  # counted features never overrun
    body = {"url": "https://hooks.example.com/x", "events": ["*"]}
    assert_error(client.post("/api/v1/webhooks", json=body, headers=paying.headers), 403, "feature_limit_reached")


def test_usage_overview_and_daily_api_calls(client, owner):
    with time_machine.travel(datetime(2026, 3, 9, 10, 0, tzinfo=UTC), tick=False):
        for _ in range(2):
            client.get("/api/v1/workspaces", headers=owner.headers)
    with time_machine.travel(T0, tick=False):
        client.get("/api/v1/workspaces", headers=owner.headers)
        record(client, owner, feature="api_calls", quantity=5)
        overview = client.get("/api/v1/usage", headers=owner.headers)
        assert overview.status_code == 200
        data = overview.json["data"]
        assert data["requests_this_month"] == 2 + 1 + 1 + 5 + 1  # requests, the usage record, itself
        assert (data["server_count"], data["active_servers"], data["tool_calls_this_month"]) == (0, 0, 0)
        assert (data["period_start"], data["period_end"]) == ("2026-03-01", "2026-04-01")
        daily = client.get("/api/v1/usage/daily?from=2026-03-08&to=2026-03-10", headers=owner.headers).json["data"]
        assert daily == [
            {"date": "2026-03-08", "api_calls": 0},
            {"date": "2026-03-09", "api_calls": 2},
            {"date": "2026-03-10", "api_calls": 0},
        ]
        today = client.get("/api/v1/usage/daily", headers=owner.headers).json["data"]
        assert len(today) == 30 and today[-1]["date"] == "2026-03-30" and today[-1]["api_calls"] >= 7
    for bad in ("from=2026-03-10&to=2026-03-01", "from=2020-01-01&to=2026-01-01", "from=yesterday"):
        assert_error(client.get(f"/api/v1/usage/daily?{bad}", headers=owner.headers), 400, "bad_request")


def test_overage_stops_at_the_budget_cap(client, app, monkeypatch, stripe_stand_in):
    paying = factories.account("capped@example.com", tier="starter")
    monkeypatch.setitem(app.config, "OVERAGE_PRICES_EUR", {"seo_reports": Decimal("1.00")})
    entitlements.set_override(paying.workspace_id, "seo_reports", 1)
    owner_budget = client.post("/api/v1/billing/budget", json={"cap_eur": 2}, headers=paying.headers)
    assert owner_budget.status_code == 200
    assert [record(client, paying).status_code for _ in range(3)] == [200, 200, 200]  # 1 in plan, €2 overage
    refused = assert_error(record(client, paying), 403, "feature_limit_reached")
    assert refused["reason"] == "BUDGET_CAP" and "€3.00" in refused["message"] and "€2.00" in refused["message"]
    check = client.get(f"{CHECK}?feature=seo_reports", headers=paying.headers).json
    assert (check["allowed"], check["reason"], check["current_usage"]) == (False, "BUDGET_CAP", 3)
    client.post("/api/v1/billing/budget", json={"cap_eur": None}, headers=paying.headers)
    assert record(client, paying).status_code == 200  # no cap: overage goes on


def test_api_calls_past_the_cap_are_refused_too(client, app, monkeypatch, stripe_stand_in):
    paying = factories.account("calls@example.com", tier="starter")
    monkeypatch.setitem(app.config, "OVERAGE_PRICES_EUR", {"api_calls": Decimal("0.50")})
    entitlements.set_override(paying.workspace_id, "api_calls", 2)
    client.post("/api/v1/billing/budget", json={"cap_eur": 1}, headers=paying.headers)  # call 1 (exempt path)
    statuses = [client.get("/api/v1/workspaces", headers=paying.headers).status_code for _ in range(4)]
    # calls 2..5: the 3rd and 4th calls are €0.50 and €1.00 of overage; the 5th would be €1.50
    assert statuses == [200, 200, 200, 403]
    refused = assert_error(client.get("/api/v1/workspaces", headers=paying.headers), 403, "feature_limit_reached")
    assert refused["reason"] == "BUDGET_CAP"
