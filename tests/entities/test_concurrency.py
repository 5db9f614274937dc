"""Issue 4's storage rules under real concurrency, on PostgreSQL: concurrent PATCHes of different
fields both survive, a unique value is enforced by the database (never two records with it), and
a task deleted while a comment on it is being created never leaves a comment pointing nowhere.

Concurrent requests need committed data that several connections see, so these tests cannot use
the suite's rolled-back transaction: the module runs the app under gunicorn (two workers, several
threads each) on a scratch database of its own, with a workspace and key made by a setup script,
and reads or locks rows through a plain engine. A race is made real, not left to chance: the test
holds a lock (a row lock, or the `events` table every write inserts into before it commits,
API.md §8) until the requests it sent are all waiting on it, then lets them go at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from redis import Redis

from ..conftest import TEST_REDIS_URL, requires_postgres
from ..processes import ROOT, gunicorn, scratch_database, servers_redis_url

pytestmark = requires_postgres

SETUP = """
import os
from flask_migrate import upgrade
from app import create_app
from app.accounts import service as accounts
from app.api_keys import service as api_keys
from app.workspaces import service as workspaces

app = create_app()
with app.app_context():
    upgrade(directory=os.path.join(os.getcwd(), "migrations"))
    user = accounts.create_user("race@example.com", "password123", None)
    workspace = workspaces.set_tier(workspaces.get_workspace(user.default_workspace_id), "enterprise")
    _, secret = api_keys.create_key_for(workspace.id, user.id, "race", ["*"], None)
    print(workspace.id, secret)
