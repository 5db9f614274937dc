"""Load benchmark: authenticated `GET /api/v1/workspaces/{id}` against a bare route of the same app,
both under gunicorn (gunicorn.conf.py) on PostgreSQL with rate limits on Redis.

    make bench                 # or: .venv/bin/python -m bench.load [--seconds 10]

It creates a fresh PostgreSQL database (BENCH_DATABASE_URL, default core_bench) and uses Redis db 13
(BENCH_REDIS_URL), migrates, makes a user, an enterprise-tier workspace and a `workspaces:read` key
with the admin CLI, starts gunicorn on a free loopback port, and drives each URL for the same time
with wrk (or, without wrk, a keep-alive Python client), in turn: the bare route, the authenticated
route, and the same authenticated route without `api_calls` metering (bench/app.py). It prints the
throughputs, the authenticated/bare ratio (issue 2) and metering's share of throughput (issue 5,
target under 10%), and exits 1 when the ratio is under the floor (0.5) or any response was not
200. Everything stays on 127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from redis import Redis

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/core_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=int,
        default=int(os.environ.get("BENCH_SECONDS", 10)),
        help="measured seconds per URL and round (default %(default)s)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="bare/authenticated rounds, alternated (default %(default)s)"
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="concurrent keep-alive connections (default %(default)s)"
    )
    parser.add_argument(
        "--floor", type=float, default=0.5, help="minimum authenticated/bare ratio (default %(default)s)"
    )
    parser.add_argument(
        "--python-client", action="store_true", help="use the Python load generator even if wrk is installed"
    )
    return parser.parse_args(argv)


# --- setup ----------------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        sys.exit(f"bench: refusing database name {name!r}")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def flask(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        sys.exit(f"bench: flask {' '.join(args[:2])} failed:\n{result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict, port: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--no-control-socket",
            "--bind",
            f"127.0.0.1:{port}",
            "bench.app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )


def wait_ready(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"bench: gunicorn exited with {server.returncode}; see {OUT / 'gunicorn.log'}")
        try:
            status, _ = get(port, "/api/health")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("bench: gunicorn did not answer /api/health in time")


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system) of a process and its children so far, from /proc (0 elsewhere)."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == root_pid or int(fields[1]) == root_pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def measured(load, server: subprocess.Popen, *args) -> dict:
    """Run the load generator and add the server's CPU milliseconds per request."""
    before = cpu_seconds(server.pid)
    result = load(*args)
    result["server_cpu_ms_per_request"] = round(
        (cpu_seconds(server.pid) - before) * 1000 / max(result["requests"], 1), 3
    )
    return result


# --- load generators ------------------------------------------------------------------------


def wrk(port: int, path: str, headers: dict, seconds: int, connections: int) -> dict:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=seconds + 30
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    p50, p99 = (re.search(rf"\s{q}%\s+(\S+)", output) for q in ("50", "99"))
    if rps is None or total is None:
        sys.exit(f"bench: could not read wrk's output:\n{output}")
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "bad": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        "p50": p50.group(1) if p50 else None,
        "p99": p99.group(1) if p99 else None,
    }


def python_client(port: int, path: str, headers: dict, seconds: int, connections: int) -> dict:
    """Keep-alive connections in threads; slower than wrk (the GIL), so it understates both."""
    stop_at = time.monotonic() + seconds
    counts, bad = [0] * connections, [0] * connections

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        while time.monotonic() < stop_at:
            conn.request("GET", path, headers=headers)
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
    elapsed = time.monotonic() - started
    return {
        "rps": sum(counts) / elapsed,
        "requests": sum(counts),
        "bad": sum(bad),
        "socket_errors": None,
        "p50": None,
        "p99": None,
    }


