"""Background jobs: RQ queues on Redis, or a thread of the web process on the embedded default.

Jobs are plain functions that take ids; `enqueue` is called after the commit that made the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app
from redis import Redis
from rq import Queue

log = logging.getLogger("app.jobs")

QUEUES = ("default",)


class Jobs:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        # RQ stores pickled bytes: no decode_responses on this connection.
        app.extensions["core.redis"] = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2) if url else None
        app.extensions["core.jobs"] = self

    @property
    def redis(self) -> Redis | None:
        """The current app's Redis client, or None on the embedded default."""
        return current_app.extensions["core.redis"]

    def queue(self, name: str = "default") -> Queue:
        if self.redis is None:
            raise RuntimeError("REDIS_URL is not configured")
        return Queue(name, connection=self.redis)

    def enqueue(
        self,
        func: Callable,
        *args,
        queue: str = "default",
        job_timeout: int = 60,
        ttl: int = 3600,
        failure_ttl: int = 7 * 86400,
    ) -> None:
        if self.redis is not None:
            self.queue(queue).enqueue(func, *args, job_timeout=job_timeout, ttl=ttl, failure_ttl=failure_ttl)
            return
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxied app
        if app.config.get("JOBS_SYNC"):
            _run(app, func, args)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jobs")
        self._executor.submit(_run, app, func, args)


def _run(app: Flask, func: Callable, args: tuple) -> None:
    with app.app_context():
        try:
            func(*args)
        except Exception:  # a failed in-process job must not kill the thread pool
            log.exception("job failed", extra={"job": func.__qualname__})


jobs = Jobs()
