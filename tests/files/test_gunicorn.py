"""The local upload route under gunicorn, where werkzeug reads real sockets: a body past
MAX_BODY_BYTES but within the declared size is taken (exactly the declared size too), a larger
one is refused while it streams, with or without Content-Length.

On PostgreSQL and Redis, like the suite's other multi-process tests: on the embedded SQLite, a
request's first write after its auth reads can meet "database is locked" when a job thread
commits in between (busy_timeout does not cover a read transaction turning writer)."""

from __future__ import annotations

import os

import requests
from cryptography.fernet import Fernet

from tests.conftest import requires_postgres, requires_redis
from tests.processes import flask_cli, gunicorn, scratch_database, servers_redis_url

from . import PNG

EMAIL = "uploads@example.com"
PNG_HEADERS = {"Content-Type": "image/png"}


def _server_env(tmp_path, database_url: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": servers_redis_url(),
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "files-gunicorn-secret",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "MAX_BODY_BYTES": "1024",
        "LOG_LEVEL": "WARNING",
    }
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "users", "create", EMAIL, "--password", "password123")
    return env


@requires_postgres
@requires_redis
def test_uploads_under_gunicorn_keep_the_declared_size_not_the_json_limit(tmp_path):
    content = PNG + bytes(300_000 - len(PNG))
    with scratch_database() as database_url:
        env = _server_env(tmp_path, database_url)
        slug = flask_cli(env, "workspaces", "create", "Uploads", "--owner", EMAIL).splitlines()[-1]
        secret = flask_cli(env, "keys", "create", "--user", EMAIL, "--workspace", slug).splitlines()[-1]
        headers = {"Authorization": f"Bearer {secret}"}
        with gunicorn(env, tmp_path / "gunicorn.log") as port:
            base = f"http://127.0.0.1:{port}/api/v1/files"

            def declare(size: int) -> dict:
                body = {"filename": "big.png", "content_type": "image/png", "size": size}
                response = requests.post(base, json=body, headers=headers, timeout=10)
                assert response.status_code == 201, response.text
                return response.json()["data"]

            exact = declare(len(content))
            put = requests.put(exact["upload"]["url"], data=content, headers=PNG_HEADERS, timeout=30)
            assert put.status_code == 204, put.text
            done = requests.post(f"{base}/{exact['id']}/complete", headers=headers, timeout=30)
            assert done.status_code == 200 and done.json()["data"]["size"] == len(content)
            detail = requests.get(f"{base}/{exact['id']}", headers=headers, timeout=10)
            assert detail.status_code == 200, detail.text
            download = requests.get(detail.json()["data"]["download"]["url"], timeout=30)
            assert download.content == content and download.headers["X-Content-Type-Options"] == "nosniff"

            small = declare(100_000)
            sized = requests.put(small["upload"]["url"], data=content, headers=PNG_HEADERS, timeout=30)
            assert sized.status_code == 413 and sized.json()["error"] == "payload_too_large"
            chunks = (content[i : i + 8192] for i in range(0, len(content), 8192))
            chunked = requests.put(small["upload"]["url"], data=chunks, headers=PNG_HEADERS, timeout=30)
            assert chunked.status_code == 413 and chunked.json()["error"] == "payload_too_large"
            stored = tmp_path / "files"
            assert [p.name for p in stored.rglob("*") if p.is_file()] == [exact["id"]]  # no partial left

            # the JSON endpoints keep MAX_BODY_BYTES
            too_big = requests.post(base, json={"filename": "x" * 2000}, headers=headers, timeout=10)
            assert too_big.status_code == 413
