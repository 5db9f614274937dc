"""Reading the event store (recording is core.events.record_event, inside each change)."""

import sqlalchemy as sa

from ..core.errors import not_found
from ..core.events import Event, type_pattern_to_like
from ..extensions import db


def events_query(workspace_id: str, type_pattern: str | None = None):
    stmt = sa.select(Event).where(Event.workspace_id == workspace_id)
    if type_pattern:
        stmt = stmt.where(Event.type.like(type_pattern_to_like(type_pattern), escape="\\"))
    return stmt


def get_event(workspace_id: str, event_id: str) -> Event:
    event = db.session.scalar(events_query(workspace_id).where(Event.id == event_id))
    if event is None:
        raise not_found("Event not found.")
    return event
