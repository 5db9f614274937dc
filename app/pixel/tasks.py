"""Ingestion: buffered events → raw `pixel_events` and the rollups stats read, in batches.

Exactly once: a batch's rows, rollups and `pixel_events` usage commit in one transaction, and only
rows whose key was not yet stored count (INSERT … ON CONFLICT DO NOTHING RETURNING). A drain that
dies after the commit but before acknowledging its stream entries reads them again next time and
inserts nothing.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from ..core.jobs import jobs
from ..entitlements import service as entitlements
from ..extensions import db
from . import buffer
from .models import PixelBuffer, PixelEvent, PixelHourly, PixelSite, PixelTop, PixelVisitor

SESSION_GAP = timedelta(minutes=30)  # a visitor's events further apart start a new session
MAX_BATCHES = 50  # per drain job; a backlog larger than that continues in the next job
_embedded_lock = threading.Lock()


def _write(model, rows: list[dict], conflict: list[str], update: dict[str, str] | None = None, returning=None):
    """INSERT the rows; on a conflict of `conflict`, nothing, or `update` (column → "add" to the
    stored value or "replace" it). On PostgreSQL one statement over unnest() of one array per
    column: executemany's multi-row VALUES made psycopg parse megabytes of SQL per batch."""
    table = model.__table__
    if db.engine.dialect.name != "postgresql":
        stmt = sqlite.insert(table)
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=conflict,
                set_={
                    name: (table.c[name] + stmt.excluded[name]) if how == "add" else stmt.excluded[name]
                    for name, how in update.items()
                },
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=conflict)
        returned = stmt.returning(table.c[returning]) if returning is not None else stmt
        return db.session.connection().execute(returned, rows)
    columns = list(rows[0])
    arrays = ", ".join(f"%({c})b::{table.c[c].type.compile(dialect=db.engine.dialect)}[]" for c in columns)
    if update:
        assignments = ", ".join(
            f"{c} = {table.name}.{c} + excluded.{c}" if how == "add" else f"{c} = excluded.{c}"
            for c, how in update.items()
        )
        action = f"DO UPDATE SET {assignments}"
    else:
        action = "DO NOTHING"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(conflict)}) {action}" + (f" RETURNING {returning}" if returning else "")
    )
    json_columns = {c for c in columns if isinstance(table.c[c].type, sa.JSON)}
    params = {c: [json.dumps(r[c]) if c in json_columns and r[c] is not None else r[c] for r in rows] for c in columns}
    return db.session.connection().exec_driver_sql(sql, params)


def drain() -> int:
    """Ingest what is buffered, batch after batch; returns the events newly stored."""
    redis = jobs.redis
    size = buffer.batch_size()
    stored = 0
    if redis is None:
        with _embedded_lock:
            for _ in range(MAX_BATCHES):
                rows = db.session.scalars(sa.select(PixelBuffer).order_by(PixelBuffer.id).limit(size)).all()
                if not rows:
                    break
                stored += ingest([(f"b{row.id}", row.payload) for row in rows], commit=False)
                db.session.execute(sa.delete(PixelBuffer).where(PixelBuffer.id.in_([row.id for row in rows])))
                db.session.commit()
        return stored
    token = buffer.lock(redis, buffer.DRAIN_TIMEOUT)
    if token is None:
        return 0  # another drain is running
    try:
        redis.delete(buffer.QUEUE_FLAG)
        for _ in range(MAX_BATCHES):
            items = buffer.read_stream(redis, size)
            if not items:
                break
            stored += ingest(items)
            _acknowledge(redis, [key for key, _ in items])
    finally:
        buffer.unlock(redis, token)
    return stored


def _acknowledge(redis, keys: list[str]) -> None:
    buffer.acknowledge(redis, keys)


