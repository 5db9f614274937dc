"""Entity lists (issue 4, API.md §4–§5): `filter` with every operator on every kind of field,
`search`, `sort`/`order`, `fields`, `include` (one query per relation, never one per row),
pagination that never repeats or skips a row, the date aliases, tenant isolation of records and
embedded relations, and a custom entity's own rate limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine

from app.entities import registry, service
from tests import factories
from tests.assertions import error as assert_error
from tests.core import counted_statements

GADGETS = {
    "name": "gadgets",
    "singular": "gadget",
    "id_prefix": "gdg",
    "fields": {
        "label": {"type": "string", "required": True, "max_length": 100},
        "active": {"type": "boolean"},
        "weight": {"type": "number"},
        "starts": {"type": "datetime"},
        "day": {"type": "date"},
        "customer_id": {"type": "reference", "entity": "customers"},
    },
    "relations": {"customer": {"type": "belongs_to", "entity": "customers", "foreign_key": "customer_id"}},
    "searchable": ["label"],
    "sortable": ["label", "weight"],
    "filterable": ["label", "active", "weight", "starts", "day", "customer_id"],
}
TIMES = {"jan": "2026-01-01T10:00:00Z", "feb": "2026-02-01T10:00:00Z", "mar": "2026-03-01T10:00:00Z"}


def get(client, owner, path: str, **params):
    if isinstance(params.get("filter"), dict | list):
        params["filter"] = json.dumps(params["filter"])
    return client.get(path, query_string=params, headers=owner.headers)


def names(response, key: str = "title") -> list:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item[key] for item in response.json["data"]]


def insert(workspace_id: str, entity: str, **body) -> dict:
    """A record made through the service the routes use: past the tier's rate limit, for bulk data."""
    declared = registry.entity_named(workspace_id, entity)
    return service.create_record(workspace_id, declared, service.load(declared, body, creating=True))


@pytest.fixture
def tasks(make):
    """Four tasks (created in this order) with distinct statuses, priorities and due dates."""
    return {
        "a": make(
            "tasks", title="alpha", description="first one", status="todo", priority="high", due_date="2026-03-01"
        ),
        "b": make("tasks", title="beta", status="in_progress", priority="medium", due_date="2026-04-15"),
        "c": make("tasks", title="gamma", description="the third", status="completed", priority="low"),
        "d": make("tasks", title="delta", status="todo", priority="medium", due_date="2026-05-30"),
    }


@pytest.fixture
def products(make):
    """Prices that sort differently as numbers and as text; ints and floats mixed."""
    return [
        make("products", name="p9", price=9, stock=3),
        make("products", name="p10", price=10.5, stock=10),
        make("products", name="p100", price=100, stock=0),
        make("products", name="pnone"),  # price null, stock defaults to 0
    ]


