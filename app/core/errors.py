"""One error type and one handler: every failure leaves in the contract's error shape (API.md §4)."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("app.errors")

DEFAULT_MESSAGES = {
    "bad_request": "The request could not be understood.",
    "unauthorized": "Invalid or missing credentials.",
    "expired_key": "The API key has expired.",
    "access_denied": "You do not have access to this action.",
    "not_found": "Resource not found.",
    "method_not_allowed": "The method is not allowed for this resource.",
    "conflict": "The resource conflicts with an existing one.",
    "payload_too_large": "The request body is too large.",
    "unsupported_media_type": "The request body must be JSON (Content-Type: application/json).",
    "validation_failed": "The given data was invalid.",
    "rate_limit_exceeded": "Too many requests.",
    "server_error": "An unexpected error occurred.",
    "service_unavailable": "A service the API depends on is unavailable.",
}

# werkzeug's own HTTP errors (routing, body size, …) mapped onto contract codes
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "access_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limit_exceeded",
    503: "service_unavailable",
}


class ApiError(Exception):
    """Raised by services; rendered as {"error", "message", …fields, "request_id"}."""

    def __init__(self, status: int, code: str, message: str | None = None, /, **fields):
        super().__init__(message or DEFAULT_MESSAGES.get(code, code))
        self.status = status
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, code)
        self.fields = fields
        self.headers: dict[str, str] = {}


def not_found(message: str = "Resource not found.") -> ApiError:
    return ApiError(404, "not_found", message)


def validation_failed(errors: dict[str, list[str]], message: str | None = None) -> ApiError:
    return ApiError(422, "validation_failed", message, errors=errors)


def conflict(field: str, message: str) -> ApiError:
    return ApiError(409, "conflict", message, errors={field: [message]})


def access_denied(required_scope: str, message: str | None = None) -> ApiError:
    return ApiError(
        403,
        "access_denied",
        message or f"Insufficient permissions. Required scope: {required_scope}",
        required_scope=required_scope,
    )


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dicts → {"settings.timezone": ["…"]}."""
    if isinstance(messages, list):
        return {prefix or "_schema": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in (messages or {}).items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_messages(value, name))
        else:
            flat[name] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return flat


def render(error: ApiError):
    body = {"error": error.code, "message": error.message, **error.fields}
    body["request_id"] = g.get("request_id")
    response = jsonify(body)
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="core-api"'
    return response


def _from_webargs(exc: HTTPException) -> ApiError:
    """flask-smorest aborts with messages keyed by location; a bad query is 400, a bad body 422."""
    messages = getattr(exc, "data", {}).get("messages", {})
    body_errors = messages.get("json")
    if exc.code == 400 or not isinstance(body_errors, dict):
        detail = flatten_messages(messages)
        return ApiError(400, "bad_request", "A query parameter or the body is malformed.", errors=detail)
    return validation_failed(flatten_messages(body_errors))


def _from_http(exc: HTTPException) -> ApiError:
    if "messages" in (getattr(exc, "data", None) or {}):
        return _from_webargs(exc)
    code = HTTP_CODES.get(exc.code or 500, "server_error")
    error = ApiError(exc.code or 500, code)
    if exc.code == 405 and exc.get_response().headers.get("Allow"):
        error.headers["Allow"] = exc.get_response().headers["Allow"]
    return error


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, render)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        return render(_from_http(exc))

    @app.errorhandler(RedisError)
    @app.errorhandler(StorageError)
    @app.errorhandler(OperationalError)  # database unreachable, restarting, locked or timing out
    def handle_dependency_down(exc: Exception):
        log.error("dependency unavailable: %s", type(exc).__name__, extra={"request_id": g.get("request_id")})
        return render(ApiError(503, "service_unavailable", "A service the API depends on is unavailable; retry later."))

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return render(ApiError(500, "server_error"))
