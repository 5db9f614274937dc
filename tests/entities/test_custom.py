"""Custom entities: a workspace declares one and gets its CRUD API at once (issue 4)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from tests import factories
from tests.assertions import denied
from tests.assertions import error as assert_error

PROJECTS = {
    "name": "projects",
    "singular": "project",
    "id_prefix": "prj",
    "fields": {
        "title": {"type": "string", "required": True, "max_length": 100},
        "code": {"type": "string", "unique": True, "max_length": 20},
        "budget": {"type": "number", "min": 0},
        "headcount": {"type": "integer", "min": 1, "max": 500},
        "done": {"type": "boolean", "default": False},
        "kickoff": {"type": "date"},
        "deadline": {"type": "datetime"},
        "site": {"type": "url"},
        "contact": {"type": "email"},
        "stage": {"type": "enum", "values": ["idea", "live"], "default": "idea"},
        "meta": {"type": "json"},
        "notes": {"type": "text"},
        "customer_id": {"type": "reference", "entity": "customers"},
    },
    "relations": {"customer": {"type": "belongs_to", "entity": "customers", "foreign_key": "customer_id"}},
    "searchable": ["title", "notes"],
    "sortable": ["title", "budget", "kickoff"],
    "filterable": ["stage", "budget", "done", "customer_id", "title"],
    "rate_limit": {"limit": 1000, "window": "1h"},
}


@pytest.fixture
def projects(client, owner):
    response = client.post("/api/v1/entities", json=PROJECTS, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["data"]


def test_define_and_use_every_field_type(client, owner, projects, make):
    assert projects["name"] == "projects" and projects["builtin"] is False
    assert projects["fields"]["title"] == {"type": "string", "required": True, "max_length": 100}
    customer = make("customers", name="C")
    body = {
        "title": "Apollo",
        "code": "AP-1",
        "budget": 1200.5,
        "headcount": 12,
        "done": True,
        "kickoff": "2026-02-01",
        "deadline": "2026-06-30T12:00:00+02:00",
        "site": "https://apollo.example.com",
        "contact": "pm@example.com",
        "stage": "live",
        "meta": {"tags": ["a", "b"], "n": 1},
        "notes": "long text",
        "customer_id": customer["id"],
    }
    record = make("projects", **body)
    assert record["id"].startswith("prj_")
    assert record["deadline"] == "2026-06-30T10:00:00Z"  # stored in UTC
    assert {k: record[k] for k in body if k != "deadline"} == {k: v for k, v in body.items() if k != "deadline"}
    got = client.get(f"/api/v1/projects/{record['id']}?include=customer", headers=owner.headers).json["data"]
    assert got["customer"]["id"] == customer["id"]
    defaults = make("projects", title="Bare")
    assert (defaults["done"], defaults["stage"], defaults["budget"]) == (False, "idea", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": "t", "budget": -1}, "budget"),
        ({"title": "t", "headcount": 0}, "headcount"),
        ({"title": "t", "headcount": 2.5}, "headcount"),
        ({"title": "t", "done": "yes"}, "done"),
        ({"title": "t", "kickoff": "01/02/2026"}, "kickoff"),
        ({"title": "t", "deadline": "noon"}, "deadline"),
        ({"title": "t", "site": "not a url"}, "site"),
        ({"title": "t", "contact": "nobody"}, "contact"),
        ({"title": "t", "stage": "dead"}, "stage"),
        ({"title": "t", "customer_id": "cus_nope"}, "customer_id"),
        ({"title": "t", "unknown": 1}, "unknown"),
    ],
)
def test_records_are_checked_against_the_declaration(client, owner, projects, body, field):
    response = client.post("/api/v1/projects", json=body, headers=owner.headers)
    assert field in assert_error(response, 422, "validation_failed")["errors"]


def test_list_filters_sorts_and_searches_custom_records(client, owner, projects, make):
    for n, (stage, budget) in enumerate([("idea", 10), ("live", 30), ("live", 20)]):
        make("projects", title=f"P{n}", stage=stage, budget=budget, notes="alpha" if n == 2 else "beta")
    listed = client.get('/api/v1/projects?filter={"stage":"live"}&sort=-budget', headers=owner.headers).json
    assert [p["title"] for p in listed["data"]] == ["P1", "P2"] and listed["meta"]["total"] == 2
    assert [p["title"] for p in client.get("/api/v1/projects?search=alpha", headers=owner.headers).json["data"]] == [
        "P2"
    ]
    response = client.get('/api/v1/projects?filter={"notes":"x"}', headers=owner.headers)
    assert_error(response, 400, "invalid_filter")


def test_unique_and_patch_and_delete(client, owner, projects, make):
    first = make("projects", title="A", code="X")
    response = client.post("/api/v1/projects", json={"title": "B", "code": "x"}, headers=owner.headers)
    assert_error(response, 409, "conflict")
    patched = client.patch(f"/api/v1/projects/{first['id']}", json={"budget": 5}, headers=owner.headers)
    assert patched.status_code == 200 and patched.json["data"]["budget"] == 5 and patched.json["data"]["code"] == "X"
    assert client.delete(f"/api/v1/projects/{first['id']}", headers=owner.headers).status_code == 204
    assert_error(client.get(f"/api/v1/projects/{first['id']}", headers=owner.headers), 404, "not_found")


def test_options_and_the_catalog(client, owner, projects):
    data = client.options("/api/v1/projects", headers=owner.headers).json["data"]
    assert data["entity"] == "projects" and data["rate_limit"] == {"limit": 1000, "window": "1h"}
    assert data["permissions"] == {"read": True, "write": True, "delete": True}
    catalog = client.get("/api/v1/entities", headers=owner.headers).json
    names = [e["name"] for e in catalog["data"]]
    assert names[:5] == ["tasks", "comments", "customers", "products", "orders"] and names[-1] == "projects"
    assert catalog["meta"]["total"] == 6
    assert client.get("/api/v1/entities/projects", headers=owner.headers).json["data"]["id_prefix"] == "prj"
    assert_error(client.get("/api/v1/entities/nope", headers=owner.headers), 404, "entity_not_found")


@pytest.mark.parametrize("name", ["workspaces", "tasks", "entities", "webhooks", "auth", "billing", "files"])
def test_names_the_api_uses_are_refused(client, owner, name):
    response = client.post("/api/v1/entities", json={**PROJECTS, "name": name}, headers=owner.headers)
    assert "name" in assert_error(response, 422, "validation_failed")["errors"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"id_prefix": "x"}, "id_prefix"),
        ({"fields": {}}, "fields"),
        ({"fields": {"id": {"type": "string"}}}, "fields.id"),
        ({"fields": {"a": {"type": "colour"}}}, "fields.a.type"),
        ({"fields": {"a": {"type": "enum"}}}, "fields.a.values"),
        ({"fields": {"a": {"type": "reference", "entity": "planets"}}}, "fields.a.entity"),
        ({"sortable": ["nope"]}, "sortable"),
        ({"rate_limit": {"limit": 0, "window": "1h"}}, "rate_limit"),
    ],
)
def test_bad_declarations_are_422(client, owner, change, path):
    response = client.post("/api/v1/entities", json={**PROJECTS, **change}, headers=owner.headers)
    assert path in assert_error(response, 422, "validation_failed")["errors"]


def test_a_name_is_defined_once_per_workspace(client, owner, other, projects):
    assert_error(client.post("/api/v1/entities", json=PROJECTS, headers=owner.headers), 409, "conflict")
    assert client.post("/api/v1/entities", json=PROJECTS, headers=other.headers).status_code == 201


def test_patch_adds_and_relaxes_but_never_destroys(client, owner, projects, make):
    make("projects", title="Old")
    response = client.patch(
        "/api/v1/entities/projects",
        json={"fields": {"owner_email": {"type": "email"}, "title": {"type": "string", "max_length": 300}}},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.json
    assert response.json["data"]["fields"]["title"]["max_length"] == 300
    assert make("projects", title="x" * 250, owner_email="a@example.com")["owner_email"] == "a@example.com"
    for destructive in (
        {"title": {"type": "integer"}},
        {"budget": {"type": "number", "min": 10}},
        {"stage": {"type": "enum", "values": ["idea"]}},
        {"notes": {"type": "text", "required": True}},
        {"mandatory": {"type": "string", "required": True}},
    ):
        response = client.patch("/api/v1/entities/projects", json={"fields": destructive}, headers=owner.headers)
        assert_error(response, 422, "validation_failed")
    response = client.patch("/api/v1/entities/tasks", json={"sortable": ["title"]}, headers=owner.headers)
    assert_error(response, 422, "validation_failed")


def test_delete_removes_the_entity_and_its_records(client, owner, projects, make):
    make("projects", title="A")
    assert client.delete("/api/v1/entities/projects", headers=owner.headers).status_code == 204
    assert_error(client.get("/api/v1/projects", headers=owner.headers), 404, "entity_not_found")
    again = client.post("/api/v1/entities", json=PROJECTS, headers=owner.headers)
    assert again.status_code == 201
    assert client.get("/api/v1/projects", headers=owner.headers).json["data"] == []


def test_another_workspace_does_not_have_it(client, owner, other, projects, make):
    record = make("projects", title="Mine")
    assert_error(client.get("/api/v1/projects", headers=other.headers), 404, "entity_not_found")
    assert_error(client.get(f"/api/v1/projects/{record['id']}", headers=other.headers), 404, "entity_not_found")


def test_scopes_and_roles(client, owner, projects, make):
    record = make("projects", title="A")
    reader = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["projects:read"]))
    assert client.get("/api/v1/projects", headers=reader).status_code == 200
    denied(client.post("/api/v1/projects", json={"title": "t"}, headers=reader), "projects:write")
    denied(client.delete(f"/api/v1/projects/{record['id']}", headers=reader), "projects:delete")
    member = factories.member(owner.workspace_id, "member@example.com", "member")
    denied(
        client.post("/api/v1/entities", json={**PROJECTS, "name": "other"}, headers=member.headers), "entities:write"
    )
    assert client.post("/api/v1/projects", json={"title": "by a member"}, headers=member.headers).status_code == 201


def test_custom_records_record_events(client, owner, projects, make):
    record = make("projects", title="A")
    client.delete(f"/api/v1/projects/{record['id']}", headers=owner.headers)
    types = [
        e["type"] for e in client.get("/api/v1/events?sort=created_at&per_page=100", headers=owner.headers).json["data"]
    ]
    assert types[-3:] == ["entity.created", "project.created", "project.deleted"] or types[-3:] == [
        "project.created",
        "project.deleted",
        "entity.created",
    ]


def test_other_routes_keep_their_answers(client, owner):
    assert client.patch("/api/v1/workspaces", json={}, headers=owner.headers).status_code == 405
    assert_error(client.get("/api/v1/spaceships", headers=owner.headers), 404, "entity_not_found")


def test_webhooks_subscribe_to_a_custom_entitys_events_in_its_workspace(client, owner, other, projects):
    body = {"url": "https://hooks.example.com/in", "events": ["project.created", "project.*"]}
    assert client.post("/api/v1/webhooks", json=body, headers=owner.headers).status_code == 201
    response = client.post("/api/v1/webhooks", json=body, headers=other.headers)  # no projects there
    assert "events" in assert_error(response, 422, "validation_failed")["errors"]


def test_the_workspaces_custom_entities_have_their_own_openapi_document(client, owner, other, projects):
    response = client.get("/api/v1/entities/openapi.json", headers=owner.headers)
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.0.3"
    assert set(document["paths"]) == {"/api/v1/projects", "/api/v1/projects/{record_id}"}
    assert set(document["paths"]["/api/v1/projects"]) == {"get", "post"}
    create = document["components"]["schemas"]["ProjectsCreate"]
    assert "title" in create["required"] and {"idea", "live"} <= set(create["properties"]["stage"]["enum"])
    validate(document)
    theirs = client.get("/api/v1/entities/openapi.json", headers=other.headers).get_json()
    assert theirs["paths"] == {}  # only its members see a workspace's entities
    assert client.get("/api/v1/entities/openapi.json").status_code == 401
