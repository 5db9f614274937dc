"""Generated CRUD for the built-in entities: create, read, update, delete, references,
uniqueness, computed fields, OPTIONS, events, scopes and tenants (issue 4)."""

from __future__ import annotations

import pytest

from tests import factories
from tests.assertions import ISO_Z, denied
from tests.assertions import error as assert_error

TASK_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "priority",
    "assignee_id",
    "due_date",
    "created_at",
    "updated_at",
}


def test_create_applies_defaults_and_answers_the_record(client, owner):
    response = client.post("/api/v1/tasks", json={"title": "Write docs"}, headers=owner.headers)
    assert response.status_code == 201
    assert response.json["message"] == "Task created successfully."
    task = response.json["data"]
    assert set(task) == TASK_FIELDS
    assert task["id"].startswith("tsk_") and ISO_Z.match(task["created_at"])
    assert (task["status"], task["priority"], task["description"]) == ("todo", "medium", None)
    fetched = client.get(f"/api/v1/tasks/{task['id']}", headers=owner.headers)
    assert fetched.status_code == 200 and fetched.json["data"] == task


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "t", "status": "done"}, "status"),
        ({"title": "t", "priority": 3}, "priority"),
        ({"title": "t", "due_date": "2026-13-01"}, "due_date"),
        ({"title": "t", "due_date": "tomorrow"}, "due_date"),
        ({"title": "t", "assignee_id": "usr_nobody"}, "assignee_id"),
        ({"title": "t", "id": "tsk_mine"}, "id"),
        ({"title": "t", "created_at": "2026-01-01T00:00:00Z"}, "created_at"),
        ({"title": "t", "colour": "red"}, "colour"),
    ],
)
def test_create_refuses_bad_fields(client, owner, body, field):
    body = assert_error(client.post("/api/v1/tasks", json=body, headers=owner.headers), 422, "validation_failed")
    assert field in body["errors"]


def test_numbers_integers_and_emails_are_strict(client, owner, make):
    for body, field in [
        ({"name": "p", "price": -1}, "price"),
        ({"name": "p", "price": "10"}, "price"),
        ({"name": "p", "price": True}, "price"),
        ({"name": "p", "stock": 1.5}, "stock"),
        ({"name": "p", "stock": -1}, "stock"),
        ({"name": "p", "stock": 2**60}, "stock"),
    ]:
        response = client.post("/api/v1/products", json=body, headers=owner.headers)
        assert field in assert_error(response, 422, "validation_failed")["errors"], body
    response = client.post("/api/v1/customers", json={"name": "c", "email": "not-an-email"}, headers=owner.headers)
    assert "email" in assert_error(response, 422, "validation_failed")["errors"]
    product = make("products", name="p", price=10, stock=3)
    assert (product["price"], product["stock"], product["status"], product["currency"]) == (10, 3, "active", "USD")


def test_unique_fields_are_unique_per_workspace(client, owner, other, make):
    make("customers", name="A", email="ana@example.com")
    response = client.post("/api/v1/customers", json={"name": "B", "email": "ANA@example.com"}, headers=owner.headers)
    assert "email" in assert_error(response, 409, "conflict")["errors"]
    make("customers", headers=other.headers, name="A", email="ana@example.com")  # another workspace: fine
    first = make("products", name="p", sku="SKU-1")
    second = make("products", name="q", sku="SKU-2")
    response = client.patch(f"/api/v1/products/{second['id']}", json={"sku": "SKU-1"}, headers=owner.headers)
    assert_error(response, 409, "conflict")
    assert client.get(f"/api/v1/products/{second['id']}", headers=owner.headers).json["data"]["sku"] == "SKU-2"
    # a value given up can be taken
    client.patch(f"/api/v1/products/{first['id']}", json={"sku": "SKU-9"}, headers=owner.headers)
    assert (
        client.patch(f"/api/v1/products/{second['id']}", json={"sku": "SKU-1"}, headers=owner.headers).status_code
        == 200
    )
    client.delete(f"/api/v1/products/{second['id']}", headers=owner.headers)
    make("products", name="r", sku="SKU-1")


