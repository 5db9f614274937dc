"""Background jobs: RQ workers on Redis, the in-process path of the embedded default, and the
worker process with its periodic jobs (`python -m workers`, workers/schedule.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from flask import current_app
from rq import SimpleWorker
from rq.job import Job

from app.accounts.models import Session
from app.accounts.service import purge_expired_sessions
from app.core.jobs import QUEUES, Periodic, jobs
from app.extensions import db
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, requires_redis
from tests.factories import PASSWORD
from workers import CRON_LEASE_KEY, Cron
from workers.schedule import DAY

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
without_redis = pytest.mark.skipif(bool(TEST_REDIS_URL), reason="the embedded path (no TEST_REDIS_URL)")


def login_at(client, when: datetime) -> str:
    """A session created at `when` (it expires 30 days later); returns its id."""
    with time_machine.travel(when, tick=False):
        response = client.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return db.session.scalars(sa.select(Session.id).order_by(Session.created_at.desc())).first()


def session_ids(user_id: str) -> list[str]:
    return list(db.session.scalars(sa.select(Session.id).where(Session.user_id == user_id)))


@pytest.fixture
def expired_and_live(client, owner):
    """At T0+32d: one session expired over a day ago (purged), one still valid (kept)."""
    expired = login_at(client, T0)
    live = login_at(client, T0 + timedelta(days=31))
    return expired, live


def drain_queues() -> bool:
    """Run every queued job in this process, as a worker would; True if any ran."""
    worker = SimpleWorker([jobs.queue(name) for name in QUEUES], connection=jobs.redis)
    return worker.work(burst=True)


def finished_jobs() -> list[Job]:
    registry = jobs.queue().finished_job_registry
    return [Job.fetch(job_id, connection=jobs.redis) for job_id in registry.get_job_ids()]


def run_workers(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ.update(INSTANCE_PATH=str(tmp_path), LOG_LEVEL="WARNING", **env)
    return subprocess.run(
        [sys.executable, "-m", "workers", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


# --- jobs on Redis ---------------------------------------------------------------------------


@requires_redis
def test_purge_job_runs_on_an_rq_worker(owner, expired_and_live):
    expired, live = expired_and_live
    with time_machine.travel(T0 + timedelta(days=32), tick=False):
        jobs.enqueue(purge_expired_sessions)
        assert jobs.queue().count == 1
        assert session_ids(owner.user_id) != [live]
        assert drain_queues()
        [job] = finished_jobs()
    assert job.func_name == "app.accounts.service.purge_expired_sessions"
    assert job.return_value() == 1
    assert session_ids(owner.user_id) == [live]


@requires_redis
def test_the_schedule_enqueues_the_webhook_dispatcher_and_the_daily_session_purge():
    cron = Cron(jobs.redis, name="worker-a")
    registered = {(j.name, j.queue_name, j.interval) for j in cron.scheduler.get_jobs()}
    assert registered == {
        ("purge_expired_sessions", "default", DAY),
        ("dispatch_pending", "webhooks", 10),
        ("flush_api_calls", "default", 60),
        ("requeue_stuck_reports", "default", 60),
    }
    with time_machine.travel(T0, tick=False):
        assert sorted(job.name for job in cron.tick()) == [
            "dispatch_pending",
            "flush_api_calls",
            "purge_expired_sessions",
            "requeue_stuck_reports",
        ]
        assert cron.tick() == []
    with time_machine.travel(T0 + timedelta(seconds=11), tick=False):
        assert [job.name for job in cron.tick()] == ["dispatch_pending"]
    with time_machine.travel(T0 + timedelta(days=1, seconds=1), tick=False):
        assert sorted(job.name for job in cron.tick()) == [
            "dispatch_pending",
            "flush_api_calls",
            "purge_expired_sessions",
            "requeue_stuck_reports",
        ]
    purges = [j for j in jobs.queue().get_jobs() if j.func_name == "app.accounts.service.purge_expired_sessions"]
    assert len(purges) == 2
    assert {job.func_name for job in jobs.queue("webhooks").get_jobs()} == {"app.webhooks.tasks.dispatch_pending"}


@requires_redis
def test_only_the_lease_holder_enqueues_periodic_jobs():
    first, second = Cron(jobs.redis, name="worker-a"), Cron(jobs.redis, name="worker-b")
    assert len(first.tick()) == 4
    assert second.tick() == []
    assert jobs.redis.get(CRON_LEASE_KEY) == b"worker-a"
    first.release_lease()
    assert len(second.tick()) == 4
    assert jobs.queue("webhooks").count == 2 and jobs.queue().count == 6


@requires_redis
def test_worker_process_runs_jobs_with_the_app_and_database(tmp_path):
    from app.system.service import health

    jobs.enqueue(health)
    result = run_workers(
        tmp_path,
        "--burst",
        REDIS_URL=TEST_REDIS_URL,
        **({"DATABASE_URL": TEST_DATABASE_URL} if TEST_DATABASE_URL else {}),
    )
    assert result.returncode == 0, result.stderr
    assert jobs.queue().count == 0
    [job] = finished_jobs()
    body, healthy = job.return_value()
    assert healthy is True
    assert body["checks"] == {"database": "ok", "redis": "ok"}


def test_worker_process_needs_redis(tmp_path):
    result = run_workers(tmp_path, "--burst")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: REDIS_URL is not set.")
    assert "Traceback" not in result.stderr


@requires_redis
def test_worker_process_rejects_an_unknown_queue(tmp_path):
    result = run_workers(tmp_path, "--burst", "--queues", "nope", REDIS_URL=TEST_REDIS_URL)
    assert result.returncode == 2
    assert "unknown queues: nope" in result.stderr


# --- the embedded default: no Redis ----------------------------------------------------------


def record_context(seen: list) -> None:
    seen.append((current_app.name, threading.current_thread().name))


def fail() -> None:
    raise RuntimeError("boom")


@pytest.fixture
def in_threads(app, monkeypatch):
    """Jobs in the web process's background threads (JOBS_SYNC off); call it to wait for them."""
    monkeypatch.setitem(app.config, "JOBS_SYNC", False)
    monkeypatch.setattr(jobs, "_executor", None)

    def wait() -> None:
        jobs._executor.shutdown(wait=True)

    return wait


@without_redis
def test_without_redis_the_purge_runs_in_process(owner, expired_and_live):
    expired, live = expired_and_live
    with time_machine.travel(T0 + timedelta(days=32), tick=False):
        jobs.enqueue(purge_expired_sessions)
    assert session_ids(owner.user_id) == [live]


@without_redis
def test_without_redis_jobs_run_in_a_background_thread_with_the_app(in_threads):
    seen: list = []
    jobs.enqueue(record_context, seen)
    in_threads()
    assert seen == [("app", "jobs_0")]


@without_redis
def test_a_failing_in_process_job_is_logged_and_the_next_one_runs(in_threads, caplog):
    seen: list = []
    with caplog.at_level(logging.ERROR, logger="app.jobs"):
        jobs.enqueue(fail)
        jobs.enqueue(record_context, seen)
        in_threads()
    assert [r.getMessage() for r in caplog.records] == ["job failed"]
    assert caplog.records[0].job == "fail"
    assert len(seen) == 1


def test_without_redis_a_thread_of_the_web_process_runs_the_periodic_jobs(app):
    """gunicorn's post_fork starts it on the embedded default (no worker process there)."""
    ran = threading.Event()
    thread = jobs.run_periodically(app, (Periodic(ran.set, interval=3600),))
    assert ran.wait(10), "the periodic job did not run"
    assert thread.daemon and thread.name == "periodic-jobs"
