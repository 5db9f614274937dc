"""Per-request plumbing of the contract: request ids, body limits and media type, extra headers."""

from __future__ import annotations

import re

from flask import Flask, current_app, g, request
from flask_cors import CORS

from .auth import UNSAFE_METHODS
from .errors import ApiError, not_found
from .ids import random_base62

SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "X-Total-Count",
    "Link",
    "Idempotent-Replayed",
]

PUBLIC_CORS_PATHS = r"^/api/v1/pixel/(config|track|track\.gif)$"


def assign_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if SANE_REQUEST_ID.match(given) else "req_" + random_base62(20)


READS_ITS_OWN = "reads its own"


def body_limit(setting: str | None):
    """A view's own body limit: the named setting instead of MAX_BODY_BYTES (a spec import), or,
    with None, a body of any media type that the view limits itself while it reads it (a file
    upload: its declared size; a tracking beacon sent as text/plain)."""

    def mark(view):
        view.body_limit = setting or READS_ITS_OWN
        return view

    return mark


def check_body() -> None:
    """413 past the body limit, 415 for a body that is not JSON (API.md §1)."""
    if "\x00" in request.path or "\x00" in request.headers.get("X-Workspace-ID", ""):
        raise not_found()  # no id holds a NUL character (and PostgreSQL text cannot store one)
    own = getattr(current_app.view_functions.get(request.endpoint or ""), "body_limit", None)
    if own == READS_ITS_OWN:
        return
    limit = current_app.config[own or "MAX_BODY_BYTES"]
    if own is not None:
        request.max_content_length = limit + 1  # werkzeug refuses a body of exactly its limit
    chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
    # without Content-Length, werkzeug stops reading a chunked body at MAX_CONTENT_LENGTH (limit + 1)
    # without an error: measure what it read
    size = request.content_length
    if size is None and chunked:
        size = len(request.get_data(cache=True))
    if size is not None and size > limit:
        raise ApiError(413, "payload_too_large", f"The request body is larger than {limit} bytes.")
    if request.method not in UNSAFE_METHODS:
        return
    has_body = bool(request.content_length) or chunked
    if has_body and not request.is_json:
        raise ApiError(415, "unsupported_media_type")


def finish_response(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    for name, value in g.get("response_headers", {}).items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    app.before_request(assign_request_id)
    app.before_request(check_body)
    app.after_request(finish_response)
    CORS(
        app,
        resources={
            # public endpoints that any web page calls: any origin, never credentials
            PUBLIC_CORS_PATHS: {"origins": "*", "supports_credentials": False, "send_wildcard": True},
            r"/*": {"origins": app.config["CORS_ORIGINS"]},
        },
        supports_credentials=True,
        max_age=600,
        expose_headers=EXPOSED_HEADERS,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Workspace-ID", "X-Request-ID"],
    )
