"""RQ workers for Core API: `python -m workers` (`make worker`).

One process runs RQ's forking worker on every queue of `app.core.jobs.QUEUES`, with RQ's
scheduler (jobs enqueued for later) and our periodic jobs (`workers.schedule`). The app is
created once, before any fork: a job's work horse starts with the app loaded and opens its own
database connections.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
import uuid

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.cron import CronScheduler
from rq.exceptions import SchedulerNotFound, StopRequested

from app.core.jobs import QUEUES
from app.extensions import db

from . import schedule

log = logging.getLogger("workers")

# Only one process enqueues the periodic jobs, however many workers run: it holds this lease.
CRON_LEASE_KEY = "core:cron:leader"
CRON_LEASE_SECONDS = 90
REDIS_RETRY_SECONDS = 5
_REFRESH = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class AppWorker(Worker):
    """RQ's forking worker, started inside the app context: each job runs in a forked horse."""

    def main_work_horse(self, job, queue):
        # Connections the parent may hold are not the horse's to use: it opens its own.
        for engine in db.engines.values():
            engine.dispose(close=False)
        super().main_work_horse(job, queue)

    def perform_job(self, job, queue, execution) -> bool:
        try:
            return super().perform_job(job, queue, execution)
        finally:
            # The horse exits next: end what the job left open and close its connections cleanly.
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def make_worker(connection: Redis, queues=QUEUES) -> AppWorker:
    return AppWorker(list(queues), connection=connection)


class Cron:
    """Our periodic jobs on RQ's CronScheduler, enqueued only while this process holds the lease."""

    def __init__(self, connection: Redis, name: str | None = None) -> None:
        self.connection = connection
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.scheduler = schedule.register(CronScheduler(connection, name=self.name))

    def hold_lease(self) -> bool:
        """Take the lease, or extend it if it is ours already."""
        if self.connection.set(CRON_LEASE_KEY, self.name, nx=True, ex=CRON_LEASE_SECONDS):
            return True
        return bool(self.connection.eval(_REFRESH, 1, CRON_LEASE_KEY, self.name, CRON_LEASE_SECONDS))

    def release_lease(self) -> None:
        self.connection.eval(_RELEASE, 1, CRON_LEASE_KEY, self.name)

    def tick(self) -> list:
        """Enqueue the jobs that are due (if we lead); returns the CronJobs enqueued."""
        if not self.hold_lease():
            return []
        due = self.scheduler.enqueue_jobs()
        if due:
            self.scheduler.save()
        self.scheduler.heartbeat()
        return due

    def seconds_to_next_tick(self) -> float:
        return min(self.scheduler.calculate_sleep_interval(), CRON_LEASE_SECONDS / 3)

    def run(self) -> None:
        """Loop until SIGTERM/SIGINT (in its own process: it installs signal handlers)."""

        def stop(signum, _frame):
            raise StopRequested()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        with contextlib.suppress(RedisError):  # heartbeats register it later otherwise
            self.scheduler.register_birth()
        log.info("cron scheduler started", extra={"jobs": [j.name for j in self.scheduler.get_jobs()]})
        try:
            while True:
                try:
                    for job in self.tick():
                        log.info("periodic job enqueued", extra={"job": job.name, "queue": job.queue_name})
                    pause = self.seconds_to_next_tick()
                except RedisError:  # Redis away for a moment: try again, do not die
                    log.exception("cron scheduler cannot reach Redis")
                    pause = REDIS_RETRY_SECONDS
                time.sleep(pause)
        except StopRequested:
            pass
        finally:
            with contextlib.suppress(RedisError, SchedulerNotFound):
                self.release_lease()
                self.scheduler.register_death()
            log.info("cron scheduler stopped")


def run_cron(redis_url: str) -> None:
    """Entry point of the cron process (forked from the worker; its own Redis connection)."""
    Cron(Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)).run()
