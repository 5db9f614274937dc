"""Rotation: a new key, the old one alive until grace_period_ends_at; the api_key.* events (API.md §9, §8)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from tests import factories
from tests.assertions import error as assert_error

KEYS = "/api/v1/api-keys"
KEY_FORMAT = re.compile(r"^sk_live_[A-Za-z0-9]{32,}$")


def start() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_key(client, headers, **body) -> dict:
    body.setdefault("name", "Rotating key")
    response = client.post(KEYS, json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["data"]


def rotate(client, headers, key_id, body=None):
    return client.post(f"{KEYS}/{key_id}/rotate", json={} if body is None else body, headers=headers)


def works(client, secret) -> int:
    return client.get(KEYS, headers=factories.bearer(secret)).status_code


def test_rotate_returns_a_new_key_with_a_new_id(client, owner):
    old = new_key(client, owner.headers, scopes=["read", "events:read"])
    at = start()

    with time_machine.travel(at, tick=False):
        response = rotate(client, owner.headers, old["id"])

    assert response.status_code == 200
    body = response.json
    assert body["message"] == "API key rotated successfully."
    data = body["data"]
    assert data["id"].startswith("key_") and data["id"] != old["id"]
    assert KEY_FORMAT.match(data["key"]) and data["key"] != old["key"]
    assert data["prefix"] == data["key"][:12]
    assert data["name"] == old["name"]
    assert data["scopes"] == ["read", "events:read"]
    assert data["grace_period_ends_at"] == iso(at + timedelta(hours=24))


def test_the_new_key_works_and_is_listed_without_its_secret(client, owner):
    old = new_key(client, owner.headers)
    data = rotate(client, owner.headers, old["id"]).json["data"]

    assert works(client, data["key"]) == 200
    one = client.get(f"{KEYS}/{data['id']}", headers=owner.headers)
    assert one.status_code == 200 and "key" not in one.json["data"]
    assert data["key"] not in client.get(KEYS, headers=owner.headers).get_data(as_text=True)


def test_the_old_key_works_until_the_default_24h_grace_period_ends(client, owner):
    old = new_key(client, owner.headers)
    at = start()

    with time_machine.travel(at, tick=False) as traveller:
        new = rotate(client, owner.headers, old["id"]).json["data"]
        assert works(client, old["key"]) == 200

        traveller.shift(timedelta(hours=24) - timedelta(seconds=1))
        assert works(client, old["key"]) == 200

        traveller.shift(timedelta(seconds=1))
        body = assert_error(client.get(KEYS, headers=factories.bearer(old["key"])), 401, "expired_key")
        assert set(body) == {"error", "message", "request_id"}
        assert works(client, new["key"]) == 200


def test_the_old_key_shows_when_its_grace_period_ends(client, owner):
    old = new_key(client, owner.headers)
    at = start()
    with time_machine.travel(at, tick=False):
        rotate(client, owner.headers, old["id"], {"grace_period_hours": 2})

    data = client.get(f"{KEYS}/{old['id']}", headers=owner.headers).json["data"]
    assert data["grace_period_ends_at"] == iso(at + timedelta(hours=2))


def test_a_chosen_grace_period_is_kept(client, owner):
    old = new_key(client, owner.headers)
    at = start()

    with time_machine.travel(at, tick=False) as traveller:
        data = rotate(client, owner.headers, old["id"], {"grace_period_hours": 720}).json["data"]
        assert data["grace_period_ends_at"] == iso(at + timedelta(hours=720))

        traveller.shift(timedelta(hours=719))
        assert works(client, old["key"]) == 200
        traveller.shift(timedelta(hours=1))
        assert_error(client.get(KEYS, headers=factories.bearer(old["key"])), 401, "expired_key")


def test_grace_period_zero_kills_the_old_key_at_once(client, owner):
    old = new_key(client, owner.headers)

    response = rotate(client, owner.headers, old["id"], {"grace_period_hours": 0})

    assert response.status_code == 200
    assert_error(client.get(KEYS, headers=factories.bearer(old["key"])), 401, "expired_key")
    assert works(client, response.json["data"]["key"]) == 200


def test_grace_period_out_of_range_or_not_an_integer_is_422(client, owner):
    old = new_key(client, owner.headers)
    for bad in (721, -1, 1.5, "24", None):
        body = assert_error(
            rotate(client, owner.headers, old["id"], {"grace_period_hours": bad}), 422, "validation_failed"
        )
        assert "grace_period_hours" in body["errors"]
    assert works(client, old["key"]) == 200
    assert rotate(client, owner.headers, old["id"]).status_code == 200  # nothing was rotated before


def test_unknown_rotate_field_is_422(client, owner):
    old = new_key(client, owner.headers)
    body = assert_error(rotate(client, owner.headers, old["id"], {"scopes": ["*"]}), 422, "validation_failed")
    assert "scopes" in body["errors"]


def test_rotating_an_already_rotated_key_is_409(client, owner):
    old = new_key(client, owner.headers)
    new = rotate(client, owner.headers, old["id"]).json["data"]

    assert_error(rotate(client, owner.headers, old["id"]), 409, "conflict")
    assert rotate(client, owner.headers, new["id"]).status_code == 200


def test_rotating_a_revoked_or_unknown_key_is_404(client, owner):
    old = new_key(client, owner.headers)
    assert client.delete(f"{KEYS}/{old['id']}", headers=owner.headers).status_code == 204

    assert_error(rotate(client, owner.headers, old["id"]), 404, "not_found")
    assert_error(rotate(client, owner.headers, "key_doesnotexist"), 404, "not_found")


def test_revoking_the_old_key_during_its_grace_period_ends_it_at_once(client, owner):
    old = new_key(client, owner.headers)
    new = rotate(client, owner.headers, old["id"]).json["data"]

    assert client.delete(f"{KEYS}/{old['id']}", headers=owner.headers).status_code == 204

    assert_error(client.get(KEYS, headers=factories.bearer(old["key"])), 401, "unauthorized")
    assert works(client, new["key"]) == 200


def test_rotation_keeps_the_expiry_and_tier(client):
    holder = factories.account("pro@example.com", tier="pro")
    expires = start() + timedelta(days=30)
    old = new_key(client, holder.headers, rate_limit_tier="starter", expires_at=iso(expires))

    data = rotate(client, holder.headers, old["id"]).json["data"]

    assert data["rate_limit_tier"] == "starter"
    assert data["expires_at"] == iso(expires)


def test_rotating_needs_the_api_keys_write_scope(client, owner):
    old = new_key(client, owner.headers)
    headers = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["api-keys:read"]))
    body = assert_error(rotate(client, headers, old["id"]), 403, "access_denied")
    assert body["required_scope"] == "api-keys:write"


def test_a_limited_key_cannot_rotate_a_broader_key_into_its_own_hands(client, owner):
    """Rotation hands out a new key: nobody hands out more than they hold (API.md §3)."""
    broad = new_key(client, owner.headers, scopes=["*"])
    limited = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["api-keys:write", "api-keys:read"]))

    assert_error(rotate(client, limited, broad["id"]), 403, "access_denied")
    assert client.get(f"{KEYS}/{broad['id']}", headers=owner.headers).json["data"]["grace_period_ends_at"] is None


def test_an_admin_cannot_rotate_another_users_key_into_their_own_hands(client, owner):
    """An admin lists and revokes every key (API.md §3), but a rotation would give them the owner's credential."""
    admin = factories.member(owner.workspace_id, "admin@example.com", "admin")
    owners = new_key(client, owner.headers, scopes=["*"])

    assert_error(rotate(client, admin.headers, owners["id"]), 403, "access_denied")
    assert works(client, owners["key"]) == 200
    assert client.get(f"{KEYS}/{owners['id']}", headers=owner.headers).json["data"]["grace_period_ends_at"] is None


