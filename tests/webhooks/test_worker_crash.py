"""At-least-once delivery with real `python -m workers` processes on real Redis and PostgreSQL:
a worker SIGKILLed in the middle of a slow delivery loses nothing (the sweeper sends it again
once its leases expire), and in the normal path no attempt is sent twice, even by two workers
at once. The workers cannot see the suite's rolled-back transaction: this test has its own
database (tests/processes.py) and sets it up through the app in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from redis import Redis

from ..conftest import requires_postgres, requires_redis
from ..processes import ROOT, flask_cli, scratch_database, servers_redis_url
from . import Receiver

pytestmark = [requires_postgres, requires_redis]
EVENTS = 12

SETUP = """
import sys
from app import create_app
from app.accounts import service as accounts
from app.core.events import record_event
from app.extensions import db
from app.webhooks import service

app = create_app()
with app.app_context():
    user = accounts.create_user("crash@example.com", "password123", None)
    endpoint, _ = service.create_endpoint(user.default_workspace_id, {"url": sys.argv[1], "events": ["crash.*"]})
    for n in range(int(sys.argv[2])):
        record_event(user.default_workspace_id, "crash.test", {"n": n})
        db.session.commit()  # one event per commit, as API writes make them
    print(endpoint.id)
"""

# Minutes later (past the leases): the sweeper as the periodic job runs it ("sweep"), or a worker
# ("work"; RQ's SimpleWorker, in a process of its own, so that time can move for it too).
SWEEP = """
import sys
from datetime import timedelta
import time_machine
from rq import SimpleWorker
from app import create_app
from app.core.clock import utcnow
from app.core.jobs import jobs
from app.webhooks.tasks import dispatch_pending

app = create_app()
with app.app_context(), time_machine.travel(utcnow() + timedelta(minutes=int(sys.argv[1]))):
    if sys.argv[2] == "sweep":
        print(dispatch_pending()["requeued"])
    else:
        SimpleWorker([jobs.queue("webhooks")], connection=jobs.redis).work(burst=True)
        print("done")
"""


def python(env: dict, script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def worker(env: dict, log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workers", "--burst", "--queues", "webhooks"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill_with_children(pid: int) -> None:
    """SIGKILL the worker and its work horse (RQ puts the horse in its own process group)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the parent pid
            children.append(int(stat.parent.name))
    for target in [pid, *children]:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_killed_worker_loses_no_delivery_and_none_is_sent_twice(tmp_path):
    receiver = Receiver(delays=[30.0, 0.0]).start()  # the first delivery hangs until the kill
    with ExitStack() as stack:
        stack.callback(receiver.stop)
        database_url = stack.enter_context(scratch_database())
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": servers_redis_url(),
            "INSTANCE_PATH": str(tmp_path),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        redis = Redis.from_url(env["REDIS_URL"])
        redis.flushdb()
        stack.callback(redis.flushdb)
        stack.callback(redis.close)
        flask_cli(env, "db", "upgrade")
        endpoint_id = python(env, SETUP, receiver.url, str(EVENTS))
        log = tmp_path / "workers.log"

        first = worker(env, log)
        stack.callback(lambda: first.poll() is None and kill_with_children(first.pid))
        assert _wait_for(lambda: len(receiver.received) >= 1, first), log.read_text()
        kill_with_children(first.pid)  # in the middle of the slow first delivery
        first.wait(10)
        killed_id = receiver.received[0].id

        # its fan-out job had taken (and claimed) every waiting event: once the leases run out,
        # the sweeper finds them all again
        assert python(env, SWEEP, "6", "sweep") == str(EVENTS)
        # two workers at once take them; the killed attempt is made again, the rest once
        pair = [
            subprocess.Popen([sys.executable, "-c", SWEEP, "7", "work"], cwd=ROOT, env=env, stdout=subprocess.PIPE)
            for _ in range(2)
        ]
        for process in pair:
            assert process.wait(120) == 0
        assert len(receiver.received) == EVENTS + 1
        assert python(env, SWEEP, "12", "sweep") == "0"  # nothing is left
        statuses, counters = _final_state(database_url, endpoint_id)

    sent = Counter(request.id for request in receiver.received)
    assert len(sent) == EVENTS
    assert sent[killed_id] == 2  # the attempt cut off by the kill, and the one after it
    assert all(count == 1 for event_id, count in sent.items() if event_id != killed_id)
    assert statuses == {"success": EVENTS}
    assert counters == (EVENTS, 0)  # exact under concurrent workers


def _wait_for(condition, process: subprocess.Popen, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _final_state(database_url: str, endpoint_id: str) -> tuple[dict, tuple]:
    """Read through a plain engine: the suite's session is bound to its own test database."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(
                    sa.text("SELECT status, count(*) FROM webhook_deliveries WHERE endpoint_id = :e GROUP BY status"),
                    {"e": endpoint_id},
                ).all()
            )
            counters = conn.execute(
                sa.text("SELECT success_count, failure_count FROM webhook_endpoints WHERE id = :e"), {"e": endpoint_id}
            ).one()
    finally:
        engine.dispose()
    return statuses, tuple(counters)
