from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime


class UsageCounter(Model):
    """Metered usage of one feature on one UTC day; a period's usage is the sum of its days.
    Changed only by atomic upserts (`used = used + n`)."""

    __tablename__ = "usage_counters"

    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    feature: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    used: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)


class UsageRecord(Model):
    """One recorded use (POST /entitlements/usage): the durable trail, deduplicated by key."""

    __tablename__ = "usage_records"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "idempotency_key", name="uq_usage_records_key"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    feature: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    quantity: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255))
    meta: Mapped[dict | None] = mapped_column("metadata", sa.JSON)
    answer: Mapped[dict] = mapped_column(sa.JSON, nullable=False)  # what the first call answered
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)


class EntitlementOverride(Model):
    """A platform admin's limit for one workspace and feature (NULL: unlimited)."""

    __tablename__ = "entitlement_overrides"

    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    feature: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    limit: Mapped[int | None] = mapped_column(sa.BigInteger)


class UsageNotice(Model):
    """A threshold event recorded for a period: the primary key makes it once per period."""

    __tablename__ = "usage_notices"

    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    feature: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    period_start: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    level: Mapped[int] = mapped_column(sa.Integer, primary_key=True)  # 80 or 100
