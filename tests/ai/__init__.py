"""A local stand-in for an OpenAI-compatible Chat Completions server: streamed and not, usage in
the last chunk when asked, a configurable delay, and failure modes; it logs what it was asked."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked: list[dict] = []
        self.pieces = ["Hello", ", ", "world", "!"]
        self.delay = 0.0  # seconds before each streamed piece
        # None, "401", "500", "timeout" (no answer), "fail_midway" (the connection drops mid-stream)
        self.mode: str | None = None
        self.report_usage = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ChatStandIn

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.asked.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        mode = self.server.mode
        if mode == "timeout":
            time.sleep(5)
            return
        if mode in ("401", "500"):
            payload = {"error": {"message": "refused", "type": "invalid_request_error", "code": mode}}
            return self._json(int(mode), payload)
        if body.get("stream"):
            return self._stream(body, drop=mode == "fail_midway")
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(self.server.pieces)},
                    "finish_reason": "stop",
                }
            ],
        }
        if self.server.report_usage:
            answer["usage"] = USAGE
        self._json(200, answer)

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, body: dict, delta: dict, usage: dict | None = None, finish: str | None = None) -> bytes:
        choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()

    def _stream(self, body: dict, drop: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self._send(self._chunk(body, {"role": "assistant", "content": ""}))
            for n, piece in enumerate(self.server.pieces):
                if drop and n == 2:
                    self.connection.shutdown(2)  # the provider goes away mid-answer (no last chunk)
                    return
                time.sleep(self.server.delay)
                self._send(self._chunk(body, {"content": piece}))
            self._send(self._chunk(body, {}, finish="stop"))
            if self.server.report_usage and (body.get("stream_options") or {}).get("include_usage"):
                self._send(self._chunk(body, {}, usage=USAGE))
            self._send(b"data: [DONE]\n\n")
            self._send(b"")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the API went away (its client left)
        self.close_connection = True

    def _send(self, data: bytes) -> None:
        """One chunk of the chunked body (b"": the last)."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, *args):
        pass
