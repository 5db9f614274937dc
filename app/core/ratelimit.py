"""Tiered rate limits with burst (API.md §6), counted by flask-limiter in shared storage.

flask-limiter counts one application-wide limit per credential; the limit it enforces is the
tier's number plus its burst allowance, while X-RateLimit-Limit shows the tier's number.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from flask import Flask, g, request
from flask_limiter import Limiter
from limits import parse

from .errors import ApiError, on_http_error

# tier → (requests per minute, burst allowance)
TIERS = {
    "free": (60, 0.0),
    "starter": (1000, 0.2),
    "pro": (5000, 0.3),
    "agency": (20000, 0.5),
    "enterprise": (100000, 1.0),
}
TIER_ORDER = list(TIERS)
# Operational endpoints that monitoring and docs readers hit; never counted.
EXEMPT_ENDPOINTS = {"system.health", "docs_assets.swagger_assets"}


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


def request_tier() -> str:
    principal = g.get("principal")
    if principal is None or principal.membership is None:
        return "free"
    return lower_tier(principal.membership.tier, principal.key_tier) or "free"


def _tier_limit() -> str:
    base, burst = TIERS[request_tier()]
    g.rate_limit_base = base
    return f"{base + math.floor(base * burst)}/minute"


def _exempt() -> bool:
    # CORS preflights carry no credentials; counting them would spend a browser's IP budget
    return (
        request.method == "OPTIONS"
        or request.endpoint in EXEMPT_ENDPOINTS
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


def _breach_error(_exc) -> ApiError:
    current = limiter.current_limit
    reset_at = current.reset_at if current else time.time() + 60
    return too_many(g.get("rate_limit_base", 0), reset_at)


def _headers(response):
    current = limiter.current_limit
    if current is not None and "rate_limit_base" in g:
        response.headers["X-RateLimit-Limit"] = str(g.rate_limit_base)
        response.headers["X-RateLimit-Remaining"] = str(max(0, current.remaining))
        response.headers["X-RateLimit-Reset"] = str(current.reset_at)
    return response


def hit(limit: str, *identity: str) -> None:
    """A stricter limit of one endpoint (login, …) in the same shared storage; 429 when spent."""
    item = parse(limit)
    if not limiter.limiter.hit(item, *identity):
        reset_at, _ = limiter.limiter.get_window_stats(item, *identity)
        raise too_many(item.amount, reset_at)


limiter = Limiter(
    key_func=request_identity,
    application_limits=[_tier_limit],
    application_limits_exempt_when=_exempt,
    strategy="fixed-window",
    headers_enabled=False,
    key_prefix="core",
)


def init_app(app: Flask) -> None:
    """Call after core.auth's before_request is registered: limits need the principal."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    limiter.init_app(app)
    on_http_error(app, 429, _breach_error)
    app.after_request(_headers)
