"""The worker side of webhooks: fan-out, delivery attempts, retries, the outbox dispatcher and
the sweeper. Jobs take ids, reload, and are safe to run twice (API.md §8, issue 3)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from ..core.clock import utcnow
from ..core.events import Event, record_event, type_matches, type_pattern_to_like
from ..core.ids import new_id
from ..core.jobs import jobs
from ..extensions import db
from . import signing
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .schemas import EndpointSchema

log = logging.getLogger("app.webhooks")

QUEUE = "webhooks"
JOB_TIMEOUT = 60
# A claimed attempt is another worker's until then (longer than the job's own time limit).
SENDING_LEASE = timedelta(seconds=90)
# A queued delivery is left to its job until then; after it, the sweeper queues it again.
QUEUED_LEASE = timedelta(minutes=5)
# Just-committed events are handed to a fan-out job; the dispatcher takes those older than this.
HANDOFF_GRACE = timedelta(seconds=30)
BATCH = 500
BATCH_SECONDS = 1.0  # how long a fan-out job goes on with other waiting events
BATCH_EVENTS = 50
FAN_OUT_QUEUED = "core:webhooks:fan_out_queued"  # set while a fan-out job waits on the queue
FAN_OUT_QUEUED_SECONDS = 10  # if that job is lost, the next commit queues another after this
OPEN = ("pending", "retrying")

D = WebhookDelivery
E = WebhookEndpoint


# --- fan-out ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery this job made and holds (its attempt lease), with what sending it needs."""

    id: str
    endpoint: WebhookEndpoint  # detached: its attributes stay loaded across commits
    event: Event


def hand_off(event_ids: list[str]) -> None:
    """Committed events go to a fan-out job. While one waits on the queue, it will take these too
    (it takes every waiting event), so a burst of commits makes one job, not one each."""
    redis = jobs.redis
    if redis is not None and not redis.set(FAN_OUT_QUEUED, 1, nx=True, ex=FAN_OUT_QUEUED_SECONDS):
        return
    jobs.enqueue(fan_out, event_ids, queue=QUEUE, job_timeout=JOB_TIMEOUT * 2)


def _waiting() -> list[str]:
    return list(
        db.session.scalars(
            sa.select(Event.id).where(Event.dispatched_at.is_(None)).order_by(Event.created_at).limit(BATCH_EVENTS)
        )
    )


def fan_out(event_ids: list[str]) -> None:
    """A delivery per (event, matching active endpoint), attempted right here; then the job takes
    the other waiting events, for up to BATCH_SECONDS. When the time is up, the deliveries not yet
    attempted go to delivery jobs, and the events still waiting to the next fan-out job."""
    if jobs.redis is not None:
        jobs.redis.delete(FAN_OUT_QUEUED)  # started: events committed from now on need a new job
    deadline = time.monotonic() + BATCH_SECONDS
    ids = list(event_ids) or _waiting()
    while ids:
        batch = create_deliveries(ids, claim=True)
        for n, claimed in enumerate(batch):
            if time.monotonic() >= deadline:
                queue_deliveries([c.id for c in batch[n:]], release=True)
                break
            _attempt(claimed.id, 0, claimed.endpoint, claimed.event, utcnow())
        ids = _waiting()
        if ids and time.monotonic() >= deadline:
            hand_off([])
            return