def rounds(runs: list[dict]) -> str:
    return ", ".join(f"{run['rps']:.0f}" for run in runs)


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    load = python_client if args.python_client or shutil.which("wrk") is None else wrk

    recreate_database(database_url)
    Redis.from_url(redis_url).flushdb()
    shutil.rmtree(OUT / "instance", ignore_errors=True)
    (OUT / "instance").mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(OUT / "instance"),
        "LOG_LEVEL": "WARNING",
    }

    flask(env, "db", "upgrade")
    flask(env, "users", "create", "bench@example.com")
    flask(
        env, "workspaces", "create", "Bench", "--owner", "bench@example.com", "--tier", "enterprise", "--slug", "bench"
    )
    key = (
        flask(
            env,
            "keys",
            "create",
            "--user",
            "bench@example.com",
            "--workspace",
            "bench",
            "--scopes",
            "workspaces:read",
            "--name",
            "bench",
        )
        .strip()
        .splitlines()[-1]
    )
    auth = {"Authorization": f"Bearer {key}"}

    port = free_port()
    with open(OUT / "gunicorn.log", "w") as log:
        server = start_gunicorn(env, port, log)
        try:
            wait_ready(port, server)
            status, body = get(port, "/api/v1/workspaces", auth)
            assert status == 200, body
            [workspace] = [w for w in json.loads(body)["data"] if w["slug"] == "bench"]
            assert workspace["tier"] == "enterprise", workspace
            auth_path, bare_path = f"/api/v1/workspaces/{workspace['id']}", "/bench/bare"
            unmetered_path = f"/bench/unmetered/workspaces/{workspace['id']}"
            for path, headers in ((auth_path, auth), (bare_path, {}), (unmetered_path, auth)):
                status, body = get(port, path, headers)
                assert status == 200, (path, status, body)
                load(port, path, headers, 2, args.connections)  # warm-up
            results: dict[str, list[dict]] = {"bare": [], "authenticated": [], "unmetered": []}
            for _ in range(args.rounds):
                results["bare"].append(measured(load, server, port, bare_path, {}, args.seconds, args.connections))
                results["authenticated"].append(
                    measured(load, server, port, auth_path, auth, args.seconds, args.connections)
                )
                results["unmetered"].append(
                    measured(load, server, port, unmetered_path, auth, args.seconds, args.connections)
                )
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()

    bare = statistics.mean(r["rps"] for r in results["bare"])
    authed = statistics.mean(r["rps"] for r in results["authenticated"])
    ratio = authed / bare
    unmetered = statistics.mean(r["rps"] for r in results["unmetered"])
    metering_cost = 1 - authed / unmetered  # share of throughput metering takes (issue 5: < 10%)
    bad = sum(r["bad"] for rs in results.values() for r in rs)
    cpu = {name: statistics.mean(r["server_cpu_ms_per_request"] for r in runs) for name, runs in results.items()}
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "generator": load.__name__,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "connections": args.connections,
        "web_concurrency": env.get("WEB_CONCURRENCY", "2"),
        "threads": env.get("GUNICORN_THREADS", "8"),
        "bare_rps": round(bare, 1),
        "authenticated_rps": round(authed, 1),
        "ratio": round(ratio, 3),
        "unmetered_rps": round(unmetered, 1),
        "metering_cost": round(metering_cost, 3),
        "non_200": bad,
        "floor": args.floor,
        "server_cpu_ms_per_request": cpu,
        "runs": results,
    }
    (OUT / "latest.json").write_text(json.dumps(summary, indent=2))
    print(f"bare route            {bare:8.1f} req/s   ({rounds(results['bare'])})")
    print(f"authenticated GET     {authed:8.1f} req/s   ({rounds(results['authenticated'])})")
    print(
        f"gunicorn CPU/request  bare {cpu['bare']:.2f} ms, authenticated {cpu['authenticated']:.2f} ms "
        f"(CPU ratio {cpu['bare'] / cpu['authenticated']:.1%})"
    )
    print(
        f"ratio                 {ratio:8.1%}   (floor {args.floor:.0%}; {load.__name__}, {args.connections} connections, "
        f"{args.rounds}×{args.seconds} s each; non-200: {bad})"
    )
    print(
        f"metering              {unmetered:8.1f} req/s unmetered → cost {metering_cost:.1%} of throughput "
        f"(target < 10%; CPU {cpu['unmetered']:.2f} → {cpu['authenticated']:.2f} ms/request)"
    )
    if bad:
        print("FAIL: some responses were not 200", file=sys.stderr)
        return 1
    if ratio < args.floor:
        print(
            f"FAIL: authenticated throughput is {ratio:.1%} of the bare route's, under {args.floor:.0%}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