def _hour(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(minute=0, second=0, microsecond=0)


def ingest(items: list[tuple[str, dict]], commit: bool = True) -> int:
    """Store one batch and roll it up; entries already stored are skipped."""
    sites = set(db.session.scalars(sa.select(PixelSite.id).where(PixelSite.id.in_({e["s"] for _, e in items}))))
    rows = [
        {
            "key": key,
            "site_id": e["s"],
            "occurred_at": datetime.fromtimestamp(e["t"], UTC),
            "name": e["n"][:100],
            "path": e["p"][:2048],
            "referrer": e["r"],
            "visitor": e["v"],
            "properties": e["x"],
        }
        for key, e in items
        if e["s"] in sites  # a deleted site's events are dropped
    ]
    new: set[str] = set()
    if rows:
        new = set(_write(PixelEvent, rows, ["key"], returning="key").scalars())
    fresh = [e for key, e in items if key in new]
    if fresh:
        _roll_up(fresh)
    if commit:
        db.session.commit()
    return len(fresh)


def _roll_up(entries: list[dict]) -> None:
    entries = sorted(entries, key=lambda e: e["t"])
    hourly: dict[tuple[str, datetime], Counter] = defaultdict(Counter)
    top: Counter = Counter()
    usage: Counter = Counter()
    for e in entries:
        hour = _hour(e["t"])
        is_pageview = e["n"] == "pageview"
        hourly[(e["s"], hour)]["pageviews" if is_pageview else "events"] += 1
        day = hour.date()
        if is_pageview:
            top[(e["s"], day, "page", e["p"][:512])] += 1
            if e["r"]:
                top[(e["s"], day, "referrer", e["r"])] += 1
        else:
            top[(e["s"], day, "event", e["n"][:100])] += 1
        usage[(e["w"], day)] += 1
    _visits(entries, hourly)
    counts = ("pageviews", "events", "sessions")
    _write(
        PixelHourly,
        [{"site_id": site, "hour": hour, **{name: c[name] for name in counts}} for (site, hour), c in hourly.items()],
        ["site_id", "hour"],
        update=dict.fromkeys(counts, "add"),
    )
    _write(
        PixelTop,
        [{"site_id": s, "day": d, "kind": k, "value": v, "count": n} for (s, d, k, v), n in top.items()],
        ["site_id", "day", "kind", "value"],
        update={"count": "add"},
    )
    for (workspace_id, day), quantity in usage.items():
        entitlements.add_usage(workspace_id, "pixel_events", quantity, day)


def _visits(entries: list[dict], hourly: dict[tuple[str, datetime], Counter]) -> None:
    """Unique visitors per day (and the hours each was seen in), and sessions: a visitor's event
    more than SESSION_GAP after their previous one starts a session, counted in its hour."""
    keys = {(e["s"], _hour(e["t"]).date(), e["v"]) for e in entries}
    state: dict[tuple[str, date, str], dict] = {
        (site, day, visitor): {"hours": hours, "last_seen_at": last_seen_at}
        for site, day, visitor, hours, last_seen_at in _known_visitors(keys)
    }
    for e in entries:
        hour = _hour(e["t"])
        at = datetime.fromtimestamp(e["t"], UTC)
        key = (e["s"], hour.date(), e["v"])
        seen = state.get(key)
        if seen is None or at - seen["last_seen_at"] > SESSION_GAP:
            hourly[(e["s"], hour)]["sessions"] += 1
        state[key] = {
            "hours": (seen["hours"] if seen else 0) | (1 << hour.hour),
            "last_seen_at": max(at, seen["last_seen_at"]) if seen else at,
        }
    _write(
        PixelVisitor,
        [{"site_id": s, "day": d, "visitor": v, **values} for (s, d, v), values in state.items()],
        ["site_id", "day", "visitor"],
        update={"hours": "replace", "last_seen_at": "replace"},
    )


def _known_visitors(keys: set[tuple[str, date, str]]):
    """The stored (site_id, day, visitor, hours, last_seen_at) of these visitors."""
    if db.engine.dialect.name != "postgresql":
        table = PixelVisitor.__table__
        return db.session.execute(
            sa.select(table.c.site_id, table.c.day, table.c.visitor, table.c.hours, table.c.last_seen_at).where(
                sa.tuple_(table.c.site_id, table.c.day, table.c.visitor).in_(list(keys))
            )
        )
    sites, days, visitors = zip(*keys, strict=True)
    return db.session.connection().exec_driver_sql(
        "SELECT v.site_id, v.day, v.visitor, v.hours, v.last_seen_at FROM pixel_visitors v"
        " JOIN unnest(%(sites)b::text[], %(days)b::date[], %(visitors)b::text[]) AS k(site_id, day, visitor)"
        " USING (site_id, day, visitor)",
        {"sites": list(sites), "days": list(days), "visitors": list(visitors)},
    )
