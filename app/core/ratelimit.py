"""Tiered rate limits with burst (API.md §6), counted in flask-limiter's shared storage.

One application-wide limit per credential: the count allowed is the tier's number plus its
burst allowance, while X-RateLimit-Limit shows the tier's number. flask-limiter is configured
here (storage, strategy, key prefix), but the request-time check calls its `limits` strategy
directly: flask-limiter's own per-route evaluation cost ~1 ms a request, five times the Redis
round trips it wraps (bench/RESULTS.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from limits import RateLimitItemPerMinute, parse

from .errors import ApiError

# tier → (requests per minute, burst allowance)
TIERS = {
    "free": (60, 0.0),
    "starter": (1000, 0.2),
    "pro": (5000, 0.3),
    "agency": (20000, 0.5),
    "enterprise": (100000, 1.0),
}
TIER_ORDER = list(TIERS)


def lower_tier(a: str | None, b: str | None) -> str | None:
    tiers = [t for t in (a, b) if t is not None]
    return min(tiers, key=TIER_ORDER.index) if tiers else None


def client_ip() -> str:
    return request.remote_addr or "unknown"


def request_identity() -> str:
    principal = g.get("principal")
    if principal is None:
        return f"ip:{client_ip()}"
    return f"{principal.kind}:{principal.credential_id if principal.kind == 'api_key' else principal.user_id}"


def principal_tier(principal) -> str:
    """The workspace's tier, or the credential's own `rate_limit_tier` where that is lower."""
    if principal is None or principal.membership is None:
        return "free"
    return lower_tier(principal.membership.tier, principal.key_tier) or "free"


def request_tier() -> str:
    return principal_tier(g.get("principal"))


# tier → what is counted: the tier's number plus its burst allowance, per minute
TIER_LIMITS = {tier: RateLimitItemPerMinute(base + math.floor(base * burst)) for tier, (base, burst) in TIERS.items()}


def exempt(view):
    """Never count requests to this view (health checks, documentation assets)."""
    view.rate_limit_exempt = True
    return view


def _exempt() -> bool:
    # CORS preflights carry no credentials; counting them would spend a browser's IP budget
    view = current_app.view_functions.get(request.endpoint or "")
    return (
        request.method == "OPTIONS"
        or getattr(view, "rate_limit_exempt", False)
        or (request.blueprint or "").endswith("api-docs")
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def too_many(limit: int, reset_at: float) -> ApiError:
    retry_after = max(1, math.ceil(reset_at - time.time()))
    error = ApiError(
        429,
        "rate_limit_exceeded",
        f"Too many requests. Please retry after {retry_after} seconds.",
        retry_after=retry_after,
        limit=limit,
        remaining=0,
        reset_at=_iso(reset_at),
    )
    error.headers["Retry-After"] = str(retry_after)
    return error


def _count(item, *identity: str) -> tuple[int, Callable[[], float]]:
    """One more request in the item's fixed window: the count so far, and how to ask its reset.

    The fixed-window strategy's hit and window stats, straight on its storage: one round trip
    to count, one more only when the reset time is wanted.
    """
    storage = limiter.limiter.storage
    key = item.key_for(*identity)
    return storage.incr(key, item.get_expiry()), lambda: storage.get_expiry(key)


def check_request_limit() -> None:
    """before_request: count the request against its credential's (or address's) tier."""
    if _exempt():
        return
    tier = request_tier()
    item = TIER_LIMITS[tier]
    count, reset = _count(item, "core", request_identity(), "global")
    reset_at = reset()
    g.rate_limit = TIERS[tier][0], item.amount - count, int(reset_at + 1)
    if count > item.amount:
        raise too_many(TIERS[tier][0], reset_at)


def _headers(response):
    state = g.get("rate_limit")
    if state is not None:
        base, remaining, reset_at = state
        response.headers["X-RateLimit-Limit"] = str(base)
        response.headers["X-RateLimit-Remaining"] = str(max(0, remaining))
        response.headers["X-RateLimit-Reset"] = str(reset_at)
    return response


def hit(limit: str, *identity: str, shown: bool = False) -> None:
    """A stricter limit of one endpoint (login, …) in the same shared storage; 429 when spent.
    `shown`: the response's X-RateLimit headers tell this limit instead of the tier's."""
    item = parse(limit)
    count, reset = _count(item, *identity)
    if shown:
        reset_at = reset()
        g.rate_limit = item.amount, item.amount - count, int(reset_at + 1)
        if count > item.amount:
            raise too_many(item.amount, reset_at)
    elif count > item.amount:
        raise too_many(item.amount, reset())


limiter = Limiter(
    key_func=request_identity,
    strategy="fixed-window",
    headers_enabled=False,
    key_prefix="core",
)


def init_app(app: Flask) -> None:
    """Call after core.auth's before_request is registered: limits need the principal."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    limiter.init_app(app)
    app.before_request(check_request_limit)
    app.after_request(_headers)