@pytest.fixture
def gadgets(client, owner):
    response = client.post("/api/v1/entities", json=GADGETS, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["data"]


# --- filter: text, enum, date -----------------------------------------------------------------


TEXT_CASES = [
    ({"status": "todo"}, {"alpha", "delta"}),
    ({"status": {"eq": "completed"}}, {"gamma"}),
    ({"status": {"ne": "todo"}}, {"beta", "gamma"}),
    ({"priority": {"in": ["high", "medium"]}}, {"alpha", "beta", "delta"}),
    ({"priority": {"in": []}}, set()),
    ({"priority": {"nin": ["high", "low"]}}, {"beta", "delta"}),
    ({"title": "beta"}, {"beta"}),
    ({"title": {"contains": "ELT"}}, {"delta"}),  # contains ignores case
    ({"title": {"contains": "a"}}, {"alpha", "beta", "gamma", "delta"}),
    ({"title": {"startswith": "ga"}}, {"gamma"}),
    ({"title": {"startswith": "amma"}}, set()),  # a prefix, not a substring
    ({"title": {"gt": "beta"}}, {"gamma", "delta"}),
    ({"due_date": "2026-04-15"}, {"beta"}),
    ({"due_date": {"gt": "2026-03-01"}}, {"beta", "delta"}),
    ({"due_date": {"gte": "2026-03-01"}}, {"alpha", "beta", "delta"}),
    ({"due_date": {"lt": "2026-04-15"}}, {"alpha"}),
    ({"due_date": {"lte": "2026-04-15"}}, {"alpha", "beta"}),
    ({"due_date": {"gte": "2026-04-01", "lt": "2026-06-01"}}, {"beta", "delta"}),  # a range
    ({"due_date": {"ne": "2026-04-15"}}, {"alpha", "gamma", "delta"}),  # ne keeps the nulls
    ({"due_date": {"is_null": True}}, {"gamma"}),
    ({"due_date": {"is_null": False}}, {"alpha", "beta", "delta"}),
    ({"due_date": None}, {"gamma"}),  # {"field": null} is is_null
    ({"assignee_id": None}, {"alpha", "beta", "gamma", "delta"}),
    ({"status": "todo", "priority": "medium"}, {"delta"}),  # AND
    ({"status": {"in": ["todo", "completed"]}, "due_date": {"is_null": False}}, {"alpha", "delta"}),
    ({}, {"alpha", "beta", "gamma", "delta"}),
]


def test_filter_operators_on_text_enum_and_date_fields(client, owner, tasks):
    for condition, expected in TEXT_CASES:
        assert set(names(get(client, owner, "/api/v1/tasks", filter=condition))) == expected, condition


def test_filter_by_id_reference_and_status_parameter(client, owner, tasks, make):
    assigned = make("tasks", title="mine", assignee_id=owner.user_id)
    listed = get(client, owner, "/api/v1/tasks", filter={"assignee_id": owner.user_id})
    assert names(listed) == ["mine"]
    assert names(get(client, owner, "/api/v1/tasks", filter={"id": tasks["b"]["id"]})) == ["beta"]
    ids = [tasks["a"]["id"], assigned["id"]]
    assert set(names(get(client, owner, "/api/v1/tasks", filter={"id": {"in": ids}}))) == {"alpha", "mine"}
    # the plain `status` parameter of API.md §5 too
    assert set(names(get(client, owner, "/api/v1/tasks", status="todo"))) == {"alpha", "delta", "mine"}


def test_filter_like_patterns_are_literal(client, owner, make):
    for title in ("100% done", "1000 done", "a_b", "axb", "back\\slash", "backslash"):
        make("tasks", title=title)
    for condition, expected in (
        ({"contains": "0%"}, {"100% done"}),
        ({"contains": "_"}, {"a_b"}),
        ({"startswith": "a_"}, {"a_b"}),
        ({"contains": "\\"}, {"back\\slash"}),
        ({"startswith": "%"}, set()),
    ):
        assert set(names(get(client, owner, "/api/v1/tasks", filter={"title": condition}))) == expected, condition


# --- filter: numbers, booleans, datetimes -----------------------------------------------------


NUMBER_CASES = [
    ({"price": 9}, {"p9"}),
    ({"price": 9.0}, {"p9"}),  # an int equals the same float
    ({"price": 10.5}, {"p10"}),
    ({"price": {"ne": 9}}, {"p10", "p100", "pnone"}),
    ({"price": {"gt": 10}}, {"p10", "p100"}),  # as numbers: "9" > "10" as text
    ({"price": {"gt": 10.5}}, {"p100"}),
    ({"price": {"gte": 10.5}}, {"p10", "p100"}),
    ({"price": {"lt": 10.5}}, {"p9"}),
    ({"price": {"lte": 100}}, {"p9", "p10", "p100"}),
    ({"price": {"in": [9, 100.0]}}, {"p9", "p100"}),
    ({"price": {"nin": [9]}}, {"p10", "p100", "pnone"}),
    ({"price": None}, {"pnone"}),
    ({"price": {"is_null": False}}, {"p9", "p10", "p100"}),
    ({"stock": 0}, {"p100", "pnone"}),
    ({"stock": 3.0}, {"p9"}),
    ({"stock": {"gt": 2.5}}, {"p9", "p10"}),
    ({"stock": {"gte": 3, "lt": 10}}, {"p9"}),
    ({"stock": {"in": [0, 10]}}, {"p10", "p100", "pnone"}),
    ({"stock": {"lte": -1}}, set()),
    ({"price": {"gt": 1}, "stock": {"gt": 0}}, {"p9", "p10"}),
]


def test_filter_operators_on_numbers(client, owner, products):
    for condition, expected in NUMBER_CASES:
        assert set(names(get(client, owner, "/api/v1/products", filter=condition), "name")) == expected, condition


def test_filter_on_booleans(client, owner, gadgets, make):
    make("gadgets", label="on", active=True)
    make("gadgets", label="off", active=False)
    make("gadgets", label="unset")
    for condition, expected in (
        ({"active": True}, {"on"}),
        ({"active": False}, {"off"}),
        ({"active": {"eq": True}}, {"on"}),
        ({"active": {"ne": True}}, {"off", "unset"}),
        ({"active": {"in": [True, False]}}, {"on", "off"}),
        ({"active": None}, {"unset"}),
        ({"active": {"is_null": False}}, {"on", "off"}),
    ):
        assert set(names(get(client, owner, "/api/v1/gadgets", filter=condition), "label")) == expected, condition
    for condition in ({"active": "true"}, {"active": 1}, {"active": {"contains": "t"}}, {"active": {"in": ["x"]}}):
        assert_error(get(client, owner, "/api/v1/gadgets", filter=condition), 400, "invalid_filter")


def test_filter_on_custom_number_date_and_datetime_fields(client, owner, gadgets, make):
    make("gadgets", label="light", weight=9.5, day="2026-01-31", starts="2026-06-30T08:00:00Z")
    make("gadgets", label="heavy", weight=12, day="2026-02-01", starts="2026-06-30T12:00:00+02:00")  # 10:00Z
    for condition, expected in (
        ({"weight": {"gt": 10}}, {"heavy"}),
        ({"weight": {"lte": 9.5}}, {"light"}),
        ({"weight": {"in": [12.0]}}, {"heavy"}),
        ({"day": {"gte": "2026-02-01"}}, {"heavy"}),
        ({"day": {"lt": "2026-02-01"}}, {"light"}),
        ({"starts": {"lt": "2026-06-30T09:00:00Z"}}, {"light"}),
        ({"starts": "2026-06-30T10:00:00Z"}, {"heavy"}),  # stored in UTC
        ({"starts": {"is_null": True}}, set()),
    ):
        assert set(names(get(client, owner, "/api/v1/gadgets", filter=condition), "label")) == expected, condition
    assert names(get(client, owner, "/api/v1/gadgets", sort="weight"), "label") == ["light", "heavy"]  # 9.5 < 12
    assert names(get(client, owner, "/api/v1/gadgets", sort="-weight"), "label") == ["heavy", "light"]
    assert_error(get(client, owner, "/api/v1/gadgets", sort="day"), 400, "invalid_sort")  # not declared sortable


def test_filter_on_created_at_normalises_time_zones(client, owner):
    made = _tasks_at(client, owner, TIMES)
    for condition, expected in (
        ({"gte": "2026-02-01T10:00:00Z"}, {"feb", "mar"}),
        ({"gt": "2026-02-01T10:00:00Z"}, {"mar"}),
        ({"lt": "2026-02-01T12:00:00+02:00"}, {"jan"}),  # 10:00Z, exclusive
        ({"lte": "2026-02-01T12:00:00+02:00"}, {"jan", "feb"}),
        ({"gte": "2026-01-15T00:00:00", "lt": "2026-02-15T00:00:00Z"}, {"feb"}),  # naive: UTC
    ):
        listed = get(client, owner, "/api/v1/tasks", filter={"created_at": condition})
        assert set(names(listed)) == expected, condition
    assert names(get(client, owner, "/api/v1/tasks", filter={"created_at": made["feb"]["created_at"]})) == ["feb"]
    listed = get(client, owner, "/api/v1/tasks", filter={"created_at": {"gte": "2026-02-01T10:00:00Z"}}, sort="title")
    assert names(listed) == ["feb", "mar"]
    listed = get(client, owner, "/api/v1/tasks", filter={"updated_at": {"lt": "2026-01-02T00:00:00Z"}})
    assert names(listed) == ["jan"]


def test_filter_on_a_datetime_field_compares_instants_not_text(client, owner, gadgets, make):
    make("gadgets", label="ten", starts="2026-06-30T10:00:00Z")
    # 11:00+02:00 is 09:00Z, before 10:00Z; as text "…T10…" < "…T11…"
    listed = get(client, owner, "/api/v1/gadgets", filter={"starts": {"gte": "2026-06-30T11:00:00+02:00"}})
    assert names(listed, "label") == ["ten"]


@pytest.mark.parametrize("value", ["tomorrow", "2026-5-1", "2026-13-01"])
def test_filter_on_a_date_field_refuses_what_is_not_a_date(client, owner, value):
    assert_error(get(client, owner, "/api/v1/tasks", filter={"due_date": {"gt": value}}), 400, "invalid_filter")


# --- filter: what is refused --------------------------------------------------------------------


INVALID_TASK_FILTERS = [
    "{not json",
    '["status"]',
    '"todo"',
    "3",
    "null",
    '{"colour": "red"}',  # unknown field
    '{"description": "x"}',  # a field that is not filterable
    '{"status": {"like": "todo"}}',  # unknown operator
    '{"status": {}}',  # no operator
    '{"status": 1}',  # wrong value type
    '{"status": ["todo"]}',
    '{"status": {"eq": {"a": 1}}}',
    '{"priority": {"in": "high"}}',  # in without a list
    '{"priority": {"nin": "high"}}',
    '{"priority": {"in": ["high", 2]}}',
    '{"due_date": {"is_null": "yes"}}',
    '{"due_date": {"gt": 20260101}}',
    '{"created_at": {"gt": "yesterday"}}',
    '{"created_at": {"gt": 5}}',
]


INVALID_PRODUCT_FILTERS = [
    {"price": "10"},
    {"price": True},
    {"price": {"gt": "10"}},
    {"price": {"contains": 1}},
    {"price": {"contains": "1"}},
    {"stock": {"startswith": "1"}},
    {"stock": {"in": [1, "2"]}},
    {"name": 5},
    {"name": {"contains": 5}},
]


def test_invalid_filters_are_400_invalid_filter(client, owner):
    for path, cases in (("/api/v1/tasks", INVALID_TASK_FILTERS), ("/api/v1/products", INVALID_PRODUCT_FILTERS)):
        for case in cases:
            response = get(client, owner, path, filter=case)
            assert response.status_code == 400, (case, response.json)
            assert_error(response, 400, "invalid_filter")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"stock": {"gt": 100000000000000000000000000000}}', id="int-beyond-range"),
        pytest.param('{"stock": {"in": [100000000000000000000000000000]}}', id="int-beyond-range-in"),
        pytest.param('{"price": {"gt": NaN}}', id="NaN"),
        pytest.param('{"price": {"lt": Infinity}}', id="Infinity"),
    ],
)
def test_numbers_sql_cannot_hold_are_invalid_filter_never_500(client, owner, raw):
    insert(owner.workspace_id, "products", name="p", price=1, stock=1)
    assert_error(get(client, owner, "/api/v1/products", filter=raw), 400, "invalid_filter")


