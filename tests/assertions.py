"""Assertions on the contract's shapes, shared by every test module (API.md §4)."""

import re

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ERROR_KEYS = {"error", "message", "request_id"}


def error(response, status: int, code: str) -> dict:
    """The error envelope, with a request id matching the X-Request-ID header."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ERROR_KEYS <= set(body)
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def denied(response, scope: str) -> dict:
    body = error(response, 403, "access_denied")
    assert body["required_scope"] == scope
    return body


def without_request_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "request_id"}
