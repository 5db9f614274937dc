from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime


class PixelSite(Model):
    """A website that embeds /pixel.js with its `public_id`."""

    __tablename__ = "pixel_sites"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    domain: Mapped[str] = mapped_column(sa.String(253), nullable=False, unique=True)
    public_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    features: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    sample_rate: Mapped[float] = mapped_column(sa.Float, nullable=False, default=1.0)
    allowed_origins: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class PixelBuffer(Model):
    """Accepted events waiting for ingestion on the embedded default (with Redis: a stream)."""

    __tablename__ = "pixel_buffer"
    # ids never come back after a delete: they are the events' dedupe keys
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    payload: Mapped[dict] = mapped_column(sa.JSON, nullable=False)


class PixelEvent(Model):
    """One ingested event. `key` is its buffer entry's id: inserting it twice does nothing, which
    makes a retried batch count once."""

    __tablename__ = "pixel_events"
    __table_args__ = (sa.Index("ix_pixel_events_site_occurred", "site_id", "occurred_at"),)

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("pixel_sites.id", ondelete="CASCADE"), nullable=False
    )
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    path: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    referrer: Mapped[str | None] = mapped_column(sa.String(253))
    visitor: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    properties: Mapped[dict | None] = mapped_column(sa.JSON)


class PixelHourly(Model):
    """Counts per site per UTC hour; a day is the sum of its hours."""

    __tablename__ = "pixel_hourly"

    site_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("pixel_sites.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    pageviews: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    events: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    sessions: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class PixelVisitor(Model):
    """One visitor of a site on one day (the visitor id changes daily with the salt): unique
    visitors are rows, `hours` a bit per UTC hour seen, `last_seen_at` ends sessions."""

    __tablename__ = "pixel_visitors"

    site_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("pixel_sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    visitor: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    hours: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class PixelTop(Model):
    """Counts per site per day of one page (`kind` page), referrer host or event name."""

    __tablename__ = "pixel_top"

    site_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("pixel_sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class PixelSalt(Model):
    """The day's salt of visitor ids; yesterday's is deleted, so no id can be recomputed."""

    __tablename__ = "pixel_salts"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    salt: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
