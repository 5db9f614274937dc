"""A local stand-in for Stripe's API: answers what billing asks, and records the parameters."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

SECRET = "whsec_test_secret"
ANSWERS = {
    "/v1/customers": {"id": "cus_test1", "object": "customer"},
    "/v1/checkout/sessions": {
        "id": "cs_test_1",
        "object": "checkout.session",
        "url": "https://checkout.stripe.test/cs_1",
    },
    "/v1/billing_portal/sessions": {
        "id": "bps_1",
        "object": "billing_portal.session",
        "url": "https://billing.stripe.test/p",
    },
}


class StripeStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked: list[tuple[str, dict]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def params(self, path: str) -> list[dict]:
        return [p for asked_path, p in self.asked if asked_path == path]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.server.asked.append((self.path, {k: v[0] for k, v in parse_qs(body).items()}))
        answer = ANSWERS.get(self.path)
        payload = json.dumps(answer or {"error": {"type": "invalid_request_error", "message": "No such path"}}).encode()
        self.send_response(200 if answer else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass
