"""Webhook endpoints and their deliveries, as the API and the CLI manage them (issue 3).

Sending happens in tasks.py on the workers; only the test endpoint sends from a web request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..core import outbound
from ..core.clock import utcnow
from ..core.errors import ApiError, not_found, validation_failed
from ..core.events import record_event
from ..core.ids import new_id
from ..core.jobs import jobs
from ..core.ratelimit import hit
from ..entitlements import service as entitlements
from ..extensions import db
from . import signing, tasks
from .models import WebhookDelivery, WebhookEndpoint
from .schemas import EndpointSchema

EVENT_TYPES = ("webhook.created", "webhook.updated", "webhook.deleted", "webhook.secret_rotated", "webhook.disabled")
PREVIOUS_SECRET_LIFETIME = timedelta(hours=24)
TEST_LIMIT = "10/minute"  # per endpoint: the test sends from the web process, on demand
D, E = WebhookDelivery, WebhookEndpoint


def _dump(endpoint: WebhookEndpoint) -> dict:
    return EndpointSchema().dump(endpoint)


def _check_url(url: str) -> None:
    try:
        outbound.check_url(url)
    except outbound.BlockedUrl as exc:
        raise validation_failed({"url": [str(exc)]}) from None


# --- endpoints -------------------------------------------------------------------------------


def endpoints_query(workspace_id: str):
    return sa.select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id)


def endpoint_count(workspace_id: str) -> int:
    """The `webhooks` entitlement: endpoints of the workspace."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(endpoints_query(workspace_id).subquery())) or 0


def get_endpoint(workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = db.session.scalar(endpoints_query(workspace_id).where(WebhookEndpoint.id == endpoint_id))
    if endpoint is None:
        raise not_found("Webhook endpoint not found.")
    return endpoint


def create_endpoint(workspace_id: str, data: dict, tier: str | None = None) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its secret, which is shown this once. With a `tier` (API calls)
    the plan's `webhooks` limit applies; operators' scripts pass none."""
    _check_url(data["url"])
    if tier is not None:
        entitlements.require(workspace_id, tier, "webhooks", lambda: endpoint_count(workspace_id))
    secret = data.get("secret") or signing.new_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id("whe"),
        workspace_id=workspace_id,
        url=data["url"],
        description=data.get("description"),
        events=list(dict.fromkeys(data["events"])),
        secret_encrypted=signing.seal(secret),
        is_active=True,
        success_count=0,
        failure_count=0,
        consecutive_failures=0,
        created_at=now,
        updated_at=now,
    )
    db.session.add(endpoint)
    db.session.flush()
    record_event(workspace_id, "webhook.created", _dump(endpoint))
    db.session.commit()
    return endpoint, secret


def update_endpoint(workspace_id: str, endpoint_id: str, data: dict) -> WebhookEndpoint:
    endpoint = get_endpoint(workspace_id, endpoint_id)
    if "url" in data:
        _check_url(data["url"])
        endpoint.url = data["url"]
    if "events" in data:
        endpoint.events = list(dict.fromkeys(data["events"]))
    if "description" in data:
        endpoint.description = data["description"]
    if data.get("is_active") is True and not endpoint.is_active:
        # re-enabled: a fresh start; paused deliveries resume with the next sweep
        endpoint.is_active, endpoint.consecutive_failures, endpoint.disabled_reason = True, 0, None
    elif data.get("is_active") is False and endpoint.is_active:
        endpoint.is_active, endpoint.disabled_reason = False, "Disabled by a user."
    endpoint.updated_at = utcnow()
    db.session.flush()
    record_event(workspace_id, "webhook.updated", _dump(endpoint))
    db.session.commit()
    return endpoint


def delete_endpoint(workspace_id: str, endpoint_id: str) -> None:
    endpoint = get_endpoint(workspace_id, endpoint_id)
    record_event(workspace_id, "webhook.deleted", _dump(endpoint))
    db.session.delete(endpoint)  # its deliveries and attempts go with it (ON DELETE CASCADE)
    db.session.commit()


def rotate_secret(workspace_id: str, endpoint_id: str) -> dict:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    secret = signing.new_secret()
    now = utcnow()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now + PREVIOUS_SECRET_LIFETIME
    endpoint.secret_encrypted = signing.seal(secret)
    endpoint.updated_at = now
    record_event(workspace_id, "webhook.secret_rotated", _dump(endpoint))
    db.session.commit()
    return {"id": endpoint.id, "secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at}


def send_test(workspace_id: str, endpoint_id: str) -> dict:
    """Send a signed `webhook.test` event now (not stored, not counted) and report the answer."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    hit(TEST_LIMIT, "webhook-test", endpoint.id)
    event_id, now = new_id("evt"), utcnow()
    data = {"webhook_id": endpoint.id, "message": "A test event from Core API."}
    outcome = signing.send(endpoint, event_id, signing.payload(event_id, "webhook.test", now, workspace_id, data))
    if outcome.success:
        return {
            "success": True,
            "status_code": outcome.status_code,
            "response_time_ms": outcome.duration_ms,
            "response_body": outcome.response_body,
        }
    return {
        "success": False,
        "status_code": outcome.status_code,
        "error": outcome.error,
        "response_time_ms": outcome.duration_ms,
    }


# --- deliveries ------------------------------------------------------------------------------


def deliveries_query(workspace_id: str, endpoint_id: str):
    endpoint = get_endpoint(workspace_id, endpoint_id)
    return sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)