# --- search ------------------------------------------------------------------------------------


def test_search_ignores_case_and_covers_every_searchable_field(client, owner, tasks, make):
    assert names(get(client, owner, "/api/v1/tasks", search="ALPH")) == ["alpha"]
    assert names(get(client, owner, "/api/v1/tasks", search="Third")) == ["gamma"]  # description
    assert set(names(get(client, owner, "/api/v1/tasks", search="e"))) == {"alpha", "beta", "gamma", "delta"}
    assert names(get(client, owner, "/api/v1/tasks", search="zzz")) == []
    make("customers", name="Ada Lovelace", email="ada@engines.example", company="Analytical")
    make("customers", name="Charles", email="charles@babbage.example", company="Difference Engines")
    for term, expected in (
        ("lovelace", {"Ada Lovelace"}),  # name
        ("BABBAGE", {"Charles"}),  # email
        ("analytical", {"Ada Lovelace"}),  # company
        ("engines", {"Ada Lovelace", "Charles"}),  # email of one, company of the other
    ):
        assert set(names(get(client, owner, "/api/v1/customers", search=term), "name")) == expected, term
    make("products", name="Widget", sku="SKU-XY-1")
    assert names(get(client, owner, "/api/v1/products", search="xy-1"), "name") == ["Widget"]  # sku


