"""API.md §6: a limit holds across web processes, because it is counted in Redis.

Two separate gunicorn servers of the app share one PostgreSQL database and one Redis. They cannot
see the suite's per-test (rolled-back) transaction, so this test makes its own database, migrates
it and creates the user, workspace and keys with the CLI, exactly as an operator would; it drops
the database afterwards. The servers use a Redis database of their own (not the suite's).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest
from cryptography.fernet import Fernet
from redis import Redis

from ..conftest import requires_postgres, requires_redis
from ..processes import flask_cli, gunicorn, scratch_database, servers_redis_url

pytestmark = [requires_postgres, requires_redis]
EMAIL = "procs@example.com"


def request(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def burst(ports: tuple[int, int], secret: str, count: int) -> list[tuple[int, dict, dict]]:
    headers = {"Authorization": f"Bearer {secret}"}
    return [request(ports[n % 2], "/api/v1/auth/me", headers) for n in range(count)]


def test_one_free_key_gets_60_requests_a_minute_across_two_processes(tmp_path):
    with ExitStack() as stack:
        database_url = stack.enter_context(scratch_database())
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": servers_redis_url(),
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "procs-test-secret",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "users", "create", EMAIL, "--password", "password123")
        slug = flask_cli(env, "workspaces", "create", "Procs", "--owner", EMAIL).splitlines()[-1]
        # two keys: the second is for the one repeat a window change mid-burst would need
        secrets = [
            flask_cli(env, "keys", "create", "--user", EMAIL, "--workspace", slug).splitlines()[-1] for _ in range(2)
        ]
        assert all(s.startswith("sk_live_") for s in secrets)
        redis = Redis.from_url(env["REDIS_URL"])
        stack.callback(redis.close)
        stack.callback(lambda: [redis.delete(k) for k in redis.scan_iter("LIMITS:LIMITER/core/api_key:*")])

        ports = (
            stack.enter_context(gunicorn(env, tmp_path / "server-a.log")),
            stack.enter_context(gunicorn(env, tmp_path / "server-b.log")),
        )
        assert ports[0] != ports[1]

        for secret in secrets:
            answers = burst(ports, secret, 70)
            first_reset = int(answers[0][1]["X-RateLimit-Reset"])
            last_reset = int(answers[-1][1]["X-RateLimit-Reset"])
            # Redis' TTL is whole seconds, so one window's reset may read one second apart
            if abs(first_reset - last_reset) <= 2:
                break
        else:
            pytest.fail("a new rate-limit window began during both bursts")

    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 60 and statuses.count(429) == 10, statuses
    assert statuses == [200] * 60 + [429] * 10
    # one shared counter: the two processes count down together
    assert [int(h["X-RateLimit-Remaining"]) for _, h, _ in answers[:60]] == list(range(59, -1, -1))
    assert all(h["X-RateLimit-Limit"] == "60" for _, h, _ in answers)
    refused = answers[60][2]
    assert refused["error"] == "rate_limit_exceeded"
    assert refused["limit"] == 60 and refused["remaining"] == 0 and refused["retry_after"] >= 1
    assert answers[60][1]["Retry-After"] == str(refused["retry_after"])
