"""SEO reports as the API takes and shows them (issue 6). Processing is in tasks.py."""

from __future__ import annotations

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.errors import not_found
from ..core.ids import new_id
from ..entitlements import service as entitlements
from ..extensions import db
from . import tasks
from .models import SeoIssue, SeoReport

EVENT_TYPES = tasks.EVENT_TYPES
FEATURE = "seo_reports"


def create_report(workspace_id: str, tier: str, data: dict) -> SeoReport:
    """Counts one `seo_reports` (403 past the plan's limit), commits the report as `queued`, then
    queues its processing: if Redis is down the sweeper queues it later; nothing is lost."""
    entitlements.require(workspace_id, tier, FEATURE, lambda: entitlements.used(workspace_id, FEATURE))
    entitlements.add_usage(workspace_id, FEATURE, 1)
    lighthouse = "lighthouse" in data
    payload = (
        {"lighthouse": data["lighthouse"]}
        if lighthouse
        else {"scores": data["scores"], "issues": data.get("issues", [])}
    )
    report = SeoReport(
        id=new_id("seo"),
        workspace_id=workspace_id,
        url=data["url"],
        source="lighthouse" if lighthouse else "scores",
        status="queued",
        payload=payload,
        created_at=utcnow(),
    )
    db.session.add(report)
    db.session.commit()
    tasks.queue_report(report.id)
    return report


def reports_query(workspace_id: str, url: str | None = None):
    stmt = sa.select(SeoReport).where(SeoReport.workspace_id == workspace_id)
    if url is not None:
        stmt = stmt.where(SeoReport.url == url)
    return stmt


def get_report(workspace_id: str, report_id: str) -> SeoReport:
    report = db.session.scalar(reports_query(workspace_id).where(SeoReport.id == report_id))
    if report is None:
        raise not_found("SEO report not found.")
    return report


def issues_query(workspace_id: str, filters: dict):
    stmt = sa.select(SeoIssue).where(SeoIssue.workspace_id == workspace_id)
    for name in ("url", "severity", "issue_type"):
        if filters.get(name) is not None:
            stmt = stmt.where(getattr(SeoIssue, name) == filters[name])
    return stmt