def test_search_takes_percent_underscore_and_backslash_literally(client, owner, make):
    for title in ("100% done", "1000 done", "a_b", "axb", "c:\\tmp", "c:tmp"):
        make("tasks", title=title)
    for term, expected in (("0%", {"100% done"}), ("a_b", {"a_b"}), ("_", {"a_b"}), ("%", {"100% done"})):
        assert set(names(get(client, owner, "/api/v1/tasks", search=term))) == expected, term
    assert names(get(client, owner, "/api/v1/tasks", search="\\")) == ["c:\\tmp"]


def test_search_combines_with_filter(client, owner, tasks):
    listed = get(client, owner, "/api/v1/tasks", search="a", filter={"status": "todo"})
    assert set(names(listed)) == {"alpha", "delta"}


# --- sort ----------------------------------------------------------------------------------------


def test_sort_ascending_descending_and_order(client, owner, tasks):
    assert names(get(client, owner, "/api/v1/tasks", sort="title")) == ["alpha", "beta", "delta", "gamma"]
    assert names(get(client, owner, "/api/v1/tasks", sort="-title")) == ["gamma", "delta", "beta", "alpha"]
    assert names(get(client, owner, "/api/v1/tasks", sort="title", order="desc")) == ["gamma", "delta", "beta", "alpha"]
    assert names(get(client, owner, "/api/v1/tasks", sort="title", order="asc")) == ["alpha", "beta", "delta", "gamma"]
    assert names(get(client, owner, "/api/v1/tasks", sort="-title", order="asc")) == ["alpha", "beta", "delta", "gamma"]
    # default: newest first; created_at both ways
    assert names(get(client, owner, "/api/v1/tasks")) == ["delta", "gamma", "beta", "alpha"]
    assert names(get(client, owner, "/api/v1/tasks", sort="created_at")) == ["alpha", "beta", "gamma", "delta"]
    assert names(get(client, owner, "/api/v1/tasks", sort="-created_at")) == ["delta", "gamma", "beta", "alpha"]
    assert_error(get(client, owner, "/api/v1/tasks", sort="title", order="sideways"), 400, "bad_request")