"""


def call(port: int, method: str, path: str, secret: str, body: dict | None = None) -> tuple[int, dict | None]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app under gunicorn on a scratch database: .port, .secret, .workspace_id, .engine, .api()"""
    tmp = tmp_path_factory.mktemp("concurrency")
    with ExitStack() as stack:
        database_url = stack.enter_context(scratch_database())
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": servers_redis_url() if TEST_REDIS_URL else "",
            "INSTANCE_PATH": str(tmp),
            "SECRET_KEY": "concurrency-test-secret",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
        if TEST_REDIS_URL:  # the servers' own Redis database: metering and limits, emptied around the module
            redis = Redis.from_url(env["REDIS_URL"])
            redis.flushdb()
            stack.callback(redis.close)
            stack.callback(redis.flushdb)
        done = subprocess.run(
            [sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        workspace_id, secret = done.stdout.split()[-2:]
        engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        stack.callback(engine.dispose)
        port = stack.enter_context(gunicorn(env, tmp / "gunicorn.log", workers=2, threads=8, ready_within=30))
        yield SimpleNamespace(
            port=port,
            secret=secret,
            workspace_id=workspace_id,
            engine=engine,
            api=lambda method, path, body=None: call(port, method, path, secret, body),
        )


def create(server, entity: str, **body) -> dict:
    status, answer = server.api("POST", f"/api/v1/{entity}", body)
    assert status == 201, answer
    return answer["data"]


def at_once(*requests) -> list[tuple[int, dict | None]]:
    """Send the requests from one thread each; their answers in the same order."""
    with ThreadPoolExecutor(len(requests)) as pool:
        return [f.result() for f in [pool.submit(r) for r in requests]]


BLOCKED = sa.text(
    """
    WITH RECURSIVE blocked(pid) AS (
        SELECT pid FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))
        UNION
        SELECT a.pid FROM pg_stat_activity a JOIN blocked b ON b.pid = ANY(pg_blocking_pids(a.pid))
    )
    SELECT count(*) FROM blocked
    """
)


@contextmanager
def holding(server, statement: str, **params):
    """Run `statement` (a lock) in a transaction that stays open until the block ends; yields a
    function that waits until `n` connections are blocked behind it (directly or in a queue)."""
    with server.engine.connect() as conn, server.engine.connect() as watcher:
        # each look a transaction of its own: pg_stat_activity is a snapshot within one
        watcher.execution_options(isolation_level="AUTOCOMMIT")
        transaction = conn.begin()
        holder = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        conn.execute(sa.text(statement), params)

        def wait_for(count: int, seconds: float = 10) -> None:
            deadline = time.monotonic() + seconds
            while (blocked := watcher.execute(BLOCKED, {"holder": holder}).scalar_one()) < count:
                if time.monotonic() > deadline:
                    activity = watcher.exec_driver_sql(
                        "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid), left(query, 120) "
                        "FROM pg_stat_activity WHERE datname = current_database()"
                    ).all()
                    pytest.fail(f"only {blocked} of {count} requests reached the lock: {activity}")
                time.sleep(0.02)

        try:
            yield wait_for
        finally:
            transaction.commit()


def released_together(server, statement: str, params: dict, *requests) -> list:
    """Hold the lock, send every request, wait until all of them wait behind it, then let go."""
    with ThreadPoolExecutor(len(requests)) as pool:
        with holding(server, statement, **params) as wait_for:
            futures = [pool.submit(r) for r in requests]
            wait_for(len(requests))
        return [f.result() for f in futures]


LOCK_ROW = "SELECT id FROM entity_records WHERE id = :id FOR UPDATE"
LOCK_EVENTS = "LOCK TABLE events IN EXCLUSIVE MODE"  # every write inserts its event before commit


def documents(server, *ids: str) -> dict[str, dict]:
    with server.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, data FROM entity_records WHERE id = ANY(:ids)"), {"ids": list(ids)})
        return {row.id: row.data for row in rows}


# --- (a) concurrent PATCHes of different fields ------------------------------------------------


def test_two_patches_of_different_fields_released_at_once_both_survive(server):
    task = create(server, "tasks", title="race", description="before")
    path = f"/api/v1/tasks/{task['id']}"
    first, second = released_together(
        server,
        LOCK_ROW,
        {"id": task["id"]},
        lambda: server.api("PATCH", path, {"status": "completed"}),
        lambda: server.api("PATCH", path, {"priority": "high", "description": "after"}),
    )
    assert first[0] == 200 and second[0] == 200, (first, second)
    stored = documents(server, task["id"])[task["id"]]
    assert (stored["status"], stored["priority"], stored["description"], stored["title"]) == (
        "completed",
        "high",
        "after",
        "race",
    )
    status, answer = server.api("GET", path)
    assert status == 200 and (answer["data"]["status"], answer["data"]["priority"]) == ("completed", "high")
    # whichever ran second answered the document with both changes
    assert first[1]["data"]["priority"] == "high" or second[1]["data"]["status"] == "completed"


def test_many_pairs_of_concurrent_patches_keep_every_field(server):
    tasks = [create(server, "tasks", title=f"pair {n}") for n in range(8)]
    requests = []
    for n, task in enumerate(tasks):
        path = f"/api/v1/tasks/{task['id']}"
        requests.append(lambda path=path: server.api("PATCH", path, {"status": "in_progress"}))
        requests.append(lambda path=path, n=n: server.api("PATCH", path, {"due_date": f"2026-07-{n + 1:02}"}))
    answers = at_once(*requests)
    assert [status for status, _ in answers] == [200] * len(requests), answers
    stored = documents(server, *(t["id"] for t in tasks))
    assert [(stored[t["id"]]["status"], stored[t["id"]]["due_date"]) for t in tasks] == [
        ("in_progress", f"2026-07-{n + 1:02}") for n in range(len(tasks))
    ]


# --- (b) unique values ---------------------------------------------------------------------------


def _customers_with(server, email: str) -> list[str]:
    with server.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT id FROM entity_records WHERE entity = 'customers' AND workspace_id = :ws "
                    "AND lower(data ->> 'email') = :email"
                ),
                {"ws": server.workspace_id, "email": email.lower()},
            ).scalars()
        )


