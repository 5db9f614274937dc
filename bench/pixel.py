"""Pixel benchmark (issue 6): tracking requests/s, ingestion events/s and end-to-end lag.

    make bench-pixel     # or: .venv/bin/python -m bench.pixel [--seconds 10 --connections 16 --events 20000 --rate 200]

Creates a fresh PostgreSQL database (BENCH_PIXEL_DATABASE_URL, default core_bench_pixel), uses
Redis BENCH_PIXEL_REDIS_URL (default db 11; flushed), migrates, makes a user, an enterprise
workspace and a site `bench.example.com`, and runs gunicorn (`gunicorn.conf.py`) on `bench/app.py`
with TRUSTED_PROXY_COUNT=1, so each request's client IP comes from X-Forwarded-For (a pool of
10 000 addresses: the 300/minute per-IP limit is checked on every request and never trips).

1. Tracking: keep-alive clients in threads POST /api/v1/pixel/track (one page view each), then GET
   the bare route `/bench/bare` of the same app, `--rounds` times alternated. Target ≥ 60%.
2. Ingestion: `--events` page views (the entries /track would buffer) are put in the Redis stream,
   drain jobs are enqueued and one real worker (`python -m workers --burst`) ingests them; the rate
   is events ÷ (last job end − first job start, from RQ's job records). The floor is a bare
   `COPY` of the same rows into a table shaped like `pixel_events`. Target ≥ 50%.
3. Lag: gunicorn and a worker with its periodic jobs (`python -m workers`) run together while
   page views are sent at `--rate` per second for `--seconds`; the database is polled every 50 ms
   and each event's lag is the time from its 200 answer to the poll that first saw as many rows
   as had been sent by then. Target: every event under 2 s.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
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

import psycopg
from redis import Redis
from rq import Queue

from bench.load import ROOT, flask, free_port, recreate_database, start_gunicorn, wait_ready

OUT = ROOT / "bench" / "out" / "pixel"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/core_bench_pixel"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
DOMAIN = "bench.example.com"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pixel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="seconds per load run (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated runs per route (default %(default)s)")
    parser.add_argument("--connections", type=int, default=16, help="client threads (default %(default)s)")
    parser.add_argument("--events", type=int, default=20000, help="events ingested (default %(default)s)")
    parser.add_argument("--rate", type=int, default=200, help="page views/s in the lag run (default %(default)s)")
    return parser.parse_args(argv)


def _addresses():
    for n in itertools.cycle(range(10000)):
        yield f"10.{n // 250 % 250}.{n % 250}.{n % 7 + 1}"


def load(port: int, method: str, path: str, body: bytes | None, seconds: int, connections: int) -> dict:
    stop_at = time.monotonic() + seconds
    counts, bad = [0] * connections, [0] * connections
    addresses = _addresses()

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop_at:
            headers = {"User-Agent": UA, "X-Forwarded-For": next(addresses), "Content-Type": "application/json"}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            counts[i] += 1
            bad[i] += response.status != 200
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"rps": sum(counts) / (time.monotonic() - started), "requests": sum(counts), "bad": sum(bad)}


def track_body(public_id: str, n: int = 0) -> bytes:
    return json.dumps({"site": public_id, "url": f"https://{DOMAIN}/page/{n % 50}"}).encode()


def tracking(port: int, public_id: str, args) -> dict:
    body = track_body(public_id)
    load(port, "POST", "/api/v1/pixel/track", body, 2, args.connections)  # warm-up
    load(port, "GET", "/bench/bare", None, 2, args.connections)
    runs: dict[str, list[dict]] = {"track": [], "bare": []}
    for _ in range(args.rounds):
        runs["track"].append(load(port, "POST", "/api/v1/pixel/track", body, args.seconds, args.connections))
        runs["bare"].append(load(port, "GET", "/bench/bare", None, args.seconds, args.connections))
    track, bare = (statistics.mean(r["rps"] for r in runs[k]) for k in ("track", "bare"))
    return {
        "track_rps": round(track, 1),
        "bare_rps": round(bare, 1),
        "ratio": round(track / bare, 3),
        "non_200": sum(r["bad"] for rs in runs.values() for r in rs),
    }


def _entries(site_id: str, workspace_id: str, count: int) -> list[dict]:
    now = time.time()
    return [
        {
            "s": site_id,
            "w": workspace_id,
            "t": now + n / 1000,
            "n": "pageview",
            "p": f"/page/{n % 50}",
            "r": "news.example.org" if n % 3 else None,
            "v": f"{n % 2000:032x}",
            "x": None,
        }
        for n in range(count)
    ]


def ingestion(env: dict, database_url: str, redis: Redis, site_id: str, workspace_id: str, args) -> dict:
    from app.pixel import buffer

    entries = _entries(site_id, workspace_id, args.events)
    pipe = redis.pipeline(transaction=False)
    for item in entries:
        pipe.xadd(buffer.STREAM, {"e": json.dumps(item)})
    pipe.execute()
    queue = Queue("default", connection=redis)
    ids = [queue.enqueue("app.pixel.tasks.drain", job_timeout=600).id for _ in range(args.events // 25000 + 1)]
    worker = subprocess.run(
        [sys.executable, "-m", "workers", "--burst", "--queues", "default"], cwd=ROOT, env=env, capture_output=True
    )
    if worker.returncode != 0:
        sys.exit(f"bench: worker failed:\n{worker.stderr.decode()[-3000:]}")
    jobs = [queue.fetch_job(i) for i in ids]
    stored = sum(j.return_value() or 0 for j in jobs)  # type: ignore[union-attr]
    if stored != args.events:
        sys.exit(f"bench: the worker stored {stored} of {args.events} events")
    worker_seconds = (max(j.ended_at for j in jobs) - min(j.started_at for j in jobs)).total_seconds()  # type: ignore[union-attr]

    rows = [
        (f"c{n}", e["s"], datetime.fromtimestamp(e["t"], UTC), e["n"], e["p"], e["r"], e["v"], None)
        for n, e in enumerate(entries)
    ]
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE bench_copy (LIKE pixel_events INCLUDING ALL)")
        started = time.monotonic()
        with conn.cursor().copy(
            "COPY bench_copy (key, site_id, occurred_at, name, path, referrer, visitor, properties) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        copy_seconds = time.monotonic() - started
    worker_rate, copy_rate = args.events / worker_seconds, args.events / copy_seconds
    return {
        "events": args.events,
        "worker_events_per_s": round(worker_rate, 1),
        "copy_events_per_s": round(copy_rate, 1),
        "ratio": round(worker_rate / copy_rate, 3),
    }


def lag(port: int, env: dict, database_url: str, public_id: str, args) -> dict:
    worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    sent: list[float] = []
    seen: list[tuple[float, int]] = []
    stop = threading.Event()
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            base = conn.execute("SELECT count(*) FROM pixel_events").fetchone()[0]  # type: ignore[index]
            time.sleep(3)  # the worker's start-up (importing the app) is not lag

            def poll() -> None:
                while not stop.is_set():
                    count = conn.execute("SELECT count(*) FROM pixel_events").fetchone()[0] - base  # type: ignore[index]
                    seen.append((time.monotonic(), count))
                    time.sleep(0.05)

            poller = threading.Thread(target=poll)
            poller.start()
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            addresses = _addresses()
            started = time.monotonic()
            for n in range(args.rate * args.seconds):
                time.sleep(max(0.0, started + n / args.rate - time.monotonic()))
                headers = {"User-Agent": UA, "X-Forwarded-For": next(addresses), "Content-Type": "application/json"}
                client.request("POST", "/api/v1/pixel/track", body=track_body(public_id, n), headers=headers)
                response = client.getresponse()
                response.read()
                if response.status == 200:
                    sent.append(time.monotonic())
            achieved = len(sent) / (time.monotonic() - started)
            deadline = time.monotonic() + 30
            while (not seen or seen[-1][1] < len(sent)) and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            poller.join()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    lags = []
    for n, at in enumerate(sent):
        arrival = next((t for t, count in seen if count > n and t >= at), None)
        if arrival is None:
            sys.exit(f"bench: event {n} never arrived")
        lags.append(arrival - at)
    return {
        "rate_achieved": round(achieved, 1),
        "events": len(sent),
        "lag_p50_s": round(statistics.median(lags), 3),
        "lag_max_s": round(max(lags), 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("BENCH_PIXEL_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_PIXEL_REDIS_URL", DEFAULT_REDIS_URL)
    recreate_database(database_url)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    shutil.rmtree(OUT / "instance", ignore_errors=True)
    (OUT / "instance").mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(OUT / "instance"),
        "LOG_LEVEL": "WARNING",
        "TRUSTED_PROXY_COUNT": "1",
    }
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "bench@example.com")
    flask(
        env, "workspaces", "create", "Bench", "--owner", "bench@example.com", "--tier", "enterprise", "--slug", "bench"
    )
    with psycopg.connect(database_url) as conn:
        workspace_id = conn.execute("SELECT id FROM workspaces WHERE slug = 'bench'").fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO pixel_sites (id, workspace_id, domain, public_id, enabled, features, sample_rate,"
            " allowed_origins, created_at, updated_at) VALUES ('pxs_bench', %s, %s, 'px_bench', true,"
            ' \'{"pageviews": true, "events": true, "sessions": true}\', 1.0, \'[]\', now(), now())',
            (workspace_id, DOMAIN),
        )
    port = free_port()
    with open(OUT / "gunicorn.log", "w") as log:
        server = start_gunicorn(env, port, log)
        try:
            wait_ready(port, server)
            results = {"tracking": tracking(port, "px_bench", args)}
            # the tracking run's events and the drains it asked for are not part of what follows
            redis.delete("pixel:events")
            Queue("default", connection=redis).empty()
            results["ingestion"] = ingestion(env, database_url, redis, "pxs_bench", workspace_id, args)
            results["lag"] = lag(port, env, database_url, "px_bench", args)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(json.dumps(results, indent=2))
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
