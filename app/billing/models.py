from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime


class BillingAccount(Model):
    """A workspace's Stripe customer and subscription, as Stripe's events last told us."""

    __tablename__ = "billing_accounts"

    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    subscription_id: Mapped[str | None] = mapped_column(sa.String(255))
    plan: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str | None] = mapped_column(sa.String(40))
    current_period_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    budget_cap_eur: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    # `created` of the newest subscription event applied: an older one arriving later changes nothing
    subscription_event_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class StripeEvent(Model):
    """Every Stripe event id handled: a second delivery of one is answered and ignored."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