def test_references_must_exist_in_the_same_workspace(client, owner, other, make):
    theirs = make("customers", headers=other.headers, name="Theirs")
    response = client.post("/api/v1/orders", json={"customer_id": theirs["id"]}, headers=owner.headers)
    assert "customer_id" in assert_error(response, 422, "validation_failed")["errors"]
    response = client.post("/api/v1/comments", json={"task_id": "tsk_nope", "text": "x"}, headers=owner.headers)
    assert "task_id" in assert_error(response, 422, "validation_failed")["errors"]
    stranger = factories.user("nomember@example.com")
    response = client.post("/api/v1/tasks", json={"title": "t", "assignee_id": stranger.id}, headers=owner.headers)
    assert "assignee_id" in assert_error(response, 422, "validation_failed")["errors"]
    mine = make("tasks", title="t", assignee_id=owner.user_id)
    assert mine["assignee_id"] == owner.user_id


def test_order_total_is_computed_by_the_server(client, owner, make):
    customer = make("customers", name="C")
    a, b = make("products", name="a", price=19.99), make("products", name="b", price=0.1)
    items = [
        {"product_id": a["id"], "quantity": 3, "unit_price": 19.99},
        {"product_id": b["id"], "quantity": 3, "unit_price": 0.1},
    ]
    order = make("orders", customer_id=customer["id"], items=items)
    assert order["total"] == 60.27 and order["status"] == "pending"
    response = client.post(
        "/api/v1/orders", json={"customer_id": customer["id"], "total": 1}, headers=owner.headers
    )  # generated: never accepted
    assert "total" in assert_error(response, 422, "validation_failed")["errors"]
    for bad in (
        [{"product_id": a["id"], "quantity": 0, "unit_price": 1}],
        [{"product_id": "prd_nope", "quantity": 1, "unit_price": 1}],
        "x",
    ):
        response = client.post(
            "/api/v1/orders", json={"customer_id": customer["id"], "items": bad}, headers=owner.headers
        )
        assert_error(response, 422, "validation_failed")
    updated = client.patch(f"/api/v1/orders/{order['id']}", json={"items": items[:1]}, headers=owner.headers)
    assert updated.json["data"]["total"] == 59.97


def test_patch_changes_only_the_given_fields(client, owner, make):
    task = make("tasks", title="t", description="d", due_date="2026-05-01")
    response = client.patch(f"/api/v1/tasks/{task['id']}", json={"status": "completed"}, headers=owner.headers)
    assert response.status_code == 200
    data = response.json["data"]
    assert (data["status"], data["title"], data["description"], data["due_date"]) == (
        "completed",
        "t",
        "d",
        "2026-05-01",
    )
    cleared = client.patch(f"/api/v1/tasks/{task['id']}", json={"description": None}, headers=owner.headers)
    assert cleared.json["data"]["description"] is None
    response = client.patch(f"/api/v1/tasks/{task['id']}", json={"title": None}, headers=owner.headers)
    assert "title" in assert_error(response, 422, "validation_failed")["errors"]
    assert_error(
        client.patch("/api/v1/tasks/tsk_nope", json={"status": "todo"}, headers=owner.headers), 404, "not_found"
    )


def test_delete_restricts_or_cascades_as_declared(client, owner, make):
    customer = make("customers", name="C")
    order = make("orders", customer_id=customer["id"])
    response = client.delete(f"/api/v1/customers/{customer['id']}", headers=owner.headers)
    assert_error(response, 409, "conflict")
    assert client.delete(f"/api/v1/orders/{order['id']}", headers=owner.headers).status_code == 204
    assert client.delete(f"/api/v1/customers/{customer['id']}", headers=owner.headers).status_code == 204
    task = make("tasks", title="t")
    comment = make("comments", task_id=task["id"], text="c")
    assert client.delete(f"/api/v1/tasks/{task['id']}", headers=owner.headers).status_code == 204
    assert_error(client.get(f"/api/v1/comments/{comment['id']}", headers=owner.headers), 404, "not_found")