def test_a_member_rotates_their_own_key(client, owner):
    alice = factories.member(owner.workspace_id, "alice@example.com", "member")
    mine = new_key(client, alice.headers, scopes=["read"])
    response = rotate(client, alice.headers, mine["id"])
    assert response.status_code == 200
    assert works(client, response.json["data"]["key"]) == 200


# --- events of the key's life -------------------------------------------------------------------------


def events_of(client, headers, type_) -> list[dict]:
    response = client.get(f"/api/v1/events?type={type_}&per_page=100", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def stored_event_rows() -> list[str]:
    return [
        json.dumps(dict(row), default=str)
        for row in db.session.execute(sa.text("SELECT * FROM events")).mappings().all()
    ]


def test_created_rotated_and_revoked_events_are_recorded_without_secrets(client, owner):
    old = new_key(client, owner.headers)
    new = rotate(client, owner.headers, old["id"]).json["data"]
    assert client.delete(f"{KEYS}/{new['id']}", headers=owner.headers).status_code == 204

    [created] = [e for e in events_of(client, owner.headers, "api_key.created") if e["data"]["id"] == old["id"]]
    [rotated] = events_of(client, owner.headers, "api_key.rotated")
    [revoked] = events_of(client, owner.headers, "api_key.revoked")

    assert created["data"]["name"] == "Rotating key"
    assert rotated["data"]["id"] == new["id"]
    assert rotated["data"]["previous_key_id"] == old["id"]
    assert revoked["data"]["id"] == new["id"]
    assert revoked["data"]["revoked_at"] is not None
    for event in (created, rotated, revoked):
        assert event["workspace_id"] == owner.workspace_id
        assert "key" not in event["data"] and "key_hash" not in event["data"]
        assert event["data"]["prefix"] in (old["prefix"], new["prefix"])

    listed = client.get("/api/v1/events?per_page=100", headers=owner.headers).get_data(as_text=True)
    stored = "\n".join(stored_event_rows())
    for secret in (old["key"], new["key"], owner.key):
        assert secret not in listed
        assert secret not in stored
    hashes = db.session.scalars(sa.text("SELECT key_hash FROM api_keys")).all()
    assert not any(h in stored for h in hashes)


def test_a_refused_rotation_records_no_event(client, owner):
    old = new_key(client, owner.headers)
    rotate(client, owner.headers, old["id"])
    assert rotate(client, owner.headers, old["id"], {"grace_period_hours": 721}).status_code == 422
    assert rotate(client, owner.headers, old["id"]).status_code == 409
    assert len(events_of(client, owner.headers, "api_key.rotated")) == 1
