"""What AI use may cost: credits (the plan's monthly `ai_tokens`), a stricter per-minute limit by
tier, and a bound on open streams (per workspace, and per process so that normal requests
always find a gunicorn thread)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from flask import current_app

from ..core import ratelimit
from ..core.auth import Principal
from ..core.errors import ApiError
from ..core.ids import new_id
from ..core.jobs import jobs
from ..entitlements import service as entitlements

FEATURE = "ai_tokens"
PER_MINUTE = {"free": 10, "starter": 30, "pro": 100, "agency": 300, "enterprise": 1000}
STREAMS_PER_WORKSPACE = 4
STREAMS_KEY = "core:ai:streams:{}"
# a stream's place is given back when it ends; this bounds how long a crashed process holds one
STREAM_LEASE_SECONDS = 3600


def estimate_tokens(*texts: str) -> int:
    """ceil(UTF-8 bytes / 4): the charge when the provider reports no usage."""
    return math.ceil(sum(len(t.encode()) for t in texts) / 4)


def check_rate(principal: Principal) -> None:
    """The tier's AI requests per minute (per credential); the response's headers show it."""
    per_minute = PER_MINUTE[ratelimit.principal_tier(principal)]
    ratelimit.hit(f"{per_minute}/minute", "ai", ratelimit.request_identity(), shown=True)


def require_credits(principal: Principal, required: int) -> None:
    """402 when the workspace's `ai_tokens` cannot cover `required` (nothing is sent then)."""
    answer = entitlements.check(principal.workspace_id or "", principal.tier, FEATURE, required)
    if not answer["allowed"]:
        raise ApiError(
            402,
            "insufficient_credits",
            f"Not enough AI credits: {required} needed, {answer['available'] or 0} available this period.",
            available=answer["available"] or 0,
            required=required,
        )


def charge(principal: Principal, key: str, tokens: int, model: str) -> int:
    """Charge what an answer cost, once per `key` (the message id). In the caller's transaction."""
    entitlements.charge(principal.workspace_id or "", principal.tier, FEATURE, tokens, key, {"model": model})
    return tokens


class _ProcessStreams:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.by_workspace: dict[str, int] = {}


def _process() -> _ProcessStreams:
    return current_app.extensions.setdefault("ai.streams", _ProcessStreams())


def _too_many(message: str) -> ApiError:
    error = ApiError(429, "rate_limit_exceeded", message, retry_after=5, limit=STREAMS_PER_WORKSPACE, remaining=0)
    error.headers["Retry-After"] = "5"
    return error


def open_stream(workspace_id: str) -> Callable[[], None]:
    """Take one of the workspace's 4 stream places (shared through Redis when there is one) and
    one of this process's, or 429; returns how to give them back (once the stream ends; calling
    it again does nothing)."""
    local = _process()
    with local.lock:
        if local.open >= current_app.config["AI_STREAMS_PER_PROCESS"]:
            raise _too_many("This server is answering as many AI streams as it can; retry shortly.")
        if jobs.redis is None and local.by_workspace.get(workspace_id, 0) >= STREAMS_PER_WORKSPACE:
            raise _too_many(f"At most {STREAMS_PER_WORKSPACE} AI streams may be open per workspace.")
        local.open += 1
        local.by_workspace[workspace_id] = local.by_workspace.get(workspace_id, 0) + 1

    held = [True]

    def give_back_local() -> None:
        with local.lock:
            if held.pop() if held else False:
                local.open -= 1
                local.by_workspace[workspace_id] -= 1

    if jobs.redis is None:
        return give_back_local
    redis = jobs.redis  # kept: the places may be given back after the request's context is gone
    try:
        slot = _take_shared(workspace_id)
    except ApiError:
        give_back_local()
        raise

    def give_back() -> None:
        redis.zrem(STREAMS_KEY.format(workspace_id), slot)
        give_back_local()

    return give_back


def _take_shared(workspace_id: str) -> str:
    """A place in the workspace's sorted set of open streams (scored by lease end)."""
    key, slot, now = STREAMS_KEY.format(workspace_id), new_id("str"), time.time()
    pipe = jobs.redis.pipeline()  # type: ignore[union-attr]
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.zadd(key, {slot: now + STREAM_LEASE_SECONDS})
    pipe.zcard(key)
    pipe.expire(key, STREAM_LEASE_SECONDS)
    if pipe.execute()[2] > STREAMS_PER_WORKSPACE:
        jobs.redis.zrem(key, slot)  # type: ignore[union-attr]
        raise _too_many(f"At most {STREAMS_PER_WORKSPACE} AI streams may be open per workspace.")
    return slot
