"""Periodic jobs. The worker process (`python -m workers`) registers them on RQ's CronScheduler,
which enqueues each one on its queue when due; a worker then runs it like any other job.

Interval jobs are enqueued when the scheduler starts and then every `interval` seconds, so a
restarted worker catches up at once. Every periodic job must be safe to run twice.
"""

from __future__ import annotations

from rq.cron import CronScheduler

from app.accounts.service import purge_expired_sessions

HOUR = 3600
DAY = 24 * HOUR


def register(cron: CronScheduler) -> CronScheduler:
    cron.register(purge_expired_sessions, "default", interval=DAY, job_timeout=10 * 60, name="purge_expired_sessions")
    return cron
