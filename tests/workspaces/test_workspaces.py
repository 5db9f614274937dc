"""Workspaces: list, create, get, update, delete (API.md §3, §4, §5, §9)."""

from __future__ import annotations

import pytest

from tests.assertions import ISO_Z, denied, error, without_request_id

from .. import factories

WORKSPACES = "/api/v1/workspaces"
WORKSPACE_FIELDS = {"id", "name", "slug", "tier", "settings", "created_at", "updated_at"}
PAGE_META = {"current_page", "from", "last_page", "per_page", "to", "total"}


def item(workspace_id: str) -> str:
    return f"{WORKSPACES}/{workspace_id}"


def create(client, headers, **payload):
    return client.post(WORKSPACES, json=payload, headers=headers)


def created(client, headers, **payload) -> dict:
    response = create(client, headers, **payload)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["data"]


def scoped(account, scopes: list[str]) -> dict:
    return factories.bearer(factories.key(account.user_id, account.workspace_id, scopes))


def events(client, headers, workspace_id: str, pattern: str = "workspace.*") -> list[dict]:
    response = client.get(
        "/api/v1/events", query_string={"type": pattern}, headers={**headers, "X-Workspace-ID": workspace_id}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]


@pytest.fixture
def billing_on(app, monkeypatch):
    """Billing configured: monkeypatch puts the old value back after the test."""
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_test_configured")


# --- list ------------------------------------------------------------------------------------