def test_include_and_fields_on_one_record(client, owner, make):
    task = make("tasks", title="t", assignee_id=owner.user_id)
    comments = [make("comments", task_id=task["id"], text=f"c{n}") for n in range(2)]
    response = client.get(f"/api/v1/tasks/{task['id']}?include=assignee,comments&fields=title", headers=owner.headers)
    data = response.json["data"]
    assert set(data) == {"id", "title", "assignee", "comments"}
    assert data["assignee"] == {"id": owner.user_id, "name": None, "email": "owner@example.com"}
    assert [c["id"] for c in data["comments"]] == [c["id"] for c in comments]
    assert_error(client.get(f"/api/v1/tasks/{task['id']}?include=owner", headers=owner.headers), 400, "bad_request")
    assert_error(client.get(f"/api/v1/tasks/{task['id']}?fields=colour", headers=owner.headers), 400, "bad_request")


def test_another_workspace_sees_404_and_never_its_records(client, owner, other, make):
    task = make("tasks", title="secret")
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(
            f"/api/v1/tasks/{task['id']}", json={"title": "x"} if method == "patch" else None, headers=other.headers
        )
        assert_error(response, 404, "not_found")
    assert client.get("/api/v1/tasks", headers=other.headers).json["data"] == []
    response = client.post("/api/v1/comments", json={"task_id": task["id"], "text": "x"}, headers=other.headers)
    assert_error(response, 422, "validation_failed")


def test_scopes_per_entity_or_generic_and_roles(client, owner, make):
    task = make("tasks", title="t")
    reader = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["tasks:read"]))
    assert client.get("/api/v1/tasks", headers=reader).status_code == 200
    denied(client.get("/api/v1/products", headers=reader), "products:read")
    denied(client.post("/api/v1/tasks", json={"title": "t"}, headers=reader), "tasks:write")
    generic = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["read", "write"]))
    assert client.post("/api/v1/products", json={"name": "p"}, headers=generic).status_code == 201
    denied(client.delete(f"/api/v1/tasks/{task['id']}", headers=generic), "tasks:delete")
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    assert client.get("/api/v1/tasks", headers=viewer.headers).status_code == 200
    denied(client.post("/api/v1/tasks", json={"title": "t"}, headers=viewer.headers), "tasks:write")
    assert client.get("/api/v1/tasks").status_code == 401


def test_changes_record_events(client, owner, make):
    task = make("tasks", title="t")
    client.patch(f"/api/v1/tasks/{task['id']}", json={"status": "completed"}, headers=owner.headers)
    client.delete(f"/api/v1/tasks/{task['id']}", headers=owner.headers)
    events = client.get("/api/v1/events?type=task.*&sort=created_at", headers=owner.headers).json["data"]
    assert [e["type"] for e in events] == ["task.created", "task.updated", "task.deleted"]
    assert events[1]["data"]["status"] == "completed" and events[0]["data"]["id"] == task["id"]


def test_a_failed_write_records_no_event_and_no_record(client, owner, make):
    make("customers", name="A", email="a@example.com")
    client.post("/api/v1/customers", json={"name": "B", "email": "a@example.com"}, headers=owner.headers)
    events = client.get("/api/v1/events?type=customer.*", headers=owner.headers).json["data"]
    assert len(events) == 1
    assert client.get("/api/v1/customers", headers=owner.headers).json["meta"]["total"] == 1


def test_options_describes_the_entity_and_the_callers_permissions(client, owner):
    reader = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["tasks:read"]))
    response = client.options("/api/v1/tasks", headers=reader)
    assert response.status_code == 200
    data = response.json["data"]
    assert data["entity"] == "tasks" and data["methods"] == ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
    assert data["schema"]["title"] == {"type": "string", "required": True, "max_length": 200}
    assert data["schema"]["status"]["values"] == ["todo", "in_progress", "completed"]
    assert data["schema"]["id"]["generated"] is True
    assert data["relations"]["comments"] == {"type": "has_many", "entity": "comments", "foreign_key": "task_id"}
    assert data["permissions"] == {"read": True, "write": False, "delete": False}
    assert data["rate_limit"] is None
    assert client.options("/api/v1/tasks").status_code == 401
    preflight = client.options(
        "/api/v1/tasks",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code in (200, 204)


def test_an_unknown_entity_is_entity_not_found(client, owner):
    assert_error(client.get("/api/v1/spaceships", headers=owner.headers), 404, "entity_not_found")
