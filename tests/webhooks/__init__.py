"""A real webhook receiver on loopback, and running the queued jobs as a worker would."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rq import SimpleWorker
from rq.scheduler import RQScheduler
from standardwebhooks.webhooks import Webhook

from app.core.jobs import QUEUES, jobs
from app.webhooks.tasks import dispatch_pending

HOOKS = "/api/v1/webhooks"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def verified_by(self, secret: str) -> dict:
        """The payload, if the Standard Webhooks package accepts the signature (else it raises)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """Answers the n-th POST with statuses[n] after delays[n] seconds (the last ones repeat)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delays: list[float] = field(default_factory=lambda: [0.0])
    body: bytes = b'{"received": true}'
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                    n = len(receiver.received)
                    status = receiver.statuses[min(n, len(receiver.statuses)) - 1]
                    delay = receiver.delays[min(n, len(receiver.delays)) - 1]
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def run_jobs() -> None:
    """Run what the workers would run now. On Redis: a SimpleWorker drains the queues in this
    process. On the embedded default the test config runs jobs inline (JOBS_SYNC): nothing to do."""
    if jobs.redis is None:
        return
    worker = SimpleWorker([jobs.queue(name) for name in QUEUES], connection=jobs.redis)
    while worker.work(burst=True):
        pass


def run_due_work() -> None:
    """What the workers do at the (test-controlled) current time: RQ's scheduler enqueues the
    retries that are due (on Redis), the periodic dispatcher runs, then the queued jobs."""
    if jobs.redis is not None:
        scheduler = RQScheduler(list(QUEUES), connection=jobs.redis)
        scheduler.prepare_registries(list(QUEUES))
        scheduler.enqueue_scheduled_jobs()
    dispatch_pending()
    run_jobs()
