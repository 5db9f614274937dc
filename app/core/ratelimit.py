"""Tiered rate limits with burst (API.md §6), counted in flask-limiter's shared storage.

One application-wide limit per credential: the count allowed is the tier's number plus its
burst allowance, while X-RateLimit-Limit shows the tier's number. flask-limiter is configured
here (storage, strategy, key prefix) and evaluates no limit of its own: its per-route evaluation
cost ~1 ms a request. With Redis, a request makes one round trip before its view: the
credentials epoch (confirming a remembered principal), its fixed window (INCR, EXPIRE NX, TTL)
and the domains' per-request counters, in one pipeline (bench/RESULTS.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from limits import RateLimitItemPerMinute, parse
from limits.storage import RedisStorage

from . import auth
from .auth import Principal
from .credentials_cache import credentials_cache
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


def register_request_counter(app: Flask, name: str, key_for: Callable[[Principal], str | None], ttl: int) -> None:
    """A domain's own count of every request with a principal (`api_calls`), incremented in the
    rate limit's round trip; `key_for` names the Redis key to count in, or None to skip."""
    app.extensions.setdefault("core.request_counters", {})[name] = key_for, ttl


def request_count(name: str) -> int | None:
    """This request's value of a registered counter; None when Redis did not count it."""
    counted = g.get("request_counts", {}).get(name)
    return counted[0] if counted else None


def uncount_request(name: str) -> None:
    """Take back this request's count of a registered counter (a refused request)."""
    _, key = g.request_counts.pop(name)
    current_app.extensions["core.redis"].decr(key)


@dataclass(frozen=True)
class _Counting:
    """What one request counts in Redis: its tier window, then the registered counters."""

    tier: str
    window_key: str
    counters: tuple[tuple[str, str, int], ...]  # (name, key, ttl)

    @classmethod
    def for_request(cls) -> _Counting:
        principal = g.get("principal")
        tier = request_tier()
        storage = cast(RedisStorage, limiter.limiter.storage)  # with Redis, the limiter's storage is Redis
        window_key = storage.prefixed_key(TIER_LIMITS[tier].key_for("core", request_identity(), "global"))
        counters = []
        if principal is not None:
            for name, (key_for, ttl) in current_app.extensions.get("core.request_counters", {}).items():
                if (key := key_for(principal)) is not None:
                    counters.append((name, key, ttl))
        return cls(tier, window_key, tuple(counters))

    def count(self, redis, epoch_of=None) -> tuple[int, float, list[int], int | None]:
        """One round trip: the window's count and reset time, the counters' values, and (first,
        when `epoch_of` is the credentials cache) the credentials epoch."""
        pipeline = redis.pipeline(transaction=False)
        if epoch_of is not None:
            epoch_of.read_epoch(pipeline)
        pipeline.incr(self.window_key)
        pipeline.expire(self.window_key, TIER_LIMITS[self.tier].get_expiry(), nx=True)
        pipeline.ttl(self.window_key)
        for _, key, ttl in self.counters:
            pipeline.incr(key)
            pipeline.expire(key, ttl, nx=True)
        results = pipeline.execute()
        epoch = epoch_of.parse_epoch(results.pop(0)) if epoch_of is not None else None
        window, _, ttl, *counted = results
        return window, time.time() + max(ttl, 0), counted[::2], epoch

    def take_back(self, redis, window: bool = True) -> None:
        """Undo `count` (a refused or recounted request is not an API call)."""
        pipeline = redis.pipeline(transaction=False)
        if window:
            pipeline.decr(self.window_key)
        for _, key, _ in self.counters:
            pipeline.decr(key)
        pipeline.execute()


def _count_in_redis(redis) -> tuple[str, int, float]:
    """The request's one Redis round trip: the credentials epoch (when the principal was
    remembered), its tier window and the registered counters. If the epoch shows the principal
    changed, its counts move to what the request now is."""
    counting = _Counting.for_request()
    pending = auth.awaiting_confirmation()
    window, reset_at, counted, epoch = counting.count(redis, credentials_cache() if pending else None)
    if pending and auth.confirm_principal(epoch):
        now = _Counting.for_request()
        if now != counting:
            counting.take_back(redis)
            counting = now
            window, reset_at, counted, _ = counting.count(redis)
    g.request_counts = {name: (value, key) for (name, key, _), value in zip(counting.counters, counted, strict=True)}
    if window > TIER_LIMITS[counting.tier].amount:
        counting.take_back(redis, window=False)
    return counting.tier, window, reset_at


def check_request_limit() -> None:
    """before_request: count the request against its credential's (or address's) tier."""
    if _exempt():
        auth.confirm_principal()
        return
    redis = current_app.extensions["core.redis"]
    if redis is not None:
        tier, count, reset_at = _count_in_redis(redis)
    else:
        tier = request_tier()
        count, reset = _count(TIER_LIMITS[tier], "core", request_identity(), "global")
        reset_at = reset()
    item = TIER_LIMITS[tier]
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


def redis_window(limit: str, *identity: str) -> tuple[str, int, int] | None:
    """A limit's counter in Redis as `hit` keeps it: (key, amount, window seconds), for a domain
    that counts the limit inside its own round trip (a script beside its other commands). None
    without Redis: call `hit`."""
    storage = limiter.limiter.storage
    if not isinstance(storage, RedisStorage):
        return None
    item = parse(limit)
    return storage.prefixed_key(item.key_for(*identity)), item.amount, item.get_expiry()


limiter = Limiter(
    key_func=request_identity,
    strategy="fixed-window",
    headers_enabled=False,
    key_prefix="core",
)


@limiter.request_filter
def _limited_directly() -> bool:
    return True


def init_app(app: Flask) -> None:
    """Call after core.auth's before_request is registered: limits need the principal."""
    # one Redis for every count: the tier window is counted with the request's other Redis reads
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "memory://"
    limiter.init_app(app)
    app.before_request(check_request_limit)
    app.after_request(_headers)
