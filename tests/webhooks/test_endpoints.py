"""Webhook endpoints: CRUD, validation, roles and tenants, secret rotation, the test send."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.webhooks.models import WebhookEndpoint
from tests import factories
from tests.assertions import ISO_Z, denied
from tests.assertions import error as assert_error

from . import HOOKS

FIELDS = {
    "id",
    "url",
    "description",
    "events",
    "is_active",
    "success_count",
    "failure_count",
    "consecutive_failures",
    "last_delivery_at",
    "disabled_reason",
    "created_at",
    "updated_at",
}


def create(client, headers, **body):
    body.setdefault("url", "https://hooks.example.com/in")
    body.setdefault("events", ["api_key.*"])
    return client.post(HOOKS, json=body, headers=headers)


def created(client, headers, **body) -> dict:
    response = create(client, headers, **body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["data"]


def test_create_answers_the_secret_once_and_stores_it_encrypted(client, owner):
    response = create(client, owner.headers, description="CRM sync")
    assert response.status_code == 201
    assert response.json["message"] == "Webhook endpoint created successfully."
    data = response.json["data"]
    assert set(data) == FIELDS | {"secret"}
    assert data["id"].startswith("whe_")
    assert data["secret"].startswith("whsec_") and len(base64.b64decode(data["secret"][6:])) == 32
    assert data["events"] == ["api_key.*"] and data["is_active"] is True
    assert data["success_count"] == data["failure_count"] == data["consecutive_failures"] == 0
    assert ISO_Z.match(data["created_at"])
    stored = db.session.get(WebhookEndpoint, data["id"])
    assert data["secret"].encode() not in stored.secret_encrypted
    fetched = client.get(f"{HOOKS}/{data['id']}", headers=owner.headers)
    assert fetched.status_code == 200 and set(fetched.json["data"]) == FIELDS
    listed = client.get(HOOKS, headers=owner.headers)
    assert [e["id"] for e in listed.json["data"]] == [data["id"]] and "secret" not in listed.json["data"][0]


def test_a_given_secret_is_used_and_must_be_standard(client, owner):
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert created(client, owner.headers, secret=secret)["secret"] == secret
    for bad in (
        "abc",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"short").decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ):
        body = assert_error(create(client, owner.headers, secret=bad), 422, "validation_failed")
        assert "secret" in body["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/in"}, "url"),  # plain HTTP to a host nobody allow-listed
        ({"url": "https://127.0.0.1/in"}, "url"),
        ({"url": "https://10.1.2.3/in"}, "url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "https://localhost/in"}, "url"),  # a hostname resolving to loopback
        ({"url": "ftp://hooks.example.com/in"}, "url"),
        ({"url": ""}, "url"),
        ({"url": "https://x.example/" + "a" * 2048}, "url"),
        ({"events": []}, "events"),
        ({"events": ["nope.created"]}, "events"),
        ({"events": ["api_key.nope"]}, "events"),
        ({"events": ["nothing.*"]}, "events"),
        ({"events": "api_key.created"}, "events"),
        ({"is_active": False}, "is_active"),  # not settable at creation
        ({"success_count": 5}, "success_count"),
    ],
)
def test_create_refuses_bad_input_with_422(client, owner, body, field):
    response = assert_error(create(client, owner.headers, **body), 422, "validation_failed")
    assert field in response["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 0


def test_url_and_events_are_required(client, owner):
    body = assert_error(client.post(HOOKS, json={}, headers=owner.headers), 422, "validation_failed")
    assert {"url", "events"} <= set(body["errors"])


def test_patterns_and_known_types_are_accepted(client, owner):
    data = created(
        client, owner.headers, events=["*", "member.*", "webhook.disabled", "api_key.created", "api_key.created"]
    )
    assert data["events"] == ["*", "member.*", "webhook.disabled", "api_key.created"]


def test_update_and_reenable_resets_failures(client, owner):
    endpoint = created(client, owner.headers)
    response = client.patch(
        f"{HOOKS}/{endpoint['id']}",
        json={"url": "https://other.example.com/hook", "events": ["member.*"], "description": "d", "is_active": False},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert (data["url"], data["events"], data["description"], data["is_active"]) == (
        "https://other.example.com/hook",
        ["member.*"],
        "d",
        False,
    )
    assert data["disabled_reason"]
    stored = db.session.get(WebhookEndpoint, endpoint["id"])
    stored.consecutive_failures = 7
    db.session.commit()
    data = client.patch(f"{HOOKS}/{endpoint['id']}", json={"is_active": True}, headers=owner.headers).json["data"]
    assert (data["is_active"], data["consecutive_failures"], data["disabled_reason"]) == (True, 0, None)
    bad = client.patch(f"{HOOKS}/{endpoint['id']}", json={"url": "https://192.168.0.1/"}, headers=owner.headers)
    assert_error(bad, 422, "validation_failed")
    assert db.session.get(WebhookEndpoint, endpoint["id"]).url == "https://other.example.com/hook"
    assert_error(
        client.patch(f"{HOOKS}/{endpoint['id']}", json={"secret": "x"}, headers=owner.headers), 422, "validation_failed"
    )


def test_delete(client, owner):
    endpoint = created(client, owner.headers)
    assert client.delete(f"{HOOKS}/{endpoint['id']}", headers=owner.headers).status_code == 204
    assert_error(client.get(f"{HOOKS}/{endpoint['id']}", headers=owner.headers), 404, "not_found")
    assert_error(client.delete(f"{HOOKS}/{endpoint['id']}", headers=owner.headers), 404, "not_found")


def test_changes_are_events(client, owner):
    endpoint = created(client, owner.headers)
    client.patch(f"{HOOKS}/{endpoint['id']}", json={"description": "x"}, headers=owner.headers)
    client.post(f"{HOOKS}/{endpoint['id']}/rotate-secret", headers=owner.headers)
    client.delete(f"{HOOKS}/{endpoint['id']}", headers=owner.headers)
    events = client.get("/api/v1/events?type=webhook.*&sort=created_at&per_page=100", headers=owner.headers).json[
        "data"
    ]
    assert [e["type"] for e in events] == [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.deleted",
    ]
    assert all("secret" not in e["data"] and "secret_encrypted" not in e["data"] for e in events)


def test_another_workspace_sees_404(client, owner, other):
    endpoint = created(client, owner.headers)
    for method, path in [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/rotate-secret"),
        ("post", "/test"),
        ("get", "/deliveries"),
        ("post", "/replay"),
    ]:
        body = (
            {"description": "x"}
            if method == "patch"
            else ({"since": "2026-01-01T00:00:00Z"} if path == "/replay" else None)
        )
        response = getattr(client, method)(f"{HOOKS}/{endpoint['id']}{path}", json=body, headers=other.headers)
        assert_error(response, 404, "not_found")
    assert client.get(HOOKS, headers=other.headers).json["data"] == []
    assert db.session.get(WebhookEndpoint, endpoint["id"]).description is None


def test_scopes_and_roles(client, owner, admin):
    endpoint = created(client, admin.headers)  # admins manage webhooks
    member = factories.member(owner.workspace_id, "member@example.com", "member")
    denied(client.get(HOOKS, headers=member.headers), "webhooks:read")
    denied(create(client, member.headers), "webhooks:write")
    reader = factories.key(owner.user_id, owner.workspace_id, ["webhooks:read"])
    assert client.get(HOOKS, headers=factories.bearer(reader)).status_code == 200
    denied(create(client, factories.bearer(reader)), "webhooks:write")
    writer = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["webhooks:read", "webhooks:write"]))
    denied(client.delete(f"{HOOKS}/{endpoint['id']}", headers=writer), "webhooks:delete")
    assert client.get(HOOKS).status_code == 401


def test_rotate_secret_answers_the_new_secret_and_the_old_ones_end(client, owner):
    endpoint = created(client, owner.headers)
    response = client.post(f"{HOOKS}/{endpoint['id']}/rotate-secret", headers=owner.headers)
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert set(data) == {"id", "secret", "previous_secret_expires_at"} and response.json["message"]
    assert data["secret"].startswith("whsec_") and data["secret"] != endpoint["secret"]
    assert ISO_Z.match(data["previous_secret_expires_at"])


def test_list_pages_and_searches(client, owner):
    for n in range(3):
        created(client, owner.headers, url=f"https://h{n}.example.com/in")
    response = client.get(f"{HOOKS}?per_page=2&search=h1", headers=owner.headers)
    assert [e["url"] for e in response.json["data"]] == ["https://h1.example.com/in"]
    page = client.get(f"{HOOKS}?per_page=2&sort=url", headers=owner.headers)
    assert page.json["meta"]["total"] == 3 and page.headers["X-Total-Count"] == "3"
    assert_error(client.get(f"{HOOKS}?sort=secret", headers=owner.headers), 400, "invalid_sort")
