"""The event store and GET /api/v1/events (API.md §8, §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
import time_machine

from app.core.events import record_event
from app.extensions import db
from tests import factories
from tests.assertions import ISO_Z
from tests.assertions import error as assert_error

EVENTS = "/api/v1/events"
KEYS = "/api/v1/api-keys"


def listed(client, headers, query: str = "") -> list[dict]:
    response = client.get(f"{EVENTS}?per_page=100{query}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def types_of(events) -> list[str]:
    return [event["type"] for event in events]


def make_key(client, headers, name="k") -> dict:
    response = client.post(KEYS, json={"name": name}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["data"]


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def base() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)


def events_in_db(workspace_id: str, type_: str) -> int:
    return db.session.scalar(
        sa.text("SELECT count(*) FROM events WHERE workspace_id = :ws AND type = :t"), {"ws": workspace_id, "t": type_}
    )


# --- the list ------------------------------------------------------------------------------------------


def test_events_list_is_a_page_with_meta_links_and_headers(client, owner):
    for name in ("a", "b", "c"):
        make_key(client, owner.headers, name)
    total = len(listed(client, owner.headers))

    response = client.get(f"{EVENTS}?per_page=2&page=2", headers=owner.headers)

    assert response.status_code == 200
    body = response.json
    assert set(body) == {"data", "meta", "links"}
    assert body["meta"]["total"] == total and total >= 4
    assert body["meta"]["current_page"] == 2 and body["meta"]["per_page"] == 2
    assert body["meta"]["from"] == 3 and body["meta"]["to"] == 4
    assert body["meta"]["last_page"] == -(-total // 2)
    assert len(body["data"]) == 2
    assert set(body["links"]) == {"first", "last", "prev", "next"}
    assert response.headers["X-Total-Count"] == str(total)
    for rel in ("first", "prev", "next", "last"):
        assert f'rel="{rel}"' in response.headers["Link"]


def test_events_are_newest_first(client, owner):
    t0 = base()
    with time_machine.travel(t0, tick=False) as traveller:
        first = make_key(client, owner.headers, "first")
        traveller.shift(timedelta(minutes=1))
        second = make_key(client, owner.headers, "second")

    events = listed(client, owner.headers, "&type=api_key.created")
    ids = [event["data"]["id"] for event in events]
    assert ids.index(second["id"]) < ids.index(first["id"])
    assert listed(client, owner.headers, "&type=api_key.created&sort=created_at")[-1]["data"]["id"] == second["id"]


def test_type_pattern_filters_by_prefix(client, owner):
    key = make_key(client, owner.headers)
    assert client.delete(f"{KEYS}/{key['id']}", headers=owner.headers).status_code == 204

    types = types_of(listed(client, owner.headers, "&type=api_key.*"))

    assert set(types) == {"api_key.created", "api_key.revoked"}
    assert "workspace.created" in types_of(listed(client, owner.headers))


def test_exact_type_filter(client, owner):
    key = make_key(client, owner.headers)
    assert client.delete(f"{KEYS}/{key['id']}", headers=owner.headers).status_code == 204

    [revoked] = listed(client, owner.headers, "&type=api_key.revoked")

    assert revoked["data"]["id"] == key["id"]
    assert listed(client, owner.headers, "&type=api_key") == []
    assert listed(client, owner.headers, "&type=api_key.revoke") == []


def test_type_pattern_treats_sql_wildcards_literally(client, owner):
    make_key(client, owner.headers)
    assert listed(client, owner.headers, "&type=api%25key.created") == []
    assert listed(client, owner.headers, "&type=api_key_created") == []
    assert listed(client, owner.headers, "&type=api_key._reated") == []


def test_created_after_and_before_bound_the_list(client, owner):
    t0 = base()
    with time_machine.travel(t0, tick=False) as traveller:
        early = make_key(client, owner.headers, "early")
        traveller.shift(timedelta(hours=1))
        middle = make_key(client, owner.headers, "middle")
        traveller.shift(timedelta(hours=1))
        late = make_key(client, owner.headers, "late")

    def names(query):
        return [
            e["data"]["name"] for e in listed(client, owner.headers, "&type=api_key.created&sort=created_at" + query)
        ]

    after = quote(iso(t0 + timedelta(minutes=30)))
    before = quote(iso(t0 + timedelta(minutes=90)))
    assert names(f"&created_after={after}") == ["middle", "late"]
    assert names(f"&created_before={before}") == ["test key", "early", "middle"]
    assert names(f"&created_after={after}&created_before={before}") == ["middle"]
    assert names(f"&created_after={quote(iso(t0 + timedelta(hours=1)))}") == ["middle", "late"]  # inclusive
    assert {early["id"], middle["id"], late["id"]}


def test_created_after_accepts_an_offset(client, owner):
    t0 = base()
    with time_machine.travel(t0, tick=False):
        make_key(client, owner.headers, "then")
    # the same instant written in +02:00
    local = (t0 + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"
    events = listed(client, owner.headers, f"&type=api_key.created&created_after={quote(local)}")
    assert [e["data"]["name"] for e in events] == ["then"]


def test_malformed_dates_are_400_bad_request(client, owner):
    for query in ("created_after=yesterday", "created_before=2026-13-45", "created_after=1700000000x"):
        body = assert_error(client.get(f"{EVENTS}?{query}", headers=owner.headers), 400, "bad_request")
        assert body["errors"]


def test_unknown_sort_is_400_invalid_sort(client, owner):
    assert_error(client.get(f"{EVENTS}?sort=data", headers=owner.headers), 400, "invalid_sort")


def test_fields_selects_event_fields(client, owner):
    response = client.get(f"{EVENTS}?fields=type", headers=owner.headers)
    assert response.status_code == 200
    assert all(set(event) == {"id", "type"} for event in response.json["data"])


# --- one event ------------------------------------------------------------------------------------------


def test_get_one_event_in_the_contract_shape(client, owner):
    key = make_key(client, owner.headers, "shape")
    [summary] = [e for e in listed(client, owner.headers, "&type=api_key.created") if e["data"]["id"] == key["id"]]

    response = client.get(f"{EVENTS}/{summary['id']}", headers=owner.headers)

    assert response.status_code == 200
    assert set(response.json) == {"data"}
    event = response.json["data"]
    assert event["id"].startswith("evt_")
    assert event["type"] == "api_key.created"
    assert ISO_Z.match(event["timestamp"])
    assert event["workspace_id"] == owner.workspace_id
    assert event["data"]["id"] == key["id"] and event["data"]["name"] == "shape"
    assert "key" not in event["data"]


def test_an_unknown_event_is_404(client, owner):
    assert_error(client.get(f"{EVENTS}/evt_doesnotexist", headers=owner.headers), 404, "not_found")


def test_another_workspaces_event_is_404_and_never_listed(client, owner, other):
    theirs = listed(client, other.headers)
    assert theirs

    for event in theirs:
        assert_error(client.get(f"{EVENTS}/{event['id']}", headers=owner.headers), 404, "not_found")
    mine = listed(client, owner.headers)
    assert {e["id"] for e in mine}.isdisjoint({e["id"] for e in theirs})
    assert {e["workspace_id"] for e in mine} == {owner.workspace_id}


def test_another_workspace_named_in_the_header_is_404(client, owner, other):
    headers = {**owner.headers, "X-Workspace-ID": other.workspace_id}
    assert_error(client.get(EVENTS, headers=headers), 404, "not_found")


def test_a_second_workspace_of_the_same_user_has_its_own_events(client, owner):
    second = client.post("/api/v1/workspaces", json={"name": "Second"}, headers=owner.headers).json["data"]
    in_second = {**owner.headers, "X-Workspace-ID": second["id"]}

    assert types_of(listed(client, in_second)) == ["workspace.created"]
    assert "workspace.created" in types_of(listed(client, owner.headers))
    assert {e["workspace_id"] for e in listed(client, owner.headers)} == {owner.workspace_id}


# --- scopes and roles ---------------------------------------------------------------------------------


def test_a_key_without_events_read_is_403(client, owner):
    headers = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["api-keys:read", "webhooks:read"]))
    for path in (EVENTS, f"{EVENTS}/evt_whatever"):
        body = assert_error(client.get(path, headers=headers), 403, "access_denied")
        assert body["required_scope"] == "events:read"
        assert body["message"] == "Insufficient permissions. Required scope: events:read"


def test_events_read_or_bare_read_is_enough(client, owner):
    for scopes in (["events:read"], ["read"]):
        headers = factories.bearer(factories.key(owner.user_id, owner.workspace_id, scopes))
        assert client.get(EVENTS, headers=headers).status_code == 200


def test_a_viewer_reads_events(client, owner):
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer", ["events:read"])
    assert "member.added" in types_of(listed(client, viewer.headers))


def test_events_need_credentials(client):
    assert_error(client.get(EVENTS), 401, "unauthorized")


# --- same transaction as the change ---------------------------------------------------------------------


def test_a_change_records_its_event(client, owner):
    response = client.patch(f"/api/v1/workspaces/{owner.workspace_id}", json={"name": "Renamed"}, headers=owner.headers)
    assert response.status_code == 200

    [updated] = listed(client, owner.headers, "&type=workspace.updated")
    assert updated["data"]["name"] == "Renamed"
    assert updated["data"]["id"] == owner.workspace_id


def test_a_change_refused_by_validation_records_no_event(client, owner):
    path = f"/api/v1/workspaces/{owner.workspace_id}"
    response = client.patch(
        path, json={"name": "Renamed", "settings": {"timezone": "Mars/Olympus"}}, headers=owner.headers
    )

    assert response.status_code == 422
    assert listed(client, owner.headers, "&type=workspace.updated") == []
    assert client.get(path, headers=owner.headers).json["data"]["name"] != "Renamed"


def test_a_change_refused_midway_records_no_event_and_changes_nothing(app, client, owner, other):
    taken = client.get(f"/api/v1/workspaces/{other.workspace_id}", headers=other.headers).json["data"]["slug"]
    path = f"/api/v1/workspaces/{owner.workspace_id}"

    # the tier is set before the slug is found taken; its own app context ends the request's
    # session as in production (the test's requests otherwise share the test's context and session)
    with app.app_context():
        response = client.patch(path, json={"name": "Renamed", "tier": "pro", "slug": taken}, headers=owner.headers)

    assert_error(response, 409, "conflict")
    assert listed(client, owner.headers, "&type=workspace.updated") == []
    assert events_in_db(owner.workspace_id, "workspace.updated") == 0
    workspace = client.get(path, headers=owner.headers).json["data"]
    assert workspace["name"] != "Renamed" and workspace["tier"] == "free"


def test_removing_the_last_owner_is_refused_without_an_event(client, owner):
    response = client.delete(f"/api/v1/workspaces/{owner.workspace_id}/members/{owner.user_id}", headers=owner.headers)
    assert response.status_code == 422
    assert events_in_db(owner.workspace_id, "member.removed") == 0


def test_record_event_commits_and_rolls_back_with_the_transaction(app, owner):
    kept = record_event(owner.workspace_id, "test.kept", {"n": 1})
    db.session.commit()
    dropped = record_event(owner.workspace_id, "test.dropped", {"n": 2})
    db.session.rollback()

    assert kept.id.startswith("evt_") and dropped.id.startswith("evt_")
    assert events_in_db(owner.workspace_id, "test.kept") == 1
    assert events_in_db(owner.workspace_id, "test.dropped") == 0
