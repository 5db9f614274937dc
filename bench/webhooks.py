"""Webhook delivery benchmark: events/s fanned out and delivered end to end to a local receiver by
1 and by 2 RQ worker processes, against RQ's own no-op job rate with the same workers (issue 3).

    make bench-webhooks        # or: .venv/bin/python -m bench.webhooks [--events 600] [--workers 1,2]

It creates a fresh PostgreSQL database (BENCH_WH_DATABASE_URL, default core_bench_wh), uses Redis
db 12 (BENCH_WH_REDIS_URL; flushed), migrates, and makes a user, their workspace and one webhook
endpoint (`bench.*`) pointing at a receiver in this process (a ThreadingHTTPServer on 127.0.0.1
answering 200 and counting requests and distinct `webhook-id`s). For each worker count it then:

1. no-op: enqueues N jobs of `bench.webhooks.noop` on the "webhooks" queue (`enqueue_many`),
   starts the workers (`python -m workers --burst --queues webhooks`) and waits for them to exit;
2. webhooks: records N `bench.ping` events, one per commit as API requests do (the after-commit
   hand-off queues a `fan_out` job unless one is already waiting, which takes every waiting
   event), while no worker runs; then starts the same workers and waits until they exit, the
   receiver has every event and every delivery is `success` in the database.

The no-op rate is N ÷ (last job's end − first job's start, from RQ's job records); the delivery
rate is N ÷ (the last event's arrival at the receiver − the first fan-out job's start). Worker
start-up (importing the app, ~1 s) is left out of both; the wall time from spawning the workers
is printed too. It prints workers | no-op jobs/s | delivered events/s | ratio against the 50% target,
and exits 1 only on errors (a failed job, a delivery not `success`, a missing event, a time-out),
not on the ratio. Everything stays on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from redis import Redis

from bench.load import flask, recreate_database

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "webhooks"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/core_bench_wh"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
QUEUE = "webhooks"
NOOP = "bench.webhooks.noop"  # by name: run as `-m bench.webhooks`, noop itself is __main__.noop
EVENT_TYPE = "bench.ping"


def noop() -> None:
    """The floor: an RQ job that does nothing, run by the same worker command."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events",
        type=int,
        default=int(os.environ.get("BENCH_EVENTS", 600)),
        help="events (and no-op jobs) per drain (default %(default)s)",
    )
    parser.add_argument("--workers", default="1,2", help="worker process counts, comma-separated (default %(default)s)")
    parser.add_argument(
        "--floor", type=float, default=0.5, help="target delivered/no-op ratio, reported only (default %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds allowed for one drain (default %(default)s)"
    )
    return parser.parse_args(argv)


# --- the receiver ---------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """Answers 200 to every POST; counts requests and distinct webhook-id headers."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.lock = threading.Lock()
        self.requests = 0
        self.ids: set[str] = set()
        self.seconds_in_handler = 0.0
        self.last_at: datetime | None = None  # when the last request arrived (UTC)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def reset(self) -> None:
        with self.lock:
            self.requests, self.ids, self.seconds_in_handler, self.last_at = 0, set(), 0.0, None

    def seen(self) -> tuple[int, int]:
        with self.lock:
            return self.requests, len(self.ids)


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive when the client keeps the connection
    # One send per response, without Nagle: http.server's defaults (unbuffered writes, Nagle on)
    # send the headers and the body apart and stall 40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = -1

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        started = time.perf_counter()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        webhook_id = self.headers.get("webhook-id")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        server: Receiver = self.server  # type: ignore[assignment]
        with server.lock:
            server.requests += 1
            if webhook_id:
                server.ids.add(webhook_id)
            server.seconds_in_handler += time.perf_counter() - started
            server.last_at = datetime.now(UTC)

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        pass


# The receiver's own capacity, from another process, one new connection per request (as the
# workers' forked horses make them): the drain rates must stay well under it.
_CAPACITY_CLIENT = """
import http.client, sys, threading, time
port, clients, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
counts = [0] * clients
def run(i):
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/hook", body=b'{"x":1}', headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
        counts[i] += 1
threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(counts) / seconds)
"""