def test_sort_by_several_fields(client, owner, tasks):
    listed = get(client, owner, "/api/v1/tasks", sort="status,-title")
    assert names(listed) == ["gamma", "beta", "delta", "alpha"]  # completed, in_progress, todo (delta > alpha)
    listed = get(client, owner, "/api/v1/tasks", sort="-status,title")
    assert names(listed) == ["alpha", "delta", "beta", "gamma"]
    listed = get(client, owner, "/api/v1/tasks", sort="priority,title", filter={"due_date": {"is_null": False}})
    assert names(listed) == ["alpha", "beta", "delta"]  # high, medium (beta < delta)


def test_sort_numbers_as_numbers(client, owner, products):
    with_price = {"price": {"is_null": False}}
    listed = get(client, owner, "/api/v1/products", sort="price", filter=with_price)
    assert names(listed, "name") == ["p9", "p10", "p100"]
    listed = get(client, owner, "/api/v1/products", sort="-price", filter=with_price)
    assert names(listed, "name") == ["p100", "p10", "p9"]
    listed = get(client, owner, "/api/v1/products", sort="-stock,name")
    assert names(listed, "name") == ["p10", "p9", "p100", "pnone"]


def test_sorting_on_what_cannot_be_sorted_is_invalid_sort(client, owner):
    for sort in ("description", "nope", "-nope", "title,nope", "assignee_id", "comments", "-"):
        assert_error(get(client, owner, "/api/v1/tasks", sort=sort), 400, "invalid_sort")


# --- fields and include --------------------------------------------------------------------------


def test_fields_returns_only_those_and_id(client, owner, tasks):
    listed = get(client, owner, "/api/v1/tasks", fields="title,status", sort="title")
    assert listed.status_code == 200
    assert [set(item) for item in listed.json["data"]] == [{"id", "title", "status"}] * 4
    assert listed.json["data"][0] == {"id": tasks["a"]["id"], "title": "alpha", "status": "todo"}
    assert [set(i) for i in get(client, owner, "/api/v1/tasks", fields="id").json["data"]] == [{"id"}] * 4
    for bad in ("colour", "title,colour", "password"):
        assert_error(get(client, owner, "/api/v1/tasks", fields=bad), 400, "bad_request")