def test_list_shows_only_the_callers_workspaces(client, owner, other):
    created(client, other.headers, name="Stranger Things")
    response = client.get(WORKSPACES, headers=owner.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data", "meta", "links"}
    assert [w["id"] for w in body["data"]] == [owner.workspace_id]
    assert set(body["data"][0]) == WORKSPACE_FIELDS
    assert set(body["meta"]) == PAGE_META
    assert body["meta"]["total"] == 1
    assert response.headers["X-Total-Count"] == "1"


def test_list_includes_workspaces_the_caller_is_a_member_of(client, owner, other):
    member = factories.member(other.workspace_id, "member@example.com", "member")
    ids = {w["id"] for w in client.get(WORKSPACES, headers=member.headers).get_json()["data"]}
    assert ids == {other.workspace_id, member.user.default_workspace_id}


def test_list_pages(client, owner):
    for name in ("Bravo", "Charlie", "Delta"):
        created(client, owner.headers, name=name)
    response = client.get(WORKSPACES, query_string={"per_page": 3, "page": 2, "sort": "name"}, headers=owner.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [w["name"] for w in body["data"]] == ["owner's workspace"]
    assert body["meta"] == {"current_page": 2, "from": 4, "last_page": 2, "per_page": 3, "to": 4, "total": 4}
    assert body["links"]["next"] is None
    assert "page=1" in body["links"]["prev"]
    assert 'rel="prev"' in response.headers["Link"]


def test_list_sorts_by_name_both_ways(client, owner):
    for name in ("Bravo", "Alpha"):
        created(client, owner.headers, name=name)
    ascending = client.get(WORKSPACES, query_string={"sort": "name"}, headers=owner.headers).get_json()["data"]
    descending = client.get(WORKSPACES, query_string={"sort": "-name"}, headers=owner.headers).get_json()["data"]
    assert [w["name"] for w in ascending] == ["Alpha", "Bravo", "owner's workspace"]
    assert [w["name"] for w in descending] == ["owner's workspace", "Bravo", "Alpha"]


def test_list_search_matches_name_or_slug_of_own_workspaces_only(client, owner, other):
    created(client, owner.headers, name="Zebra Labs")
    created(client, other.headers, name="Zebra Other")
    data = client.get(WORKSPACES, query_string={"search": "zEbRa"}, headers=owner.headers).get_json()["data"]
    assert [w["name"] for w in data] == ["Zebra Labs"]
    data = client.get(WORKSPACES, query_string={"search": "zebra-labs"}, headers=owner.headers).get_json()["data"]
    assert [w["slug"] for w in data] == ["zebra-labs"]


def test_list_fields_selects_fields(client, owner):
    data = client.get(WORKSPACES, query_string={"fields": "name"}, headers=owner.headers).get_json()["data"]
    assert data == [{"id": owner.workspace_id, "name": "owner's workspace"}]


@pytest.mark.parametrize(
    ("query", "code"),
    [({"sort": "tier"}, "invalid_sort"), ({"per_page": 0}, "bad_request"), ({"page": "x"}, "bad_request")],
)
def test_list_bad_query_is_400(client, owner, query, code):
    error(client.get(WORKSPACES, query_string=query, headers=owner.headers), 400, code)


def test_list_needs_workspaces_read_scope(client, owner):
    denied(client.get(WORKSPACES, headers=scoped(owner, ["events:read"])), "workspaces:read")


def test_list_with_foreign_workspace_header_is_404(client, owner, other):
    headers = factories.bearer(owner.key, other.workspace_id)
    error(client.get(WORKSPACES, headers=headers), 404, "not_found")


def test_list_without_credentials_is_401(client):
    error(client.get(WORKSPACES), 401, "unauthorized")


# --- create ----------------------------------------------------------------------------------


def test_create_makes_the_caller_owner(client, owner):
    response = create(client, owner.headers, name="Acme Corporation", settings={"timezone": "Europe/London"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"message", "data"}
    data = body["data"]
    assert set(data) == WORKSPACE_FIELDS
    assert data["id"].startswith("ws_")
    assert data["name"] == "Acme Corporation"
    assert data["slug"] == "acme-corporation"
    assert data["tier"] == "free"
    assert data["settings"] == {"timezone": "Europe/London"}
    assert ISO_Z.match(data["created_at"]) and ISO_Z.match(data["updated_at"])
    me = client.get("/api/v1/auth/me", headers=owner.headers).get_json()["data"]
    assert {"id": data["id"], "slug": "acme-corporation", "name": "Acme Corporation", "role": "owner"} in me[
        "workspaces"
    ]
    members = client.get(f"{item(data['id'])}/members", headers=owner.headers).get_json()["data"]
    assert [(m["user_id"], m["role"]) for m in members] == [(owner.user_id, "owner")]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Corp!! 2026", "acme-corp-2026"),
        ("  --Hello__World--  ", "hello-world"),
        ("ÉCOLE Café", "cole-caf"),
        ("a" * 70, "a" * 63),
        ("x" * 62 + " yz", "x" * 62),
    ],
)
def test_slug_is_derived_from_the_name(client, owner, name, slug):
    assert created(client, owner.headers, name=name)["slug"] == slug


def test_derived_slug_is_made_unique_with_a_suffix(client, owner, other):
    assert created(client, owner.headers, name="Quokka Works")["slug"] == "quokka-works"
    assert created(client, other.headers, name="Quokka Works")["slug"] == "quokka-works-2"
    assert created(client, owner.headers, name="quokka   works")["slug"] == "quokka-works-3"


def test_suffixed_slug_of_a_long_name_stays_within_63_characters(client, owner):
    assert created(client, owner.headers, name="q" * 80)["slug"] == "q" * 63
    slug = created(client, owner.headers, name="q" * 80)["slug"]
    assert slug == "q" * 61 + "-2"


def test_explicit_slug_is_used(client, owner):
    assert created(client, owner.headers, name="Acme", slug="acme-hq")["slug"] == "acme-hq"


def test_explicit_taken_slug_is_409(client, owner, other):
    created(client, other.headers, name="Taken", slug="taken-slug")
    body = error(create(client, owner.headers, name="Mine", slug="taken-slug"), 409, "conflict")
    assert "slug" in body["errors"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Acme", "slug": "Bad Slug"}, "slug"),
        ({"name": "Acme", "slug": "trailing-"}, "slug"),
        ({"name": "Acme", "slug": "a" * 64}, "slug"),
        ({"name": "n" * 256}, "name"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({}, "name"),
        ({"name": "Acme", "tier": "platinum"}, "tier"),
        ({"name": "Acme", "settings": {"timezone": "Mars/Base"}}, "settings.timezone"),
        ({"name": "Acme", "settings": {"locale": "english"}}, "settings.locale"),
        ({"name": "Acme", "settings": {"theme": "dark"}}, "settings.theme"),
        ({"name": "Acme", "id": "ws_mine"}, "id"),
        ({"name": "Acme", "created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ],
)
def test_create_invalid_body_is_422(client, owner, payload, field):
    body = error(client.post(WORKSPACES, json=payload, headers=owner.headers), 422, "validation_failed")
    assert body["errors"][field]


def test_name_of_255_characters_is_accepted(client, owner):
    assert created(client, owner.headers, name="n" * 255)["name"] == "n" * 255


def test_valid_settings_are_accepted(client, owner):
    data = created(client, owner.headers, name="Acme", settings={"timezone": "America/Sao_Paulo", "locale": "en_GB"})
    assert data["settings"] == {"timezone": "America/Sao_Paulo", "locale": "en_GB"}


def test_owner_sets_tier_while_billing_is_not_configured(client, owner):
    assert created(client, owner.headers, name="Acme", tier="pro")["tier"] == "pro"


def test_tier_is_refused_when_billing_is_configured(client, owner, billing_on):
    denied(create(client, owner.headers, name="Acme", tier="pro"), "workspaces:write")
    # without a tier the workspace is made, on free
    assert created(client, owner.headers, name="Acme")["tier"] == "free"


def test_platform_admin_sets_tier_when_billing_is_configured(client, billing_on):
    admin = factories.account("root@example.com", admin=True)
    assert created(client, admin.headers, name="Acme", tier="enterprise")["tier"] == "enterprise"


def test_create_needs_workspaces_write_scope(client, owner):
    denied(create(client, scoped(owner, ["workspaces:read"]), name="Acme"), "workspaces:write")


def test_create_with_foreign_workspace_header_is_404(client, owner, other):
    headers = factories.bearer(owner.key, other.workspace_id)
    error(create(client, headers, name="Sneaky"), 404, "not_found")
    names = [w["name"] for w in client.get(WORKSPACES, headers=owner.headers).get_json()["data"]]
    assert names == ["owner's workspace"]


def test_per_page_above_100_is_clamped(client, owner):
    meta = client.get(WORKSPACES, query_string={"per_page": 1000}, headers=owner.headers).get_json()["meta"]
    assert meta["per_page"] == 100


def test_create_records_workspace_created_event(client, owner):
    data = created(client, owner.headers, name="Acme")
    [event] = events(client, owner.headers, data["id"])
    assert event["type"] == "workspace.created"
    assert event["id"].startswith("evt_")
    assert event["workspace_id"] == data["id"]
    assert event["data"]["id"] == data["id"] and event["data"]["slug"] == "acme"


# --- get -------------------------------------------------------------------------------------


def test_get_returns_the_workspace(client, owner):
    response = client.get(item(owner.workspace_id), headers=owner.headers)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert set(data) == WORKSPACE_FIELDS
    assert data == {
        **data,
        "id": owner.workspace_id,
        "name": "owner's workspace",
        "slug": "owner-s-workspace",
        "tier": "free",
    }


def test_get_other_workspace_is_404_exactly_like_a_missing_one(client, owner, other):
    foreign = error(client.get(item(other.workspace_id), headers=owner.headers), 404, "not_found")
    missing = error(client.get(item("ws_doesnotexist000000000000"), headers=owner.headers), 404, "not_found")
    assert without_request_id(foreign) == without_request_id(missing)


def test_viewer_can_get(client, owner):
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    assert client.get(item(owner.workspace_id), headers=viewer.headers).status_code == 200


def test_get_needs_workspaces_read_scope(client, owner):
    denied(client.get(item(owner.workspace_id), headers=scoped(owner, ["events:read"])), "workspaces:read")


def test_bare_read_scope_covers_get_but_not_patch(client, owner):
    headers = scoped(owner, ["read"])
    assert client.get(item(owner.workspace_id), headers=headers).status_code == 200
    denied(client.patch(item(owner.workspace_id), json={"name": "x"}, headers=headers), "workspaces:write")


def test_foreign_workspace_header_is_404(client, owner, other):
    headers = factories.bearer(owner.key, other.workspace_id)
    error(client.get("/api/v1/events", headers=headers), 404, "not_found")
    error(client.get(item(owner.workspace_id), headers=headers), 404, "not_found")


def test_workspace_header_selects_a_workspace_the_caller_belongs_to(client, owner, other):
    member = factories.member(other.workspace_id, "member@example.com", "member")
    own = member.user.default_workspace_id
    response = client.get("/api/v1/events", headers=factories.bearer(member.key, own))
    assert response.status_code == 200
    assert {e["workspace_id"] for e in response.get_json()["data"]} == {own}


# --- update ----------------------------------------------------------------------------------


def patch(client, workspace_id: str, headers: dict, **payload):
    return client.patch(item(workspace_id), json=payload, headers=headers)


def test_owner_updates_name_slug_and_settings(client, owner):
    response = patch(
        client,
        owner.workspace_id,
        owner.headers,
        name="Renamed",
        slug="renamed-hq",
        settings={"timezone": "Europe/London"},
    )
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert (data["name"], data["slug"], data["settings"]) == ("Renamed", "renamed-hq", {"timezone": "Europe/London"})
    assert client.get(item(owner.workspace_id), headers=owner.headers).get_json()["data"] == data


def test_settings_are_merged(client, owner):
    patch(client, owner.workspace_id, owner.headers, settings={"timezone": "Europe/London"})
    data = patch(client, owner.workspace_id, owner.headers, settings={"locale": "pt_BR"}).get_json()["data"]
    assert data["settings"] == {"timezone": "Europe/London", "locale": "pt_BR"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "n" * 256}, "name"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"settings": {"timezone": "Mars/Base"}}, "settings.timezone"),
        ({"settings": {"locale": "english"}}, "settings.locale"),
        ({"id": "ws_other"}, "id"),
    ],
)
def test_update_invalid_body_is_422(client, owner, payload, field):
    body = error(client.patch(item(owner.workspace_id), json=payload, headers=owner.headers), 422, "validation_failed")
    assert body["errors"][field]


