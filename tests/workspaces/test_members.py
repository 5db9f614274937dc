"""Workspace members: list, add, get, change role, remove or leave (API.md §3, §4)."""

from __future__ import annotations

import pytest

from tests.assertions import ISO_Z, denied, error

from .. import factories

ME = "/api/v1/auth/me"
MEMBER_FIELDS = {"user_id", "workspace_id", "role", "user", "created_at", "updated_at"}


def members(workspace_id: str) -> str:
    return f"/api/v1/workspaces/{workspace_id}/members"


def member(workspace_id: str, user_id: str) -> str:
    return f"{members(workspace_id)}/{user_id}"


def roles(client, workspace_id: str, headers: dict) -> dict[str, str]:
    response = client.get(members(workspace_id), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {m["user_id"]: m["role"] for m in response.get_json()["data"]}


def add(client, workspace_id: str, headers: dict, email: str, role: str = "member"):
    return client.post(members(workspace_id), json={"email": email, "role": role}, headers=headers)


def set_role(client, workspace_id: str, user_id: str, headers: dict, role: str):
    return client.patch(member(workspace_id, user_id), json={"role": role}, headers=headers)


def scoped(account, scopes: list[str]) -> dict:
    return factories.bearer(factories.key(account.user_id, account.workspace_id, scopes))


def events(client, headers: dict, pattern: str) -> list[dict]:
    response = client.get("/api/v1/events", query_string={"type": pattern}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]


@pytest.fixture
def team(owner):
    """owner's workspace with an admin, a member and a viewer (each with a key homed there)."""
    factories.roomy(owner.workspace_id)
    return {
        role: factories.member(owner.workspace_id, f"{role}@example.com", role)
        for role in ("admin", "member", "viewer")
    }


# --- list ------------------------------------------------------------------------------------


def test_list_is_a_page_of_members(client, owner, team):
    response = client.get(members(owner.workspace_id), query_string={"sort": "role"}, headers=owner.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data", "meta", "links"}
    assert body["meta"] == {"current_page": 1, "from": 1, "last_page": 1, "per_page": 25, "to": 4, "total": 4}
    assert response.headers["X-Total-Count"] == "4"
    first = body["data"][0]
    assert set(first) == MEMBER_FIELDS
    assert first["workspace_id"] == owner.workspace_id
    assert first["user"] == {"id": first["user_id"], "email": f"{first['role']}@example.com", "name": None}
    assert ISO_Z.match(first["created_at"])
    assert roles(client, owner.workspace_id, owner.headers) == {
        owner.user_id: "owner",
        **{a.user_id: role for role, a in team.items()},
    }


def test_list_pages(client, owner, team):
    response = client.get(members(owner.workspace_id), query_string={"per_page": 3, "page": 2}, headers=owner.headers)
    body = response.get_json()
    assert len(body["data"]) == 1
    assert body["meta"]["last_page"] == 2 and body["meta"]["from"] == 4


def test_list_bad_sort_is_400(client, owner):
    error(
        client.get(members(owner.workspace_id), query_string={"sort": "email"}, headers=owner.headers),
        400,
        "invalid_sort",
    )


def test_viewer_can_list_members(client, owner, team):
    assert len(roles(client, owner.workspace_id, team["viewer"].headers)) == 4


def test_list_never_shows_other_workspaces_members(client, owner, other):
    assert roles(client, owner.workspace_id, owner.headers) == {owner.user_id: "owner"}


def test_list_of_other_workspace_is_404(client, owner, other):
    error(client.get(members(other.workspace_id), headers=owner.headers), 404, "not_found")


def test_list_needs_members_read_scope(client, owner):
    denied(client.get(members(owner.workspace_id), headers=scoped(owner, ["workspaces:read"])), "members:read")


# --- add -------------------------------------------------------------------------------------


def test_owner_adds_member_by_email(client, owner):
    newcomer = factories.user("newcomer@example.com", name="New Comer")
    response = add(client, owner.workspace_id, owner.headers, "NewComer@Example.com", "member")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"message", "data"}
    assert body["message"]
    data = body["data"]
    assert set(data) == MEMBER_FIELDS
    assert (data["user_id"], data["workspace_id"], data["role"]) == (newcomer.id, owner.workspace_id, "member")
    assert data["user"] == {"id": newcomer.id, "email": "newcomer@example.com", "name": "New Comer"}
    assert roles(client, owner.workspace_id, owner.headers)[newcomer.id] == "member"


def test_added_member_sees_the_workspace(client, owner):
    newcomer = factories.account("newcomer@example.com")
    add(client, owner.workspace_id, owner.headers, "newcomer@example.com", "viewer")
    workspaces = client.get(ME, headers=newcomer.headers).get_json()["data"]["workspaces"]
    assert {
        "id": owner.workspace_id,
        "slug": "owner-s-workspace",
        "name": "owner's workspace",
        "role": "viewer",
    } in workspaces
    headers = factories.bearer(newcomer.key, owner.workspace_id)
    assert client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=headers).status_code == 200