def test_include_embeds_relations_per_row(client, owner, tasks, make):
    helper = factories.member(owner.workspace_id, "helper@example.com", "member")
    client.patch(f"/api/v1/tasks/{tasks['a']['id']}", json={"assignee_id": helper.user_id}, headers=owner.headers)
    client.patch(f"/api/v1/tasks/{tasks['b']['id']}", json={"assignee_id": owner.user_id}, headers=owner.headers)
    on_a = [make("comments", task_id=tasks["a"]["id"], text=f"a{n}")["id"] for n in range(3)]
    on_b = [make("comments", task_id=tasks["b"]["id"], text="b0")["id"]]
    listed = get(client, owner, "/api/v1/tasks", include="assignee,comments", sort="title")
    rows = {item["title"]: item for item in listed.json["data"]}
    assert [c["id"] for c in rows["alpha"]["comments"]] == on_a  # oldest first
    assert [c["id"] for c in rows["beta"]["comments"]] == on_b
    assert rows["gamma"]["comments"] == [] and rows["delta"]["comments"] == []
    assert rows["alpha"]["comments"][0]["text"] == "a0" and rows["alpha"]["comments"][0]["task_id"] == tasks["a"]["id"]
    assert rows["alpha"]["assignee"] == {"id": helper.user_id, "name": None, "email": "helper@example.com"}
    assert rows["beta"]["assignee"]["email"] == "owner@example.com"
    assert rows["gamma"]["assignee"] is None
    # only what is asked for
    only_comments = get(client, owner, "/api/v1/tasks", include="comments").json["data"]
    assert all("comments" in item and "assignee" not in item for item in only_comments)
    plain = get(client, owner, "/api/v1/tasks").json["data"]
    assert all("comments" not in item and "assignee" not in item for item in plain)
    for bad in ("owner", "assignee,owner", "title"):
        assert_error(get(client, owner, "/api/v1/tasks", include=bad), 400, "bad_request")


def test_include_belongs_to_on_builtin_and_custom_entities(client, owner, gadgets, make):
    customer = make("customers", name="C", email="c@example.com")
    order = make("orders", customer_id=customer["id"])
    listed = get(client, owner, "/api/v1/orders", include="customer").json["data"]
    assert [(o["id"], o["customer"]["id"], o["customer"]["name"]) for o in listed] == [
        (order["id"], customer["id"], "C")
    ]
    make("gadgets", label="linked", customer_id=customer["id"])
    make("gadgets", label="loose")
    rows = {g["label"]: g for g in get(client, owner, "/api/v1/gadgets", include="customer").json["data"]}
    assert rows["linked"]["customer"]["email"] == "c@example.com" and rows["loose"]["customer"] is None


def test_fields_and_include_together_on_a_list(client, owner, tasks, make):
    comment = make("comments", task_id=tasks["a"]["id"], text="c")
    listed = get(client, owner, "/api/v1/tasks", fields="title", include="comments", filter={"title": "alpha"})
    assert listed.json["data"] == [{"id": tasks["a"]["id"], "title": "alpha", "comments": [comment]}]


def test_include_runs_one_query_per_relation_not_one_per_row(client, owner):
    def add_tasks(count: int) -> None:
        for n in range(count):
            task = insert(owner.workspace_id, "tasks", title=f"t{n}", assignee_id=owner.user_id)
            for m in range(2):
                insert(owner.workspace_id, "comments", task_id=task["id"], text=f"c{m}")

    def statements_for_one_page() -> tuple[int, list]:
        with counted_statements() as seen:
            response = get(client, owner, "/api/v1/tasks", include="comments,assignee", per_page=100)
        assert response.status_code == 200
        return len(seen), response.json["data"]

    add_tasks(5)
    get(client, owner, "/api/v1/tasks")  # warm the credentials cache
    few, rows = statements_for_one_page()
    assert len(rows) == 5 and all(len(r["comments"]) == 2 and r["assignee"]["id"] == owner.user_id for r in rows)
    add_tasks(20)
    many, rows = statements_for_one_page()
    assert len(rows) == 25 and all(len(r["comments"]) == 2 for r in rows)
    assert many == few


# --- pages -----------------------------------------------------------------------------------------


