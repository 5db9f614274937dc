"""Standard Webhooks: `whsec_` secrets, the signed request, and how it is sent (API.md §8)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from standardwebhooks.webhooks import Webhook

from ..core import crypto, outbound
from ..core.clock import iso, utcnow
from .models import WebhookEndpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # what the Standard Webhooks specification allows
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
RESPONSE_BODY_LIMIT = 4096


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_problem(secret: str) -> str | None:
    """Why a client-given secret is unusable, or None."""
    if not secret.startswith(SECRET_PREFIX):
        return "The secret must start with 'whsec_'."
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "The secret must be 'whsec_' followed by base64."
    if not SECRET_BYTES[0] <= len(raw) <= SECRET_BYTES[1]:
        return f"The secret must encode {SECRET_BYTES[0]} to {SECRET_BYTES[1]} bytes."
    return None


def seal(secret: str) -> bytes:
    return crypto.encrypt(secret.encode())


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and for 24 hours after a rotation the previous one too."""
    sealed = [endpoint.secret_encrypted]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        sealed.append(endpoint.previous_secret_encrypted)
    opened = [crypto.decrypt(token) for token in sealed]
    return [secret.decode() for secret in opened if secret is not None]


def payload(event_id: str, type_: str, timestamp: datetime, workspace_id: str, data: dict) -> str:
    """The body: the event as `GET /events/{id}` shows it (API.md §8)."""
    body = {"id": event_id, "type": type_, "timestamp": iso(timestamp), "workspace_id": workspace_id, "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Outcome:
    """One attempt as the receiver answered it (or did not)."""

    success: bool
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str | None


def send(endpoint: WebhookEndpoint, event_id: str, body: str) -> Outcome:
    """Sign `body` with the endpoint's secrets and POST it once; a 2xx is success."""
    now = utcnow()
    keys = signing_secrets(endpoint, now)
    if not keys:
        return Outcome(False, None, 0, "The signing secret cannot be decrypted with ENCRYPTION_KEYS.", None)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"CoreAPI-Webhooks/{current_app.config['API_VERSION']}",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(Webhook(key).sign(event_id, now, body) for key in keys),
    }
    started = time.monotonic()
    try:
        response = outbound.request(
            "POST",
            endpoint.url,
            headers=headers,
            body=body.encode(),
            connect_timeout=CONNECT_TIMEOUT,
            total_timeout=TOTAL_TIMEOUT,
            max_response_bytes=RESPONSE_BODY_LIMIT,
        )
    except outbound.OutboundError as exc:
        return Outcome(False, None, round((time.monotonic() - started) * 1000), str(exc), None)
    text = response.content.decode("utf-8", errors="replace")
    ok = 200 <= response.status_code < 300
    error = None if ok else f"HTTP {response.status_code}"
    return Outcome(ok, response.status_code, response.elapsed_ms, error, text)