def test_add_records_member_added_event(client, owner):
    newcomer = factories.user("newcomer@example.com")
    add(client, owner.workspace_id, owner.headers, "newcomer@example.com", "admin")
    [event] = events(client, owner.headers, "member.added")
    assert event["workspace_id"] == owner.workspace_id
    assert event["data"]["user_id"] == newcomer.id and event["data"]["role"] == "admin"


def test_add_unknown_email_is_422(client, owner):
    body = error(add(client, owner.workspace_id, owner.headers, "nobody@example.com"), 422, "validation_failed")
    assert body["errors"]["email"]


def test_add_existing_member_is_409(client, owner, team):
    body = error(add(client, owner.workspace_id, owner.headers, "MEMBER@example.com", "admin"), 409, "conflict")
    assert "email" in body["errors"]
    assert roles(client, owner.workspace_id, owner.headers)[team["member"].user_id] == "member"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "newcomer@example.com", "role": "superuser"}, "role"),
        ({"email": "newcomer@example.com"}, "role"),
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"email": "newcomer@example.com", "role": "member", "workspace_id": "ws_x"}, "workspace_id"),
    ],
)
def test_add_invalid_body_is_422(client, owner, payload, field):
    factories.user("newcomer@example.com")
    body = error(
        client.post(members(owner.workspace_id), json=payload, headers=owner.headers), 422, "validation_failed"
    )
    assert body["errors"][field]


def test_admin_adds_member_but_not_owner(client, owner, team):
    factories.user("first@example.com")
    factories.user("second@example.com")
    assert add(client, owner.workspace_id, team["admin"].headers, "first@example.com", "admin").status_code == 201
    denied(add(client, owner.workspace_id, team["admin"].headers, "second@example.com", "owner"), "members:write")


def test_owner_adds_another_owner(client, owner):
    newcomer = factories.user("newcomer@example.com")
    assert add(client, owner.workspace_id, owner.headers, "newcomer@example.com", "owner").status_code == 201
    assert roles(client, owner.workspace_id, owner.headers)[newcomer.id] == "owner"


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewer_and_member_cannot_add(client, owner, team, role):
    factories.user("newcomer@example.com")
    body = denied(add(client, owner.workspace_id, team[role].headers, "newcomer@example.com"), "members:write")
    assert body["required_role"] == "admin"


def test_add_needs_members_write_scope(client, owner):
    factories.user("newcomer@example.com")
    denied(add(client, owner.workspace_id, scoped(owner, ["members:read"]), "newcomer@example.com"), "members:write")


def test_add_to_other_workspace_is_404(client, owner, other):
    factories.user("newcomer@example.com")
    error(add(client, other.workspace_id, owner.headers, "newcomer@example.com"), 404, "not_found")
    assert len(roles(client, other.workspace_id, other.headers)) == 1


# --- get one ---------------------------------------------------------------------------------


