"""GET /api/health (public): the API's own state and each dependency's, 503 naming what failed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from app.extensions import db

from .conftest import TEST_REDIS_URL
from .core import assert_error, spare_app

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_healthy_body(client, app):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "status": "healthy",
        "version": app.config["API_VERSION"],
        "timestamp": body["timestamp"],
        "checks": {"database": "ok", "redis": "ok" if TEST_REDIS_URL else "not_configured"},
    }
    assert abs((parse_ts(body["timestamp"]) - datetime.now(UTC)).total_seconds()) < 5
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer sk_live_" + "z" * 40}, {"Authorization": "Basic eDp5"}]
)
def test_health_is_public_whatever_the_credentials(client, headers):
    response = client.get("/api/health", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "healthy"


def test_health_is_documented_as_public(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/health"]["get"]
    assert not operation.get("security")
    assert {"200", "503"} <= set(operation["responses"])


def test_unreachable_redis_is_503_naming_redis(app):
    with spare_app(REDIS_URL=UNREACHABLE_REDIS) as broken:
        response = broken.test_client().get("/api/health")
    body = assert_error(response, 503, "service_unavailable")
    assert body["status"] == "unhealthy"
    assert body["checks"] == {"database": "ok", "redis": "unavailable"}
    assert "redis" in body["message"]
    assert "database" not in body["message"]
    assert body["version"] == app.config["API_VERSION"]
    # the suite's app (and its Redis, if any) is untouched
    assert app.test_client().get("/api/health").status_code == 200


def test_unreachable_database_is_503_naming_the_database(client, tmp_path):
    """The session the app uses is pointed at a database file that cannot be opened."""
    engine = sa.create_engine(f"sqlite:///{tmp_path}/missing-dir/none.db")
    kept = db.session
    db.session = orm.scoped_session(orm.sessionmaker(bind=engine))
    try:
        response = client.get("/api/health")
    finally:
        db.session.remove()
        db.session = kept
        engine.dispose()
    body = assert_error(response, 503, "service_unavailable")
    assert body["checks"]["database"] == "unavailable"
    assert body["checks"]["redis"] == ("ok" if TEST_REDIS_URL else "not_configured")
    assert "database" in body["message"]


def test_an_unreachable_database_is_503_on_any_endpoint(client, owner, tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/missing-dir/none.db")
    kept = db.session
    db.session = orm.scoped_session(orm.sessionmaker(bind=engine))
    try:
        response = client.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": "x"})
    finally:
        db.session.remove()
        db.session = kept
        engine.dispose()
    body = assert_error(response, 503, "service_unavailable")
    assert "sqlite" not in response.get_data(as_text=True).lower()
    assert body["message"] == "A service the API depends on is unavailable; retry later."