def test_two_creates_with_the_same_unique_value_make_one_record(server):
    email = "same@example.com"
    answers = released_together(
        server,
        LOCK_EVENTS,
        {},
        lambda: server.api("POST", "/api/v1/customers", {"name": "First", "email": email}),
        lambda: server.api("POST", "/api/v1/customers", {"name": "Second", "email": email.upper()}),
    )
    assert sorted(status for status, _ in answers) == [201, 409], answers
    refused = next(body for status, body in answers if status == 409)
    assert refused["error"] == "conflict" and "email" in refused["errors"]
    created = next(body for status, body in answers if status == 201)["data"]
    assert _customers_with(server, email) == [created["id"]]


def test_a_burst_of_creates_with_one_unique_value_makes_one_record(server):
    email = "burst@example.com"
    answers = at_once(
        *[lambda n=n: server.api("POST", "/api/v1/customers", {"name": f"c{n}", "email": email}) for n in range(6)]
    )
    assert sorted(status for status, _ in answers) == [201] + [409] * 5, answers
    assert len(_customers_with(server, email)) == 1


def test_two_patches_taking_the_same_unique_value_leave_one_holder(server):
    a, b = create(server, "customers", name="A"), create(server, "customers", name="B")
    email = "taken@example.com"
    answers = released_together(
        server,
        LOCK_EVENTS,
        {},
        lambda: server.api("PATCH", f"/api/v1/customers/{a['id']}", {"email": email}),
        lambda: server.api("PATCH", f"/api/v1/customers/{b['id']}", {"email": email}),
    )
    assert sorted(status for status, _ in answers) == [200, 409], answers
    assert len(_customers_with(server, email)) == 1


# --- (c) delete and reference at the same time -----------------------------------------------------


def _orphans(server) -> list[str]:
    with server.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT c.id FROM entity_records c WHERE c.entity = 'comments' AND NOT EXISTS "
                    "(SELECT 1 FROM entity_records t WHERE t.entity = 'tasks' AND t.id = c.data ->> 'task_id')"
                )
            ).scalars()
        )


def _delete_and_comment(server, first: str) -> tuple[dict, tuple, tuple]:
    """DELETE a task and POST a comment on it, both held at the task's row lock; `first` reaches
    the lock first (so it is served first when the lock goes)."""
    task = create(server, "tasks", title=f"{first} first")
    delete = lambda: server.api("DELETE", f"/api/v1/tasks/{task['id']}")  # noqa: E731
    comment = lambda: server.api("POST", "/api/v1/comments", {"task_id": task["id"], "text": "hi"})  # noqa: E731
    ordered = (delete, comment) if first == "delete" else (comment, delete)
    with ThreadPoolExecutor(2) as pool:
        with holding(server, LOCK_ROW, id=task["id"]) as wait_for:
            futures = []
            for n, request in enumerate(ordered, start=1):
                futures.append(pool.submit(request))
                wait_for(n)
        answers = [f.result() for f in futures]
    deleted, commented = answers if first == "delete" else answers[::-1]
    return task, deleted, commented


@pytest.mark.parametrize("first", ["delete", "comment"])
def test_deleting_a_task_while_it_is_commented_never_orphans_a_comment(server, first):
    task, deleted, commented = _delete_and_comment(server, first)
    assert _orphans(server) == []
    task_left = task["id"] in documents(server, task["id"])
    assert task_left == (deleted[0] != 204), deleted
    if commented[0] == 201:
        comment_id = commented[1]["data"]["id"]
        # the comment stands only beside its task, or went with it (cascade)
        assert task_left == (comment_id in documents(server, comment_id))


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        # as if in turn: the comment finds no task (422), or the delete cascades to it (204)
        pytest.param("delete", (204, 422)),
        pytest.param("comment", (204, 201)),
    ],
)
def test_a_delete_racing_a_comment_answers_as_if_they_ran_in_turn(server, first, expected):
    task, deleted, commented = _delete_and_comment(server, first)
    assert (deleted[0], commented[0]) == expected, (deleted, commented)
    if commented[0] == 201:
        assert documents(server, task["id"], commented[1]["data"]["id"]) == {}  # cascaded
    else:
        assert "task_id" in commented[1]["errors"]