def test_get_one_member(client, owner, team):
    response = client.get(member(owner.workspace_id, team["admin"].user_id), headers=team["viewer"].headers)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert (data["user_id"], data["role"]) == (team["admin"].user_id, "admin")


def test_get_member_of_other_workspace_is_404(client, owner, other):
    error(client.get(member(owner.workspace_id, other.user_id), headers=owner.headers), 404, "not_found")
    error(client.get(member(other.workspace_id, other.user_id), headers=owner.headers), 404, "not_found")


def test_get_member_needs_members_read_scope(client, owner):
    headers = scoped(owner, ["workspaces:read"])
    denied(client.get(member(owner.workspace_id, owner.user_id), headers=headers), "members:read")


# --- change role -----------------------------------------------------------------------------


def test_owner_changes_a_role(client, owner, team):
    response = set_role(client, owner.workspace_id, team["member"].user_id, owner.headers, "admin")
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert (data["user_id"], data["role"]) == (team["member"].user_id, "admin")
    assert roles(client, owner.workspace_id, owner.headers)[team["member"].user_id] == "admin"
    [event] = events(client, owner.headers, "member.updated")
    assert event["data"]["role"] == "admin"


def test_admin_changes_a_member_role_up_to_admin(client, owner, team):
    assert (
        set_role(client, owner.workspace_id, team["viewer"].user_id, team["admin"].headers, "admin").status_code == 200
    )


def test_admin_cannot_make_an_owner_or_touch_one(client, owner, team):
    denied(
        set_role(client, owner.workspace_id, team["member"].user_id, team["admin"].headers, "owner"), "members:write"
    )
    denied(set_role(client, owner.workspace_id, owner.user_id, team["admin"].headers, "member"), "members:write")
    assert roles(client, owner.workspace_id, owner.headers)[owner.user_id] == "owner"


def test_member_cannot_raise_own_role(client, owner, team):
    account = team["member"]
    denied(set_role(client, owner.workspace_id, account.user_id, account.headers, "admin"), "members:write")
    assert roles(client, owner.workspace_id, owner.headers)[account.user_id] == "member"


def test_admin_cannot_raise_own_role_to_owner(client, owner, team):
    account = team["admin"]
    denied(set_role(client, owner.workspace_id, account.user_id, account.headers, "owner"), "members:write")
    assert roles(client, owner.workspace_id, owner.headers)[account.user_id] == "admin"


def test_admin_may_lower_own_role(client, owner, team):
    account = team["admin"]
    assert set_role(client, owner.workspace_id, account.user_id, account.headers, "member").status_code == 200


def test_last_owner_cannot_be_demoted(client, owner, team):
    body = error(set_role(client, owner.workspace_id, owner.user_id, owner.headers, "admin"), 422, "validation_failed")
    assert body["errors"]["role"]
    assert roles(client, owner.workspace_id, owner.headers)[owner.user_id] == "owner"


def test_one_of_two_owners_can_be_demoted(client, owner, team):
    assert set_role(client, owner.workspace_id, team["admin"].user_id, owner.headers, "owner").status_code == 200
    assert set_role(client, owner.workspace_id, owner.user_id, owner.headers, "admin").status_code == 200
    assert roles(client, owner.workspace_id, team["admin"].headers)[owner.user_id] == "admin"


def test_change_role_invalid_body_is_422(client, owner, team):
    url = member(owner.workspace_id, team["member"].user_id)
    error(client.patch(url, json={"role": "god"}, headers=owner.headers), 422, "validation_failed")
    error(
        client.patch(url, json={"role": "admin", "user_id": "usr_x"}, headers=owner.headers), 422, "validation_failed"
    )


def test_change_role_needs_members_write_scope(client, owner, team):
    headers = scoped(owner, ["members:read"])
    denied(set_role(client, owner.workspace_id, team["member"].user_id, headers, "viewer"), "members:write")


