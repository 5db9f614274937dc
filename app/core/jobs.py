"""Background jobs: RQ queues on Redis, or a thread of the web process on the embedded default.

Jobs are plain functions that take ids; `enqueue` is called after the commit that made the work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import click
from flask import Flask, current_app, has_request_context, request
from redis import Redis
from rq import Queue

log = logging.getLogger("app.jobs")

QUEUES = ("default", "webhooks")
_AFTER_REQUEST = "core.jobs.after_request"  # JOBS_SYNC jobs enqueued by the current request


@dataclass(frozen=True)
class Periodic:
    """A job run every `interval` seconds (workers/schedule.py lists them)."""

    func: Callable[[], object]
    interval: int
    queue: str = "default"
    job_timeout: int = 600


class Jobs:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        # RQ stores pickled bytes: no decode_responses on this connection.
        app.extensions["core.redis"] = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2) if url else None
        app.extensions["core.jobs"] = self
        app.teardown_request(_run_after_request)

    @property
    def redis(self) -> Redis | None:
        """The current app's Redis client, or None on the embedded default."""
        return current_app.extensions["core.redis"]

    @property
    def keeps_delayed_jobs(self) -> bool:
        """Whether `enqueue(..., delay=…)` schedules the job (RQ's scheduler) or drops it."""
        return self.redis is not None

    def queue(self, name: str = "default") -> Queue:
        if self.redis is None:
            raise RuntimeError("REDIS_URL is not configured")
        return Queue(name, connection=self.redis)

    def enqueue(
        self,
        func: Callable,
        *args,
        queue: str = "default",
        delay: float = 0,
        job_timeout: int = 60,
        ttl: int = 3600,
        failure_ttl: int = 7 * 86400,
    ) -> None:
        """Run `func(*args)` on a worker, after `delay` seconds if given.

        Without Redis a delayed job is not kept: use a delay only for work that a periodic job
        also finds in the database (it is the safety net on Redis too).
        """
        if self.redis is not None:
            options = {"job_timeout": job_timeout, "ttl": ttl + int(delay), "failure_ttl": failure_ttl}
            if delay > 0:
                self.queue(queue).enqueue_in(timedelta(seconds=delay), func, *args, **options)
            else:
                self.queue(queue).enqueue(func, *args, **options)
            return
        if delay > 0:
            return
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxied app
        # a `flask` command runs its jobs in turn: a job thread writing beside the command's own
        # writes would make SQLite refuse one of them ("database is locked")
        if app.config.get("JOBS_SYNC") or click.get_current_context(silent=True) is not None:
            if has_request_context():
                # after the response, as a worker would: never inside the request's transaction
                _after_this_response(app, func, args)
            else:
                _run(app, func, args)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jobs")
        self._executor.submit(_run, app, func, args)

    def run_periodically(self, app: Flask, periodic: tuple[Periodic, ...]) -> threading.Thread:
        """The embedded default's scheduler: a daemon thread of the web process runs the periodic
        jobs (on Redis, `python -m workers` does)."""

        def loop() -> None:
            due = {job: 0.0 for job in periodic}
            while True:
                for job, at in due.items():
                    if time.monotonic() >= at:
                        _run(app, job.func, ())
                        due[job] = time.monotonic() + job.interval
                time.sleep(max(0.5, min(due.values()) - time.monotonic()))

        thread = threading.Thread(target=loop, name="periodic-jobs", daemon=True)
        thread.start()
        return thread


def _after_this_response(app: Flask, func: Callable, args: tuple) -> None:
    request.environ.setdefault(_AFTER_REQUEST, []).append((func, args))


def _run_after_request(_exc) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxied app
    while pending := request.environ.pop(_AFTER_REQUEST, None):  # jobs may enqueue jobs
        for func, args in pending:
            _run(app, func, args)


def _run(app: Flask, func: Callable, args: tuple) -> None:
    with app.app_context():
        try:
            func(*args)
        except Exception:  # a failed in-process job must not kill the thread pool
            log.exception("job failed", extra={"job": func.__qualname__})


jobs = Jobs()
