"""API keys: creation, the grant rules, using keys, visibility (API.md §2, §3, §9)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from tests import factories

KEYS = "/api/v1/api-keys"
KEY_FORMAT = re.compile(r"^sk_live_[A-Za-z0-9]{32,}$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UNAUTHORIZED_MESSAGE = "Invalid or missing credentials."


def create(client, headers, **body):
    body.setdefault("name", "A key")
    return client.post(KEYS, json=body, headers=headers)


def created_key(client, headers, **body) -> dict:
    response = create(client, headers, **body)
    assert response.status_code == 201, response.json
    return response.json["data"]


def whoami(client, secret):
    """Any endpoint every valid key may call (its own key list needs only `read`)."""
    return client.get(KEYS, headers=factories.bearer(secret))


def key_row(key_id: str) -> dict:
    row = db.session.execute(sa.text("SELECT * FROM api_keys WHERE id = :id"), {"id": key_id}).mappings().one()
    return dict(row)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.json
    body = response.json
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"]
    return body


def future(**delta) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(**delta)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- creation ------------------------------------------------------------------------------------


def test_create_returns_the_key_once_in_the_contract_shape(client, owner):
    response = create(client, owner.headers, name="Mobile App Key", scopes=["webhooks:read", "events:read"])

    assert response.status_code == 201
    body = response.json
    assert body["message"] == "API key created successfully."
    data = body["data"]
    assert data["id"].startswith("key_")
    assert data["name"] == "Mobile App Key"
    assert KEY_FORMAT.match(data["key"])
    assert data["prefix"] == data["key"][:12]
    assert data["scopes"] == ["webhooks:read", "events:read"]
    for field in ("rate_limit_tier", "last_used_at", "expires_at"):
        assert field in data
    assert data["last_used_at"] is None
    assert data["expires_at"] is None
    assert ISO_Z.match(data["created_at"])


def test_create_without_scopes_gets_read_and_write(client, owner):
    data = created_key(client, owner.headers)
    assert data["scopes"] == ["read", "write"]


def test_create_with_expiry_and_tier_echoes_them(client):
    holder = factories.account("pro@example.com", tier="pro")
    expires = future(days=30)
    data = created_key(client, holder.headers, rate_limit_tier="starter", expires_at=iso(expires))
    assert data["rate_limit_tier"] == "starter"
    assert data["expires_at"] == iso(expires)


def test_full_key_is_never_returned_again(client, owner):
    data = created_key(client, owner.headers)

    one = client.get(f"{KEYS}/{data['id']}", headers=owner.headers)
    listed = client.get(KEYS, headers=owner.headers)

    assert one.status_code == 200
    assert "key" not in one.json["data"]
    assert one.json["data"]["prefix"] == data["key"][:12]
    assert data["key"] not in one.get_data(as_text=True)
    assert listed.status_code == 200
    assert all("key" not in item for item in listed.json["data"])
    assert data["key"] not in listed.get_data(as_text=True)


def test_only_the_sha256_of_the_key_is_stored(client, owner):
    import hashlib

    data = created_key(client, owner.headers)
    row = key_row(data["id"])

    assert row["key_hash"] == hashlib.sha256(data["key"].encode()).hexdigest()
    assert row["key_hash"] != data["key"]
    assert all(data["key"] not in str(value) for value in row.values())
    assert row["prefix"] == data["key"][:12]


def test_name_is_required(client, owner):
    response = client.post(KEYS, json={"scopes": ["read"]}, headers=owner.headers)
    body = assert_error(response, 422, "validation_failed")
    assert "name" in body["errors"]


def test_empty_name_is_refused(client, owner):
    body = assert_error(create(client, owner.headers, name=""), 422, "validation_failed")
    assert "name" in body["errors"]


def test_name_of_255_characters_is_accepted_and_256_refused(client, owner):
    assert create(client, owner.headers, name="n" * 255).status_code == 201
    body = assert_error(create(client, owner.headers, name="n" * 256), 422, "validation_failed")
    assert "name" in body["errors"]


def test_unknown_scope_string_is_refused(client, owner):
    body = assert_error(create(client, owner.headers, scopes=["read", "webhooks:admin"]), 422, "validation_failed")
    assert "scopes" in body["errors"]


def test_expiry_in_the_past_is_refused(client, owner):
    body = assert_error(create(client, owner.headers, expires_at=iso(future(hours=-1))), 422, "validation_failed")
    assert "expires_at" in body["errors"]


def test_unknown_body_field_is_refused(client, owner):
    body = assert_error(create(client, owner.headers, key_hash="x" * 64), 422, "validation_failed")
    assert "key_hash" in body["errors"]


def test_a_failed_creation_stores_no_key(client, owner):
    before = db.session.scalar(sa.text("SELECT count(*) FROM api_keys"))
    assert create(client, owner.headers, scopes=["nope"]).status_code == 422
    assert db.session.scalar(sa.text("SELECT count(*) FROM api_keys")) == before


# --- nobody hands out more than they hold ----------------------------------------------------------


def limited_key(holder, scopes, tier=None) -> dict:
    return factories.bearer(factories.key(holder.user_id, holder.workspace_id, scopes, tier))


def test_a_key_cannot_grant_a_scope_it_does_not_hold(client, owner):
    headers = limited_key(owner, ["api-keys:write", "workspaces:read"])
    body = assert_error(create(client, headers, scopes=["webhooks:write"]), 403, "access_denied")
    assert body["required_scope"] == "webhooks:write"


def test_a_key_can_grant_a_subset_of_its_scopes(client, owner):
    headers = limited_key(owner, ["api-keys:write", "workspaces:read"])
    data = created_key(client, headers, scopes=["workspaces:read"])
    assert data["scopes"] == ["workspaces:read"]


def test_a_limited_key_cannot_fall_back_to_the_broader_default_scopes(client, owner):
    headers = limited_key(owner, ["api-keys:write", "workspaces:read"])
    assert_error(create(client, headers), 403, "access_denied")


def test_a_bare_action_scope_covers_resource_scopes_of_that_action(client, owner):
    headers = limited_key(owner, ["write", "read"])
    assert create(client, headers, scopes=["webhooks:write"]).status_code == 201
    assert_error(create(client, headers, scopes=["webhooks:delete"]), 403, "access_denied")


def test_only_a_wildcard_key_can_grant_the_wildcard(client, owner):
    headers = limited_key(owner, ["read", "write", "delete"])
    assert_error(create(client, headers, scopes=["*"]), 403, "access_denied")
    assert created_key(client, owner.headers, scopes=["*"])["scopes"] == ["*"]


def test_a_key_cannot_grant_a_tier_above_its_workspace(client, owner):
    # owner's workspace is free
    assert_error(create(client, owner.headers, rate_limit_tier="pro"), 403, "access_denied")


def test_a_key_can_grant_a_lower_tier(client):
    holder = factories.account("pro@example.com", tier="pro")
    assert created_key(client, holder.headers, rate_limit_tier="starter")["rate_limit_tier"] == "starter"
    assert created_key(client, holder.headers, rate_limit_tier="pro")["rate_limit_tier"] == "pro"


def test_a_key_cannot_grant_a_tier_above_its_own(client):
    holder = factories.account("pro@example.com", tier="pro")
    headers = limited_key(holder, ["*"], tier="starter")
    assert_error(create(client, headers, rate_limit_tier="pro"), 403, "access_denied")
    assert created_key(client, headers, rate_limit_tier="free")["rate_limit_tier"] == "free"


def test_creating_needs_the_api_keys_write_scope(client, owner):
    headers = limited_key(owner, ["api-keys:read"])
    body = assert_error(create(client, headers, scopes=["api-keys:read"]), 403, "access_denied")
    assert body["required_scope"] == "api-keys:write"
    assert body["message"] == "Insufficient permissions. Required scope: api-keys:write"


# --- using keys ---------------------------------------------------------------------------------------


def test_a_valid_key_is_accepted(client, owner):
    data = created_key(client, owner.headers)
    assert whoami(client, data["key"]).status_code == 200


def test_bad_credentials_are_401_and_never_say_what_was_wrong(client, owner):
    unknown = "sk_live_" + "A" * 40
    cases = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic x"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {unknown}"},
        {"Authorization": f"Bearer {owner.key}x"},
        {"Authorization": f"Token {owner.key}"},
    ]
    bodies = []
    for headers in cases:
        response = client.get(KEYS, headers=headers)
        body = assert_error(response, 401, "unauthorized")
        assert set(body) == {"error", "message", "request_id"}
        bodies.append(body["message"])
    assert set(bodies) == {UNAUTHORIZED_MESSAGE}


def test_a_revoked_key_fails_on_the_very_next_request(client, owner):
    data = created_key(client, owner.headers)
    assert whoami(client, data["key"]).status_code == 200

    assert client.delete(f"{KEYS}/{data['id']}", headers=owner.headers).status_code == 204

    body = assert_error(whoami(client, data["key"]), 401, "unauthorized")
    assert body["message"] == UNAUTHORIZED_MESSAGE


def test_a_key_can_revoke_itself(client, owner):
    data = created_key(client, owner.headers, scopes=["read", "api-keys:delete"])
    headers = factories.bearer(data["key"])
    response = client.delete(f"{KEYS}/{data['id']}", headers=headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_error(whoami(client, data["key"]), 401, "unauthorized")


def test_a_revoked_key_is_gone_from_get_list_and_delete(client, owner):
    data = created_key(client, owner.headers)
    assert client.delete(f"{KEYS}/{data['id']}", headers=owner.headers).status_code == 204

    assert_error(client.get(f"{KEYS}/{data['id']}", headers=owner.headers), 404, "not_found")
    assert_error(client.delete(f"{KEYS}/{data['id']}", headers=owner.headers), 404, "not_found")
    listed = client.get(KEYS, headers=owner.headers).json["data"]
    assert data["id"] not in [item["id"] for item in listed]


def test_an_expired_key_is_401_expired_key(client, owner):
    expires = future(hours=1)
    data = created_key(client, owner.headers, expires_at=iso(expires))

    with time_machine.travel(expires - timedelta(seconds=1), tick=False):
        assert whoami(client, data["key"]).status_code == 200
    with time_machine.travel(expires, tick=False):
        body = assert_error(whoami(client, data["key"]), 401, "expired_key")
    assert set(body) == {"error", "message", "request_id"}


def test_last_used_at_is_written_at_most_once_a_minute(client, owner):
    start = future(days=1)
    data = created_key(client, owner.headers)

    def last_used():
        return client.get(f"{KEYS}/{data['id']}", headers=owner.headers).json["data"]["last_used_at"]

    with time_machine.travel(start, tick=False) as traveller:
        assert last_used() is None
        assert whoami(client, data["key"]).status_code == 200
        assert last_used() == iso(start)

        traveller.shift(timedelta(seconds=59))
        assert whoami(client, data["key"]).status_code == 200
        assert last_used() == iso(start)

        traveller.shift(timedelta(seconds=2))
        assert whoami(client, data["key"]).status_code == 200
        assert last_used() == iso(start + timedelta(seconds=61))


# --- who sees which keys -------------------------------------------------------------------------------


def team(owner):
    """owner's workspace with an admin, two members and a viewer, each with a key homed there."""
    ws = owner.workspace_id
    factories.roomy(ws)
    return (
        factories.member(ws, "admin@example.com", "admin"),
        factories.member(ws, "alice@example.com", "member"),
        factories.member(ws, "bob@example.com", "member"),
        factories.member(ws, "viewer@example.com", "viewer"),
    )