def test_change_role_in_other_workspace_is_404(client, owner, other):
    error(set_role(client, other.workspace_id, other.user_id, owner.headers, "viewer"), 404, "not_found")
    error(set_role(client, owner.workspace_id, other.user_id, owner.headers, "viewer"), 404, "not_found")
    assert roles(client, other.workspace_id, other.headers) == {other.user_id: "owner"}


# --- remove and leave ------------------------------------------------------------------------


def test_member_can_leave(client, owner, team):
    account = team["member"]
    response = client.delete(member(owner.workspace_id, account.user_id), headers=account.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert account.user_id not in roles(client, owner.workspace_id, owner.headers)
    error(client.get(ME, headers=account.headers), 401, "unauthorized")  # the key homed here is revoked
    [event] = events(client, owner.headers, "member.removed")
    assert event["data"]["user_id"] == account.user_id


def test_viewer_can_leave(client, owner, team):
    account = team["viewer"]
    assert client.delete(member(owner.workspace_id, account.user_id), headers=account.headers).status_code == 204


def test_member_cannot_remove_someone_else(client, owner, team):
    body = denied(
        client.delete(member(owner.workspace_id, team["viewer"].user_id), headers=team["member"].headers),
        "members:delete",
    )
    assert body["required_role"] == "admin"
    assert team["viewer"].user_id in roles(client, owner.workspace_id, owner.headers)


def test_admin_removes_a_member_whose_keys_stop_working(client, owner, team):
    removed = team["member"]
    assert client.get(ME, headers=removed.headers).status_code == 200
    assert client.delete(member(owner.workspace_id, removed.user_id), headers=team["admin"].headers).status_code == 204
    error(client.get(ME, headers=removed.headers), 401, "unauthorized")
    revoked = [e["data"]["id"] for e in events(client, owner.headers, "api_key.revoked")]
    assert len(revoked) == 1


def test_removed_members_keys_of_other_workspaces_keep_working(client, owner, team):
    removed = team["member"]
    own_key = factories.key(removed.user_id, removed.user.default_workspace_id)
    client.delete(member(owner.workspace_id, removed.user_id), headers=owner.headers)
    assert client.get(ME, headers=factories.bearer(own_key)).status_code == 200
    # and from there the old workspace is simply not theirs any more
    headers = factories.bearer(own_key, owner.workspace_id)
    error(client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=headers), 404, "not_found")


def test_admin_cannot_remove_an_owner(client, owner, team):
    response = client.delete(member(owner.workspace_id, owner.user_id), headers=team["admin"].headers)
    body = error(response, 403, "access_denied")
    assert body["required_scope"] == "members:delete"
    assert body["required_role"] == "owner"
    assert owner.user_id in roles(client, owner.workspace_id, owner.headers)


def test_last_owner_cannot_leave(client, owner, team):
    body = error(
        client.delete(member(owner.workspace_id, owner.user_id), headers=owner.headers), 422, "validation_failed"
    )
    assert body["errors"]
    assert client.get(ME, headers=owner.headers).status_code == 200


def test_owner_can_leave_when_another_owner_remains(client, owner, team):
    assert set_role(client, owner.workspace_id, team["admin"].user_id, owner.headers, "owner").status_code == 200
    assert client.delete(member(owner.workspace_id, owner.user_id), headers=owner.headers).status_code == 204
    assert roles(client, owner.workspace_id, team["admin"].headers) == {
        team["admin"].user_id: "owner",
        team["member"].user_id: "member",
        team["viewer"].user_id: "viewer",
    }


def test_remove_needs_members_delete_scope(client, owner, team):
    headers = scoped(owner, ["members:write"])
    denied(client.delete(member(owner.workspace_id, team["member"].user_id), headers=headers), "members:delete")


def test_remove_in_other_workspace_is_404(client, owner, other):
    error(client.delete(member(other.workspace_id, other.user_id), headers=owner.headers), 404, "not_found")
    error(client.delete(member(owner.workspace_id, other.user_id), headers=owner.headers), 404, "not_found")
    assert roles(client, other.workspace_id, other.headers) == {other.user_id: "owner"}
