"""The event store and outbox: record_event() adds an event to the caller's transaction (API.md §8).

An event is committed with the change that caused it and `dispatched_at` NULL. After the commit,
the subscriber registered with `init_app` (webhook fan-out) is handed the new event ids; if that
hand-off is lost (Redis or the workers down), a periodic dispatcher finds the NULL rows later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model, UtcDateTime, db
from .clock import utcnow
from .ids import new_id
from .lists import like_escape

log = logging.getLogger("app.events")

_STAGED = "core.events.staged"  # Session.info key: ids of events added in the open transaction
_UNDISPATCHED = sa.text("dispatched_at IS NULL")


class Event(Model):
    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_workspace_created", "workspace_id", "created_at"),
        # the outbox: small, because dispatched rows leave it
        sa.Index("ix_events_undispatched", "created_at", postgresql_where=_UNDISPATCHED, sqlite_where=_UNDISPATCHED),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    data: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def timestamp(self):
        return self.created_at


def record_event(workspace_id: str, type_: str, data: dict) -> Event:
    """Stage an event in the current transaction: it commits or rolls back with the change.

    `data` is the resource as its GET returns it, dumped by the caller's schema (never a secret).
    """
    event = Event(id=new_id("evt"), workspace_id=workspace_id, type=type_, data=data, created_at=utcnow())
    db.session.add(event)
    db.session.info.setdefault(_STAGED, []).append(event.id)
    return event


def type_pattern_to_like(pattern: str) -> str:
    """`task.*` → `task.%` (LIKE), with LIKE's own wildcards escaped."""
    return like_escape(pattern).replace("*", "%")


def type_matches(pattern: str, type_: str) -> bool:
    """The same rule as type_pattern_to_like, in Python: `*` matches any run of characters."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return type_.startswith(pattern[:-1])
    return pattern == type_


# --- event types: what subscribers may name ---------------------------------------------------


def register_event_types(app: Flask, types: Iterable[str]) -> None:
    app.extensions.setdefault("core.event_types", set()).update(types)


def register_event_type_source(app: Flask, source: Callable[[str], Iterable[str]]) -> None:
    """Types that exist in one workspace only (its custom entities'): source(workspace_id)."""
    app.extensions.setdefault("core.event_type_sources", []).append(source)


def event_types(workspace_id: str | None = None) -> frozenset[str]:
    types = set(current_app.extensions.get("core.event_types", ()))
    if workspace_id is not None:
        for source in current_app.extensions.get("core.event_type_sources", ()):
            types.update(source(workspace_id))
    return frozenset(types)


def unknown_type_patterns(patterns: Iterable[str], workspace_id: str | None = None) -> list[str]:
    """Patterns naming no event type: `*`, a known type, or `resource.*` of a known resource."""
    known = event_types(workspace_id)
    resources = {t.partition(".")[0] for t in known}
    return [p for p in patterns if not (p == "*" or p in known or (p.endswith(".*") and p[:-2] in resources))]


# --- after the commit: hand the new events to the subscriber ----------------------------------


def init_app(app: Flask, on_committed: Callable[[list[str]], None]) -> None:
    app.extensions["core.events.on_committed"] = on_committed
    if not sa.event.contains(orm.Session, "after_commit", _after_commit):
        sa.event.listen(orm.Session, "after_commit", _after_commit)
        sa.event.listen(orm.Session, "after_rollback", _after_rollback)


def _after_commit(session: orm.Session) -> None:
    ids = session.info.pop(_STAGED, None)
    if not ids or not has_app_context():
        return
    on_committed = current_app.extensions.get("core.events.on_committed")
    if on_committed is None:
        return
    try:
        on_committed(ids)
    except Exception:  # the change is committed; the periodic dispatcher will find the events
        log.exception("events committed but not handed off", extra={"events": len(ids)})


def _after_rollback(session: orm.Session) -> None:
    session.info.pop(_STAGED, None)
