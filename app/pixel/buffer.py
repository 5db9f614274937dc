"""Accepted events on their way to ingestion: a Redis stream read by a consumer group (entries are
acknowledged and deleted only after the ingestion commit), or without Redis the `pixel_buffer`
table, emptied in the ingestion transaction itself."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from datetime import date
from typing import cast

import sqlalchemy as sa
from flask import current_app
from redis.commands.core import Script
from redis.exceptions import ResponseError
from sqlalchemy.exc import IntegrityError

from ..core import ratelimit
from ..core.clock import utcnow
from ..core.jobs import jobs
from ..extensions import db
from .models import PixelBuffer, PixelSalt

STREAM = "pixel:events"
GROUP = "ingest"
CONSUMER = "ingest"  # one consumer: drains take turns (tasks.py holds a lock)
QUEUE_FLAG = "pixel:drain:queued"
MAX_REFERRER_HOST = 253

_salts: dict[date, bytes] = {}
_salt_lock = threading.Lock()


def _salt(day: date) -> bytes:
    """The day's salt, shared by every process (Redis, else the database); never logged."""
    if day in _salts:
        return _salts[day]
    with _salt_lock:
        redis = jobs.redis
        if redis is not None:
            key = f"pixel:salt:{day.isoformat()}"
            redis.set(key, secrets.token_bytes(32), nx=True, ex=2 * 86400)
            salt = cast(bytes, redis.get(key))
        else:
            salt = _database_salt(day)
        _salts.clear()
        _salts[day] = salt
    return salt


def _database_salt(day: date) -> bytes:
    db.session.execute(sa.delete(PixelSalt).where(PixelSalt.day < day))
    salt = db.session.scalar(sa.select(PixelSalt.salt).where(PixelSalt.day == day))
    if salt is None:
        salt = secrets.token_bytes(32)
        db.session.add(PixelSalt(day=day, salt=salt))
        try:
            db.session.commit()
        except IntegrityError:  # another process made the day's salt first
            db.session.rollback()
            salt = cast(bytes, db.session.scalar(sa.select(PixelSalt.salt).where(PixelSalt.day == day)))
    else:
        db.session.commit()
    return salt


def visitor_id(site_id: str, ip: str, user_agent: str, day: date) -> str:
    """Plausible's recipe: a hash of the day's salt, the site, the IP and the user agent."""
    material = b"\x00".join((_salt(day), site_id.encode(), ip.encode(), user_agent.encode()))
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def _referrer_host(referrer: str | None, own_domain_host: str | None) -> str | None:
    from .service import host_of

    host = host_of(referrer)
    if host is None or host == own_domain_host:
        return None
    return host[:MAX_REFERRER_HOST]


def entry(event: dict, site_id: str, workspace_id: str, ip: str, user_agent: str) -> dict:
    """What ingestion needs of an accepted event (no IP, no user agent)."""
    from .service import host_of

    now = utcnow()
    url = event["url"]
    path = url.split("://", 1)[-1].partition("/")[2].split("#", 1)[0]
    return {
        "s": site_id,
        "w": workspace_id,
        "t": now.timestamp(),
        "n": event["event"],
        "p": "/" + path.split("?", 1)[0],
        "r": _referrer_host(event.get("referrer"), host_of(url)),
        "v": visitor_id(site_id, ip, user_agent, now.date()),
        "x": event.get("properties") or None,
    }


def batch_size() -> int:
    return current_app.config["PIXEL_BATCH_SIZE"]


# The client's rate-limit window and the events in one round trip: count the request, and only
# while it is inside its limit append the events; answers (count, seconds left, events waiting).
_COUNT_AND_APPEND = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then return {count, redis.call('TTL', KEYS[1]), -1} end
for i = 3, #ARGV do redis.call('XADD', KEYS[2], '*', 'e', ARGV[i]) end
return {count, 0, redis.call('XLEN', KEYS[2])}
"""
_count_and_append: list[Script] = []  # made once; called with each app's client


def append(entries: list[dict], limit: str, *identity: str) -> None:
    """Count the request against `limit` (429 past it, nothing buffered) and buffer accepted
    events; past a batch's worth waiting, ask for a drain now (the periodic drain is the safety
    net)."""
    redis = jobs.redis
    if redis is None:
        ratelimit.hit(limit, *identity)
        db.session.execute(sa.insert(PixelBuffer), [{"payload": e} for e in entries])
        db.session.commit()
        return
    # with REDIS_URL the limits are kept in the same Redis (core.ratelimit)
    key, amount, seconds = cast(tuple[str, int, int], ratelimit.redis_window(limit, *identity))
    if not _count_and_append:
        _count_and_append.append(redis.register_script(_COUNT_AND_APPEND))
    payloads = [json.dumps(item, separators=(",", ":")) for item in entries]
    count, ttl, waiting = _count_and_append[0](keys=[key, STREAM], args=[amount, seconds, *payloads], client=redis)
    if count > amount:
        raise ratelimit.too_many(amount, time.time() + max(int(ttl), 0))
    if waiting >= batch_size() and _may_ask_for_drain() and redis.set(QUEUE_FLAG, 1, nx=True, ex=2):
        from .tasks import drain

        jobs.enqueue(drain, queue="default", job_timeout=DRAIN_TIMEOUT)


_asked_at = [0.0]  # when this process last asked for a drain


def _may_ask_for_drain() -> bool:
    """At most once a second per process: while a backlog waits, not every request pays a round
    trip to learn that a drain is already queued."""
    now = time.monotonic()
    if now - _asked_at[0] < 1.0:
        return False
    _asked_at[0] = now
    return True


DRAIN_TIMEOUT = 120


# --- the reading side (tasks.py) ---------------------------------------------------------------


def _ensure_group(redis) -> None:
    try:
        redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_stream(redis, count: int) -> list[tuple[str, dict]]:
    """The next batch: entries read before and not acknowledged (a drain that died) first."""
    _ensure_group(redis)
    for start in ("0", ">"):
        answer = redis.xreadgroup(GROUP, CONSUMER, {STREAM: start}, count=count)
        items = [(key.decode(), json.loads(fields[b"e"])) for key, fields in (answer[0][1] if answer else []) if fields]
        if items:
            return items
    return []


def acknowledge(redis, keys: list[str]) -> None:
    pipe = redis.pipeline(transaction=True)
    pipe.xack(STREAM, GROUP, *keys)
    pipe.xdel(STREAM, *keys)
    pipe.execute()


def waiting() -> int:
    """Events accepted and not yet ingested."""
    redis = jobs.redis
    if redis is not None:
        return int(cast(int, redis.xlen(STREAM)))
    return db.session.scalar(sa.select(sa.func.count()).select_from(PixelBuffer)) or 0


def lock(redis, seconds: int) -> str | None:
    token = secrets.token_hex(8)
    return token if redis.set("pixel:drain:lock", token, nx=True, ex=seconds) else None


def unlock(redis, token: str) -> None:
    if redis.get("pixel:drain:lock") == token.encode():
        redis.delete("pixel:drain:lock")
