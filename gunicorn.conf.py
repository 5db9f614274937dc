"""gunicorn settings, all from the environment (README.md, API.md §10).

    gunicorn -c gunicorn.conf.py wsgi:app

The app is loaded once in the master (`preload_app`): workers fork with it ready, and the
instance secrets are made by one process. Nothing connects at import; `post_fork` still drops
any database connection a worker inherited, so no two processes ever share a socket.
Logs are JSON lines: the access log carries the response's X-Request-ID, like the app's own logs.
"""

from __future__ import annotations

import json
import logging
import os
import time

from gunicorn.glogging import Logger, SafeAtoms


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{_int('PORT', 8000)}"
# Without Redis, rate limits and idempotency keys live in process memory: serve one process.
workers = _int("WEB_CONCURRENCY", 2 if os.environ.get("REDIS_URL") else 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 8)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
preload_app = True
# gunicorn 27 opens a control socket at a fixed path; a second instance would collide on it.
control_socket_disable = True
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
accesslog = "-"
errorlog = "-"


def post_fork(server, worker):
    """Each worker opens its own connections: drop whatever the master's engines hold."""
    from app.extensions import db

    flask_app = server.app.wsgi()
    with flask_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
    if not flask_app.config["REDIS_URL"]:
        # The embedded default has no worker process: each web process runs the periodic jobs.
        from app.core.jobs import jobs
        from workers.schedule import PERIODIC

        jobs.run_periodically(flask_app, PERIODIC)


def _escape(value):
    if isinstance(value, str):
        return json.dumps(value)[1:-1]
    return "" if value is None else value


class JsonAtoms(SafeAtoms):
    """Atoms escaped for a JSON string (gunicorn's SafeAtoms only escapes double quotes)."""

    def __init__(self, atoms):
        dict.__init__(self, {k: _escape(v) for k, v in atoms.items()})


def _ts(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """gunicorn's own messages in the app's log shape (ts, level, logger, message)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": _ts(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class JsonLogger(Logger):
    atoms_wrapper_class = JsonAtoms

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["ts"] = _ts(time.time())
        atoms["pid"] = os.getpid()
        atoms["bytes"] = json.dumps(getattr(resp, "sent", None))
        return atoms


logger_class = JsonLogger
access_log_format = (
    '{"ts": "%(ts)s", "level": "info", "logger": "gunicorn.access", "request_id": "%({x-request-id}o)s", '
    '"remote_addr": "%(h)s", "method": "%(m)s", "path": "%(U)s", "query": "%(q)s", "status": %(s)s, '
    '"bytes": %(bytes)s, "duration_ms": %(M)s, "user_agent": "%(a)s", "pid": %(pid)s}'
)
