"""Periodic jobs. The worker process (`python -m workers`) registers them on RQ's CronScheduler,
which enqueues each one on its queue when due; a worker then runs it like any other job. On the
embedded default (no Redis) a thread of the web process runs them (`jobs.run_periodically`).

Interval jobs are enqueued when the scheduler starts and then every `interval` seconds, so a
restarted worker catches up at once. Every periodic job must be safe to run twice.
"""

from __future__ import annotations

from rq.cron import CronScheduler

from app.accounts.service import purge_expired_sessions
from app.core.jobs import Periodic
from app.entitlements.metering import flush_api_calls
from app.files.tasks import expire_pending_uploads
from app.mcp.tasks import fail_stuck_imports, purge_call_logs
from app.pixel.tasks import drain as drain_pixel_events
from app.seo.tasks import requeue_stuck_reports
from app.webhooks.tasks import dispatch_pending

HOUR = 3600
DAY = 24 * HOUR

PERIODIC = (
    Periodic(purge_expired_sessions, interval=DAY, queue="default", job_timeout=10 * 60),
    # the outbox and the sweeper: undispatched events, due retries, expired attempt leases
    Periodic(dispatch_pending, interval=10, queue="webhooks", job_timeout=5 * 60),
    # api_calls counted in Redis, copied into PostgreSQL (idempotent: totals, not increments)
    Periodic(flush_api_calls, interval=60, queue="default", job_timeout=5 * 60),
    # MCP tool-call logs older than MCP_LOG_RETENTION_DAYS
    Periodic(purge_call_logs, interval=HOUR, queue="default", job_timeout=10 * 60),
    # MCP spec imports whose job was lost: failed, with the reason
    Periodic(fail_stuck_imports, interval=10 * 60, queue="default", job_timeout=5 * 60),
    # declared files whose upload was not completed within the hour: rows and objects removed
    Periodic(expire_pending_uploads, interval=5 * 60, queue="default", job_timeout=10 * 60),
    # buffered pixel events into PostgreSQL; a full batch also enqueues a drain at once
    Periodic(drain_pixel_events, interval=1, queue="default", job_timeout=120),
    # SEO reports still queued after SEO_REQUEUE_AFTER (their job was lost): queued again
    Periodic(requeue_stuck_reports, interval=60, queue="default", job_timeout=5 * 60),
)


def register(cron: CronScheduler) -> CronScheduler:
    for job in PERIODIC:
        cron.register(job.func, job.queue, interval=job.interval, job_timeout=job.job_timeout, name=job.func.__name__)
    return cron