def ids_of(response) -> set[str]:
    assert response.status_code == 200, response.json
    return {item["id"] for item in response.json["data"]}


def key_id_of(secret: str) -> str:
    return db.session.scalar(sa.text("SELECT id FROM api_keys WHERE prefix = :p"), {"p": secret[:12]})


def test_a_member_lists_only_their_own_keys(client, owner):
    admin, alice, bob, viewer = team(owner)
    extra = created_key(client, alice.headers)

    assert ids_of(client.get(KEYS, headers=alice.headers)) == {key_id_of(alice.key), extra["id"]}


def test_a_member_gets_404_for_another_members_key(client, owner):
    admin, alice, bob, viewer = team(owner)
    bobs = key_id_of(bob.key)

    assert_error(client.get(f"{KEYS}/{bobs}", headers=alice.headers), 404, "not_found")
    assert_error(client.delete(f"{KEYS}/{bobs}", headers=alice.headers), 404, "not_found")
    assert_error(client.post(f"{KEYS}/{bobs}/rotate", json={}, headers=alice.headers), 404, "not_found")
    assert whoami(client, bob.key).status_code == 200


def test_admins_and_owners_see_every_key_of_the_workspace(client, owner):
    admin, alice, bob, viewer = team(owner)
    everyone = {key_id_of(k) for k in (owner.key, admin.key, alice.key, bob.key, viewer.key)}

    assert ids_of(client.get(KEYS, headers=admin.headers)) == everyone
    assert ids_of(client.get(KEYS, headers=owner.headers)) == everyone
    assert client.get(f"{KEYS}/{key_id_of(alice.key)}", headers=admin.headers).status_code == 200


