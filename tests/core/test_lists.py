"""API.md §4–§5: page lists (meta, links, headers), page/per_page, sort, fields, include, filters.

Exercised on GET /api/v1/workspaces, whose list goes through the one shared helper.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from app.workspaces import service as workspaces

from . import assert_error

URL = "/api/v1/workspaces"
BASE = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
COUNT = 30  # plus the owner's personal workspace
LINK = re.compile(r'<([^>]+)>;\s*rel="([a-z]+)"')


@pytest.fixture
def many(owner):
    """30 workspaces, three per minute from BASE (ties in created_at), five named Zebra…"""
    made = []
    for i in range(COUNT):
        name = f"Zebra {i:02d}" if i % 6 == 0 else f"Team {(i * 7) % COUNT:02d}"
        with time_machine.travel(BASE + timedelta(minutes=i // 3), tick=False):
            made.append(workspaces.create_workspace(owner.user_id, {"name": name}))
    return made


def get(client, owner, **params):
    return client.get(URL, headers=owner.headers, query_string=params)


def ids(response) -> list[str]:
    return [item["id"] for item in response.get_json()["data"]]


def everything(client, owner) -> list[dict]:
    return get(client, owner, per_page=100).get_json()["data"]


def links(response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers["Link"])}


def page_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["page"][0])


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the page envelope and its headers -------------------------------------------------------


def test_first_page_has_meta_and_links(client, owner, many):
    response = get(client, owner)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"data", "meta", "links"}
    assert body["meta"] == {"current_page": 1, "from": 1, "last_page": 2, "per_page": 25, "to": 25, "total": 31}
    assert set(body["links"]) == {"first", "last", "prev", "next"}
    assert body["links"]["prev"] is None
    assert page_of(body["links"]["first"]) == 1
    assert page_of(body["links"]["next"]) == 2
    assert page_of(body["links"]["last"]) == 2
    assert len(body["data"]) == 25


def test_last_page_meta_and_links(client, owner, many):
    body = get(client, owner, page=2).get_json()
    assert body["meta"] == {"current_page": 2, "from": 26, "last_page": 2, "per_page": 25, "to": 31, "total": 31}
    assert body["links"]["next"] is None
    assert page_of(body["links"]["prev"]) == 1
    assert len(body["data"]) == 6


def test_total_count_and_link_headers(client, owner, many):
    response = get(client, owner, page=2, per_page=10)
    assert response.headers["X-Total-Count"] == "31"
    rels = links(response)
    assert set(rels) == {"first", "prev", "next", "last"}
    assert {rel: page_of(url) for rel, url in rels.items()} == {"first": 1, "prev": 1, "next": 3, "last": 4}
    # the header's URLs are the body's links, and keep the other query parameters
    assert rels == {k: v for k, v in response.get_json()["links"].items() if v}
    assert all(parse_qs(urlsplit(url).query)["per_page"] == ["10"] for url in rels.values())


def test_link_header_of_a_single_page_has_no_prev_or_next(client, owner):
    response = get(client, owner)
    assert response.headers["X-Total-Count"] == "1"
    assert set(links(response)) == {"first", "last"}


def test_lists_show_only_the_callers_rows(client, owner, other, many):
    listed = set(ids(get(client, owner, per_page=100)))
    assert other.workspace_id not in listed
    assert ids(get(client, other)) == [other.workspace_id]


# --- page and per_page -------------------------------------------------------------------------


def test_per_page_defaults_to_25(client, owner, many):
    assert get(client, owner).get_json()["meta"]["per_page"] == 25


@pytest.mark.parametrize("per_page", [101, 500, 2**40])
def test_per_page_above_100_is_clamped(client, owner, many, per_page):
    body = get(client, owner, per_page=per_page).get_json()
    assert body["meta"]["per_page"] == 100
    assert len(body["data"]) == 31


def test_per_page_of_one(client, owner, many):
    body = get(client, owner, per_page=1, page=31).get_json()
    assert body["meta"] == {"current_page": 31, "from": 31, "last_page": 31, "per_page": 1, "to": 31, "total": 31}


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "", "1e2"])
def test_bad_per_page_is_400(client, owner, value):
    assert_error(get(client, owner, per_page=value), 400, "bad_request")


@pytest.mark.parametrize("value", ["0", "-3", "two", "2.0", str(2**40)])
def test_bad_page_is_400(client, owner, value):
    assert_error(get(client, owner, page=value), 400, "bad_request")


def test_a_page_beyond_the_last_is_empty(client, owner, many):
    body = get(client, owner, page=9).get_json()
    assert body["data"] == []
    assert body["meta"] == {"current_page": 9, "from": None, "last_page": 2, "per_page": 25, "to": None, "total": 31}
    assert body["links"]["next"] is None
    assert page_of(body["links"]["prev"]) == 8


# --- sort ----------------------------------------------------------------------------------------


def test_default_sort_is_newest_first_and_stable(client, owner, many):
    rows = everything(client, owner)
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[0] > iso(BASE + timedelta(minutes=9))  # the personal workspace, made "now"
    # ties are broken the same way every time (by id; its collation is the database's)
    assert [r["id"] for r in everything(client, owner)] == [r["id"] for r in rows]


def test_sort_by_name_ascending(client, owner, many):
    names = [r["name"] for r in get(client, owner, sort="name", per_page=100).get_json()["data"]]
    assert names == sorted(names)


def test_sort_descending_then_ascending(client, owner, many):
    rows = get(client, owner, sort="-created_at,name", per_page=100).get_json()["data"]
    expected = sorted(rows, key=lambda r: (_desc(r["created_at"]), r["name"]))
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    # the ties are real: three rows share each created_at
    assert len({r["created_at"] for r in rows}) < len(rows)


def test_sort_by_name_descending(client, owner, many):
    names = [r["name"] for r in get(client, owner, sort="-name", per_page=100).get_json()["data"]]
    assert names == sorted(names, reverse=True)


@pytest.mark.parametrize("sort", ["bogus", "-bogus", "name,bogus", "settings", "id;drop"])
def test_unsortable_field_is_400_invalid_sort(client, owner, sort):
    assert_error(get(client, owner, sort=sort), 400, "invalid_sort")


@pytest.mark.parametrize("sort", [None, "created_at", "name", "-name,created_at"])
def test_paging_visits_every_row_exactly_once(client, owner, many, sort):
    params = {"per_page": 7} if sort is None else {"per_page": 7, "sort": sort}
    seen = []
    for page in range(1, 6):
        seen += ids(get(client, owner, page=page, **params))
    assert len(seen) == len(set(seen)) == 31
    assert set(seen) == {w.id for w in many} | {owner.workspace_id}


# --- fields and include --------------------------------------------------------------------------


def test_fields_selects_keys(client, owner, many):
    data = get(client, owner, fields="id,name").get_json()["data"]
    assert data and all(set(item) == {"id", "name"} for item in data)


def test_fields_always_keeps_id(client, owner, many):
    data = get(client, owner, fields="slug").get_json()["data"]
    assert data and all(set(item) == {"id", "slug"} for item in data)


def test_unknown_field_in_fields_is_400(client, owner):
    assert_error(get(client, owner, fields="id,secret"), 400, "bad_request")


@pytest.mark.parametrize("include", ["bogus", "owner,bogus"])
def test_unknown_include_is_400(client, owner, include):
    assert_error(get(client, owner, include=include), 400, "bad_request")


# --- filters ---------------------------------------------------------------------------------------


def test_search_matches_names_case_insensitively(client, owner, many):
    names = [r["name"] for r in get(client, owner, search="zEbRa").get_json()["data"]]
    assert sorted(names) == [f"Zebra {i:02d}" for i in range(0, COUNT, 6)]


@pytest.mark.parametrize("term", ["%", "_", "\\"])
def test_search_treats_wildcards_literally(client, owner, many, term):
    body = get(client, owner, search=term).get_json()
    assert body["data"] == [] and body["meta"]["total"] == 0


def test_created_after_is_inclusive(client, owner, many):
    since = BASE + timedelta(minutes=5)
    rows = get(client, owner, created_after=iso(since), per_page=100).get_json()["data"]
    expected = {w.id for i, w in enumerate(many) if i // 3 >= 5} | {owner.workspace_id}
    assert {r["id"] for r in rows} == expected


def test_created_before_is_exclusive(client, owner, many):
    rows = get(client, owner, created_before=iso(BASE + timedelta(minutes=2)), per_page=100).get_json()["data"]
    assert {r["id"] for r in rows} == {w.id for w in many[:6]}


def test_created_after_and_before_together_with_an_offset(client, owner, many):
    after = (BASE + timedelta(minutes=3, hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")  # = BASE + 3 min
    before = iso(BASE + timedelta(minutes=5))
    rows = get(client, owner, created_after=after, created_before=before, per_page=100).get_json()["data"]
    assert {r["id"] for r in rows} == {w.id for w in many[9:15]}


@pytest.mark.parametrize("param", ["created_after", "created_before", "updated_after"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-01-01T25:00:00Z", "1700000000"])
def test_malformed_date_filter_is_400(client, owner, param, value):
    assert_error(get(client, owner, **{param: value}), 400, "bad_request")


def test_unknown_query_parameters_are_ignored(client, owner, many):
    plain = get(client, owner)
    noisy = get(client, owner, colour="red", filter_by="x", order="asc")
    assert noisy.status_code == 200
    assert ids(noisy) == ids(plain)
    assert noisy.get_json()["meta"] == plain.get_json()["meta"]


def _desc(timestamp: str) -> float:
    return -datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
