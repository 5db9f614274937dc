"""API.md §6: tiered limits with burst, their headers, and who is counted together (in-process).

The limiter is flask-limiter's application-wide limit, stored under
("core", <identity>, "global") — the key prefix, the app's key function and flask-limiter's scope
for application limits. `spend` pre-spends a window through that same key so the starter tier's
1,200 requests need not all go through the test client; a first real request proves the key is
the one the app uses (the app's own counter moved).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from limits import parse

from app.core.ratelimit import limiter

from .. import factories
from ..conftest import TEST_REDIS_URL, requires_redis
from . import assert_error, key_id_of

requires_memory_limits = pytest.mark.skipif(
    bool(TEST_REDIS_URL), reason="time_machine cannot move Redis' clock: see the TTL test instead"
)


def item_url(account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


def window(limit: str, identity: str):
    """(reset, remaining) of the app's own counter for `identity` under `limit`."""
    return limiter.limiter.get_window_stats(parse(limit), "core", identity, "global")


def spend(limit: str, identity: str, n: int) -> None:
    limiter.limiter.hit(parse(limit), "core", identity, "global", cost=n)


def rl(response) -> tuple[int, int, int]:
    h = response.headers
    return int(h["X-RateLimit-Limit"]), int(h["X-RateLimit-Remaining"]), int(h["X-RateLimit-Reset"])


