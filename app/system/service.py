"""Health of the API's dependencies."""

import sqlalchemy as sa
from flask import current_app

from ..core.clock import utcnow
from ..core.jobs import jobs
from ..extensions import db


def _database() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return "ok"
    except Exception:  # any failure to reach the database is "unavailable"
        db.session.rollback()
        return "unavailable"


def _redis() -> str:
    if jobs.redis is None:
        return "not_configured"
    try:
        jobs.redis.ping()
        return "ok"
    except Exception:  # connection refused, timeout, auth: all "unavailable"
        return "unavailable"


def health() -> tuple[dict, bool]:
    checks = {"database": _database(), "redis": _redis()}
    healthy = all(v in ("ok", "not_configured") for v in checks.values())
    return {
        "status": "healthy" if healthy else "unhealthy",
        "version": current_app.config["API_VERSION"],
        "timestamp": utcnow(),
        "checks": checks,
    }, healthy
