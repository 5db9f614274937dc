"""Tests of the cross-cutting HTTP contract (API.md §1, §4–§7), and helpers they share.

`counted_statements` records every SQL statement the app sends while it is open.
`spare_app` builds a second app with create_app() for the few tests that need other settings
(an unreachable Redis, a route that raises). create_app() binds module-level singletons (the
rate limiter's storage, the job queue's Redis client, flask-smorest's Api), so the helper puts
them back afterwards: the suite's own app keeps working exactly as before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from app import create_app
from app.api_keys.models import ApiKey
from app.core.crypto import token_hash
from app.core.jobs import jobs
from app.core.ratelimit import limiter
from app.extensions import api, db

from ..assertions import error as assert_error  # noqa: F401 - shared by tests/core
from ..conftest import test_config


def key_id_of(secret: str) -> str:
    """The `key_…` id of an API key secret (what the rate limiter and idempotency key on)."""
    return db.session.scalar(sa.select(ApiKey.id).where(ApiKey.key_hash == token_hash(secret)))


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


@contextmanager
def spare_app(**overrides):
    """A second, throwaway app on the suite's database; module singletons restored on exit."""
    saved = {obj: dict(vars(obj)) for obj in (api, limiter, jobs)}
    saved_instance = os.environ.get("INSTANCE_PATH")
    instance = saved_instance or tempfile.mkdtemp(prefix="core-spare-")
    os.environ["INSTANCE_PATH"] = instance
    try:
        yield create_app({**test_config(instance), **overrides})
    finally:
        for obj, state in saved.items():
            vars(obj).clear()
            vars(obj).update(state)
        if saved_instance is None:  # made here (at import, before the suite's app): ours to remove
            os.environ.pop("INSTANCE_PATH", None)
            shutil.rmtree(instance, ignore_errors=True)