def get_delivery(workspace_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    delivery = db.session.scalar(deliveries_query(workspace_id, endpoint_id).where(WebhookDelivery.id == delivery_id))
    if delivery is None:
        raise not_found("Delivery not found.")
    return delivery


def _cannot_retry(message: str) -> ApiError:
    return ApiError(400, "cannot_retry", message)


def retry_delivery(workspace_id: str, endpoint_id: str, delivery_id: str) -> dict:
    """Queue one more attempt of a failed (or waiting) delivery now."""
    delivery = get_delivery(workspace_id, endpoint_id, delivery_id)
    max_attempts = current_app.config["WEBHOOK_MAX_ATTEMPTS"]
    if delivery.status == "success":
        raise _cannot_retry("The delivery already succeeded.")
    if delivery.attempt >= max_attempts:
        raise _cannot_retry(f"The delivery has had the maximum of {max_attempts} attempts.")
    if delivery.status == "pending":
        raise _cannot_retry("The delivery is already queued.")
    if not get_endpoint(workspace_id, endpoint_id).is_active:
        raise _cannot_retry("The endpoint is disabled; enable it first.")
    now = utcnow()
    delivery_id, next_attempt = delivery.id, delivery.attempt + 1
    queued = db.session.execute(
        sa.update(D)
        .where(
            D.id == delivery_id,
            D.status.in_(("failed", "retrying")),
            sa.or_(D.sending_until.is_(None), D.sending_until <= now),
        )
        .values(status="pending", next_retry_at=now, queued_until=now + tasks.QUEUED_LEASE),
        execution_options={"synchronize_session": False},
    )
    if queued.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise _cannot_retry("The delivery is being attempted right now.")
    db.session.commit()
    jobs.enqueue(tasks.deliver, delivery_id, queue=tasks.QUEUE, job_timeout=tasks.JOB_TIMEOUT)
    return {"id": delivery_id, "status": "pending", "attempt": next_attempt}


def replay(workspace_id: str, endpoint_id: str, since: datetime, until: datetime | None) -> dict:
    """Queue a replay of [since, until) to the endpoint; a worker does it (it may be large)."""
    endpoint = get_endpoint(workspace_id, endpoint_id)
    now = utcnow()
    until = until or now
    if since > now:
        raise validation_failed({"since": ["Must not be in the future."]})
    jobs.enqueue(tasks.replay_window, endpoint.id, since, until, queue=tasks.QUEUE, job_timeout=30 * 60)
    return {"endpoint_id": endpoint.id, "since": since, "until": until}


def dispatch_committed(event_ids: list[str]) -> None:
    """core.events hands over every committed batch of events: fan them out on a worker."""
    tasks.hand_off(event_ids)


# --- operators (flask webhooks …) ------------------------------------------------------------


def retry_failed(since: datetime) -> dict[str, int]:
    """Every failed delivery created since `since`, in every workspace, gets one more attempt
    (those that had WEBHOOK_MAX_ATTEMPTS are skipped; disabled endpoints are left out)."""
    active = D.endpoint_id.in_(sa.select(E.id).where(E.is_active.is_(True)))
    return tasks.requeue_failed(sa.and_(D.created_at >= since, active))
