"""The SEO pipeline across processes on real PostgreSQL and Redis: a web process accepts the
reports (committed `queued`, jobs on Redis), a real `python -m workers --burst` processes them,
one of them queued twice. The worker cannot see the suite's rolled-back transaction: this test
has its own database (tests/processes.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack

from cryptography.fernet import Fernet

from ..conftest import TEST_REDIS_URL, requires_postgres, requires_redis
from ..processes import ROOT, flask_cli, scratch_database

pytestmark = [requires_postgres, requires_redis]

WEB = """
import json
from app import create_app
from app.accounts import service as accounts
from app.api_keys import service as api_keys
from app.core.jobs import jobs
from app.seo.tasks import process_report
from app.workspaces import service as workspaces

app = create_app()
with app.app_context():
    user = accounts.create_user("seo@example.com", "password123", None)
    workspaces.set_tier(workspaces.get_workspace(user.default_workspace_id), "pro")
    _, secret = api_keys.create_key_for(user.default_workspace_id, user.id, "k", ["*"], None)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    url = "https://example.com/page"
    first = client.post("/api/v1/seo/report", headers=headers, json={
        "url": url, "scores": {"performance": 90, "accessibility": 90, "best_practices": 90, "seo": 90},
        "issues": [{"type": "missing_alt", "severity": "warning", "element": "img"},
                   {"type": "missing_title", "severity": "error"}]}).json["data"]
    second = client.post("/api/v1/seo/report", headers=headers, json={
        "url": url, "scores": {"performance": 75, "accessibility": 90, "best_practices": 90, "seo": 90},
        "issues": [{"type": "missing_alt", "severity": "warning", "element": "img"}]}).json["data"]
    jobs.enqueue(process_report, second["id"])  # the same job twice (a sweeper's re-queue)
    print(json.dumps([first["status"], second["status"], second["id"]]))
"""

CHECK = """
import json, sys
import sqlalchemy as sa
from app import create_app
from app.core.events import Event
from app.extensions import db
from app.seo.models import SeoIssue, SeoReport

app = create_app()
with app.app_context():
    report = db.session.get(SeoReport, sys.argv[1])
    print(json.dumps({
        "statuses": sorted(db.session.scalars(sa.select(SeoReport.status))),
        "counts": [report.issue_count, report.new_issues, report.persisting_issues, report.resolved_issues],
        "deltas": report.score_deltas,
        "issues": sorted((i.issue_type, i.status) for i in db.session.scalars(sa.select(SeoIssue))),
        "events": sorted(db.session.scalars(sa.select(Event.type).where(Event.type.like("seo.%")))),
    }))
"""


def python(env: dict, script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_reports_are_processed_by_a_real_worker_once(tmp_path):
    with ExitStack() as stack:
        env = {
            **os.environ,
            "DATABASE_URL": stack.enter_context(scratch_database()),
            "REDIS_URL": TEST_REDIS_URL,  # the suite's own Redis db: flushed around each test
            "INSTANCE_PATH": str(tmp_path),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
        flask_cli(env, "db", "upgrade")
        first_status, second_status, second_id = json.loads(python(env, WEB))
        assert first_status == second_status == "queued"
        done = subprocess.run(
            [sys.executable, "-m", "workers", "--burst", "--queues", "default"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        state = json.loads(python(env, CHECK, second_id))
    assert state["statuses"] == ["processed", "processed"]
    assert state["counts"] == [1, 0, 1, 1]
    assert state["deltas"] == {"performance": -15, "accessibility": 0, "best_practices": 0, "seo": 0}
    assert state["issues"] == [["missing_alt", "open"], ["missing_title", "resolved"]]
    assert state["events"] == ["seo.report.processed", "seo.report.processed", "seo.score_dropped"]


CONCURRENT = """
import json, threading
import sqlalchemy as sa
from app import create_app
from app.accounts import service as accounts
from app.api_keys import service as api_keys
from app.extensions import db
from app.seo.models import SeoIssue, SeoReport
from app.seo.tasks import process_report
from app.workspaces import service as workspaces

app = create_app()
with app.app_context():
    user = accounts.create_user("seo@example.com", "password123", None)
    workspaces.set_tier(workspaces.get_workspace(user.default_workspace_id), "pro")
    _, secret = api_keys.create_key_for(user.default_workspace_id, user.id, "k", ["*"], None)
    client = app.test_client()
    report = {"url": "https://example.com/page",
              "scores": {"performance": 90, "accessibility": 90, "best_practices": 90, "seo": 90},
              "issues": [{"type": "missing_alt", "severity": "warning", "element": "img"}]}
    ids = [client.post("/api/v1/seo/report", headers={"Authorization": f"Bearer {secret}"}, json=report).json["data"]["id"]
           for _ in range(2)]
start, errors = threading.Barrier(2), []

def work(report_id):
    with app.app_context():
        start.wait()
        try:
            process_report(report_id)
        except Exception as exc:
            errors.append(repr(exc))

threads = [threading.Thread(target=work, args=(i,)) for i in ids]
[t.start() for t in threads]
[t.join() for t in threads]
with app.app_context():
    reports = [db.session.get(SeoReport, i) for i in ids]
    print(json.dumps({
        "errors": errors,
        "statuses": [r.status for r in reports],
        "new": sorted(r.new_issues for r in reports),
        "issues": db.session.scalar(sa.select(sa.func.count()).select_from(SeoIssue)),
    }))
"""


def test_two_reports_of_one_url_processed_at_once_merge_one_after_the_other(tmp_path):
    with ExitStack() as stack:
        env = {
            **os.environ,
            "DATABASE_URL": stack.enter_context(scratch_database()),
            "REDIS_URL": TEST_REDIS_URL,
            "INSTANCE_PATH": str(tmp_path),
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
        flask_cli(env, "db", "upgrade")
        state = json.loads(python(env, CONCURRENT))
    assert state == {"errors": [], "statuses": ["processed", "processed"], "new": [0, 1], "issues": 1}
