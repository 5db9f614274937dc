"""Logs are JSON objects, one a line, carrying the request id; a 500 logs the error, not the client."""

import json
import logging

from flask import Flask

from app import create_app
from app.core.logging import JsonFormatter
from tests.conftest import test_config


def _capture(logger_name: str):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logging.getLogger(logger_name).addHandler(handler)
    return records, handler


def test_a_log_line_is_json_with_the_request_id():
    app = Flask(__name__)
    with app.test_request_context("/"):
        from flask import g

        g.request_id = "req_abc"
        record = logging.makeLogRecord({"name": "app.x", "levelname": "INFO", "msg": "hello %s", "args": ("you",)})
        line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["request_id"] == "req_abc"
    assert line["level"] == "info"
    assert line["ts"].endswith("Z")


def test_an_unexpected_error_is_logged_with_its_request_id_and_hidden_from_the_client(instance_path):
    app = create_app(test_config(instance_path))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals sk_live_do_not_show")

    records, handler = _capture("app.errors")
    try:
        response = app.test_client().get("/boom", headers={"X-Request-ID": "trace-42"})
    finally:
        logging.getLogger("app.errors").removeHandler(handler)
    assert response.status_code == 500
    body = response.get_json()
    assert body == {"error": "server_error", "message": "An unexpected error occurred.", "request_id": "trace-42"}
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    [record] = records
    assert record.request_id == "trace-42"
    assert record.exc_info is not None
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-42" and "RuntimeError" in line["exc"]
