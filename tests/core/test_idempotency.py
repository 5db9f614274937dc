"""API.md §7: Idempotency-Key replays, refuses reuse and concurrent use, never shares between users."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from flask import jsonify, request

from .. import factories
from ..conftest import TEST_REDIS_URL, requires_redis
from . import assert_error, key_id_of, spare_app

URL = "/api/v1/workspaces"
SECRET_NAME = "Confidential Plans 7781"

requires_memory_store = pytest.mark.skipif(
    bool(TEST_REDIS_URL), reason="time_machine cannot move Redis' clock: see the TTL test instead"
)


def post(client, account, key: str, body: dict | None = None, headers: dict | None = None):
    return client.post(
        URL,
        headers={**account.headers, "Idempotency-Key": key, **(headers or {})},
        json=body if body is not None else {"name": "Acme"},
    )


def workspace_count(client, account) -> int:
    return int(client.get(URL, headers=account.headers).headers["X-Total-Count"])


def store_key(account, idempotency_key: str, workspace_id: str | None = None) -> str:
    """Where the app files a key: per credential, user and workspace (core.idempotency)."""
    scope = f"{key_id_of(account.key)}|{account.user_id}|{workspace_id or account.workspace_id}|{idempotency_key}"
    return "core:idem:" + hashlib.sha256(scope.encode()).hexdigest()


# --- replay ---------------------------------------------------------------------------------------


def test_same_key_same_request_replays_the_first_response(client, owner):
    first = post(client, owner, "create-acme-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, owner, "create-acme-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.mimetype == "application/json"
    assert workspace_count(client, owner) == 2  # the personal one and Acme, once


def test_a_replay_does_nothing_twice_for_a_delete(client, owner):
    target = post(client, owner, "make-it").get_json()["data"]["id"]
    url = f"{URL}/{target}"
    headers = {**owner.headers, "Idempotency-Key": "delete-it"}
    assert client.delete(url, headers=headers).status_code == 204
    replay = client.delete(url, headers=headers)
    assert replay.status_code == 204
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert client.delete(url, headers=owner.headers).status_code == 404  # without the key: really gone


def test_a_replayed_validation_failure_is_the_same_422(client, owner):
    first = post(client, owner, "bad-body", {"name": ""})
    assert_error(first, 422, "validation_failed")
    again = post(client, owner, "bad-body", {"name": ""})
    assert again.status_code == 422
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_safe_methods_ignore_the_header(client, owner):
    headers = {**owner.headers, "Idempotency-Key": "reading"}
    client.get(URL, headers=headers)
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers


# --- reuse ----------------------------------------------------------------------------------------------


def test_same_key_different_body_is_422_reused(client, owner):
    assert post(client, owner, "k-1", {"name": "Acme"}).status_code == 201
    assert_error(post(client, owner, "k-1", {"name": "Other"}), 422, "idempotency_key_reused")
    assert workspace_count(client, owner) == 2


def test_same_key_different_path_or_method_is_422_reused(client, owner):
    assert post(client, owner, "k-2").status_code == 201
    headers = {**owner.headers, "Idempotency-Key": "k-2"}
    patch = client.patch(f"{URL}/{owner.workspace_id}", headers=headers, json={"name": "Acme"})
    assert_error(patch, 422, "idempotency_key_reused")
    query = client.post(f"{URL}?x=1", headers=headers, json={"name": "Acme"})
    assert_error(query, 422, "idempotency_key_reused")


def test_another_user_with_the_same_key_is_not_replayed(client, owner, other):
    mine = post(client, owner, "shared-key").get_json()["data"]
    theirs = post(client, other, "shared-key")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["data"]["id"] != mine["id"]
    assert workspace_count(client, other) == 2


def test_another_key_of_the_same_user_is_not_replayed(client, owner):
    second = SimpleNamespace(headers=factories.bearer(factories.key(owner.user_id, owner.workspace_id)))
    post(client, owner, "per-credential")
    response = post(client, second, "per-credential")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert workspace_count(client, owner) == 3


def session_of(client, email: str) -> SimpleNamespace:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": factories.PASSWORD})
    assert response.status_code == 200
    return SimpleNamespace(headers=factories.bearer(response.get_json()["data"]["token"]))


def test_two_sessions_of_the_same_user_share_keys(client, owner):
    """A session's credential is its user (API.md §7): a retry after logging in again replays."""
    first = post(client, session_of(client, "owner@example.com"), "from-the-browser")
    again = post(client, session_of(client, "owner@example.com"), "from-the-browser")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert workspace_count(client, owner) == 2


def test_a_session_and_an_api_key_of_the_same_user_do_not_share_keys(client, owner):
    post(client, session_of(client, "owner@example.com"), "mixed")
    response = post(client, owner, "mixed")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


