"""A local upstream API stand-in and a canary listener for the MCP tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Upstream:
    """Serves `documents` by path (spec fetches), echoes /items/… as JSON, answers /status/<code>
    with that status, /big with `big_size` bytes and /slow after `slow_seconds`. Records requests."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.big_size = 2 * 1024 * 1024
        self.slow_seconds = 0.0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                seen = {
                    "method": self.command,
                    "path": url.path,
                    "raw_path": self.path,
                    "query": parse_qs(url.query),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode() or None,
                }
                upstream.requests.append(seen)
                if url.path in upstream.documents:
                    return self._answer(200, upstream.documents[url.path], "application/yaml")
                if url.path.startswith("/status/"):
                    code = int(url.path.rsplit("/", 1)[1])
                    return self._answer(code, json.dumps({"status": code}).encode())
                if url.path == "/big":
                    return self._answer(200, b"x" * upstream.big_size, "text/plain")
                if url.path == "/slow":
                    time.sleep(upstream.slow_seconds)
                    return self._answer(200, b'{"slow": true}')
                if url.path.startswith("/items/") or url.path.startswith("/api/"):
                    return self._answer(200, json.dumps(seen).encode())
                return self._answer(404, b'{"error": "not found"}')

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError):  # a client that stopped reading (size cap)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's naming

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Canary:
    """A TCP listener that counts connections: proof that nothing was fetched."""

    def __init__(self) -> None:
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.running = True
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.connections += 1
            conn.close()

    def count(self) -> int:
        """Connections so far, including any the kernel accepted that the thread has not seen yet."""
        self.running = False
        self.thread.join()
        self.sock.setblocking(False)
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                break
            self.connections += 1
            conn.close()
        return self.connections

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()
