"""The numbers back out: stats of one site over days or hours, read from the rollups only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from ..core.clock import utcnow
from ..core.errors import validation_failed
from ..extensions import db
from . import service
from .models import PixelHourly, PixelTop, PixelVisitor

MAX_DAYS = {"day": 366, "hour": 31}
TOP = 10


def _hours_seen(hour: int):
    return sa.func.sum(sa.case((PixelVisitor.hours.op("&")(1 << hour) != 0, 1), else_=0))


def _visitors(site_id: str, start: date, end: date, interval: str) -> dict[str, int]:
    where = (PixelVisitor.site_id == site_id, PixelVisitor.day.between(start, end))
    if interval == "day":
        rows = db.session.execute(
            sa.select(PixelVisitor.day, sa.func.count()).where(*where).group_by(PixelVisitor.day)
        ).all()
        return {day.isoformat(): n for day, n in rows}
    rows = db.session.execute(
        sa.select(PixelVisitor.day, *(_hours_seen(h) for h in range(24))).where(*where).group_by(PixelVisitor.day)
    ).all()
    return {
        f"{day.isoformat()}T{hour:02d}:00:00Z": int(counts[hour] or 0) for day, *counts in rows for hour in range(24)
    }


def _top(site_id: str, start: date, end: date, kind: str) -> list[dict]:
    total = sa.func.sum(PixelTop.count).label("total")
    rows = db.session.execute(
        sa.select(PixelTop.value, total)
        .where(PixelTop.site_id == site_id, PixelTop.kind == kind, PixelTop.day.between(start, end))
        .group_by(PixelTop.value)
        .order_by(total.desc(), PixelTop.value)
        .limit(TOP)
    ).all()
    return [{"value": value, "count": int(count)} for value, count in rows]


def _periods(start: date, end: date, interval: str) -> list[str]:
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    if interval == "day":
        return [day.isoformat() for day in days]
    return [f"{day.isoformat()}T{hour:02d}:00:00Z" for day in days for hour in range(24)]


def stats(workspace_id: str, site_id: str, start: date | None, end: date | None, interval: str) -> dict:
    site = service.get_site(workspace_id, site_id)
    end = end or utcnow().date()
    start = start or end - timedelta(days=6)
    if start > end:
        raise validation_failed({"from": ["`from` is after `to`."]})
    if (end - start).days + 1 > MAX_DAYS[interval]:
        raise validation_failed({"from": [f"At most {MAX_DAYS[interval]} days with interval={interval}."]})
    since = datetime.combine(start, datetime.min.time(), UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    counted = ("pageviews", "events", "sessions")
    series: dict[str, dict] = {
        period: {"period": period, "pageviews": 0, "visitors": 0, "sessions": 0, "events": 0}
        for period in _periods(start, end, interval)
    }
    for row in db.session.scalars(
        sa.select(PixelHourly).where(
            PixelHourly.site_id == site.id, PixelHourly.hour >= since, PixelHourly.hour < until
        )
    ):
        hour = row.hour.astimezone(UTC)
        period = hour.date().isoformat() if interval == "day" else hour.strftime("%Y-%m-%dT%H:00:00Z")
        for name in counted:
            series[period][name] += getattr(row, name)
    for period, visitors in _visitors(site.id, start, end, interval).items():
        series[period]["visitors"] = visitors
    sessions = site.features.get("sessions", True)
    rows = list(series.values())
    totals: dict[str, int | None] = {name: sum(r[name] for r in rows) for name in ("pageviews", "sessions", "events")}
    # an hour's unique visitors do not add up to a day's: totals always sum days
    daily = _visitors(site.id, start, end, "day") if interval == "hour" else {r["period"]: r["visitors"] for r in rows}
    totals["visitors"] = sum(daily.values())
    if not sessions:
        totals["sessions"] = None
        for r in rows:
            r["sessions"] = None
    return {
        "site_id": site.id,
        "from_": start,
        "to": end,
        "interval": interval,
        "totals": totals,
        "series": rows,
        "top_pages": _top(site.id, start, end, "page"),
        "top_referrers": _top(site.id, start, end, "referrer"),
        "top_events": _top(site.id, start, end, "event"),
    }