def test_an_admin_can_revoke_a_members_key(client, owner):
    admin, alice, bob, viewer = team(owner)
    assert client.delete(f"{KEYS}/{key_id_of(alice.key)}", headers=admin.headers).status_code == 204
    assert_error(whoami(client, alice.key), 401, "unauthorized")


def test_an_owner_can_revoke_an_admins_key(client, owner):
    admin, alice, bob, viewer = team(owner)
    assert client.delete(f"{KEYS}/{key_id_of(admin.key)}", headers=owner.headers).status_code == 204
    assert_error(whoami(client, admin.key), 401, "unauthorized")


def test_a_viewer_can_create_and_revoke_their_own_keys(client, owner):
    admin, alice, bob, viewer = team(owner)
    data = created_key(client, viewer.headers, scopes=["read"])
    assert whoami(client, data["key"]).status_code == 200

    assert client.delete(f"{KEYS}/{data['id']}", headers=viewer.headers).status_code == 204
    assert_error(whoami(client, data["key"]), 401, "unauthorized")


def test_keys_of_another_workspace_are_404(client, owner, other):
    theirs = key_id_of(other.key)

    assert_error(client.get(f"{KEYS}/{theirs}", headers=owner.headers), 404, "not_found")
    assert_error(client.delete(f"{KEYS}/{theirs}", headers=owner.headers), 404, "not_found")
    assert_error(client.post(f"{KEYS}/{theirs}/rotate", json={}, headers=owner.headers), 404, "not_found")
    assert key_id_of(other.key) not in ids_of(client.get(KEYS, headers=owner.headers))
    assert whoami(client, other.key).status_code == 200