def test_page_meta_links_and_headers(client, owner, make):
    made = [make("tasks", title=f"t{n:02}") for n in range(8)]
    listed = get(client, owner, "/api/v1/tasks", per_page=3, page=2, sort="title")
    assert names(listed) == ["t03", "t04", "t05"]
    assert listed.json["meta"] == {"current_page": 2, "from": 4, "last_page": 3, "per_page": 3, "to": 6, "total": 8}
    links = listed.json["links"]
    assert {k: v and v.split("?")[0] for k, v in links.items()} == {
        "first": "http://localhost/api/v1/tasks",
        "last": "http://localhost/api/v1/tasks",
        "prev": "http://localhost/api/v1/tasks",
        "next": "http://localhost/api/v1/tasks",
    }
    assert "page=1" in links["first"] and "page=3" in links["last"] and "page=3" in links["next"]
    assert "sort=title" in links["next"] and "per_page=3" in links["next"]
    assert listed.headers["X-Total-Count"] == "8"
    assert all(f'<{links[rel]}>; rel="{rel}"' in listed.headers["Link"] for rel in ("first", "prev", "next", "last"))
    last = get(client, owner, "/api/v1/tasks", per_page=3, page=3, sort="title")
    assert names(last) == ["t06", "t07"] and last.json["links"]["next"] is None
    assert (last.json["meta"]["from"], last.json["meta"]["to"]) == (7, 8)
    assert 'rel="next"' not in last.headers["Link"]
    first = get(client, owner, "/api/v1/tasks", per_page=3, sort="title")
    assert first.json["links"]["prev"] is None and first.json["meta"]["current_page"] == 1
    # the filter is part of the count and of the links
    filtered = get(client, owner, "/api/v1/tasks", filter={"title": {"in": ["t00", "t01"]}}, per_page=1)
    assert filtered.json["meta"]["total"] == 2 and filtered.headers["X-Total-Count"] == "2"
    assert "filter=" in filtered.json["links"]["next"]
    clamped = get(client, owner, "/api/v1/tasks", per_page=1000)
    assert clamped.json["meta"]["per_page"] == 100 and len(clamped.json["data"]) == len(made)
    empty = get(client, owner, "/api/v1/tasks", page=9)
    assert empty.json["data"] == [] and (empty.json["meta"]["from"], empty.json["meta"]["to"]) == (None, None)
    for bad in ({"page": 0}, {"page": "two"}, {"per_page": 0}, {"per_page": -5}, {"per_page": "x"}):
        assert_error(get(client, owner, "/api/v1/tasks", **bad), 400, "bad_request")


@pytest.mark.parametrize("sort", [None, "created_at", "status", "-priority,status"])
def test_pages_of_equal_rows_cover_every_record_once_in_a_stable_order(client, owner, make, sort):
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), tick=False):
        ids = {make("tasks", title=f"t{n}")["id"] for n in range(11)}
        params = {"per_page": 3} | ({"sort": sort} if sort else {})

        def walk() -> list[str]:
            seen = []
            for page in range(1, 5):
                seen += [t["id"] for t in get(client, owner, "/api/v1/tasks", page=page, **params).json["data"]]
            return seen

        first = walk()
        assert len(first) == 11 and set(first) == ids  # every record, exactly once
        assert walk() == first  # the same order twice
        assert first == sorted(first)  # ties are broken by id


# --- date aliases ----------------------------------------------------------------------------------


def _tasks_at(client, owner, times: dict[str, str]) -> dict[str, dict]:
    made = {}
    for title, at in times.items():
        with time_machine.travel(datetime.fromisoformat(at), tick=False):
            response = client.post("/api/v1/tasks", json={"title": title}, headers=owner.headers)
            assert response.status_code == 201
            made[title] = response.json["data"]
    return made


def test_start_date_and_end_date_are_created_after_and_created_before(client, owner):
    _tasks_at(client, owner, TIMES)
    for alias, name, value, expected in (
        ("start_date", "created_after", "2026-01-15T00:00:00Z", {"feb", "mar"}),
        ("start_date", "created_after", "2026-02-01T10:00:00Z", {"feb", "mar"}),  # inclusive
        ("end_date", "created_before", "2026-02-15T00:00:00Z", {"jan", "feb"}),
        ("end_date", "created_before", "2026-02-01T10:00:00Z", {"jan"}),  # exclusive
        ("end_date", "created_before", "2026-02-01T12:00:00+02:00", {"jan"}),
    ):
        assert set(names(get(client, owner, "/api/v1/tasks", **{alias: value}))) == expected, (alias, value)
        assert set(names(get(client, owner, "/api/v1/tasks", **{name: value}))) == expected, (name, value)
    both = get(client, owner, "/api/v1/tasks", start_date="2026-01-15T00:00:00Z", end_date="2026-02-15T00:00:00Z")
    assert names(both) == ["feb"] and both.json["meta"]["total"] == 1
    for bad in ({"start_date": "last week"}, {"end_date": "2026-99-01"}):
        assert_error(get(client, owner, "/api/v1/tasks", **bad), 400, "bad_request")


