"""MCP benchmark (issue 8): tool-call latency through the proxy against a direct call to the same
local upstream, in the same run; `tools/list` of a 1,000-tool server; the import of a Stripe-sized
spec by a worker while the web process stays free.

    make bench-mcp        # or: .venv/bin/python -m bench.mcp [--calls 300] [--stripe-spec PATH]

It recreates a PostgreSQL database (BENCH_MCP_DATABASE_URL, default core_bench_mcp), flushes Redis
db 5 (BENCH_MCP_REDIS_URL), migrates, makes an enterprise workspace and a key, and starts gunicorn
(gunicorn.conf.py, bench.app:app) and an upstream stand-in in this process (HTTP/1.1 keep-alive,
answers every GET with a small JSON document). Then, one client, one request at a time:

1. latency: `--calls` rounds of three requests, interleaved: GET /items/{n} straight to the
   upstream; POST /api/v1/mcp/tools/call (REST); POST /mcp/bench/items `tools/call` (protocol).
   Each through its own keep-alive connection. p50/p95 and the overhead of p50 against the direct
   call (target: under 5 ms); beside them, GET /bench/bare (the floor of any request on the same
   gunicorn: no credential, no database) and GET /api/v1/mcp/servers/{id} (an authenticated read
   of the same server; its 1,001 tool names make it heavier than a call);
2. tools/list: a spec with 1,000 operations becomes a server; every page of `tools/list` (100 tools
   a page) is timed, `--list-rounds` times;
3. a Stripe-sized spec (`--stripe-spec`, default the `stripe.yaml` the openapi-spec-validator sdist
   ships under tests/bench/specs/, fetched with `pip download --no-binary :all: --no-deps` into
   bench/out/mcp when missing): the POST's time (202, the web process does not validate it), then
   one burst worker (`python -m workers --burst`) importing it; the time until the spec is `ready`
   and the worker's own job time; a server is then made from it (tool generation in the request).
   While the import runs, /api/health is polled: its worst latency is printed.

Everything stays on 127.0.0.1. Exits 1 when a call fails, not on the targets.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from redis import Redis

from bench.load import flask, free_port, recreate_database, start_gunicorn, wait_ready

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "mcp"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/core_bench_mcp"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
SLUG = "bench"


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1
    BODY = json.dumps({"id": "1", "name": "Benchmark item", "tags": ["a", "b"], "count": 3}).encode()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        pass


def spec_with(operations: int) -> dict:
    paths = {
        f"/items{i:04}/{{item_id}}": {
            "get": {
                "operationId": f"getItem{i:04}",
                "summary": f"Get an item of collection {i}",
                "parameters": [
                    {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "expand", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
        for i in range(operations)
    }
    paths["/items/{item_id}"] = {"get": {**paths["/items0000/{item_id}"]["get"], "operationId": "getItem"}}
    return {"openapi": "3.1.0", "info": {"title": "Bench", "version": "1"}, "paths": paths}


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int, headers: dict | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = headers or {}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None, float]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if data is not None else {})}
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()  # the server closed an idle keep-alive connection: once more, anew
            started = time.perf_counter()
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        raw = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        is_json = (response.getheader("Content-Type") or "").startswith("application/json")
        return response.status, (json.loads(raw) if raw and is_json else None), elapsed

    def ok(self, method: str, path: str, body: dict | None = None, status: int = 200) -> dict:
        got, answer, _ = self.request(method, path, body)
        if got != status:
            sys.exit(f"bench: {method} {path} answered {got}: {answer}")
        return answer or {}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stripe_spec(given: str | None) -> Path:
    if given:
        return Path(given)
    target = OUT / "specs" / "stripe.yaml"
    if target.exists():
        return target
    download = OUT / "sdist"
    download.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "openapi-spec-validator==0.9.0",
            "-d",
            str(download),
        ],
        check=True,
        capture_output=True,
    )
    (sdist,) = download.glob("openapi_spec_validator-*.tar.gz")
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("tests/bench/specs/stripe.yaml"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.mcp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="rounds of the three calls (default %(default)s)")
    parser.add_argument("--list-rounds", type=int, default=20, help="full tools/list walks (default %(default)s)")
    parser.add_argument("--stripe-spec", help="path of a large OpenAPI document (default: Stripe's, see above)")
    parser.add_argument("--skip-import", action="store_true", help="leave out the large-spec import")
    return parser.parse_args(argv)


def latency(port: int, upstream_port: int, key: str, calls: int, server_id: str) -> dict:
    auth = {"Authorization": f"Bearer {key}"}
    direct, rest, proto, floor = Client(upstream_port), Client(port, auth), Client(port, auth), Client(port, auth)
    bare = Client(port)
    call = {"server": "items", "tool": "getItem", "arguments": {"item_id": "42", "expand": True}}
    rpc = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "getItem", "arguments": call["arguments"]},
    }
    times: dict[str, list[float]] = {"direct": [], "rest": [], "protocol": [], "get_server": [], "bare": []}
    for n in range(calls + 20):  # the first 20 rounds warm up
        _, _, d = direct.request("GET", "/items/42?expand=true")
        status, answer, r = rest.request("POST", "/api/v1/mcp/tools/call", call)
        if status != 200 or answer["result"]["is_error"]:  # type: ignore[index]
            sys.exit(f"bench: REST tool call failed: {status} {answer}")
        status, answer, p = proto.request("POST", f"/mcp/{SLUG}/items", rpc)
        if status != 200 or answer.get("error") or answer["result"]["isError"]:  # type: ignore[union-attr]
            sys.exit(f"bench: protocol tool call failed: {status} {answer}")
        status, answer, f = floor.request("GET", f"/api/v1/mcp/servers/{server_id}")
        if status != 200:
            sys.exit(f"bench: GET server failed: {status} {answer}")
        status, _, b = bare.request("GET", "/bench/bare")
        if status != 200:
            sys.exit(f"bench: the bare route answered {status}")
        if n >= 20:
            times["bare"].append(b)
            times["get_server"].append(f)
            times["direct"].append(d)
            times["rest"].append(r)
            times["protocol"].append(p)
    return {name: (statistics.median(v), percentile(v, 0.95)) for name, v in times.items()}


def tools_list(port: int, key: str, rounds: int) -> tuple[list[float], int]:
    client = Client(port, {"Authorization": f"Bearer {key}"})
    pages: list[float] = []
    count = 0
    for _ in range(rounds):
        cursor, count = None, 0
        while True:
            params = {"cursor": cursor} if cursor else {}
            status, answer, ms = client.request(
                "POST", f"/mcp/{SLUG}/thousand", {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params}
            )
            if status != 200 or "result" not in answer:  # type: ignore[operator]
                sys.exit(f"bench: tools/list failed: {status} {answer}")
            pages.append(ms)
            count += len(answer["result"]["tools"])  # type: ignore[index]
            cursor = answer["result"].get("nextCursor")  # type: ignore[index]
            if not cursor:
                break
    return pages, count


def big_import(port: int, key: str, env: dict, path: Path) -> dict:
    client = Client(port, {"Authorization": f"Bearer {key}"})
    text = path.read_text()
    status, answer, post_ms = client.request("POST", "/api/v1/mcp/specs", {"name": path.stem, "raw_spec": text})
    if status != 202:
        sys.exit(f"bench: the large spec was not queued: {status} {answer}")
    spec_id = answer["data"]["id"]  # type: ignore[index]
    health_worst, stop = [0.0], threading.Event()

    def poll_health() -> None:
        probe = Client(port)
        while not stop.is_set():
            _, _, ms = probe.request("GET", "/api/health")
            health_worst[0] = max(health_worst[0], ms)
            time.sleep(0.05)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    started = time.monotonic()
    with open(OUT / "worker.log", "w") as log:
        worker = subprocess.run(
            [sys.executable, "-m", "workers", "--burst", "--queues", "default"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            timeout=30 * 60,
        )
    wall = time.monotonic() - started
    stop.set()
    poller.join()
    spec = client.ok("GET", f"/api/v1/mcp/specs/{spec_id}")["data"]
    if worker.returncode != 0 or spec["status"] != "ready":
        sys.exit(f"bench: the import did not finish: worker rc {worker.returncode}, spec {spec}")
    body = {"slug": "stripe", "name": "Stripe", "auth_mode": "bearer", "base_url": "https://api.stripe.com"}
    status, server, server_ms = client.request("POST", f"/api/v1/mcp/specs/{spec_id}/servers", body)
    if status != 201:
        sys.exit(f"bench: the server from the large spec failed: {status} {server}")
    return {
        "bytes": len(text.encode()),
        "operations": spec["operation_count"],
        "post_ms": post_ms,
        "worker_wall_s": wall,
        "health_worst_ms": health_worst[0],
        "server_ms": server_ms,
        "tools": server["data"]["tool_count"],  # type: ignore[index]
        "skipped": server["data"]["skipped"],  # type: ignore[index]
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("BENCH_MCP_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_MCP_REDIS_URL", DEFAULT_REDIS_URL)
    recreate_database(database_url)
    Redis.from_url(redis_url).flushdb()
    shutil.rmtree(OUT / "instance", ignore_errors=True)
    (OUT / "instance").mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(OUT / "instance"),
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "bench@example.com")
    flask(env, "workspaces", "create", "Bench", "--owner", "bench@example.com", "--tier", "enterprise", "--slug", SLUG)
    key = flask(env, "keys", "create", "--user", "bench@example.com", "--workspace", SLUG, "--scopes", "*")
    key = key.strip().splitlines()[-1]

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    upstream_port = upstream.server_address[1]

    port = free_port()
    with open(OUT / "gunicorn.log", "w") as log:
        server = start_gunicorn(env, port, log)
        try:
            wait_ready(port, server)
            api = Client(port, {"Authorization": f"Bearer {key}"})
            spec = api.ok("POST", "/api/v1/mcp/specs", {"name": "Items", "raw_spec": spec_with(1000)}, 201)["data"]
            made_ids = []
            for slug in ("items", "thousand"):
                body = {
                    "slug": slug,
                    "name": slug,
                    "auth_mode": "bearer",
                    "base_url": f"http://127.0.0.1:{upstream_port}",
                }
                made = api.ok("POST", f"/api/v1/mcp/specs/{spec['id']}/servers", body, 201)["data"]
                credential = {"label": "bench", "secret": "upstream-secret", "auth_type": "bearer"}
                api.ok("POST", f"/api/v1/mcp/servers/{made['id']}/credentials", credential, 201)
                made_ids.append(made["id"])

            print(f"latency, {args.calls} sequential calls each (ms):")
            results = latency(port, upstream_port, key, args.calls, made_ids[0])
            direct = results["direct"][0]
            for name, (p50, p95) in results.items():
                overhead = (
                    ""
                    if name in ("direct", "get_server", "bare")
                    else f"   overhead p50 {p50 - direct:.2f} ms (target < 5)"
                )
                print(f"  {name:9} p50 {p50:7.2f}  p95 {p95:7.2f}{overhead}")

            pages, count = tools_list(port, key, args.list_rounds)
            print(
                f"tools/list of a {count}-tool server, {len(pages)} pages of 100: p50 {statistics.median(pages):.2f} ms,"
                f" p95 {percentile(pages, 0.95):.2f} ms, a full walk {sum(pages) / args.list_rounds:.1f} ms"
            )

            if not args.skip_import:
                path = stripe_spec(args.stripe_spec)
                big = big_import(port, key, env, path)
                print(
                    f"import of {path.name} ({big['bytes'] / 1e6:.1f} MB, {big['operations']} operations): POST "
                    f"{big['post_ms']:.0f} ms (202), worker until ready {big['worker_wall_s']:.1f} s (start-up "
                    f"included), /api/health worst {big['health_worst_ms']:.0f} ms meanwhile; server from it "
                    f"{big['server_ms']:.0f} ms, {big['tools']} tools, skipped {big['skipped']}"
                )
        finally:
            server.terminate()
            server.wait(15)
            upstream.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
