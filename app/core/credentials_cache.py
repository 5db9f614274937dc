"""A per-process memo of resolved credentials, checked against a shared epoch on every request.

Resolving a credential costs two database queries per request; remembering it must never delay a
revocation. Every change that can narrow what a credential may do (revocation, rotation,
membership, role, tier, logout) calls `credentials_changed()` after its commit, which bumps one
epoch in Redis. A remembered principal (resolved less than a minute ago, not past its expiry)
stands only if the epoch read during the request is the one it was resolved under; the epoch is
read in the request's one Redis round trip (core.ratelimit), and before anything the principal
allows is done. Without Redis (several processes could not share the epoch) nothing is remembered.

Domains remember their own hot lookups the same way (`remembered`): the epoch the request was
checked against (`g.credentials_epoch`, set by core.auth) was read before the lookup, so a change
committed after the lookup bumps it, and its changes call `credentials_changed()` too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g

from .clock import utcnow

EPOCH_KEY = "core:auth:epoch"
# Entries are re-resolved at least this often: the loader writes last_used_at once a minute.
MAX_AGE_SECONDS = 60
MAX_ENTRIES = 10_000
MAX_LOOKUPS = 1_000  # fewer: a remembered lookup may be large (an MCP tool's input schema)
T = TypeVar("T")


class CredentialsCache:
    def __init__(self, redis) -> None:
        self.redis = redis
        self._entries: dict[tuple, tuple] = {}
        self._lookups: dict[tuple, tuple] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.redis is not None

    def epoch(self) -> int:
        return self.parse_epoch(self.redis.get(EPOCH_KEY))

    def read_epoch(self, pipeline) -> None:
        """Queue the epoch's read on a pipeline; its result goes to `parse_epoch`."""
        pipeline.get(EPOCH_KEY)

    @staticmethod
    def parse_epoch(value: bytes | None) -> int:
        return int(value or 0)

    def bump(self) -> None:
        self.redis.incr(EPOCH_KEY)

    @staticmethod
    def key(token: str, via_cookie: bool, workspace_header: str | None) -> tuple:
        return hashlib.sha256(token.encode()).digest(), via_cookie, workspace_header

    def get(self, key: tuple):
        """(the epoch it was resolved under, a copy of the principal), or None when not usable."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        epoch, principal, stored_at = entry
        if time.time() - stored_at >= MAX_AGE_SECONDS:
            return None
        if principal.valid_until is not None and utcnow() >= principal.valid_until:
            return None
        # a copy: the request may narrow its principal to a path's workspace
        return epoch, dataclasses.replace(principal)

    def put(self, key: tuple, epoch: int, principal) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (epoch, dataclasses.replace(principal), time.time())

    def remembered(self, key: tuple, load: Callable[[], T]) -> T:
        """`load()`'s value, remembered by this process and used again while requests are checked
        against the epoch it was loaded under (at most MAX_AGE_SECONDS). The value is shared by
        threads and requests: no session may hold it. None is never remembered.
        Without an epoch (no Redis, no credential) it is `load()` every time."""
        epoch = g.get("credentials_epoch")
        if epoch is None:
            return load()
        entry = self._lookups.get(key)
        if entry is not None and entry[0] == epoch and time.time() - entry[2] < MAX_AGE_SECONDS:
            return entry[1]
        value = load()
        if value is not None:
            with self._lock:
                if len(self._lookups) >= MAX_LOOKUPS:
                    self._lookups.clear()
                self._lookups[key] = (epoch, value, time.time())
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._lookups.clear()


def credentials_cache() -> CredentialsCache:
    return current_app.extensions["core.credentials_cache"]


def credentials_changed() -> None:
    """Call after committing a change that narrows a credential, or that a `remembered` lookup
    holds: every process re-resolves."""
    cache = credentials_cache()
    if cache.enabled:
        cache.bump()