def assert_429(response, limit: int) -> dict:
    body = assert_error(response, 429, "rate_limit_exceeded")
    assert body["limit"] == limit
    assert body["remaining"] == 0
    assert 1 <= body["retry_after"] <= 61
    assert response.headers["Retry-After"] == str(body["retry_after"])
    reset_at = datetime.strptime(body["reset_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(reset_at.timestamp() - (time.time() + body["retry_after"])) <= 2
    return body


# --- headers ---------------------------------------------------------------------------------------


def test_headers_show_the_tier_limit_and_count_down(client, owner):
    before = int(time.time())
    seen = [rl(client.get(item_url(owner), headers=owner.headers)) for _ in range(3)]
    assert [limit for limit, _, _ in seen] == [60, 60, 60]
    assert [remaining for _, remaining, _ in seen] == [59, 58, 57]
    resets = {reset for _, _, reset in seen}
    assert len(resets) == 1
    assert before + 59 <= resets.pop() <= int(time.time()) + 61  # Unix seconds, a minute ahead


def test_error_responses_of_limited_endpoints_carry_the_headers_too(client, owner):
    response = client.get("/api/v1/workspaces/ws_nope", headers=owner.headers)
    assert_error(response, 404, "not_found")
    assert rl(response)[:2] == (60, 59)


def test_free_tier_refuses_the_61st_request(client, owner):
    for n in range(60):
        response = client.get(item_url(owner), headers=owner.headers)
        assert response.status_code == 200
        assert rl(response)[1] == 59 - n
    refused = client.get(item_url(owner), headers=owner.headers)
    assert_429(refused, 60)
    assert rl(refused)[:2] == (60, 0)


def test_remaining_never_goes_negative(client, owner):
    spend("60/minute", f"api_key:{key_id_of(owner.key)}", 75)
    for _ in range(3):
        response = client.get(item_url(owner), headers=owner.headers)
        assert_429(response, 60)
        assert response.headers["X-RateLimit-Remaining"] == "0"


def test_a_refusal_has_every_field_and_retry_after(client, owner):
    spend("60/minute", f"api_key:{key_id_of(owner.key)}", 60)
    body = assert_429(client.get(item_url(owner), headers=owner.headers), 60)
    assert set(body) == {"error", "message", "request_id", "retry_after", "limit", "remaining", "reset_at"}


# --- tiers and burst ------------------------------------------------------------------------------


def test_starter_tier_admits_limit_plus_burst_and_refuses_1201(client):
    starter = factories.account("starter@example.com", tier="starter")
    identity = f"api_key:{key_id_of(starter.key)}"
    first = client.get(item_url(starter), headers=starter.headers)
    assert rl(first)[:2] == (1000, 1199)  # counts down from limit + burst
    assert window("1200/minute", identity)[1] == 1199  # the app counts where `spend` spends
    spend("1200/minute", identity, 1197)  # requests 2 … 1198
    assert rl(client.get(item_url(starter), headers=starter.headers))[:2] == (1000, 1)  # 1199
    assert rl(client.get(item_url(starter), headers=starter.headers))[:2] == (1000, 0)  # 1200
    assert_429(client.get(item_url(starter), headers=starter.headers), 1000)  # 1201


@pytest.mark.parametrize(
    "tier, limit, allowed",
    [("pro", 5000, 6500), ("agency", 20000, 30000), ("enterprise", 100000, 200000)],
)
def test_higher_tiers_limit_and_burst(client, tier, limit, allowed):
    account = factories.account(f"{tier}@example.com", tier=tier)
    assert rl(client.get(item_url(account), headers=account.headers))[:2] == (limit, allowed - 1)
    spend(f"{allowed}/minute", f"api_key:{key_id_of(account.key)}", allowed - 1)
    assert_429(client.get(item_url(account), headers=account.headers), limit)


def test_a_key_with_a_lower_tier_than_its_workspace_gets_the_lower_tier(client):
    starter = factories.account("starter@example.com", tier="starter")
    free_key = factories.key(starter.user_id, starter.workspace_id, tier="free")
    response = client.get(item_url(starter), headers=factories.bearer(free_key))
    assert rl(response)[:2] == (60, 59)
    assert rl(client.get(item_url(starter), headers=starter.headers))[:2] == (1000, 1199)


def test_a_key_naming_a_higher_tier_than_its_workspace_stays_at_the_workspace_tier(client, owner):
    pro_key = factories.key(owner.user_id, owner.workspace_id, tier="pro")
    assert rl(client.get(item_url(owner), headers=factories.bearer(pro_key)))[:2] == (60, 59)


# --- who is counted together ------------------------------------------------------------------------


def test_each_key_has_its_own_counter(client, owner):
    second = factories.bearer(factories.key(owner.user_id, owner.workspace_id))
    assert rl(client.get(item_url(owner), headers=owner.headers))[1] == 59
    assert rl(client.get(item_url(owner), headers=owner.headers))[1] == 58
    assert rl(client.get(item_url(owner), headers=second))[1] == 59


def test_a_spent_key_does_not_limit_another_user(client, owner, other):
    spend("60/minute", f"api_key:{key_id_of(owner.key)}", 60)
    assert_429(client.get(item_url(owner), headers=owner.headers), 60)
    assert client.get(item_url(other), headers=other.headers).status_code == 200


def login(client, email: str, ip: str) -> str:
    response = client.post(
        "/api/v1/auth/login", json={"email": email, "password": factories.PASSWORD}, environ_base={"REMOTE_ADDR": ip}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]["token"]


def test_sessions_are_counted_per_user(client, owner):
    first, second = (
        login(client, "owner@example.com", "198.51.100.1"),
        login(client, "owner@example.com", "198.51.100.2"),
    )
    assert rl(client.get("/api/v1/auth/me", headers=factories.bearer(first)))[1] == 59
    assert rl(client.get("/api/v1/auth/me", headers=factories.bearer(second)))[1] == 58
    # the user's API key is another credential with its own counter
    assert rl(client.get("/api/v1/auth/me", headers=owner.headers))[1] == 59


def test_a_session_user_who_spent_the_window_is_refused_on_every_session(client, owner):
    first, second = (
        login(client, "owner@example.com", "198.51.100.1"),
        login(client, "owner@example.com", "198.51.100.1"),
    )
    spend("60/minute", f"session:{owner.user_id}", 59)
    assert client.get("/api/v1/auth/me", headers=factories.bearer(first)).status_code == 200
    assert_429(client.get("/api/v1/auth/me", headers=factories.bearer(second)), 60)


def test_requests_without_credentials_are_counted_per_client_ip(client):
    def anonymous(ip):
        return client.get("/api/v1/workspaces", environ_base={"REMOTE_ADDR": ip})

    assert rl(anonymous("203.0.113.7"))[:2] == (60, 59)
    assert rl(anonymous("203.0.113.7"))[:2] == (60, 58)
    assert rl(anonymous("203.0.113.8"))[:2] == (60, 59)


def test_an_ip_that_spent_its_window_is_refused_but_keys_from_it_are_not(client, owner):
    ip = {"REMOTE_ADDR": "203.0.113.9"}
    spend("60/minute", "ip:203.0.113.9", 60)
    assert_429(client.get("/api/v1/workspaces", environ_base=ip), 60)
    assert client.get(item_url(owner), headers=owner.headers, environ_base=ip).status_code == 200


def test_a_bad_credential_is_counted_against_the_ip(client):
    ip = {"REMOTE_ADDR": "203.0.113.10"}
    bad = {"Authorization": "Bearer sk_live_" + "x" * 40}
    assert rl(client.get("/api/v1/workspaces", headers=bad, environ_base=ip))[1] == 59
    assert rl(client.get("/api/v1/workspaces", environ_base=ip))[1] == 58


# --- what is not limited ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/health", "/api/v1/openapi.json", "/api/docs"])
def test_health_and_docs_are_not_limited(client, url):
    ip = {"REMOTE_ADDR": "203.0.113.11"}
    spend("60/minute", "ip:203.0.113.11", 60)
    assert_429(client.get("/api/v1/workspaces", environ_base=ip), 60)
    response = client.get(url, environ_base=ip)
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers
    assert window("60/minute", "ip:203.0.113.11")[1] == 0


# --- the window -----------------------------------------------------------------------------------------


@requires_memory_limits
def test_a_new_window_resets_the_count(client, owner):
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        spend("60/minute", f"api_key:{key_id_of(owner.key)}", 59)
        assert rl(client.get(item_url(owner), headers=owner.headers))[1] == 0
        assert_429(client.get(item_url(owner), headers=owner.headers), 60)
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        assert_429(client.get(item_url(owner), headers=owner.headers), 60)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        response = client.get(item_url(owner), headers=owner.headers)
        assert response.status_code == 200
        assert rl(response) == (60, 59, int(time.time()) + 61)


@requires_redis
def test_the_redis_window_expires_within_a_minute(client, owner, app):
    """time_machine cannot move Redis' clock: the window's key carries a TTL of at most 60 s."""
    response = client.get(item_url(owner), headers=owner.headers)
    assert response.status_code == 200
    key = limiter.storage.prefixed_key(parse("60/minute").key_for("core", f"api_key:{key_id_of(owner.key)}", "global"))
    redis = app.extensions["core.jobs"].redis
    assert int(redis.get(key)) == 1
    assert 0 < redis.ttl(key) <= 60