def receiver_capacity(receiver: Receiver, clients: int, seconds: float = 2.0) -> float:
    port = str(receiver.server_address[1])
    out = subprocess.run(
        [sys.executable, "-c", _CAPACITY_CLIENT, port, str(clients), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    receiver.reset()
    return float(out.strip())


# --- setup ----------------------------------------------------------------------------------


def make_endpoint(app, receiver_url: str) -> str:
    """A user and their workspace, and an endpoint for `bench.*`, through the services."""
    from app.accounts import service as accounts
    from app.core.events import register_event_types
    from app.webhooks import service as webhooks

    register_event_types(app, [EVENT_TYPE])
    user = accounts.create_user("bench@example.com", "bench-password-123")
    workspace_id = str(user.default_workspace_id)
    webhooks.create_endpoint(workspace_id, {"url": receiver_url, "events": ["bench.*"]})
    return workspace_id


def settle_setup_events(redis: Redis) -> None:
    """The setup's own events (workspace, webhook.created) match no endpoint; drop their fan-out
    jobs and mark them dispatched so the measured drains hold only the benchmark's jobs."""
    import sqlalchemy as sa
    from rq import Queue

    from app.core.clock import utcnow
    from app.core.events import Event
    from app.extensions import db

    Queue(QUEUE, connection=redis).empty()
    db.session.execute(sa.update(Event).where(Event.dispatched_at.is_(None)).values(dispatched_at=utcnow()))
    db.session.commit()


def record_events(workspace_id: str, count: int, tag: str) -> float:
    """`count` events, one per commit; returns the seconds it took."""
    from app.core.events import record_event
    from app.extensions import db

    started = time.perf_counter()
    for i in range(count):
        record_event(workspace_id, EVENT_TYPE, {"run": tag, "n": i, "message": "benchmark event"})
        db.session.commit()
    return time.perf_counter() - started


def delivery_states() -> dict[str, int]:
    import sqlalchemy as sa

    from app.extensions import db
    from app.webhooks.models import WebhookDelivery as D

    rows = db.session.execute(
        sa.select(D.status, sa.func.count()).where(D.event_type == EVENT_TYPE).group_by(D.status)
    ).all()
    db.session.rollback()
    return {status: count for status, count in rows}


# --- workers --------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (the work horse calls setpgrp: a group kill misses it)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            for pid in [*descendants(proc.pid), proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(10)


def drain(env: dict, count: int, log_name: str, timeout: float, done) -> tuple[float, list[int]]:
    """Start `count` burst workers on the webhooks queue and wait until they exit and `done()`;
    returns the wall seconds from spawning them, and their exit codes."""
    procs = []
    with open(OUT / log_name, "w") as log:
        started = time.monotonic()
        try:
            for _ in range(count):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "workers", "--burst", "--queues", QUEUE],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=log,
                    )
                )
            deadline = started + timeout
            while any(p.poll() is None for p in procs) or not done():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"drain not finished after {timeout:g} s; see {OUT / log_name}")
                if all(p.poll() is not None for p in procs) and not done():
                    break  # the workers are gone and the work is not done: reported by the caller
                time.sleep(0.02)
            return time.monotonic() - started, [p.returncode for p in procs]
        finally:
            stop_workers(procs)


