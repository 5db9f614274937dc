"""Idempotency-Key (API.md §7): replay the first response, refuse reuse and concurrent use.

Records live 24 hours in Redis, or in process memory on the embedded default, keyed by the
credential and workspace so two users never share one. Bodies are stored encrypted.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from flask import Flask, Response, current_app, g, request

from . import crypto
from .auth import UNSAFE_METHODS
from .errors import ApiError

TTL_SECONDS = 24 * 3600
RUNNING_TTL_SECONDS = 300  # a crashed request frees its key after this
HEADER = "Idempotency-Key"
# Refusals decided before the view ran are not remembered: a retry may succeed.
NOT_STORED = {401, 403, 409, 429}
REPLAYED_HEADERS = ("Content-Type", "Location", "Link", "X-Total-Count")


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry and entry[0] > time.time():
            return entry[1]
        self._data.pop(key, None)
        return None

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    def claim(self, key: str, value: str, ttl: int) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (time.time() + ttl, value)
            return True

    def put(self, key: str, value: str, ttl: int) -> None:
        with self._lock:
            self._data[key] = (time.time() + ttl, value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisStore:
    def __init__(self, redis) -> None:
        self.redis = redis

    def get(self, key: str) -> str | None:
        value = self.redis.get(key)
        return value.decode() if value is not None else None

    def claim(self, key: str, value: str, ttl: int) -> bool:
        return bool(self.redis.set(key, value, nx=True, ex=ttl))

    def put(self, key: str, value: str, ttl: int) -> None:
        self.redis.set(key, value, ex=ttl)

    def delete(self, key: str) -> None:
        self.redis.delete(key)


def _store():
    return current_app.extensions["core.idempotency"]


def _valid(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(32 <= ord(c) < 127 for c in key)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.full_path.encode(), request.get_data(cache=True)):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _replay(record: dict) -> Response:
    body = crypto.decrypt(record["body"].encode()) or b""
    response = Response(body, status=record["status"])
    for name, value in record["headers"].items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def before_request():
    key = request.headers.get(HEADER)
    principal = g.get("principal")
    if key is None or request.method not in UNSAFE_METHODS or principal is None:
        return None
    if not _valid(key):
        raise ApiError(400, "bad_request", "Idempotency-Key must be 1–255 printable characters.")
    # the credential is the API key, or for sessions the user (every session of one user shares)
    credential = principal.credential_id if principal.kind == "api_key" else f"session:{principal.user_id}"
    store_key = (
        "core:idem:"
        + hashlib.sha256(f"{credential}|{principal.user_id}|{principal.workspace_id}|{key}".encode()).hexdigest()
    )
    fingerprint = _fingerprint()
    running = json.dumps({"state": "running", "fingerprint": fingerprint})
    if _store().claim(store_key, running, RUNNING_TTL_SECONDS):
        g.idempotency = store_key, fingerprint
        return None
    raw = _store().get(store_key)
    record = json.loads(raw) if raw else {"state": "running", "fingerprint": fingerprint}
    if record["fingerprint"] != fingerprint:
        raise ApiError(422, "idempotency_key_reused", "This Idempotency-Key was used for another request.")
    if record["state"] == "running":
        raise ApiError(409, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress.")
    return _replay(record)


def after_request(response: Response) -> Response:
    claim = g.pop("idempotency", None)
    if claim is None:
        return response
    store_key, fingerprint = claim
    if response.status_code >= 500 or response.status_code in NOT_STORED or response.is_streamed:
        _store().delete(store_key)
        return response
    record = {
        "state": "done",
        "fingerprint": fingerprint,
        "status": response.status_code,
        "headers": {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers},
        "body": crypto.encrypt(response.get_data()).decode(),
    }
    _store().put(store_key, json.dumps(record), TTL_SECONDS)
    return response


def teardown_request(exc):
    claim = g.pop("idempotency", None)
    if claim is not None:  # the request died before a response: free the key for a retry
        _store().delete(claim[0])


def init_app(app: Flask, redis) -> None:
    app.extensions["core.idempotency"] = RedisStore(redis) if redis is not None else MemoryStore()
    app.before_request(before_request)
    app.after_request(after_request)
    app.teardown_request(teardown_request)