def test_naming_another_workspace_in_the_header_is_404(client, owner, other):
    headers = {**owner.headers, "X-Workspace-ID": other.workspace_id}
    assert_error(client.get(KEYS, headers=headers), 404, "not_found")
    assert_error(client.get(f"{KEYS}/{key_id_of(other.key)}", headers=headers), 404, "not_found")


def test_the_same_users_keys_of_a_second_workspace_stay_in_that_workspace(client, owner):
    second = client.post("/api/v1/workspaces", json={"name": "Second"}, headers=owner.headers)
    assert second.status_code == 201
    in_second = {**owner.headers, "X-Workspace-ID": second.json["data"]["id"]}
    data = created_key(client, in_second)

    assert data["id"] not in ids_of(client.get(KEYS, headers=owner.headers))
    assert_error(client.get(f"{KEYS}/{data['id']}", headers=owner.headers), 404, "not_found")
    assert data["id"] in ids_of(client.get(KEYS, headers=in_second))
    assert ids_of(client.get(KEYS, headers=factories.bearer(data["key"]))) == {data["id"]}


def test_member_removal_revokes_their_keys_of_that_workspace_only(client, owner):
    admin, alice, bob, viewer = team(owner)
    extra = created_key(client, alice.headers)
    personal = factories.key(alice.user_id, alice.user.default_workspace_id, ["*"])

    response = client.delete(f"/api/v1/workspaces/{owner.workspace_id}/members/{alice.user_id}", headers=owner.headers)

    assert response.status_code == 204
    assert_error(whoami(client, alice.key), 401, "unauthorized")
    assert_error(whoami(client, extra["key"]), 401, "unauthorized")
    assert whoami(client, personal).status_code == 200
    assert whoami(client, bob.key).status_code == 200


def test_a_member_leaving_revokes_their_keys(client, owner):
    admin, alice, bob, viewer = team(owner)
    response = client.delete(f"/api/v1/workspaces/{owner.workspace_id}/members/{bob.user_id}", headers=bob.headers)
    assert response.status_code == 204
    assert_error(whoami(client, bob.key), 401, "unauthorized")