def job_window(redis: Redis, job_ids: list[str]) -> dict:
    """From RQ's own job records: first start to last end, and the mean time inside the horse."""
    from rq.job import Job

    jobs = [j for j in Job.fetch_many(job_ids, connection=redis) if j is not None]
    spans = [(j.started_at, j.ended_at) for j in jobs if j.started_at and j.ended_at and j.get_status() == "finished"]
    if not spans:
        return {"jobs": len(jobs), "finished": 0, "seconds": None, "mean_job_ms": None, "first_start": None}
    first = min(start for start, _ in spans)
    return {
        "jobs": len(jobs),
        "finished": len(spans),
        "first_start": first if first.tzinfo else first.replace(tzinfo=UTC),
        "seconds": (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds(),
        "mean_job_ms": statistics.mean((end - start).total_seconds() for start, end in spans) * 1000,
    }


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(c) for c in args.workers.split(",") if c.strip()]
    database_url = os.environ.get("BENCH_WH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_WH_REDIS_URL", DEFAULT_REDIS_URL)
    n = args.events

    load_before = os.getloadavg()
    recreate_database(database_url)
    redis = Redis.from_url(redis_url)
    redis.flushdb()  # our own db (12) only
    OUT.mkdir(parents=True, exist_ok=True)
    instance = tempfile.mkdtemp(prefix="core-bench-wh-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "INSTANCE_PATH": instance,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "OUTBOUND_ALLOWED_HOSTS", "INSTANCE_PATH")})
    os.environ["LOG_LEVEL"] = "WARNING"
    flask(env, "db", "upgrade")

    from rq import Queue

    from app import create_app

    app = create_app()
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, name="receiver", daemon=True).start()
    queue = Queue(QUEUE, connection=redis)
    errors: list[str] = []
    results: list[dict] = []
    capacity: dict[int, float] = {}
    try:
        with app.app_context():
            workspace_id = make_endpoint(app, receiver.url)
            settle_setup_events(redis)
            capacity = {c: receiver_capacity(receiver, c) for c in sorted({1, *counts})}
            for workers in counts:
                row: dict = {"workers": workers}

                # 1. the floor: no-op jobs
                jobs = queue.enqueue_many([Queue.prepare_data(NOOP, timeout=60) for _ in range(n)])
                wall, codes = drain(env, workers, f"noop-{workers}.log", args.timeout, lambda: queue.count == 0)
                window = job_window(redis, [j.id for j in jobs])
                row["noop"] = {"wall_seconds": wall, "exit_codes": codes, **window}
                if window["finished"] != n or any(codes):
                    errors.append(f"no-op, {workers} worker(s): {window['finished']}/{n} finished, exit codes {codes}")

                # 2. webhooks: N events, one per commit, fanned out and delivered
                receiver.reset()
                produce = record_events(workspace_id, n, f"w{workers}")
                # commits made while a fan-out job waits add none (it takes every waiting event)
                job_ids = queue.get_job_ids()
                if not 1 <= len(job_ids) <= n:
                    errors.append(f"webhooks, {workers} worker(s): {len(job_ids)} fan-out jobs queued for {n} events")
                before = delivery_states().get("success", 0)

                def delivered(before=before) -> bool:
                    return receiver.seen()[1] >= n and delivery_states().get("success", 0) - before >= n

                wall, codes = drain(env, workers, f"webhooks-{workers}.log", args.timeout, delivered)
                window = job_window(redis, job_ids)
                # from the first fan-out job's start to the last event's arrival: a job may hand
                # what it had no time for to delivery jobs and a next fan-out job
                if window["first_start"] and receiver.last_at:
                    window["seconds"] = (receiver.last_at - window["first_start"]).total_seconds()
                requests, distinct = receiver.seen()
                states = delivery_states()
                row["webhooks"] = {
                    "wall_seconds": wall,
                    "exit_codes": codes,
                    "events_committed_per_second": n / produce,
                    "receiver_requests": requests,
                    "receiver_distinct_ids": distinct,
                    "receiver_ms_in_handler": receiver.seconds_in_handler * 1000 / max(requests, 1),
                    "delivery_states": states,
                    **window,
                }
                if (
                    distinct != n
                    or states.get("success", 0) - before != n
                    or window["finished"] != len(job_ids)
                    or any(codes)
                ):
                    errors.append(
                        f"webhooks, {workers} worker(s): receiver saw {distinct}/{n} events, deliveries {states}, "
                        f"{window['finished']}/{len(job_ids)} fan-out jobs finished, exit codes {codes}"
                    )
                failed = queue.failed_job_registry.get_job_ids()
                if failed:
                    errors.append(f"{len(failed)} failed job(s) on {QUEUE}, e.g. {failed[0]}; see {OUT}/*.log")
                    for job_id in failed:
                        queue.failed_job_registry.remove(job_id, delete_job=True)
                noop_rate = n / row["noop"]["seconds"] if row["noop"]["seconds"] else 0.0
                hook_rate = n / row["webhooks"]["seconds"] if row["webhooks"]["seconds"] else 0.0
                row.update(noop_per_second=noop_rate, delivered_per_second=hook_rate)
                row["ratio"] = hook_rate / noop_rate if noop_rate else 0.0
                results.append(row)
    except TimeoutError as exc:
        errors.append(str(exc))
    finally:
        receiver.shutdown()
        shutil.rmtree(instance, ignore_errors=True)

    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "events": n,
        "receiver_capacity_per_second": capacity,
        "floor": args.floor,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "results": results,
        "errors": errors,
    }
    (OUT / "latest.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"{n} events (one per commit) / {n} no-op jobs per drain; `python -m workers --burst --queues {QUEUE}`")
    print(
        f"{'workers':>7} | {'no-op jobs/s':>12} | {'delivered events/s':>18} | {'ratio':>6} | wall s (no-op / webhooks)"
    )
    for row in results:
        print(
            f"{row['workers']:>7} | {row['noop_per_second']:>12.1f} | {row['delivered_per_second']:>18.1f} | "
            f"{row['ratio']:>6.1%} | {row['noop']['wall_seconds']:.1f} / {row['webhooks']['wall_seconds']:.1f}"
        )
    for row in results:
        noop_ms, hook_ms = (f"{row[k]['mean_job_ms'] or 0:.1f}" for k in ("noop", "webhooks"))
        print(
            f"  {row['workers']} worker(s): time inside one job {noop_ms} ms (no-op) / {hook_ms} ms "
            f"(fan_out + deliver); events committed at {row['webhooks']['events_committed_per_second']:.0f}/s; "
            f"receiver {row['webhooks']['receiver_requests']} requests, "
            f"{row['webhooks']['receiver_ms_in_handler']:.2f} ms in its handler each"
        )
    if results:
        print(
            "receiver alone (new connection per request): "
            + ", ".join(f"{c} client(s) {rate:.0f} req/s" for c, rate in capacity.items())
        )
        print(f"load average (1 min) before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
        below = [r["workers"] for r in results if r["ratio"] < args.floor]
        print(
            f"target: delivered ≥ {args.floor:.0%} of the no-op rate — "
            + ("met" if not below else f"NOT met with {', '.join(map(str, below))} worker(s)")
        )
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
