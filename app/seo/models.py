from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime

REPORT_STATUSES = ("queued", "processed", "failed")
ISSUE_STATUSES = ("open", "resolved")
SEVERITIES = ("error", "warning", "info")
CATEGORIES = ("performance", "accessibility", "best_practices", "seo")


class SeoReport(Model):
    """One audit of one URL as submitted; `payload` is the body, processed by tasks.process_report."""

    __tablename__ = "seo_reports"
    __table_args__ = (
        sa.Index("ix_seo_reports_workspace_url_created", "workspace_id", "url", "created_at"),
        sa.Index("ix_seo_reports_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    url: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    source: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # scores | lighthouse
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="queued")
    payload: Mapped[dict | None] = mapped_column(sa.JSON)  # dropped once processed
    scores: Mapped[dict | None] = mapped_column(sa.JSON)
    score_deltas: Mapped[dict | None] = mapped_column(sa.JSON)
    previous_report_id: Mapped[str | None] = mapped_column(sa.String(40))
    issue_count: Mapped[int | None] = mapped_column(sa.Integer)
    new_issues: Mapped[int | None] = mapped_column(sa.Integer)
    persisting_issues: Mapped[int | None] = mapped_column(sa.Integer)
    resolved_issues: Mapped[int | None] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the sweeper's re-queueings: a report whose job keeps dying fails after SEO_MAX_ATTEMPTS
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    requeued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SeoIssue(Model):
    """One problem of one URL across its reports: (url, issue_type, element) is its identity."""

    __tablename__ = "seo_issues"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "fingerprint", name="uq_seo_issues_workspace_fingerprint"),
        sa.Index("ix_seo_issues_workspace_url_status", "workspace_id", "url", "status"),
        sa.Index("ix_seo_issues_workspace_last_seen", "workspace_id", "last_seen_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    fingerprint: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # sha256 of the identity
    url: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    issue_type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    element: Mapped[str | None] = mapped_column(sa.String(500))
    severity: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    message: Mapped[str | None] = mapped_column(sa.String(2000))
    details: Mapped[dict | None] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="open")
    first_seen_report_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    last_seen_report_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