# --- the list ------------------------------------------------------------------------------------------


def named_keys(client, owner, *names) -> list[dict]:
    return [created_key(client, owner.headers, name=name) for name in names]


def test_list_is_a_page_with_meta_links_and_headers(client, owner):
    named_keys(client, owner, "k1", "k2", "k3")  # + the owner's own key: 4

    response = client.get(f"{KEYS}?per_page=3&page=2", headers=owner.headers)

    assert response.status_code == 200
    body = response.json
    assert len(body["data"]) == 1
    assert body["meta"] == {"current_page": 2, "from": 4, "last_page": 2, "per_page": 3, "to": 4, "total": 4}
    assert set(body["links"]) == {"first", "last", "prev", "next"}
    assert body["links"]["next"] is None
    assert "page=1" in body["links"]["prev"]
    assert response.headers["X-Total-Count"] == "4"
    assert 'rel="first"' in response.headers["Link"] and 'rel="prev"' in response.headers["Link"]


def test_list_sorts_by_name(client, owner):
    named_keys(client, owner, "b-key", "c-key", "a-key")
    names = [item["name"] for item in client.get(f"{KEYS}?sort=name&search=-key", headers=owner.headers).json["data"]]
    assert names == ["a-key", "b-key", "c-key"]
    names = [item["name"] for item in client.get(f"{KEYS}?sort=-name&search=-key", headers=owner.headers).json["data"]]
    assert names == ["c-key", "b-key", "a-key"]


def test_list_searches_name(client, owner):
    named_keys(client, owner, "Production", "Staging")
    response = client.get(f"{KEYS}?search=produc", headers=owner.headers)
    assert [item["name"] for item in response.json["data"]] == ["Production"]


def test_list_sort_on_an_unknown_field_is_400_invalid_sort(client, owner):
    assert_error(client.get(f"{KEYS}?sort=bogus", headers=owner.headers), 400, "invalid_sort")
    assert_error(client.get(f"{KEYS}?sort=key_hash", headers=owner.headers), 400, "invalid_sort")


def test_list_fields_returns_only_those_plus_id(client, owner):
    response = client.get(f"{KEYS}?fields=name,prefix", headers=owner.headers)
    assert response.status_code == 200
    assert all(set(item) == {"id", "name", "prefix"} for item in response.json["data"])
    response = client.get(f"{KEYS}?fields=id,name", headers=owner.headers)
    assert all(set(item) == {"id", "name"} for item in response.json["data"])


def test_list_include_user_embeds_the_owner_of_each_key(client, owner):
    plain = client.get(KEYS, headers=owner.headers).json["data"]
    assert all("user" not in item for item in plain)

    response = client.get(f"{KEYS}?include=user", headers=owner.headers)

    assert response.status_code == 200
    [item] = response.json["data"]
    assert item["user"]["id"] == owner.user_id
    assert item["user"]["email"] == "owner@example.com"
    assert "password_hash" not in item["user"]


def test_list_unknown_include_is_400_bad_request(client, owner):
    assert_error(client.get(f"{KEYS}?include=workspace", headers=owner.headers), 400, "bad_request")


def test_list_bad_page_is_400_bad_request(client, owner):
    assert_error(client.get(f"{KEYS}?page=0", headers=owner.headers), 400, "bad_request")
    assert_error(client.get(f"{KEYS}?per_page=abc", headers=owner.headers), 400, "bad_request")


def test_reading_keys_needs_the_api_keys_read_scope(client, owner):
    headers = limited_key(owner, ["workspaces:read"])
    body = assert_error(client.get(KEYS, headers=headers), 403, "access_denied")
    assert body["required_scope"] == "api-keys:read"


def test_revoking_needs_the_api_keys_delete_scope(client, owner):
    data = created_key(client, owner.headers)
    headers = limited_key(owner, ["api-keys:read", "api-keys:write"])
    body = assert_error(client.delete(f"{KEYS}/{data['id']}", headers=headers), 403, "access_denied")
    assert body["required_scope"] == "api-keys:delete"
    assert whoami(client, data["key"]).status_code == 200
