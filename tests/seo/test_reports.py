"""SEO reports through the real pipeline: accepted as queued, processed by the worker (a real RQ
SimpleWorker on Redis, the request's after-response job on the embedded default)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine

from app.core.events import Event
from app.extensions import db
from app.seo import tasks
from app.seo.models import SeoIssue, SeoReport
from app.webhooks.models import WebhookDelivery
from tests.assertions import ISO_Z
from tests.webhooks import run_jobs

from . import ISSUES, REPORT, REPORTS, URL, body

REPORT_FIELDS = {
    "id", "url", "source", "status", "scores", "score_deltas", "previous_report_id", "issue_count", "new_issues",
    "persisting_issues", "resolved_issues", "error", "created_at", "processed_at",
}  # fmt: skip
ISSUE_FIELDS = {
    "id", "url", "issue_type", "element", "severity", "message", "details", "status", "first_seen_at",
    "last_seen_at", "resolved_at", "created_at",
}  # fmt: skip


def submit(client, owner, payload) -> dict:
    response = client.post(REPORT, json=payload, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    run_jobs()
    return response.json


def fetched(client, owner, report_id) -> dict:
    response = client.get(f"{REPORTS}/{report_id}", headers=owner.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["data"]


def events(type_: str) -> list[Event]:
    return list(db.session.scalars(sa.select(Event).where(Event.type == type_).order_by(Event.created_at)))


def test_a_report_is_accepted_queued_then_processed(client, owner):
    answer = submit(client, owner, body())
    assert answer["message"] == "SEO report queued for processing."
    data = answer["data"]
    assert set(data) == REPORT_FIELDS
    assert data["id"].startswith("seo_") and data["status"] == "queued" and data["url"] == URL
    assert data["source"] == "scores" and ISO_Z.match(data["created_at"])
    report = fetched(client, owner, data["id"])
    assert report["status"] == "processed" and ISO_Z.match(report["processed_at"])
    assert report["scores"] == {"performance": 85, "accessibility": 92, "best_practices": 88, "seo": 95}
    assert report["score_deltas"] is None and report["previous_report_id"] is None
    assert (report["issue_count"], report["new_issues"], report["persisting_issues"], report["resolved_issues"]) == (
        1, 1, 0, 0,
    )  # fmt: skip
    processed = events("seo.report.processed")
    assert len(processed) == 1 and processed[0].data == report and processed[0].workspace_id == owner.workspace_id
    assert events("seo.score_dropped") == []
    assert db.session.get(SeoReport, data["id"]).payload is None  # the parsed result is kept, not the body


def test_issues_as_the_seed_shows_them(client, owner):
    submit(client, owner, body())
    response = client.get(f"{ISSUES}/{owner.workspace_id}", headers=owner.headers)
    assert response.status_code == 200
    (issue,) = response.json["data"]
    assert set(issue) == ISSUE_FIELDS
    assert issue["id"].startswith("seoi_") and issue["url"] == URL
    assert (issue["issue_type"], issue["severity"], issue["element"], issue["status"]) == (
        "missing_alt", "warning", "img.hero-image", "open",
    )  # fmt: skip
    assert issue["first_seen_at"] == issue["last_seen_at"] and issue["resolved_at"] is None
    assert response.json["meta"]["total"] == 1


def test_a_second_report_has_deltas_and_new_persisting_and_resolved_issues(client, owner):
    first = submit(
        client,
        owner,
        body(
            issues=[
                {"type": "missing_alt", "severity": "warning", "element": "img.hero-image"},
                {"type": "missing_title", "severity": "error"},
            ]
        ),
    )["data"]
    second = submit(
        client,
        owner,
        body(
            scores={"performance": 70, "accessibility": 91, "best_practices": 88, "seo": None},
            issues=[
                {"type": "missing_alt", "severity": "error", "element": "img.hero-image"},
                {"type": "missing_alt", "severity": "warning", "element": "img.logo"},
                {"type": "missing_alt", "severity": "error", "element": "img.hero-image"},  # the same issue twice
            ],
        ),
    )["data"]
    report = fetched(client, owner, second["id"])
    assert report["previous_report_id"] == first["id"]
    assert report["score_deltas"] == {"performance": -15, "accessibility": -1, "best_practices": 0, "seo": None}
    assert (report["issue_count"], report["new_issues"], report["persisting_issues"], report["resolved_issues"]) == (
        2, 1, 1, 1,
    )  # fmt: skip
    issues = {
        (i["issue_type"], i["element"]): i
        for i in client.get(f"{ISSUES}/{owner.workspace_id}", headers=owner.headers).json["data"]
    }
    assert issues[("missing_alt", "img.hero-image")]["status"] == "open"
    assert issues[("missing_alt", "img.hero-image")]["severity"] == "error"  # as last seen
    assert issues[("missing_title", None)]["status"] == "resolved" and issues[("missing_title", None)]["resolved_at"]
    assert issues[("missing_alt", "img.logo")]["status"] == "open"
    (dropped,) = events("seo.score_dropped")
    assert dropped.data == {
        "report_id": second["id"],
        "url": URL,
        "previous_report_id": first["id"],
        "drops": {"performance": {"previous": 85, "current": 70, "delta": -15}},
    }
    # a resolved issue seen again is open again, and counts as new
    third = submit(client, owner, body(issues=[{"type": "missing_title", "severity": "error"}]))["data"]
    report = fetched(client, owner, third["id"])
    assert (report["new_issues"], report["persisting_issues"], report["resolved_issues"]) == (1, 0, 2)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeoIssue)) == 3


def test_a_drop_of_less_than_ten_points_records_no_score_dropped(client, owner):
    submit(client, owner, body())
    submit(client, owner, body(scores={"performance": 75.5, "accessibility": 92, "best_practices": 88, "seo": 95}))
    assert events("seo.score_dropped") == []
    assert len(events("seo.report.processed")) == 2


def test_deltas_compare_reports_of_the_same_url_only(client, owner):
    submit(client, owner, body(url="https://example.com/a"))
    other = submit(client, owner, body(url="https://example.com/b", issues=[]))["data"]
    report = fetched(client, owner, other["id"])
    assert report["previous_report_id"] is None and report["resolved_issues"] == 0
    listed = client.get(f"{ISSUES}/{owner.workspace_id}?status=open", headers=owner.headers).json["data"]
    assert [i["url"] for i in listed] == ["https://example.com/a"]


def test_processing_twice_changes_nothing(client, owner):
    first = submit(client, owner, body())["data"]
    second = submit(client, owner, body(issues=[]))["data"]
    before = fetched(client, owner, second["id"])
    tasks.process_report(second["id"])
    tasks.process_report(first["id"])
    assert fetched(client, owner, second["id"]) == before
    assert len(events("seo.report.processed")) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SeoIssue)) == 1


def test_a_report_whose_job_was_lost_is_queued_again_by_the_sweeper(client, owner, app, monkeypatch):
    def redis_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    with monkeypatch.context() as patch:
        patch.setattr(tasks.jobs, "enqueue", redis_down)
        response = client.post(REPORT, json=body(), headers=owner.headers)
    assert response.status_code == 201
    report_id = response.json["data"]["id"]
    run_jobs()
    assert fetched(client, owner, report_id)["status"] == "queued"
    monkeypatch.setitem(app.config, "SEO_REQUEUE_AFTER", 0)
    assert tasks.requeue_stuck_reports() == 1
    run_jobs()
    assert fetched(client, owner, report_id)["status"] == "processed"
    assert tasks.requeue_stuck_reports() == 0


def test_the_sweeper_requeues_a_lost_report_at_most_seo_max_attempts_times(client, owner, app, monkeypatch):
    """A report whose job is lost every time is queued again once per SEO_REQUEUE_AFTER, then fails."""
    lost: list[str] = []
    monkeypatch.setattr(tasks.jobs, "enqueue", lambda func, report_id, **options: lost.append(report_id))
    monkeypatch.setitem(app.config, "SEO_REQUEUE_AFTER", 300)
    monkeypatch.setitem(app.config, "SEO_MAX_ATTEMPTS", 2)
    t0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        report_id = submit(client, owner, body())["data"]["id"]
    assert lost == [report_id]
    for seconds, requeued in ((299, 0), (300, 1), (599, 0), (600, 1), (900, 0)):
        with time_machine.travel(t0 + timedelta(seconds=seconds), tick=False):
            assert tasks.requeue_stuck_reports() == requeued, seconds
    assert lost == [report_id] * 3
    report = fetched(client, owner, report_id)
    assert report["status"] == "failed"
    assert report["error"] == "Processing did not finish after 3 attempts."
    with time_machine.travel(t0 + timedelta(seconds=1800), tick=False):
        assert tasks.requeue_stuck_reports() == 0


def test_reports_list_newest_first_filtered_by_url_and_status(client, owner):
    a = submit(client, owner, body(url="https://example.com/a"))["data"]
    b = submit(client, owner, body(url="https://example.com/b"))["data"]
    a2 = submit(client, owner, body(url="https://example.com/a"))["data"]
    listed = client.get(REPORTS, headers=owner.headers)
    assert listed.status_code == 200 and listed.json["meta"]["total"] == 3
    assert {r["id"] for r in listed.json["data"]} == {a["id"], b["id"], a2["id"]}
    by_url = client.get(
        REPORTS, query_string={"url": "https://example.com/a", "sort": "created_at"}, headers=owner.headers
    )
    assert [r["id"] for r in by_url.json["data"]] == [a["id"], a2["id"]]
    assert client.get(REPORTS, query_string={"status": "failed"}, headers=owner.headers).json["data"] == []
    assert client.get(REPORTS, query_string={"status": "nope"}, headers=owner.headers).status_code == 400


def test_issue_filters(client, owner):
    submit(
        client,
        owner,
        body(
            url="https://example.com/a",
            issues=[
                {"type": "missing_alt", "severity": "warning", "element": "img"},
                {"type": "missing_title", "severity": "error", "message": "No <title>", "details": {"tag": "title"}},
            ],
        ),
    )
    submit(client, owner, body(url="https://example.com/b", issues=[{"type": "missing_alt", "severity": "info"}]))
    path = f"{ISSUES}/{owner.workspace_id}"

    def types(**query):
        response = client.get(path, query_string=query, headers=owner.headers)
        assert response.status_code == 200, response.json
        return sorted((i["url"][-1], i["issue_type"]) for i in response.json["data"])

    assert types(severity="error") == [("a", "missing_title")]
    assert types(issue_type="missing_alt") == [("a", "missing_alt"), ("b", "missing_alt")]
    assert types(url="https://example.com/b") == [("b", "missing_alt")]
    assert types(status="resolved") == []
    assert len(types(per_page=1, page=3)) == 1 and types(per_page=1, page=4) == []
    assert client.get(path, query_string={"severity": "fatal"}, headers=owner.headers).status_code == 400
    assert client.get(path, query_string={"sort": "message"}, headers=owner.headers).status_code == 400


def test_webhooks_subscribe_to_the_seo_events(client, owner):
    hook = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.com/in", "events": ["seo.report.processed", "seo.score_dropped"]},
        headers=owner.headers,
    )
    assert hook.status_code == 201, hook.get_data(as_text=True)
    submit(client, owner, body())
    submit(client, owner, body(scores={"performance": 70, "accessibility": 92, "best_practices": 88, "seo": 95}))
    delivered = db.session.scalars(
        sa.select(WebhookDelivery.event_type).where(WebhookDelivery.endpoint_id == hook.json["data"]["id"])
    )
    assert sorted(delivered) == ["seo.report.processed", "seo.report.processed", "seo.score_dropped"]
