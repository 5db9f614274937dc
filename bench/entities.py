"""Entity list benchmark (issue 4): `GET /api/v1/tasks` with a status filter, a sort, `search` and
`include=comments`, and `GET /api/v1/tasks/{id}`, at 100 000 tasks in a workspace, each beside a
hand-written SQL query doing the same work in the same run.

    make bench-entities        # or: .venv/bin/python -m bench.entities [--requests 200]

It creates a fresh PostgreSQL database (BENCH_ENTITIES_DATABASE_URL, default core_bench_ent) and
uses Redis db 10 (BENCH_ENTITIES_REDIS_URL), migrates, makes a user, two enterprise-tier workspaces
(the rate limit never trips) and a `tasks:read,comments:read` key for the first, and loads
100 000 tasks into each workspace with COPY, in the document shape `service.create_record`
writes; a fifth of the tasks have 1-3 comments (records plus their `entity_links` rows). Then
VACUUM ANALYZE, gunicorn (gunicorn.conf.py, a free loopback port), and one keep-alive client sending
requests one at a time: each request's latency is the whole HTTP round trip through the real
server (auth, rate limit, queries, serialization), not the app's time alone. Each request is
followed (or, on odd rounds, preceded) by its hand-written SQL through psycopg on one autocommit
connection: the same page of 25 rows and the same count (and the page's comments), so both see the
same machine load. The first round checks that both return the same total and the same ids.

It prints p50/p95 of each and their ratio, writes bench/out/entities.json, and exits 1 when a list's
p50 is not under 25 ms or over 3x the hand-written query's. `--explain` also writes the EXPLAIN
ANALYZE of the SQL the app really runs for each request (captured in-process) to
bench/out/entities-plans.txt.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import string
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import psycopg.sql
from redis import Redis

from bench.load import flask as flask_cli
from bench.load import free_port, recreate_database, start_gunicorn, wait_ready

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/core_bench_ent"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
P50_TARGET_MS = 25.0
RATIO_TARGET = 3.0
SEARCH_WORD = "zephyr"  # in ~1% of titles, in no other word of the vocabulary
WORDS = (
    "alpha bravo budget review launch server client report design draft update meeting invoice "
    "release backlog sprint roadmap email follow call plan write test deploy migrate refactor fix "
    "bug feature page login signup billing export import sync cache index query table chart "
    "dashboard mobile desktop widget banner copy legal contract vendor hiring onboarding training "
    "audit security backup restore network printer laptop office travel booking event party "
    "quarter annual weekly daily monthly north south east west green blue red orange silver gold"
).split()
BASE62 = string.ascii_letters + string.digits


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.entities", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="measured requests per case (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per case (default %(default)s)")
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks per workspace (default %(default)s)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database loaded by a previous run (after `db upgrade`)"
    )
    parser.add_argument("--explain", action="store_true", help="write EXPLAIN ANALYZE of the app's SQL")
    return parser.parse_args(argv)


# --- data -----------------------------------------------------------------------------------


def make_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{''.join(rng.choices(BASE62, k=24))}"


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def generate(rng: random.Random, workspace_id: str, user_id: str, count: int, start: datetime):
    """Task rows (id, workspace, entity, data, created, updated), comment rows and link rows, in
    the shape service.create_record writes: defaults filled in, absent optional fields absent."""
    tasks, comments, links = [], [], []
    statuses = ("todo", "in_progress", "completed")
    for n in range(count):
        created = start + timedelta(seconds=n * 150 + rng.random() * 100)
        title = words(rng, 3, 7).capitalize()
        if rng.random() < 0.01:
            title = f"{title} {SEARCH_WORD}"
        data: dict = {"title": title, "status": rng.choice(statuses), "priority": rng.choice(("low", "medium", "high"))}
        if rng.random() < 0.6:
            data["description"] = words(rng, 8, 30)
        if rng.random() < 0.5:
            data["assignee_id"] = user_id
        if rng.random() < 0.8:
            data["due_date"] = (date(2026, 1, 1) + timedelta(days=rng.randrange(700))).isoformat()
        task_id = make_id(rng, "tsk")
        updated = created + timedelta(hours=rng.random() * 48) if rng.random() < 0.3 else created
        tasks.append((task_id, workspace_id, "tasks", json.dumps(data), created, updated))
        if rng.random() < 0.2:
            for c in range(rng.randint(1, 3)):
                comment_id = make_id(rng, "cmt")
                at = created + timedelta(minutes=10 * (c + 1))
                comment = {"task_id": task_id, "text": words(rng, 4, 20)}
                comments.append((comment_id, workspace_id, "comments", json.dumps(comment), at, at))
                links.append((comment_id, "task_id", task_id))
    return tasks, comments, links


def load_data(database_url: str, workspaces: list[str], user_id: str, count: int) -> dict:
    rng = random.Random(4)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    records, links = [], []
    for workspace_id in workspaces:
        tasks, comments, task_links = generate(rng, workspace_id, user_id, count, start)
        records += tasks + comments
        links += task_links
    records.sort(key=lambda row: row[4])  # inserted in time order, as an API would have
    started = time.monotonic()
    with psycopg.connect(database_url) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY entity_records (id, workspace_id, entity, data, created_at, updated_at) FROM STDIN"
            ) as copy:
                for row in records:
                    copy.write_row(row)
            with cur.copy("COPY entity_links (from_id, field, to_id) FROM STDIN") as copy:
                for row in links:
                    copy.write_row(row)
        conn.commit()
    loaded = time.monotonic() - started
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE entity_records")
        conn.execute("VACUUM ANALYZE entity_links")
    return {"records": len(records), "links": len(links), "copy_s": round(loaded, 1)}


def setup(env: dict, database_url: str, redis_url: str, args: argparse.Namespace) -> dict:
    if not args.reuse:
        recreate_database(database_url)
    Redis.from_url(redis_url).flushdb()
    instance = OUT / "entities" / "instance"
    if not args.reuse:
        shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir(parents=True, exist_ok=True)
    env["INSTANCE_PATH"] = str(instance)
    flask_cli(env, "db", "upgrade")
    with psycopg.connect(database_url) as conn:
        loaded = conn.execute("SELECT count(*) FROM entity_records").fetchone()[0]  # type: ignore[index]
    if not loaded:
        flask_cli(env, "users", "create", "bench@example.com")
        for slug in ("bench-a", "bench-b"):
            owner = ("--owner", "bench@example.com", "--tier", "enterprise", "--slug", slug)
            flask_cli(env, "workspaces", "create", slug.replace("-", " ").title(), *owner)
    with psycopg.connect(database_url) as conn:
        user_id = conn.execute("SELECT id FROM users WHERE email = 'bench@example.com'").fetchone()[0]  # type: ignore[index]
        ids: dict[str, str] = dict(
            conn.execute("SELECT slug, id FROM workspaces WHERE slug IN ('bench-a', 'bench-b')").fetchall()
        )
    workspaces = [ids["bench-a"], ids["bench-b"]]
    stats = {}
    if not loaded:
        stats = load_data(database_url, workspaces, user_id, args.tasks)
    key = (
        flask_cli(
            env,
            "keys",
            "create",
            "--user",
            "bench@example.com",
            "--workspace",
            "bench-a",
            "--scopes",
            "tasks:read,comments:read",
            "--name",
            "bench",
        )
        .strip()
        .splitlines()[-1]
    )
    return {"key": key, "workspace_id": workspaces[0], "load": stats}


# --- the requests and their hand-written SQL ------------------------------------------------

COLUMNS = "id, data, created_at, updated_at"
TASKS = "workspace_id = %(ws)s AND entity = 'tasks'"
NEWEST = "ORDER BY created_at DESC, id LIMIT 25"  # the default sort, id as the tiebreak


@dataclass
class Case:
    name: str
    path: Callable[[int], str]
    sql: Callable[[psycopg.Connection, int], tuple]  # → the same (total, ids, comments) as the app's answer
    is_list: bool = True
    app_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)


def page_and_count(conn: psycopg.Connection, where: str, order: str, params: dict) -> tuple[int, list]:
    total = conn.execute(f"SELECT count(*) FROM entity_records WHERE {where}", params).fetchone()[0]  # type: ignore[index]
    rows = conn.execute(f"SELECT {COLUMNS} FROM entity_records WHERE {where} {order}", params).fetchall()
    return total, rows


def cases(workspace_id: str, task_ids: list[str]) -> list[Case]:
    ws = {"ws": workspace_id}

    def listed(where: str, order: str, params: dict):
        def run(conn: psycopg.Connection, _: int) -> tuple:
            total, rows = page_and_count(conn, where, order, {**ws, **params})
            return total, [r[0] for r in rows], None

        return run

    def with_comments(conn: psycopg.Connection, _: int) -> tuple:
        total, rows = page_and_count(conn, TASKS, NEWEST, ws)
        ids = [r[0] for r in rows]
        children: dict[str, list[str]] = {i: [] for i in ids}
        for comment_id, _data, _created, _updated, task_id in conn.execute(
            "SELECT r.id, r.data, r.created_at, r.updated_at, l.to_id FROM entity_records r "
            "JOIN entity_links l ON l.from_id = r.id WHERE r.workspace_id = %(ws)s AND r.entity = 'comments' "
            "AND l.field = 'task_id' AND l.to_id = ANY(%(ids)s) ORDER BY r.created_at, r.id",
            {**ws, "ids": ids},
        ):
            children[task_id].append(comment_id)
        return total, ids, children

    def one(conn: psycopg.Connection, n: int) -> tuple:
        row = conn.execute(
            f"SELECT {COLUMNS} FROM entity_records WHERE {TASKS} AND id = %(id)s", {**ws, "id": task_ids[n]}
        )
        return None, [row.fetchone()[0]], None  # type: ignore[index]

    status = json.dumps({"status": "todo"}, separators=(",", ":"))
    return [
        Case(
            'filter={"status":"todo"}',
            lambda n: f"/api/v1/tasks?filter={quote(status)}",
            listed(f"{TASKS} AND data ->> 'status' = %(status)s", NEWEST, {"status": "todo"}),
        ),
        Case(
            "sort=-due_date",
            lambda n: "/api/v1/tasks?sort=-due_date",
            listed(TASKS, "ORDER BY data ->> 'due_date' DESC, id LIMIT 25", {}),
        ),
        Case(
            f"search={SEARCH_WORD}",
            lambda n: f"/api/v1/tasks?search={SEARCH_WORD}",
            listed(
                f"{TASKS} AND (data ->> 'title' ILIKE %(pattern)s OR data ->> 'description' ILIKE %(pattern)s)",
                NEWEST,
                {"pattern": f"%{SEARCH_WORD}%"},
            ),
        ),
        Case("include=comments", lambda n: "/api/v1/tasks?include=comments", with_comments),
        Case("GET /tasks/{id}", lambda n: f"/api/v1/tasks/{task_ids[n]}", one, is_list=False),
    ]


def answer(body: dict, include: bool) -> tuple:
    """The app's response as (total, ids, comments) to compare with the hand-written SQL's."""
    if "meta" not in body:
        return None, [body["data"]["id"]], None
    data = body["data"]
    comments = {d["id"]: [c["id"] for c in d["comments"]] for d in data} if include else None
    return body["meta"]["total"], [d["id"] for d in data], comments


class Client:
    """One keep-alive connection, one request at a time."""

    def __init__(self, port: int, headers: dict):
        self.port, self.headers = port, headers
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            conn = self.conn = self.conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("GET", path, headers=self.headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def measure(client: Client, conn: psycopg.Connection, all_cases: list[Case], warmup: int, requests: int) -> None:
    for n in range(warmup + requests):
        for case in all_cases:

            def app_request(case=case, n=n) -> tuple:
                status, body = client.get(case.path(n))
                if status != 200:
                    sys.exit(f"bench: {case.path(n)} answered {status}: {body[:500]!r}")
                return answer(json.loads(body), "include=" in case.path(n))

            def sql_query(case=case, n=n) -> tuple:
                return case.sql(conn, n)

            timed = {}
            for name, run in (("app", app_request), ("sql", sql_query))[:: 1 if n % 2 == 0 else -1]:
                started = time.perf_counter()
                result = run()
                timed[name] = ((time.perf_counter() - started) * 1000, result)
            if n == 0 and timed["app"][1] != timed["sql"][1]:
                sys.exit(
                    f"bench: the app and the hand-written SQL disagree on {case.name}:\n{timed['app'][1]}\n{timed['sql'][1]}"
                )
            if n >= warmup:
                case.app_ms.append(timed["app"][0])
                case.sql_ms.append(timed["sql"][0])


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


# --- the app's own SQL, explained --------------------------------------------------------------


def prepared_plan(conn: psycopg.Connection, statement: str, params: dict, runs: int = 10) -> tuple[list[str], str]:
    """EXPLAIN ANALYZE of `statement` as a prepared statement after `runs` executions: the plan the
    app's connections settle on (psycopg prepares a statement on its fifth execution; PostgreSQL
    then plans it for its parameters five times and keeps a generic plan only if that is not
    costlier). Returns the plan and how many generic/custom plans were made."""
    names: list[str] = []

    def placeholder(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", placeholder, statement).replace("%%", "%")
    values = ", ".join(psycopg.sql.Literal(params[name]).as_string(conn) for name in names)
    conn.execute(f"PREPARE bench_statement AS {sql}")
    for _ in range(runs):
        conn.execute(f"EXECUTE bench_statement({values})")
    plan = [r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_statement({values})")]
    generic, custom = conn.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'bench_statement'"
    ).fetchone()  # type: ignore[misc]
    conn.execute("DEALLOCATE bench_statement")
    return plan, f"{generic} generic and {custom} custom plans in {runs + 1} executions"


def explain(env: dict, database_url: str, all_cases: list[Case], key: str, path: Path) -> dict[str, list[str]]:
    """Run each request in-process, capture the SQL the app sends for it, and EXPLAIN ANALYZE
    each statement as the app's connections run it: prepared, after a few executions."""
    os.environ.update(env)
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db

    app = create_app()
    headers = {"Authorization": f"Bearer {key}"}
    used: dict[str, list[str]] = {}
    lines: list[str] = []
    captured: list[tuple[str, dict]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    with app.app_context(), psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:
        sa.event.listen(db.engine, "before_cursor_execute", capture)
        client = app.test_client()
        for case in all_cases:
            captured.clear()
            response = client.get(case.path(0), headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)
            used[case.name] = []
            lines.append(f"=== {case.name}: GET {case.path(0)}")
            for statement, params in [(s, p) for s, p in captured if "entity_records" in s]:
                plan, plans = prepared_plan(conn, statement, params)
                lines += ["", statement, f"-- {params}", f"-- {plans}; the last one:", *plan]
                for line in plan:
                    found = re.search(r"(?:using|on) (ix_\w+|pk_\w+)", line)
                    if found and found.group(1) not in used[case.name]:
                        used[case.name].append(found.group(1))
            lines.append("")
        sa.event.remove(db.engine, "before_cursor_execute", capture)
        db.session.remove()
    path.write_text("\n".join(lines))
    return used


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("BENCH_ENTITIES_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_ENTITIES_REDIS_URL", DEFAULT_REDIS_URL)
    OUT.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}

    started = time.monotonic()
    state = setup(env, database_url, redis_url, args)
    setup_s = time.monotonic() - started
    with psycopg.connect(database_url, autocommit=True) as conn:
        task_ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM entity_records WHERE workspace_id = %s AND entity = 'tasks' ORDER BY random() LIMIT %s",
                (state["workspace_id"], args.warmup + args.requests),
            )
        ]
        all_cases = cases(state["workspace_id"], task_ids)
        used = explain(env, database_url, all_cases, state["key"], OUT / "entities-plans.txt") if args.explain else {}

        port = free_port()
        with open(OUT / "entities-gunicorn.log", "w") as log:
            server = start_gunicorn(env, port, log)
            try:
                wait_ready(port, server)
                client = Client(port, {"Authorization": f"Bearer {state['key']}"})
                measure(client, conn, all_cases, args.warmup, args.requests)
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()

    rows: list[dict] = []
    failures: list[str] = []
    for case in all_cases:
        app50, app95, sql50, sql95 = p(case.app_ms, 50), p(case.app_ms, 95), p(case.sql_ms, 50), p(case.sql_ms, 95)
        ratio = app50 / sql50
        times = {"app_p50": app50, "app_p95": app95, "sql_p50": sql50, "sql_p95": sql95}
        row: dict = {"request": case.name, **{k: round(v, 2) for k, v in times.items()}}
        row["ratio_p50"] = round(ratio, 2)
        row["indexes"] = used.get(case.name)
        if case.is_list and (app50 >= P50_TARGET_MS or ratio > RATIO_TARGET):
            failures.append(case.name)
        rows.append(row)
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "tasks_per_workspace": args.tasks,
        "requests": args.requests,
        "warmup": args.warmup,
        "setup_s": round(setup_s, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "load": state["load"],
        "web_concurrency": env.get("WEB_CONCURRENCY", "2"),
        "threads": env.get("GUNICORN_THREADS", "8"),
        "results": rows,
        "failures": failures,
    }
    (OUT / "entities.json").write_text(json.dumps(summary, indent=2))
    print(
        f"{args.tasks} tasks in each of 2 workspaces; {args.requests} sequential requests per case after {args.warmup}"
    )
    print(
        f"(setup {setup_s:.0f} s, load average {os.getloadavg()[0]:.1f}). Milliseconds; "
        "app = HTTP round trip through gunicorn, SQL = psycopg."
    )
    print(f"{'request':28} {'app p50':>8} {'app p95':>8} {'SQL p50':>8} {'SQL p95':>8} {'ratio p50':>9}")
    for row in rows:
        print(
            f"{row['request']:28} {row['app_p50']:8.2f} {row['app_p95']:8.2f} {row['sql_p50']:8.2f} "
            f"{row['sql_p95']:8.2f} {row['ratio_p50']:8.2f}x"
            + (f"   {', '.join(row['indexes'])}" if row["indexes"] else "")
        )
    if failures:
        print(
            f"FAIL: list p50 not under {P50_TARGET_MS:.0f} ms or over {RATIO_TARGET:.0f}x the SQL: {', '.join(failures)}",
            file=sys.stderr,
        )
        return 1
    print(f"every list p50 is under {P50_TARGET_MS:.0f} ms and within {RATIO_TARGET:.0f}x the hand-written SQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