def create_deliveries(event_ids: Iterable[str], claim: bool = False) -> list[Claimed]:
    """Mark the events dispatched and insert their deliveries, in one transaction. `claim`: the
    caller sends them itself (their attempt lease is taken at insert)."""
    now = utcnow()
    events = db.session.scalars(
        sa.select(Event)
        .where(Event.id.in_(list(event_ids)), Event.dispatched_at.is_(None))
        .order_by(Event.created_at, Event.id)
        .with_for_update(skip_locked=True)  # a concurrent dispatcher takes the others
    ).all()
    if not events:
        db.session.rollback()
        return []
    endpoints: dict[str, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in db.session.scalars(
        sa.select(E).where(E.workspace_id.in_({e.workspace_id for e in events}), E.is_active.is_(True))
    ):
        endpoints[endpoint.workspace_id].append(endpoint)
    rows, made = [], []
    for event in events:
        for endpoint in endpoints[event.workspace_id]:
            # an endpoint gets what happened since it was made (its own creation too, as a ping)
            if event.created_at >= endpoint.created_at and any(type_matches(p, event.type) for p in endpoint.events):
                row = _new_delivery(endpoint, event.id, event.type, now)
                if claim:
                    row["sending_until"] = now + SENDING_LEASE
                rows.append(row)
                made.append(Claimed(row["id"], endpoint, event))
        event.dispatched_at = now
    inserted = set(_insert_deliveries(rows))
    db.session.flush()
    for obj in [*events, *(e for group in endpoints.values() for e in group)]:
        db.session.expunge(obj)  # kept as read: no reload after each commit of the batch
    db.session.commit()
    return [c for c in made if c.id in inserted]


def _new_delivery(endpoint: WebhookEndpoint, event_id: str, event_type: str, now: datetime) -> dict:
    return {
        "id": new_id("dlv"),
        "workspace_id": endpoint.workspace_id,
        "endpoint_id": endpoint.id,
        "event_id": event_id,
        "event_type": event_type,
        "status": "pending",
        "attempt": 0,
        "next_retry_at": now,
        # the fan-out job that made it sends it within this (queue_deliveries lengthens it)
        "queued_until": now + SENDING_LEASE,
        "created_at": now,
    }


def _insert_deliveries(rows: list[dict]) -> list[str]:
    """Insert, skipping (endpoint, event) pairs that exist already (a replay racing a fan-out);
    returns the ids inserted."""
    if not rows:
        return []
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(D).on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"]).returning(D.id)
    return list(db.session.scalars(stmt, rows))


def queue_deliveries(ids: list[str], already_leased: bool = False, release: bool = False) -> None:
    """Hand deliveries to the workers; the queue lease keeps the sweeper from doubling them.
    `release`: this job had claimed them and gives the attempts up to the delivery jobs."""
    if not ids:
        return
    if not already_leased:
        values: dict = {"queued_until": utcnow() + QUEUED_LEASE}
        if release:
            values["sending_until"] = None
        db.session.execute(
            sa.update(D).where(D.id.in_(ids)).values(**values),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
    for delivery_id in ids:
        jobs.enqueue(deliver, delivery_id, queue=QUEUE, job_timeout=JOB_TIMEOUT)


# --- one attempt -----------------------------------------------------------------------------


def deliver(delivery_id: str) -> None:
    """Claim the delivery's next attempt, then make it (a delivery job)."""
    started = utcnow()
    if not _claim(delivery_id, started):
        return  # sent already, not due yet, or another worker holds the attempt
    row = db.session.execute(
        sa.select(D.attempt, E, Event)
        .join(E, E.id == D.endpoint_id)
        .join(Event, Event.id == D.event_id)
        .where(D.id == delivery_id)
    ).first()
    if row is None:
        db.session.rollback()
        return  # deleted meanwhile (cascade)
    # kept as read, and no transaction held open during the POST: on SQLite, a reader that
    # outlives another connection's commit cannot write the attempt's outcome afterwards
    db.session.expunge(row.WebhookEndpoint)
    db.session.expunge(row.Event)
    db.session.rollback()
    _attempt(delivery_id, row.attempt, row.WebhookEndpoint, row.Event, started)


def _attempt(delivery_id: str, attempts: int, endpoint: WebhookEndpoint, event: Event, started: datetime) -> None:
    """Send the claimed attempt, record it, and schedule the retry."""
    if not endpoint.is_active:
        # paused: the sweeper resumes it once the endpoint is enabled again
        db.session.execute(
            sa.update(D).where(D.id == delivery_id).values(sending_until=None, queued_until=None),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        return
    body = signing.payload(event.id, event.type, event.created_at, event.workspace_id, event.data)
    outcome = signing.send(endpoint, event.id, body)
    retry_in = _record(delivery_id, attempts + 1, endpoint.id, outcome, started)
    if retry_in is not None:
        jobs.enqueue(deliver, delivery_id, queue=QUEUE, delay=retry_in, job_timeout=JOB_TIMEOUT)


def _claim(delivery_id: str, now: datetime) -> bool:
    """Compare-and-set: only one worker turns an open, due, unclaimed delivery into its attempt."""
    result = db.session.execute(
        sa.update(D)
        .where(
            D.id == delivery_id,
            D.status.in_(OPEN),
            sa.or_(D.next_retry_at.is_(None), D.next_retry_at <= now),
            sa.or_(D.sending_until.is_(None), D.sending_until <= now),
        )
        .values(sending_until=now + SENDING_LEASE),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def _record(delivery_id: str, number: int, endpoint_id: str, outcome: signing.Outcome, started) -> int | None:
    """Store attempt `number` and the delivery's new state, in one commit; returns seconds to the
    next automatic attempt, or None."""
    config = current_app.config
    now = utcnow()
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            number=number,
            attempted_at=started,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error[:500] if outcome.error else None,
            response_body=outcome.response_body,
        )
    )
    state: dict = {"attempt": number, "response_code": outcome.status_code, "sending_until": None, "queued_until": None}
    schedule = config["WEBHOOK_RETRY_SCHEDULE"]
    retry_in = None
    if outcome.success:
        state.update(status="success", delivered_at=now, next_retry_at=None)
        counters = {"success_count": E.success_count + 1, "consecutive_failures": 0}
    else:
        counters = {"failure_count": E.failure_count + 1, "consecutive_failures": E.consecutive_failures + 1}
        if number < len(schedule) and number < config["WEBHOOK_MAX_ATTEMPTS"]:
            retry_in = schedule[number]
            state.update(status="retrying", next_retry_at=now + timedelta(seconds=retry_in))
            if jobs.keeps_delayed_jobs:  # a scheduled job will come; else the sweeper sends it when due
                state["queued_until"] = state["next_retry_at"] + QUEUED_LEASE
        else:
            state.update(status="failed", next_retry_at=None)
    db.session.execute(
        sa.update(D).where(D.id == delivery_id).values(**state), execution_options={"synchronize_session": False}
    )
    consecutive = db.session.execute(
        sa.update(E)
        .where(E.id == endpoint_id)
        .values(last_delivery_at=now, **counters)
        .returning(E.consecutive_failures),
        execution_options={"synchronize_session": False},
    ).scalar_one()
    if not outcome.success and consecutive >= config["WEBHOOK_DISABLE_AFTER"]:
        _disable(endpoint_id, consecutive, now)
    db.session.commit()
    return retry_in


def _disable(endpoint_id: str, failures: int, now: datetime) -> None:
    """Once, however many workers cross the threshold together: the first one records the event."""
    result = db.session.execute(
        sa.update(E)
        .where(E.id == endpoint_id, E.is_active.is_(True))
        .values(
            is_active=False, disabled_reason=f"Disabled after {failures} consecutive failed deliveries.", updated_at=now
        ),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        fresh = sa.select(E).where(E.id == endpoint_id).execution_options(populate_existing=True)
        endpoint = db.session.execute(fresh).scalar_one()
        record_event(endpoint.workspace_id, "webhook.disabled", EndpointSchema().dump(endpoint))
        log.warning("webhook endpoint disabled", extra={"endpoint_id": endpoint_id, "failures": failures})


# --- the periodic dispatcher and sweeper ------------------------------------------------------


def dispatch_pending() -> dict[str, int]:
    """Periodic: fan out events whose hand-off was lost, and queue again every open delivery that
    is due and whose job was lost (Redis restarted, a worker killed mid-attempt)."""
    now = utcnow()
    dispatched = 0
    while True:
        ids = db.session.scalars(
            sa.select(Event.id)
            .where(Event.dispatched_at.is_(None), Event.created_at <= now - HANDOFF_GRACE)
            .order_by(Event.created_at)
            .limit(BATCH)
        ).all()
        queue_deliveries([c.id for c in create_deliveries(ids)])
        dispatched += len(ids)
        if len(ids) < BATCH:
            break
    requeued = 0
    while True:
        due = db.session.scalars(
            sa.select(D.id)
            .join(E, E.id == D.endpoint_id)
            .where(
                E.is_active.is_(True),
                D.status.in_(OPEN),
                sa.or_(D.next_retry_at.is_(None), D.next_retry_at <= now),
                sa.or_(D.queued_until.is_(None), D.queued_until <= now),
                sa.or_(D.sending_until.is_(None), D.sending_until <= now),
            )
            .limit(BATCH)
        ).all()
        queue_deliveries(list(due))
        requeued += len(due)
        if len(due) < BATCH:
            break
    if dispatched or requeued:
        log.info("webhooks dispatched", extra={"events": dispatched, "requeued": requeued})
    return {"events": dispatched, "requeued": requeued}


# --- replay ----------------------------------------------------------------------------------


def replay_window(endpoint_id: str, since: datetime, until: datetime) -> dict[str, int]:
    """Send the endpoint every matching event of [since, until) that did not succeed: new
    deliveries for events it never got, failed ones queued again (up to WEBHOOK_MAX_ATTEMPTS)."""
    endpoint = db.session.get(E, endpoint_id)
    if endpoint is None:
        return {"queued": 0, "skipped": 0}
    now = utcnow()
    in_window = sa.and_(
        Event.workspace_id == endpoint.workspace_id,
        Event.created_at >= since,
        Event.created_at < until,
        _matching(endpoint.events),
    )
    queued = 0
    missing = (
        sa.select(Event.id, Event.type)
        .where(in_window, ~sa.exists().where(D.endpoint_id == endpoint.id, D.event_id == Event.id))
        .limit(BATCH)
    )
    while batch := db.session.execute(missing).all():
        rows = [_new_delivery(endpoint, event_id, type_, now) for event_id, type_ in batch]
        _insert_deliveries(rows)
        db.session.commit()
        queue_deliveries([row["id"] for row in rows])
        queued += len(rows)
    again = requeue_failed(sa.and_(D.endpoint_id == endpoint.id, D.event_id.in_(sa.select(Event.id).where(in_window))))
    return {"queued": queued + again["queued"], "skipped": again["skipped"]}


def requeue_failed(condition) -> dict[str, int]:
    """One more attempt, now, for every failed delivery matching `condition` that has had fewer
    than WEBHOOK_MAX_ATTEMPTS; the others are counted as skipped."""
    failed = sa.and_(D.status == "failed", condition)
    now = utcnow()
    again = list(
        db.session.scalars(
            sa.update(D)
            .where(failed, D.attempt < current_app.config["WEBHOOK_MAX_ATTEMPTS"])
            .values(status="pending", next_retry_at=now, queued_until=now + QUEUED_LEASE)
            .returning(D.id),
            execution_options={"synchronize_session": False},
        )
    )
    skipped = db.session.scalar(sa.select(sa.func.count()).select_from(D).where(failed)) or 0
    db.session.commit()
    queue_deliveries(again, already_leased=True)
    return {"queued": len(again), "skipped": skipped}


def _matching(patterns: list[str]):
    if "*" in patterns:
        return sa.true()
    return sa.or_(*(Event.type.like(type_pattern_to_like(p), escape="\\") for p in patterns))
