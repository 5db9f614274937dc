"""Open AI streams against normal requests: the p99 of authenticated `GET /api/v1/workspaces/{id}`
with 8 chat streams open (a slow provider stand-in) against its idle p99, under gunicorn
(gunicorn.conf.py: gthread, WEB_CONCURRENCY=2, GUNICORN_THREADS=16) on PostgreSQL + Redis.

    make bench-ai              # or: .venv/bin/python -m bench.ai [--requests 400]

It creates a fresh PostgreSQL database (BENCH_AI_DATABASE_URL, default core_bench_ai) and uses
Redis db 11 (BENCH_AI_REDIS_URL), makes two pro-tier workspaces with a key each (a workspace may
hold 4 streams), starts the Chat Completions stand-in of the tests (one piece every 0.25 s) and
gunicorn, measures the GET's latencies one request at a time while idle, then again while 8
streams are open and being read, and prints both p99s and their ratio (target: within 2×).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

from redis import Redis

from bench.load import OUT, flask, free_port, recreate_database, start_gunicorn, wait_ready
from tests.ai import ChatStandIn

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/core_bench_ai"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
STREAMS = 8


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.ai", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="GETs per phase (default %(default)s)")
    parser.add_argument("--ceiling", type=float, default=2.0, help="max busy/idle p99 ratio (default %(default)s)")
    return parser.parse_args(argv)


def latencies(port: int, path: str, headers: dict, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        seen.append((time.perf_counter() - started) * 1000)
    conn.close()
    return seen


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def open_stream(port: int, headers: dict, opened: threading.Event, stop: threading.Event, results: list) -> None:
    """One chat stream, read slowly piece by piece until it ends or the bench stops."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"message": "Tell me a long story"})
    conn.request("POST", "/api/v1/ai/chat", body=body, headers={**headers, "Content-Type": "application/json"})
    response = conn.getresponse()
    results.append(response.status)
    opened.set()
    while not stop.is_set() and response.status == 200 and response.readline():
        pass
    conn.close()


def account(env: dict, slug: str) -> dict:
    flask(env, "users", "create", f"{slug}@example.com")
    flask(env, "workspaces", "create", slug, "--owner", f"{slug}@example.com", "--tier", "pro", "--slug", slug)
    key = flask(env, "keys", "create", "--user", f"{slug}@example.com", "--workspace", slug, "--scopes", "*")
    return {"Authorization": f"Bearer {key.strip().splitlines()[-1]}"}


def main(argv=None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("BENCH_AI_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_AI_REDIS_URL", DEFAULT_REDIS_URL)
    recreate_database(database_url)
    Redis.from_url(redis_url).flushdb()
    instance = OUT / "instance-ai"
    shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir(parents=True)
    stand_in = ChatStandIn()
    stand_in.pieces = ["word "] * 400  # 100 s at 0.25 s a piece: open for the whole measurement
    stand_in.delay = 0.25
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(instance),
        "LOG_LEVEL": "WARNING",
        "AI_BASE_URL": stand_in.base_url,
        "AI_MODEL": "bench-model",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "16",  # streams take at most half: 8 per process, so 8 fit however they spread
    }
    flask(env, "db", "upgrade")
    keys = [account(env, "bench-ai-a"), account(env, "bench-ai-b")]
    port = free_port()
    stop = threading.Event()
    with open(OUT / "gunicorn-ai.log", "w") as log:
        server = start_gunicorn(env, port, log)
        try:
            wait_ready(port, server)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/v1/workspaces", headers=keys[0])
            workspace = json.loads(conn.getresponse().read())["data"][0]["id"]
            path = f"/api/v1/workspaces/{workspace}"
            latencies(port, path, keys[0], 50)  # warm-up
            idle = latencies(port, path, keys[0], args.requests)
            statuses: list[int] = []
            threads = []
            for n in range(STREAMS):
                opened = threading.Event()
                thread = threading.Thread(
                    target=open_stream, args=(port, keys[n % 2], opened, stop, statuses), daemon=True
                )
                thread.start()
                opened.wait(30)
                threads.append(thread)
            busy = latencies(port, path, keys[0], args.requests)
            still_open = sum(t.is_alive() for t in threads)
        finally:
            stop.set()
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
            stand_in.stop()
    ratio = p99(busy) / p99(idle)
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "requests": args.requests,
        "streams_opened": statuses.count(200),
        "streams_open_at_end": still_open,
        "idle_p50_ms": round(statistics.median(idle), 2),
        "idle_p99_ms": round(p99(idle), 2),
        "busy_p50_ms": round(statistics.median(busy), 2),
        "busy_p99_ms": round(p99(busy), 2),
        "p99_ratio": round(ratio, 2),
        "ceiling": args.ceiling,
    }
    print(json.dumps(summary, indent=2))
    if statuses.count(200) != STREAMS:
        print(f"bench: only {statuses.count(200)} of {STREAMS} streams opened: {statuses}", file=sys.stderr)
        return 1
    return 0 if ratio <= args.ceiling else 1


if __name__ == "__main__":
    sys.exit(main())