def test_update_to_taken_slug_is_409(client, owner, other):
    taken = client.get(item(other.workspace_id), headers=other.headers).get_json()["data"]["slug"]
    body = error(patch(client, owner.workspace_id, owner.headers, slug=taken), 409, "conflict")
    assert "slug" in body["errors"]
    assert client.get(item(owner.workspace_id), headers=owner.headers).get_json()["data"]["slug"] == "owner-s-workspace"


def test_update_to_its_own_slug_is_fine(client, owner):
    assert patch(client, owner.workspace_id, owner.headers, slug="owner-s-workspace").status_code == 200


def test_update_records_workspace_updated_event(client, owner):
    patch(client, owner.workspace_id, owner.headers, name="Renamed")
    types = [e["type"] for e in events(client, owner.headers, owner.workspace_id)]
    assert sorted(types) == ["workspace.created", "workspace.updated"]
    [updated] = events(client, owner.headers, owner.workspace_id, "workspace.updated")
    assert updated["data"]["name"] == "Renamed"


def test_admin_can_update(client, owner):
    admin = factories.member(owner.workspace_id, "admin@example.com", "admin")
    assert patch(client, owner.workspace_id, admin.headers, name="By Admin").status_code == 200


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewer_and_member_cannot_update(client, owner, role):
    account = factories.member(owner.workspace_id, f"{role}@example.com", role)
    body = denied(patch(client, owner.workspace_id, account.headers, name="Nope"), "workspaces:write")
    assert body["required_role"] == "admin"
    assert client.get(item(owner.workspace_id), headers=owner.headers).get_json()["data"]["name"] == "owner's workspace"


