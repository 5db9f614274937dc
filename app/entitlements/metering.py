"""`api_calls`: every authenticated request counts one, and past the limit the API answers
`403 feature_limit_reached` (never on the auth, billing, entitlements and usage endpoints).

With Redis, a request costs one INCR of the day's counter (`core:usage:api_calls:{ws}:{day}`,
which survives any web process); a periodic job copies the day totals into PostgreSQL
(`usage_counters`, feature `api_calls.requests`, as the greater of the two: running it twice or
after a crash is harmless). Without Redis the day's row is incremented directly."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import cast

from flask import Flask, current_app, g, request

from ..core import ratelimit
from ..core.clock import utcnow
from ..core.jobs import jobs
from ..extensions import db
from . import service

FEATURE = "api_calls"
REQUESTS = "api_calls.requests"  # the counter rows of counted requests (manual records: "api_calls")
KEY = "core:usage:api_calls:{}:{}"
KEY_TTL = 40 * 86400
EXEMPT = ("/api/v1/auth/", "/api/v1/billing", "/api/v1/entitlements", "/api/v1/usage")
CACHE_SECONDS = 60


def init_app(app: Flask) -> None:
    ratelimit.register_request_counter(app, FEATURE, _counter_key, KEY_TTL)
    app.before_request(count_request)
    app.extensions["entitlements.buffered"] = buffered
    app.extensions["entitlements.metering_cache"] = {}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def requests_per_day(workspace_id: str, start: date, end: date) -> dict[date, int]:
    """Counted requests of each day of [start, end)."""
    stored = service.per_day(workspace_id, REQUESTS, start, end)
    days = _days(start, end)
    if jobs.redis is None:
        return {d: stored.get(d, 0) for d in days}
    live = cast(list, jobs.redis.mget([KEY.format(workspace_id, d.isoformat()) for d in days]))
    return {d: max(stored.get(d, 0), int(v or 0)) for d, v in zip(days, live, strict=True)}


def buffered(workspace_id: str, feature: str) -> int:
    """The counted requests of the period (added to manual `api_calls` records by the service)."""
    if feature != FEATURE:
        return 0
    start, end = service.period(workspace_id)
    return sum(requests_per_day(workspace_id, start, end).values())


def _counter_key(principal) -> str | None:
    """Today's Redis counter of the principal's workspace, counted by core.ratelimit's round trip."""
    if principal.membership is None:
        return None
    return KEY.format(principal.membership.workspace_id, utcnow().date().isoformat())


def _count_today(workspace_id: str, today: date) -> int:
    """One more request today (counted already with Redis); returns today's count."""
    counted = ratelimit.request_count(FEATURE)
    if counted is not None:
        return counted
    return service.count_on_day(workspace_id, REQUESTS, today)


def _uncount_today(workspace_id: str, today: date) -> None:
    """A refused request is not an API call: take back its count."""
    if ratelimit.request_count(FEATURE) is not None:
        ratelimit.uncount_request(FEATURE)
    else:
        service.uncount_on_day(workspace_id, REQUESTS, today)


def _before_today(workspace_id: str, tier: str) -> tuple[int | None, int]:
    """The limit and the period's usage before today, cached a minute per process: neither moves
    fast (today's count comes from the counter itself)."""
    cache = current_app.extensions["entitlements.metering_cache"]
    entry = cache.get((workspace_id, tier))
    now = time.monotonic()
    if entry is None or entry[0] < now:
        today = utcnow().date()
        start, _ = service.period(workspace_id)
        limit = service.limit_of(workspace_id, tier, FEATURE)
        earlier = sum(service.per_day(workspace_id, REQUESTS, start, today).values())
        manual = service.used_directly(workspace_id, FEATURE)
        entry = cache[(workspace_id, tier)] = (now + CACHE_SECONDS, limit, earlier + manual)
    return entry[1], entry[2]


def count_request() -> None:
    """before_request, after authentication and the rate limit."""
    principal = g.get("principal")
    if principal is None or principal.membership is None:
        return
    workspace_id, tier = principal.membership.workspace_id, principal.membership.tier
    today = utcnow().date()
    count = _count_today(workspace_id, today)
    if request.path.startswith(EXEMPT):
        return
    limit, earlier = _before_today(workspace_id, tier)
    if limit and any(earlier + count - 1 < limit * level / 100 <= earlier + count for level, _ in service.THRESHOLDS):
        service.notice_crossing(workspace_id, FEATURE, earlier + count - 1, earlier + count, limit)
    if limit is not None and earlier + count > limit:
        # past the limit: refused, or (paid tiers) overage up to the budget cap, checked in full
        answer = service.check(workspace_id, tier, FEATURE, 1, current=earlier + count - 1)
        if not answer["allowed"]:
            _uncount_today(workspace_id, today)
            raise service.limit_reached(answer)


def flush_api_calls() -> int:
    """Periodic: copy Redis' day counters into PostgreSQL; returns how many were copied."""
    if jobs.redis is None:
        return 0
    copied = 0
    for key in jobs.redis.scan_iter(match=KEY.format("*", "*"), count=500):
        _, _, _, workspace_id, day = key.decode().split(":")
        value = int(cast(bytes, jobs.redis.get(key)) or 0)
        service.set_at_least(workspace_id, REQUESTS, date.fromisoformat(day), value)
        copied += 1
    db.session.commit()
    return copied
