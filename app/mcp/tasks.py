"""The worker side of MCP: importing big or fetched specs, and log retention. Jobs take ids and
are safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..core import outbound
from ..core.clock import utcnow
from ..extensions import db
from . import documents
from .models import McpCallLog, McpSpec

log = logging.getLogger("app.mcp")

QUEUE = "default"
JOB_TIMEOUT = 15 * 60  # a Stripe-sized document validates in ~10 s; GitHub's in ~30 s
FETCH_TIMEOUT = 60.0
STUCK_AFTER = timedelta(seconds=2 * JOB_TIMEOUT)
PURGE_BATCH = 5000


def fill(spec: McpSpec, document: dict) -> None:
    """Check `document` (raises DocumentError) and make it the spec's: status ready."""
    facts = documents.check(document)
    spec.document = document
    spec.openapi_version = facts["openapi_version"]
    spec.title = facts["title"]
    spec.operation_count = facts["operation_count"]
    if spec.version is None:
        spec.version = facts["version"]
    spec.status, spec.error, spec.pending_text = "ready", None, None
    spec.updated_at = utcnow()


def _fetch(url: str) -> str:
    limit = current_app.config["MCP_SPEC_MAX_BYTES"]
    response = outbound.request(
        "GET",
        url,
        headers={"Accept": "application/json, application/yaml, text/yaml, */*"},
        total_timeout=FETCH_TIMEOUT,
        max_response_bytes=limit + 1,
    )
    if not 200 <= response.status_code < 300:
        raise documents.DocumentError(f"Fetching the spec answered HTTP {response.status_code}.")
    if len(response.content) > limit:
        raise documents.DocumentError(f"The spec is larger than {limit} bytes.")
    try:
        return response.content.decode("utf-8")
    except UnicodeDecodeError:
        raise documents.DocumentError("The spec is not UTF-8 text.") from None


def import_spec(spec_id: str) -> None:
    """Fetch (source_url) or take the stored text, validate, and mark the spec ready or failed."""
    spec = db.session.get(McpSpec, spec_id)
    if spec is None or spec.status != "processing":
        return
    try:
        text = _fetch(spec.source_url) if spec.source_url else (spec.pending_text or "")
        fill(spec, documents.parse(text))
    except (documents.DocumentError, outbound.OutboundError) as exc:
        spec.status, spec.error, spec.pending_text = "failed", str(exc)[:1000], None
        spec.updated_at = utcnow()
    db.session.commit()
    log.info("spec imported", extra={"spec_id": spec_id, "status": spec.status})


def fail_stuck_imports() -> int:
    """Periodic: an import still `processing` long after its job's time limit lost its job (a
    Redis restart, a killed worker, a restarted embedded web process): say so, so the tenant can
    import again, rather than leave it processing forever."""
    cutoff = utcnow() - STUCK_AFTER
    stuck = list(
        db.session.scalars(sa.select(McpSpec).where(McpSpec.status == "processing", McpSpec.updated_at < cutoff))
    )
    for spec in stuck:
        spec.status, spec.pending_text = "failed", None
        spec.error = "The import did not finish (its job was lost or timed out); import the spec again."
        spec.updated_at = utcnow()
    db.session.commit()
    return len(stuck)


def purge_call_logs() -> int:
    """Periodic: delete tool-call logs older than MCP_LOG_RETENTION_DAYS, in batches. Nothing to
    delete takes no write lock (on SQLite every web process runs this at start)."""
    cutoff = utcnow() - timedelta(days=current_app.config["MCP_LOG_RETENTION_DAYS"])
    deleted = 0
    while True:
        batch = list(
            db.session.scalars(sa.select(McpCallLog.seq).where(McpCallLog.created_at < cutoff).limit(PURGE_BATCH))
        )
        if not batch:
            db.session.rollback()
            return deleted
        db.session.execute(sa.delete(McpCallLog).where(McpCallLog.seq.in_(batch)))
        db.session.commit()
        deleted += len(batch)
