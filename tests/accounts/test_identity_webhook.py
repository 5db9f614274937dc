"""Clerk's user events at POST /api/webhooks/clerk, signed the way Svix signs them (Standard
Webhooks under `svix-*` headers), keep users in step (issue 5)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tests.assertions import error

from .test_auth import bearer, login, session_token, user_row

HOOK = "/api/webhooks/clerk"
SECRET = "whsec_" + base64.b64encode(b"clerk-test-secret-32-bytes-long!").decode()


@pytest.fixture
def clerk(app, monkeypatch):
    monkeypatch.setitem(app.config, "CLERK_WEBHOOK_SECRET", SECRET)


def user_data(uid="user_2abc", email="cleo@example.com", first="Cleo", last="Park", updated_at=1_700_000_000_000):
    return {
        "id": uid,
        "object": "user",
        "first_name": first,
        "last_name": last,
        "primary_email_address_id": "idn_primary",
        "email_addresses": [
            {"id": "idn_other", "email_address": "old-" + email},
            {"id": "idn_primary", "email_address": email},
        ],
        "updated_at": updated_at,
    }


def send(client, type_: str, data: dict, msg_id="msg_1", secret=SECRET, at: datetime | None = None, headers=None):
    payload = json.dumps({"type": type_, "object": "event", "data": data})
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, payload)
    signed = {"svix-id": msg_id, "svix-timestamp": str(int(at.timestamp())), "svix-signature": signature}
    return client.post(HOOK, data=payload, content_type="application/json", headers=headers or signed)


def test_off_without_its_secret(client):
    response = send(client, "user.created", user_data())
    assert "CLERK_WEBHOOK_SECRET" in error(response, 503, "service_unavailable")["message"]


def test_user_created_makes_the_user_with_a_personal_workspace_and_no_password(client, clerk):
    response = send(client, "user.created", user_data())
    assert response.status_code == 200 and response.json == {"received": True}
    user = user_row("cleo@example.com")
    assert (user.external_id, user.name, user.default_workspace_id is not None) == ("user_2abc", "Cleo Park", True)
    # no password matches the user's, not even the unusable marker itself
    for password in ("!", "anything at all"):
        assert login(client, "cleo@example.com", password).status_code == 401
    # delivered again (Svix retries): still one user
    assert send(client, "user.created", user_data(), msg_id="msg_1").status_code == 200
    assert user_row("cleo@example.com").id == user.id


def test_user_created_links_an_existing_account_of_the_same_email(client, clerk, owner):
    assert send(client, "user.created", user_data(email="OWNER@example.com")).status_code == 200
    user = user_row("owner@example.com")
    assert user.id == owner.user_id and user.external_id == "user_2abc"
    assert session_token(client)  # their password still works


def test_user_updated_follows_email_and_name_and_never_goes_back_in_time(client, clerk):
    send(client, "user.created", user_data())
    newer = user_data(email="cleo.park@example.com", first="Cleo", last="Park-Lee", updated_at=1_700_000_100_000)
    assert send(client, "user.updated", newer, msg_id="msg_2").status_code == 200
    older = user_data(email="stale@example.com", first="Stale", updated_at=1_700_000_050_000)
    assert send(client, "user.updated", older, msg_id="msg_3").status_code == 200
    user = user_row("cleo.park@example.com")
    assert (user.email, user.name) == ("cleo.park@example.com", "Cleo Park-Lee")
    assert user_row("stale@example.com") is None


def test_an_email_held_by_another_user_is_409_and_changes_nothing(client, clerk, owner):
    send(client, "user.created", user_data())
    taken = user_data(email="owner@example.com", updated_at=1_700_000_100_000)
    error(send(client, "user.updated", taken, msg_id="msg_2"), 409, "conflict")
    assert user_row("cleo@example.com").external_id == "user_2abc"


def test_user_deleted_ends_sessions_and_login_at_once(client, clerk, owner):
    send(client, "user.created", user_data(email="owner@example.com"))
    token = session_token(client)
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    assert send(client, "user.deleted", {"id": "user_2abc", "object": "user", "deleted": True}).status_code == 200
    error(client.get("/api/v1/auth/me", headers=bearer(token)), 401, "unauthorized")
    error(login(client), 401, "unauthorized")
    # a late `user.updated` does not bring the user back
    send(client, "user.updated", user_data(email="owner@example.com", updated_at=1_800_000_000_000), msg_id="m9")
    error(login(client), 401, "unauthorized")
    assert user_row("owner@example.com").deactivated_at is not None


def test_unknown_users_and_other_event_types_are_answered_and_ignored(client, clerk):
    assert send(client, "user.deleted", {"id": "user_nobody", "deleted": True}).status_code == 200
    assert send(client, "session.created", {"id": "sess_1", "user_id": "user_2abc"}).status_code == 200
    phone_only = {**user_data(), "email_addresses": [], "primary_email_address_id": None}
    assert send(client, "user.created", phone_only).status_code == 200
    assert user_row("cleo@example.com") is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: {**h, "svix-signature": "v1," + base64.b64encode(b"x" * 32).decode()},
        lambda h: {**h, "svix-signature": "garbage"},
        lambda h: {**h, "svix-id": "msg_other"},
        lambda h: {k: v for k, v in h.items() if k != "svix-timestamp"},
        lambda h: {**h, "svix-timestamp": "not-a-number"},
    ],
)
def test_a_bad_signature_is_400_and_changes_nothing(client, clerk, tamper):
    payload = json.dumps({"type": "user.created", "data": user_data()})
    now = datetime.now(UTC)
    headers = {
        "svix-id": "msg_1",
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(SECRET).sign("msg_1", now, payload),
    }
    response = client.post(HOOK, data=payload, content_type="application/json", headers=tamper(headers))
    error(response, 400, "bad_request")
    assert user_row("cleo@example.com") is None


def test_old_signatures_and_other_secrets_are_refused(client, clerk):
    error(send(client, "user.created", user_data(), at=datetime.now(UTC) - timedelta(minutes=6)), 400, "bad_request")
    other = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-by!").decode()
    error(send(client, "user.created", user_data(), secret=other), 400, "bad_request")
    assert user_row("cleo@example.com") is None


def test_a_signed_body_that_is_not_an_event_is_400(client, clerk):
    payload = "[1, 2]"
    now = datetime.now(UTC)
    headers = {
        "svix-id": "msg_1",
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(SECRET).sign("msg_1", now, payload),
    }
    error(client.post(HOOK, data=payload, content_type="application/json", headers=headers), 400, "bad_request")