def test_update_needs_workspaces_write_scope(client, owner):
    denied(patch(client, owner.workspace_id, scoped(owner, ["workspaces:read"]), name="Nope"), "workspaces:write")


def test_update_other_workspace_is_404(client, owner, other):
    error(patch(client, other.workspace_id, owner.headers, name="Hijacked"), 404, "not_found")
    assert client.get(item(other.workspace_id), headers=other.headers).get_json()["data"]["name"] != "Hijacked"


def test_owner_sets_tier_on_update_while_billing_is_off(client, owner):
    assert patch(client, owner.workspace_id, owner.headers, tier="starter").get_json()["data"]["tier"] == "starter"


def test_admin_cannot_set_tier(client, owner):
    admin = factories.member(owner.workspace_id, "admin@example.com", "admin")
    denied(patch(client, owner.workspace_id, admin.headers, tier="pro"), "workspaces:write")
    assert client.get(item(owner.workspace_id), headers=owner.headers).get_json()["data"]["tier"] == "free"


def test_owner_cannot_set_tier_when_billing_is_configured(client, owner, billing_on):
    denied(patch(client, owner.workspace_id, owner.headers, tier="pro"), "workspaces:write")
    assert client.get(item(owner.workspace_id), headers=owner.headers).get_json()["data"]["tier"] == "free"


