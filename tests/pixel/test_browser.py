"""The whole pipeline in real processes: headless Chromium opens a page that embeds /pixel.js
from the app under gunicorn, navigates twice (single-page-app pushState), a real `rq worker`
(`python -m workers --burst`) ingests, and the three page views are in the stats."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from redis import Redis
from rq import Queue

from tests.conftest import TEST_REDIS_URL, requires_postgres, requires_redis
from tests.processes import ROOT, flask_cli, gunicorn, scratch_database

from . import BROWSER_UA

CHROMIUM = shutil.which("chromium")
PAGE = """<!doctype html><html><head><title>shop</title>
<script defer src="http://127.0.0.1:{api}/pixel.js" data-site="{public_id}"></script></head>
<body><script>
  setTimeout(function () {{ history.pushState({{}}, "", "/products"); }}, 500);
  setTimeout(function () {{ history.pushState({{}}, "", "/cart"); document.title = "done"; }}, 1000);
</script></body></html>"""


def _call(port: int, method: str, path: str, key: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@requires_postgres
@requires_redis
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_page_views_from_a_browser_arrive_in_the_stats(tmp_path):
    # the suite's own Redis database: this test's in-process app does not use it meanwhile, and
    # the suite empties it after each test
    redis_url = TEST_REDIS_URL
    with scratch_database() as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "INSTANCE_PATH": str(tmp_path),
            "LOG_LEVEL": "WARNING",
        }
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "users", "create", "pixel@example.com", "--password", "password123")
        slug = flask_cli(env, "workspaces", "create", "Pixel", "--owner", "pixel@example.com")
        key = flask_cli(env, "keys", "create", "--user", "pixel@example.com", "--workspace", slug).splitlines()[-1]
        pages = tmp_path / "site"
        pages.mkdir()
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(pages))
        page_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=page_server.serve_forever, daemon=True).start()
        try:
            with gunicorn(env, tmp_path / "gunicorn.log") as api:
                site = _call(api, "POST", "/api/v1/pixel/sites", key, {"domain": "localhost"})["data"]
                (pages / "index.html").write_text(PAGE.format(api=api, public_id=site["public_id"]))
                browser = subprocess.run(
                    [
                        CHROMIUM,
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        f"--user-agent={BROWSER_UA}",
                        "--virtual-time-budget=5000",
                        "--dump-dom",
                        f"http://localhost:{page_server.server_address[1]}/index.html",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    start_new_session=True,  # whatever Chromium signals its group, never the suite
                )
                assert "<title>done</title>" in browser.stdout, browser.stderr[-2000:]
                stats = f"/api/v1/pixel/stats?site={site['id']}"
                deadline = time.monotonic() + 20
                while True:  # beacons the browser sent as it closed may still be arriving
                    Queue("default", connection=Redis.from_url(redis_url)).enqueue("app.pixel.tasks.drain")
                    worker = subprocess.run(
                        [sys.executable, "-m", "workers", "--burst"],
                        cwd=ROOT,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=120,
                        start_new_session=True,
                    )
                    assert worker.returncode == 0, worker.stderr
                    body = _call(api, "GET", stats, key)["data"]
                    if body["totals"]["pageviews"] >= 3 or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
        finally:
            page_server.shutdown()
    assert body["totals"]["pageviews"] == 3
    assert body["totals"]["visitors"] == 1 and body["totals"]["sessions"] == 1
    assert {p["value"] for p in body["top_pages"]} == {"/index.html", "/products", "/cart"}
