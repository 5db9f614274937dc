from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime

STATUSES = ("pending", "retrying", "success", "failed")


class WebhookEndpoint(Model):
    """A URL subscribed to event types; its signing secret is stored encrypted (core.crypto)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.String(500))
    events: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    secret_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    # after a rotation the old secret signs too, until previous_secret_expires_at
    previous_secret_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(255))
    # changed only by SQL increments, so concurrent workers keep them exact
    success_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    failure_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_delivery_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Model):
    """One event to one endpoint. `attempt` counts the attempts made so far.

    Two leases keep delivery at-least-once without double sends: `queued_until` (a job for it is
    on a queue; the sweeper leaves it alone until then) and `sending_until` (a worker claimed the
    attempt; set by compare-and-set, so no second worker sends the same attempt).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        sa.Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
        sa.Index("ix_webhook_deliveries_status_next_retry", "status", "next_retry_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    endpoint_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event_type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="pending")
    attempt: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    response_code: Mapped[int | None] = mapped_column(sa.Integer)
    next_retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    queued_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sending_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)

    attempts = relationship(
        "WebhookAttempt", order_by="WebhookAttempt.number", lazy="select", cascade="all, delete-orphan"
    )


class WebhookAttempt(Model):
    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    duration_ms: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    response_body: Mapped[str | None] = mapped_column(sa.Text)
