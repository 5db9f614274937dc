"""The worker side of SEO reports: process one report, and the sweeper for reports whose job was
lost. Processing is idempotent: a report is processed once, under a row lock; a second run finds
it processed and does nothing."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..core.clock import utcnow
from ..core.events import record_event
from ..core.ids import new_id
from ..core.jobs import jobs
from ..extensions import db
from . import lighthouse
from .models import CATEGORIES, SeoIssue, SeoReport
from .schemas import ReportSchema

log = logging.getLogger("app.seo")

EVENT_TYPES = ("seo.report.processed", "seo.score_dropped")
SCORE_DROP = 10  # points: a fall this large in any category records seo.score_dropped
JOB_TIMEOUT = 120
BATCH = 500


def queue_report(report_id: str) -> None:
    try:
        jobs.enqueue(process_report, report_id, job_timeout=JOB_TIMEOUT)
    except Exception:  # committed as queued: the sweeper queues it again
        log.exception("SEO report committed but not queued", extra={"report": report_id})


def fingerprint(url: str, issue_type: str, element: str | None) -> str:
    """An issue's identity across the reports of a URL: (url, issue_type, element)."""
    return hashlib.sha256("\x1f".join((url, issue_type, element or "")).encode()).hexdigest()


def _parse(report: SeoReport) -> tuple[dict, list[dict]]:
    payload = report.payload or {}
    if report.source == "lighthouse":
        return lighthouse.parse(payload.get("lighthouse"))
    return payload["scores"], payload["issues"]


def _deltas(scores: dict, previous: dict | None) -> dict | None:
    if previous is None:
        return None
    deltas = {}
    for name in CATEGORIES:
        now, before = scores.get(name), previous.get(name)
        deltas[name] = None if now is None or before is None else round(now - before, 1)
    return deltas


def _merge_issues(report: SeoReport, found: list[dict], now: datetime) -> tuple[int, int, int, int]:
    """Upsert the report's issues; resolve the URL's open issues it no longer has.
    Returns (distinct issues, new, persisting, resolved)."""
    unique: dict[str, dict] = {}
    for issue in found:
        unique.setdefault(fingerprint(report.url, issue["type"], issue.get("element")), issue)
    existing = {
        i.fingerprint: i
        for i in db.session.scalars(
            sa.select(SeoIssue).where(SeoIssue.workspace_id == report.workspace_id, SeoIssue.url == report.url)
        )
    }
    new = persisting = resolved = 0
    for key, issue in unique.items():
        row = existing.get(key)
        if row is None:
            row = SeoIssue(
                id=new_id("seoi"),
                workspace_id=report.workspace_id,
                fingerprint=key,
                url=report.url,
                issue_type=issue["type"],
                element=issue.get("element"),
                first_seen_report_id=report.id,
                first_seen_at=now,
                created_at=now,
            )
            db.session.add(row)
            new += 1
        elif row.status == "open":
            persisting += 1
        else:
            new += 1  # it came back
        row.severity, row.message, row.details = issue["severity"], issue.get("message"), issue.get("details")
        row.status, row.resolved_at = "open", None
        row.last_seen_report_id, row.last_seen_at = report.id, now
    for key, row in existing.items():
        if key not in unique and row.status == "open":
            row.status, row.resolved_at = "resolved", now
            resolved += 1
    return len(unique), new, persisting, resolved


def process_report(report_id: str) -> None:
    query = sa.select(SeoReport).where(SeoReport.id == report_id)
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        query = query.with_for_update()  # two workers on one report: the second waits, then sees it done
    report = db.session.scalar(query)
    if report is None or report.status != "queued":
        db.session.rollback()
        return
    if postgresql:  # two reports of one URL: merged one after the other, never racing on its issues
        db.session.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"seo:{report.workspace_id}:{report.url}")))
        )
    now = report.processed_at = utcnow()
    try:
        scores, found = _parse(report)
    except lighthouse.LighthouseError as exc:
        report.status, report.error, report.payload = "failed", str(exc), None
        db.session.commit()
        return
    previous = db.session.scalar(
        sa.select(SeoReport)
        .where(
            SeoReport.workspace_id == report.workspace_id,
            SeoReport.url == report.url,
            SeoReport.status == "processed",
            SeoReport.id != report.id,
        )
        .order_by(SeoReport.processed_at.desc(), SeoReport.id.desc())
        .limit(1)
    )
    report.scores = {name: scores.get(name) for name in CATEGORIES}
    report.previous_report_id = previous.id if previous else None
    report.score_deltas = _deltas(report.scores, previous.scores if previous else None)
    counts = _merge_issues(report, found[: current_app.config["SEO_MAX_ISSUES"]], now)
    report.issue_count, report.new_issues, report.persisting_issues, report.resolved_issues = counts
    report.status, report.payload = "processed", None  # the parsed result is kept, not the raw body
    db.session.flush()
    data = ReportSchema().dump(report)
    record_event(report.workspace_id, "seo.report.processed", data)
    if previous is not None:
        _record_drops(report, previous)
    db.session.commit()


def _record_drops(report: SeoReport, previous: SeoReport) -> None:
    before = previous.scores or {}
    drops = {
        name: {"previous": before.get(name), "current": (report.scores or {}).get(name), "delta": delta}
        for name, delta in (report.score_deltas or {}).items()
        if delta is not None and delta <= -SCORE_DROP
    }
    if drops:
        record_event(
            report.workspace_id,
            "seo.score_dropped",
            {"report_id": report.id, "url": report.url, "previous_report_id": previous.id, "drops": drops},
        )


def requeue_stuck_reports() -> int:
    """Periodic: queue again the reports still `queued` SEO_REQUEUE_AFTER seconds after they were
    last queued (their job was lost with Redis or a worker; running a report twice is harmless).
    One queued SEO_MAX_ATTEMPTS times already fails instead: its job keeps dying, or never runs."""
    now = utcnow()
    before = now - timedelta(seconds=current_app.config["SEO_REQUEUE_AFTER"])
    stuck = db.session.scalars(
        sa.select(SeoReport)
        .where(
            SeoReport.status == "queued",
            SeoReport.created_at <= before,
            sa.or_(SeoReport.requeued_at.is_(None), SeoReport.requeued_at <= before),
        )
        .order_by(SeoReport.created_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)  # two sweepers never take the same report
    ).all()
    most = current_app.config["SEO_MAX_ATTEMPTS"]
    again = []
    for report in stuck:
        if report.attempts >= most:
            report.status, report.payload = "failed", None
            report.error = f"Processing did not finish after {most + 1} attempts."
        else:
            report.attempts += 1
            report.requeued_at = now
            again.append(report.id)
    db.session.commit()
    for report_id in again:
        queue_report(report_id)
    return len(again)
