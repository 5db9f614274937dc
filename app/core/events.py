"""The event store: record_event() adds an event to the caller's transaction (API.md §8)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model, UtcDateTime, db
from .clock import utcnow
from .ids import new_id


class Event(Model):
    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    data: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)

    @property
    def timestamp(self):
        return self.created_at


def record_event(workspace_id: str, type_: str, data: dict) -> Event:
    """Stage an event in the current transaction: it commits or rolls back with the change.

    `data` is the resource as its GET returns it, dumped by the caller's schema (never a secret).
    """
    event = Event(id=new_id("evt"), workspace_id=workspace_id, type=type_, data=data, created_at=utcnow())
    db.session.add(event)
    return event


def type_pattern_to_like(pattern: str) -> str:
    """`task.*` → `task.%` (LIKE), with LIKE's own wildcards escaped."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")
