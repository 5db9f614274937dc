"""Helpers for tests that run the app in other processes (gunicorn, RQ workers, the CLI): those
processes cannot see the suite's rolled-back transaction, so these tests use a scratch database
and a Redis database number of their own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from .conftest import TEST_DATABASE_URL, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def servers_redis_url() -> str:
    """The suite's Redis server, another database number (the suite flushes its own per test)."""
    db = int(urlsplit(TEST_REDIS_URL).path.lstrip("/") or 0)
    return _with_path(TEST_REDIS_URL, f"/{(db + 15) % 16}")


@contextmanager
def scratch_database():
    """A fresh PostgreSQL database for this test alone; dropped at the end."""
    name = f"core_test_procs_{os.getpid()}"
    admin = sa.create_engine(
        _with_path(TEST_DATABASE_URL, "/postgres").replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _with_path(TEST_DATABASE_URL, f"/{name}")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def flask_cli(env: dict, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"flask {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


@contextmanager
def gunicorn(env: dict, log: Path, workers: int = 1, threads: int = 4, ready_within: float = 60):
    """The app under gunicorn on a free loopback port, once /api/health answers (within
    `ready_within` seconds); yields the port and stops the server afterwards."""
    port = free_port()
    command = [str(BIN / "gunicorn"), "-w", str(workers), "--threads", str(threads), "--no-control-socket"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + ready_within
        while not _healthy(port):
            assert process.poll() is None, f"gunicorn on {port} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"gunicorn on {port} not healthy in {ready_within:g} s:\n{log.read_text()[-3000:]}"
            )
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
