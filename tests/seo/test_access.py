"""What POST /seo/report refuses, who may read what, and the plan's seo_reports meter."""

from __future__ import annotations

import pytest

from app.entitlements import service as entitlements
from app.workspaces import service as workspaces
from tests import factories
from tests.assertions import denied
from tests.assertions import error as assert_error
from tests.webhooks import run_jobs

from . import ISSUES, REPORT, REPORTS, URL, body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://example.com/" + "a" * 2048}, "url"),
        ({"scores": {"performance": "85"}}, "scores"),
        ({"scores": {"performance": True}}, "scores"),
        ({"scores": {"performance": 101}}, "scores"),
        ({"scores": {"seo": -1}}, "scores"),
        ({"scores": {"speed": 50}}, "scores"),
        ({"issues": [{"type": "missing_alt", "severity": "fatal"}]}, "issues"),
        ({"issues": [{"severity": "info"}]}, "issues"),
        ({"issues": [{"type": "has space", "severity": "info"}]}, "issues"),
        ({"issues": [{"type": "x", "severity": "info", "element": "e" * 501}]}, "issues"),
        ({"issues": [{"type": "x", "severity": "info", "details": {"blob": "b" * 9000}}]}, "issues"),
        ({"issues": [{"type": "x", "severity": "info", "extra": 1}]}, "issues"),
        ({"lighthouse": {"categories": {}}}, "lighthouse"),  # beside scores and issues
        ({"lighthouse": [1]}, "lighthouse"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_bodies_are_422_with_the_field(client, owner, change, field):
    payload = {**body(), **change}
    errors = assert_error(client.post(REPORT, json=payload, headers=owner.headers), 422, "validation_failed")["errors"]
    assert any(key == field or key.startswith(field + ".") for key in errors), errors


def test_a_body_needs_scores_or_lighthouse(client, owner):
    errors = assert_error(client.post(REPORT, json={"url": URL}, headers=owner.headers), 422, "validation_failed")[
        "errors"
    ]
    assert errors["scores"] == ["Send 'scores' (with 'issues') or a raw 'lighthouse' result."]


def test_issue_count_and_body_size_are_capped(client, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "SEO_MAX_ISSUES", 3)
    issues = [{"type": f"t{i}", "severity": "info"} for i in range(4)]
    errors = assert_error(
        client.post(REPORT, json=body(issues=issues), headers=owner.headers), 422, "validation_failed"
    )["errors"]
    assert errors["issues"] == ["At most 3 issues per report."]
    assert client.post(REPORT, json=body(issues=issues[:3]), headers=owner.headers).status_code == 201
    huge = body(issues=[{"type": "x", "severity": "info", "message": "m" * 2000}] * 600)
    assert_error(client.post(REPORT, json=huge, headers=owner.headers), 413, "payload_too_large")


def test_scopes(client, owner):
    reader = factories.key(owner.user_id, owner.workspace_id, ["seo:read"])
    writer = factories.key(owner.user_id, owner.workspace_id, ["seo:write"])
    denied(client.post(REPORT, json=body(), headers=factories.bearer(reader)), "seo:write")
    created = client.post(REPORT, json=body(), headers=factories.bearer(writer))
    assert created.status_code == 201
    for path in (REPORTS, f"{REPORTS}/{created.json['data']['id']}", f"{ISSUES}/{owner.workspace_id}"):
        denied(client.get(path, headers=factories.bearer(writer)), "seo:read")
        assert client.get(path, headers=factories.bearer(reader)).status_code == 200
    assert_error(client.get(REPORTS), 401, "unauthorized")


def test_a_viewer_reads_but_cannot_submit(client, owner):
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    assert client.get(REPORTS, headers=viewer.headers).status_code == 200
    assert_error(client.post(REPORT, json=body(), headers=viewer.headers), 403, "access_denied")


def test_another_workspace_sees_nothing_of_it(client, owner, other):
    report = client.post(REPORT, json=body(), headers=owner.headers).json["data"]
    run_jobs()
    assert_error(client.get(f"{REPORTS}/{report['id']}", headers=other.headers), 404, "not_found")
    assert client.get(REPORTS, headers=other.headers).json["data"] == []
    assert client.get(f"{ISSUES}/{other.workspace_id}", headers=other.headers).json["data"] == []
    body_ = assert_error(client.get(f"{ISSUES}/{owner.workspace_id}", headers=other.headers), 404, "not_found")
    assert body_["message"] == "Workspace not found."
    assert_error(client.get(f"{ISSUES}/ws_doesnotexist", headers=other.headers), 404, "not_found")
    # the same URL in another workspace is a history of its own
    theirs = client.post(REPORT, json=body(issues=[]), headers=other.headers).json["data"]
    run_jobs()
    mine = client.get(f"{ISSUES}/{owner.workspace_id}", headers=owner.headers).json["data"]
    assert [i["status"] for i in mine] == ["open"]
    assert client.get(f"{REPORTS}/{theirs['id']}", headers=other.headers).json["data"]["previous_report_id"] is None


def test_a_member_reads_issues_of_a_workspace_by_its_id(client, owner, ns):
    client.post(REPORT, json=body(), headers=owner.headers)
    run_jobs()
    helper = factories.account("helper@example.com")  # their key's home is their own workspace
    path = f"{ISSUES}/{owner.workspace_id}"
    assert_error(client.get(path, headers=helper.headers), 404, "not_found")
    operator = ns(role="owner", user_id="operator")
    workspaces.add_member(
        operator, owner.workspace_id, {"email": "helper@example.com", "role": "viewer"}, enforce_plan=False
    )
    listed = client.get(path, headers=helper.headers)
    assert listed.status_code == 200 and [i["issue_type"] for i in listed.json["data"]] == ["missing_alt"]
    assert client.get(f"{ISSUES}/{helper.workspace_id}", headers=helper.headers).json["data"] == []


def test_each_report_counts_once_and_the_free_plan_stops_at_ten(client):
    free = factories.account("free@example.com")
    for _ in range(10):
        assert client.post(REPORT, json=body(), headers=free.headers).status_code == 201
    refused = assert_error(client.post(REPORT, json=body(), headers=free.headers), 403, "feature_limit_reached")
    assert (refused["feature"], refused["limit"], refused["current_usage"]) == ("seo_reports", 10, 10)
    assert entitlements.used(free.workspace_id, "seo_reports") == 10
    run_jobs()
    assert client.get(REPORTS, headers=free.headers).json["meta"]["total"] == 10


def test_paid_plans_go_on_past_the_limit_as_overage(client):
    starter = factories.account("starter@example.com", tier="starter")
    entitlements.add_usage(starter.workspace_id, "seo_reports", 100)
    assert client.post(REPORT, json=body(), headers=starter.headers).status_code == 201
    assert entitlements.used(starter.workspace_id, "seo_reports") == 101