# --- tenants ---------------------------------------------------------------------------------------


def test_lists_never_show_another_workspaces_records(client, owner, other, tasks, make):
    theirs = make("tasks", headers=other.headers, title="alpha", status="todo", description="the third")
    make("comments", headers=other.headers, task_id=theirs["id"], text="theirs")
    assert get(client, owner, "/api/v1/tasks").json["meta"]["total"] == 4
    assert names(get(client, owner, "/api/v1/tasks", filter={"id": theirs["id"]})) == []
    assert names(get(client, owner, "/api/v1/tasks", filter={"title": "alpha"})) == ["alpha"]
    assert get(client, owner, "/api/v1/tasks", filter={"title": "alpha"}).json["data"][0]["id"] == tasks["a"]["id"]
    assert names(get(client, owner, "/api/v1/tasks", search="third")) == ["gamma"]
    assert get(client, owner, "/api/v1/comments").json["data"] == []
    assert get(client, owner, "/api/v1/comments", filter={"task_id": theirs["id"]}).json["data"] == []
    mine = make("comments", task_id=tasks["a"]["id"], text="mine")
    for item in get(client, owner, "/api/v1/tasks", include="comments").json["data"]:
        assert all(c["id"] == mine["id"] for c in item["comments"])
    # and the other way round
    theirs_listed = get(client, other, "/api/v1/tasks", include="comments").json["data"]
    assert [(t["id"], [c["text"] for c in t["comments"]]) for t in theirs_listed] == [(theirs["id"], ["theirs"])]


def test_an_assignee_who_left_the_workspace_is_never_embedded(client, owner, make):
    leaver = factories.member(owner.workspace_id, "leaver@example.com", "member")
    task = make("tasks", title="t", assignee_id=leaver.user_id)
    removed = client.delete(f"/api/v1/workspaces/{owner.workspace_id}/members/{leaver.user_id}", headers=owner.headers)
    assert removed.status_code == 204
    listed = get(client, owner, "/api/v1/tasks", include="assignee")
    assert listed.json["data"][0]["id"] == task["id"]
    assert listed.json["data"][0]["assignee"] is None
    assert "leaver@example.com" not in listed.get_data(as_text=True)
    one = client.get(f"/api/v1/tasks/{task['id']}?include=assignee", headers=owner.headers)
    assert one.json["data"]["assignee"] is None


# --- a custom entity's own rate limit --------------------------------------------------------------


def test_a_custom_entitys_rate_limit_refuses_the_fourth_request_in_a_minute(client, owner):
    declaration = {**GADGETS, "name": "widgets", "singular": "widget", "id_prefix": "wdg", "relations": {}}
    declaration["fields"] = {"label": {"type": "string"}}
    declaration["searchable"] = declaration["sortable"] = declaration["filterable"] = ["label"]
    declaration["rate_limit"] = {"limit": 3, "window": "1m"}
    assert client.post("/api/v1/entities", json=declaration, headers=owner.headers).status_code == 201
    statuses = [client.get("/api/v1/widgets", headers=owner.headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = client.post("/api/v1/widgets", json={"label": "x"}, headers=owner.headers)
    body = assert_error(refused, 429, "rate_limit_exceeded")
    assert body["limit"] == 3 and body["remaining"] == 0 and int(refused.headers["Retry-After"]) >= 1
    assert_error(client.get("/api/v1/widgets", headers=owner.headers), 429, "rate_limit_exceeded")
    assert client.get("/api/v1/tasks", headers=owner.headers).status_code == 200  # other entities: unaffected
    assert client.get("/api/v1/entities/widgets", headers=owner.headers).status_code == 200
