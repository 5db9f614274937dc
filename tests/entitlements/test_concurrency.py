"""Exact counting under concurrency (issue 5): 8 processes record 2,000 usage records each at
once, with duplicates (the same idempotency key sent by several processes), against real
PostgreSQL (and Redis for the app's limits and locks when configured): the counter ends equal to
the number of unique records. The processes cannot see the suite's rolled-back transaction, so
the test has a scratch database of its own (tests/processes.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack

import sqlalchemy as sa
from cryptography.fernet import Fernet

from ..conftest import TEST_REDIS_URL, requires_postgres
from ..processes import ROOT, flask_cli, scratch_database, servers_redis_url

pytestmark = requires_postgres
PROCESSES = 8
RECORDS = 2_000
UNIQUE = 5_000  # keys are drawn from this many: most are sent by more than one process

SETUP = """
from app import create_app
from app.accounts import service as accounts
from app.entitlements import service as entitlements
app = create_app()
with app.app_context():
    user = accounts.create_user("meter@example.com", "password123", None)
    entitlements.set_override(user.default_workspace_id, "seo_reports", None)  # no limit: count all
    print(user.default_workspace_id)
"""

RECORD = """
import sys
from app import create_app
from app.entitlements import service as entitlements
workspace_id, process, records, unique = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
app = create_app()
with app.app_context(), app.test_request_context():
    for n in range(records):
        key = f"k{(n * 7 + process * 613) % unique}"  # overlapping between processes
        entitlements.record_usage(workspace_id, "free", "seo_reports", 1, None, key)
"""


def keys_sent() -> set[str]:
    return {f"k{(n * 7 + p * 613) % UNIQUE}" for p in range(PROCESSES) for n in range(RECORDS)}


def test_eight_processes_count_every_unique_record_once(tmp_path):
    with ExitStack() as stack:
        database_url = stack.enter_context(scratch_database())
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
        if TEST_REDIS_URL:
            env["REDIS_URL"] = servers_redis_url()
        flask_cli(env, "db", "upgrade")
        setup = subprocess.run(
            [sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert setup.returncode == 0, setup.stderr
        workspace_id = setup.stdout.split()[-1]
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", RECORD, workspace_id, str(p), str(RECORDS), str(UNIQUE)],
                cwd=ROOT,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in range(PROCESSES)
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr[-2000:]
        engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        stack.callback(engine.dispose)
        with engine.connect() as conn:
            counted = conn.execute(
                sa.text("SELECT sum(used) FROM usage_counters WHERE workspace_id = :w AND feature = 'seo_reports'"),
                {"w": workspace_id},
            ).scalar()
            records = conn.execute(
                sa.text("SELECT count(*) FROM usage_records WHERE workspace_id = :w"), {"w": workspace_id}
            ).scalar()
    assert records == len(keys_sent())
    assert counted == len(keys_sent())