def test_the_same_key_in_another_workspace_is_not_replayed(client, owner):
    elsewhere = post(client, owner, "setup").get_json()["data"]["id"]
    post(client, owner, "per-workspace", {"name": "One"})
    response = post(client, owner, "per-workspace", {"name": "One"}, headers={"X-Workspace-ID": elsewhere})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


# --- concurrent use ------------------------------------------------------------------------------------


def test_same_key_while_the_first_request_runs_is_409(owner):
    """The first request is held (after the key was claimed) until the second has been answered."""
    with spare_app() as spare:
        entered, release = threading.Event(), threading.Event()

        @spare.before_request
        def hold_first_request():  # registered after core's hooks: the key is already claimed
            if request.headers.get("X-Test-Hold"):
                entered.set()
                assert release.wait(10)

        client = spare.test_client()
        results = {}

        def first():
            results["first"] = post(client, owner, "slow-one", headers={"X-Test-Hold": "1"})

        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert entered.wait(10)
            in_use = post(client, owner, "slow-one")
        finally:
            release.set()
            thread.join(10)
        assert_error(in_use, 409, "idempotency_key_in_use")
        assert results["first"].status_code == 201
        replay = post(client, owner, "slow-one")
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.get_json() == results["first"].get_json()


# --- 5xx is not stored -------------------------------------------------------------------------------------


def test_a_5xx_response_is_not_stored_so_a_retry_runs_again(owner):
    with spare_app() as spare:
        calls = []

        @spare.post("/api/v1/flaky")
        def flaky():
            calls.append(request.get_json())
            if len(calls) == 1:
                raise RuntimeError("first attempt fails")
            response = jsonify({"data": {"attempt": len(calls)}})
            response.status_code = 201
            return response

        client = spare.test_client()
        headers = {**owner.headers, "Idempotency-Key": "retry-me"}
        assert_error(client.post("/api/v1/flaky", headers=headers, json={"a": 1}), 500, "server_error")
        retried = client.post("/api/v1/flaky", headers=headers, json={"a": 1})
        assert retried.status_code == 201
        assert "Idempotent-Replayed" not in retried.headers
        assert retried.get_json() == {"data": {"attempt": 2}}
        replayed = client.post("/api/v1/flaky", headers=headers, json={"a": 1})
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.get_json() == {"data": {"attempt": 2}}
        assert len(calls) == 2


# --- the key itself ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["k" * 256, "", "tab\tin", "caf\u00e9"], ids=["256-chars", "empty", "control", "non-ascii"]
)
def test_an_invalid_key_is_400(client, owner, key):
    headers = {**owner.headers, "Idempotency-Key": key.encode("utf-8").decode("latin-1")}
    response = client.post(URL, headers=headers, json={"name": "Acme"})
    assert_error(response, 400, "bad_request")
    assert workspace_count(client, owner) == 1


def test_a_key_of_255_printable_characters_is_accepted(client, owner):
    key = ("Ab3-_.~!" * 40)[:255]
    assert post(client, owner, key).status_code == 201
    assert post(client, owner, key).headers["Idempotent-Replayed"] == "true"


# --- expiry and storage --------------------------------------------------------------------------------------


@requires_memory_store
def test_after_24_hours_the_key_can_be_reused(client, owner):
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        assert post(client, owner, "daily", {"name": "Monday"}).status_code == 201
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert_error(post(client, owner, "daily", {"name": "Tuesday"}), 422, "idempotency_key_reused")
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        response = post(client, owner, "daily", {"name": "Tuesday"})
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers


@requires_redis
def test_the_stored_response_lives_24_hours_in_redis(client, owner, app):
    assert post(client, owner, "ttl-check").status_code == 201
    redis = app.extensions["core.jobs"].redis
    ttl = redis.ttl(store_key(owner, "ttl-check"))
    assert 86400 - 60 <= ttl <= 86400


def stored_values(app, account, key: str) -> list[bytes]:
    store = app.extensions["core.idempotency"]
    if hasattr(store, "_data"):  # the embedded default: process memory
        return [value.encode() for _, value in store._data.values()]
    return [store.redis.get(store_key(account, key))]


def test_stored_responses_are_encrypted_at_rest(client, owner, app):
    response = post(client, owner, "secret-body", {"name": SECRET_NAME})
    workspace_id = response.get_json()["data"]["id"]
    values = stored_values(app, owner, "secret-body")
    assert values and all(values)
    for raw in values:
        assert SECRET_NAME.encode() not in raw
        assert workspace_id.encode() not in raw
        assert b"Workspace created successfully" not in raw