def test_platform_admin_sets_tier_on_update_when_billing_is_configured(client, billing_on):
    admin = factories.account("root@example.com", admin=True)
    assert patch(client, admin.workspace_id, admin.headers, tier="agency").get_json()["data"]["tier"] == "agency"


# --- delete ----------------------------------------------------------------------------------


def test_owner_deletes_workspace(client, owner):
    workspace = created(client, owner.headers, name="Doomed")
    response = client.delete(item(workspace["id"]), headers=owner.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    error(client.get(item(workspace["id"]), headers=owner.headers), 404, "not_found")
    ids = [w["id"] for w in client.get(WORKSPACES, headers=owner.headers).get_json()["data"]]
    assert ids == [owner.workspace_id]


def test_deleted_workspaces_keys_stop_working(client, owner):
    workspace = created(client, owner.headers, name="Doomed")
    secret = factories.key(owner.user_id, workspace["id"])
    assert client.get("/api/v1/auth/me", headers=factories.bearer(secret)).status_code == 200
    assert client.delete(item(workspace["id"]), headers=owner.headers).status_code == 204
    error(client.get("/api/v1/auth/me", headers=factories.bearer(secret)), 401, "unauthorized")
    # keys of the owner's other workspaces are untouched
    assert client.get("/api/v1/auth/me", headers=owner.headers).status_code == 200


def test_admin_cannot_delete(client, owner):
    admin = factories.member(owner.workspace_id, "admin@example.com", "admin")
    body = denied(client.delete(item(owner.workspace_id), headers=admin.headers), "workspaces:delete")
    assert body["required_role"] == "owner"
    assert client.get(item(owner.workspace_id), headers=owner.headers).status_code == 200


def test_delete_needs_workspaces_delete_scope(client, owner):
    denied(client.delete(item(owner.workspace_id), headers=scoped(owner, ["workspaces:write"])), "workspaces:delete")


def test_delete_other_workspace_is_404(client, owner, other):
    error(client.delete(item(other.workspace_id), headers=owner.headers), 404, "not_found")
    assert client.get(item(other.workspace_id), headers=other.headers).status_code == 200
