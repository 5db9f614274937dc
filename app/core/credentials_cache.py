"""A per-process memo of resolved credentials, checked against a shared epoch on every request.

Resolving a credential costs two database queries per request; remembering it must never delay a
revocation. Every change that can narrow what a credential may do (revocation, rotation,
membership, role, tier, logout) calls `credentials_changed()` after its commit, which bumps one
epoch in Redis. A remembered principal (resolved less than a minute ago, not past its expiry)
stands only if the epoch read during the request is the one it was resolved under; the epoch is
read in the request's one Redis round trip (core.ratelimit), and before anything the principal
allows is done. Without Redis (several processes could not share the epoch) nothing is remembered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time

from flask import current_app

from .clock import utcnow

EPOCH_KEY = "core:auth:epoch"
# Entries are re-resolved at least this often: the loader writes last_used_at once a minute.
MAX_AGE_SECONDS = 60
MAX_ENTRIES = 10_000


class CredentialsCache:
    def __init__(self, redis) -> None:
        self.redis = redis
        self._entries: dict[tuple, tuple] = {}
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

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def credentials_cache() -> CredentialsCache:
    return current_app.extensions["core.credentials_cache"]


def credentials_changed() -> None:
    """Call after committing a change that narrows a credential: every process re-resolves."""
    cache = credentials_cache()
    if cache.enabled:
        cache.bump()
