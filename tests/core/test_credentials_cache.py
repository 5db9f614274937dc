"""The credentials cache saves the per-request lookups but never delays a change (API.md §2).

A second app made with create_app() has its own cache and shares Redis and the database: it
stands for another web process.
"""

from contextlib import contextmanager
from datetime import timedelta

import time_machine
from redis import Redis
from redis.client import Pipeline

from app.core.clock import utcnow
from app.core.credentials_cache import credentials_changed
from tests import factories
from tests.conftest import requires_redis

from . import counted_statements, key_id_of, spare_app


def workspace_url(account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


@requires_redis
def test_a_known_key_costs_only_the_routes_own_query(client, owner):
    assert client.get(workspace_url(owner), headers=owner.headers).status_code == 200
    with counted_statements() as statements:
        assert client.get(workspace_url(owner), headers=owner.headers).status_code == 200
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "FROM workspaces" in selects[0]


@requires_redis
def test_revocation_in_another_process_refuses_the_next_request(client, owner):
    secret = factories.key(owner.user_id, owner.workspace_id, ["*"])
    headers = factories.bearer(secret)
    assert client.get(workspace_url(owner), headers=headers).status_code == 200  # now remembered
    key_id = key_id_of(secret)
    with spare_app() as other_process:
        response = other_process.test_client().delete(f"/api/v1/api-keys/{key_id}", headers=owner.headers)
        assert response.status_code == 204
    assert client.get(workspace_url(owner), headers=headers).status_code == 401


@requires_redis
def test_removal_from_a_workspace_in_another_process_is_seen_at_once(client, owner):
    member = factories.member(owner.workspace_id, "leaving@example.com", "admin")
    url = workspace_url(owner)
    assert client.patch(url, headers=member.headers, json={"name": "Renamed"}).status_code == 200
    with spare_app() as other_process:
        response = other_process.test_client().patch(
            f"{url}/members/{member.user_id}", headers=owner.headers, json={"role": "viewer"}
        )
        assert response.status_code == 200
    response = client.patch(url, headers=member.headers, json={"name": "Again"})
    assert response.status_code == 403 and response.get_json()["required_role"] == "admin"


@requires_redis
def test_logout_in_another_process_ends_the_session_here(client, owner):
    login = client.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": factories.PASSWORD})
    headers = factories.bearer(login.get_json()["data"]["token"])
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with spare_app() as other_process:
        assert other_process.test_client().post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


@requires_redis
def test_a_tier_change_applies_to_remembered_keys(client, owner):
    assert client.get(workspace_url(owner), headers=owner.headers).headers["X-RateLimit-Limit"] == "60"
    with spare_app() as other_process:
        with other_process.app_context():
            from app.workspaces import service as workspaces

            workspaces.set_tier(workspaces.get_workspace(owner.workspace_id), "pro")
    assert client.get(workspace_url(owner), headers=owner.headers).headers["X-RateLimit-Limit"] == "5000"


@requires_redis
def test_a_remembered_key_still_expires_on_time(client, owner):
    expires_at = (utcnow() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = client.post("/api/v1/api-keys", headers=owner.headers, json={"name": "short", "expires_at": expires_at})
    headers = factories.bearer(created.get_json()["data"]["key"])
    assert client.get(workspace_url(owner), headers=headers).status_code == 200  # now remembered
    with time_machine.travel(utcnow() + timedelta(seconds=31), tick=False):
        response = client.get(workspace_url(owner), headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == "expired_key"


def test_without_redis_nothing_is_remembered():
    with spare_app(REDIS_URL=None) as embedded:
        assert embedded.extensions["core.credentials_cache"].enabled is False


# --- the request's one Redis round trip -------------------------------------------------------


@contextmanager
def redis_round_trips():
    """Every command or pipeline the app sends to Redis, as it goes (the real calls are made)."""
    trips: list[str] = []
    command, execute = Redis.execute_command, Pipeline.execute

    def counted_command(self, *args, **options):
        if not isinstance(self, Pipeline):  # a pipeline's commands are queued, not sent
            trips.append(str(args[0]))
        return command(self, *args, **options)

    def counted_execute(self, *args, **options):
        trips.append("pipeline")
        return execute(self, *args, **options)

    Redis.execute_command, Pipeline.execute = counted_command, counted_execute
    try:
        yield trips
    finally:
        Redis.execute_command, Pipeline.execute = command, execute


def used_api_calls(client, account) -> int:
    summary = client.get("/api/v1/entitlements/summary", headers=account.headers).get_json()
    return summary["data"]["entitlements"]["api_calls"]["used"]


@requires_redis
def test_a_known_key_costs_one_redis_round_trip(client, owner):
    assert client.get(workspace_url(owner), headers=owner.headers).status_code == 200
    with redis_round_trips() as trips:
        assert client.get(workspace_url(owner), headers=owner.headers).status_code == 200
    assert trips == ["pipeline"]  # the epoch, the rate-limit window and api_calls together


@requires_redis
def test_an_epoch_change_that_leaves_the_key_as_it_was_counts_it_once(client, owner):
    first = client.get(workspace_url(owner), headers=owner.headers)
    used = used_api_calls(client, owner)
    with spare_app() as other_process, other_process.app_context():
        credentials_changed()  # someone else's change, in another process, bumps the shared epoch
    again = client.get(workspace_url(owner), headers=owner.headers)
    assert again.status_code == 200
    # the summary read counted one request; this request counted one, not two
    assert int(again.headers["X-RateLimit-Remaining"]) == int(first.headers["X-RateLimit-Remaining"]) - 2
    assert used_api_calls(client, owner) == used + 2


@requires_redis
def test_a_key_revoked_elsewhere_is_counted_against_the_address_not_the_key(client, owner):
    secret = factories.key(owner.user_id, owner.workspace_id, ["*"])
    headers = factories.bearer(secret)
    assert client.get(workspace_url(owner), headers=headers).status_code == 200  # now remembered
    key_id, used = key_id_of(secret), used_api_calls(client, owner)
    with spare_app() as other_process:
        response = other_process.test_client().delete(f"/api/v1/api-keys/{key_id}", headers=owner.headers)
        assert response.status_code == 204
    refused = client.get(workspace_url(owner), headers=headers)
    assert refused.status_code == 401
    assert refused.headers["X-RateLimit-Limit"] == "60"  # the address's (free) window
    redis = client.application.extensions["core.redis"]
    windows = {key.decode(): int(redis.get(key)) for key in redis.scan_iter("LIMITS:LIMITER/core/*")}
    assert [count for key, count in windows.items() if key_id in key] == [1]  # only its one accepted request
    assert [count for key, count in windows.items() if "/ip:" in key] == [1]
    assert used_api_calls(client, owner) == used + 2  # the DELETE and this summary read; not the 401
