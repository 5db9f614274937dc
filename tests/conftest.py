"""Test harness: real database and Redis, one rolled-back transaction per test.

TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL select the real services; without them the
suite runs on the embedded defaults (SQLite file, in-memory limits and idempotency).
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import g
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import orm

from app import create_app
from app.core.idempotency import MemoryStore
from app.core.ratelimit import limiter
from app.extensions import db

from . import factories
from .billing import SECRET, StripeStandIn

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")

requires_postgres = pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
requires_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL")


def test_config(instance_path: str) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": _database_url(instance_path),
        "REDIS_URL": TEST_REDIS_URL,
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_COST": 256,
        "JOBS_SYNC": True,
        "CORS_ORIGINS": ["https://app.example.com"],
        "STRIPE_SECRET_KEY": None,
    }


test_config.__test__ = False  # a helper for test modules to import, not a test


def _database_url(instance_path: str) -> str:
    from app.config import database_url

    if TEST_DATABASE_URL:
        return database_url(TEST_DATABASE_URL, None)  # type: ignore[arg-type]
    return f"sqlite:///{instance_path}/test.db"


@pytest.fixture(scope="session")
def instance_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("instance"))
    os.environ["INSTANCE_PATH"] = path
    return path


@pytest.fixture(scope="session")
def app(instance_path):
    app = create_app(test_config(instance_path))

    @app.teardown_request
    def _end_request_as_in_production(_exc):
        # Test-client requests share the test's app context (its session and `g`); in production
        # each request has its own. Discard what a request left uncommitted, so a failed request
        # cannot be saved by the next one, and forget its `g`.
        db.session.rollback()
        g.__dict__.clear()

    with app.app_context():
        # a fresh schema, built by the migrations themselves
        with db.engine.begin() as conn:
            db.metadata.drop_all(conn)
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    yield app


@pytest.fixture(autouse=True)
def _isolated(app):
    """Each test's writes vanish: the session joins an outer transaction that is rolled back."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = orm.scoped_session(
            orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=_app_ctx_id,
        )
        _reset_shared_state(app)
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()
            _reset_shared_state(app)


def _reset_shared_state(app) -> None:
    limiter.reset()
    app.extensions["core.credentials_cache"].clear()
    app.extensions.pop("ai.streams", None)  # a test's open AI streams end with it
    redis = app.extensions["core.jobs"].redis
    if redis is not None:
        redis.flushdb()
    else:
        app.extensions["core.idempotency"] = MemoryStore()
        # the idempotency hooks read the store through app.extensions, so this takes effect


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def owner(app):
    """A user who owns a workspace, with a full-scope API key: .user .workspace_id .key .headers"""
    return factories.account("owner@example.com")


@pytest.fixture
def other(app):
    """Somebody else entirely: another user with their own workspace and key."""
    return factories.account("stranger@example.com")


@pytest.fixture
def ns():
    return SimpleNamespace


@pytest.fixture
def ai_stand_in(app, monkeypatch):
    """AI configured, pointing at a local Chat Completions stand-in (tests/ai)."""
    from tests.ai import ChatStandIn

    server = ChatStandIn()
    for name, value in {
        "AI_BASE_URL": server.base_url,
        "AI_API_KEY": "sk-provider-test",
        "AI_MODEL": "test-model",
        "AI_ALLOWED_MODELS": ["test-model", "other-model"],
        "AI_TIMEOUT": 5.0,
    }.items():
        monkeypatch.setitem(app.config, name, value)
    yield server
    server.stop()


@pytest.fixture
def stripe_stand_in(app, monkeypatch):
    """Billing configured, with the stripe library talking to a local stand-in."""
    server = StripeStandIn()
    for name, value in {
        "STRIPE_SECRET_KEY": "sk_test_123",
        "STRIPE_API_BASE": f"http://127.0.0.1:{server.server_address[1]}",
        "STRIPE_PRICE_STARTER": "price_starter",
        "STRIPE_PRICE_PRO": "price_pro",
        "STRIPE_WEBHOOK_SECRET": SECRET,
    }.items():
        monkeypatch.setitem(app.config, name, value)
    yield server
    server.shutdown()
    server.server_close()
