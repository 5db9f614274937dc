"""Users kept in step with an external identity provider (Clerk): its `user.created`,
`user.updated` and `user.deleted` webhooks, signed the Svix way (Standard Webhooks with `svix-*`
headers). Off unless CLERK_WEBHOOK_SECRET is set."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ..core.clock import utcnow
from ..core.credentials_cache import credentials_changed
from ..core.errors import ApiError, conflict
from ..extensions import db
from . import service
from .models import Session, User

log = logging.getLogger(__name__)

# Svix sends Standard Webhooks signatures under its own header names.
SVIX_HEADERS = {"svix-id": "webhook-id", "svix-timestamp": "webhook-timestamp", "svix-signature": "webhook-signature"}


def receive(payload: bytes, headers) -> None:
    """Verify the signature (5 minutes' tolerance), then apply the event; other types are ignored."""
    secret = current_app.config.get("CLERK_WEBHOOK_SECRET")
    if not secret:
        raise ApiError(
            503, "service_unavailable", "The identity provider webhook is off (CLERK_WEBHOOK_SECRET is not set)."
        )
    signed = {ours: headers.get(theirs, "") for theirs, ours in SVIX_HEADERS.items()}
    try:
        event = Webhook(secret).verify(payload, signed)
    except (WebhookVerificationError, ValueError):  # ValueError: malformed headers, body or JSON
        raise ApiError(400, "bad_request", "Invalid webhook signature.") from None
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ApiError(400, "bad_request", "The event has no user in `data`.")
    if event.get("type") in ("user.created", "user.updated"):
        _upsert(data)
    elif event.get("type") == "user.deleted":
        _deactivate(data["id"])


def _by_external_id(external_id: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.external_id == external_id))


def _primary_email(data: dict) -> str | None:
    addresses = [a for a in data.get("email_addresses") or [] if isinstance(a, dict)]
    primary = [a for a in addresses if a.get("id") == data.get("primary_email_address_id")]
    for address in primary + addresses:
        if isinstance(address.get("email_address"), str):
            return address["email_address"]
    return None


def _name(data: dict) -> str | None:
    parts = [data.get(key) for key in ("first_name", "last_name")]
    return " ".join(p for p in parts if isinstance(p, str) and p).strip()[:255] or None


def _upsert(data: dict) -> None:
    """Create the user (with a personal workspace, as signup does), link an existing account of
    the same email, or update it; an older event than the one applied changes nothing."""
    external_id, email = data["id"], _primary_email(data)
    updated_at = data.get("updated_at") if isinstance(data.get("updated_at"), int) else None
    if email is None:
        log.info("identity provider user %s has no email address: skipped", external_id)
        return
    if len(email) > 254:
        raise ApiError(400, "bad_request", "The user's email address is longer than 254 characters.")
    user = _by_external_id(external_id) or service.get_user_by_email(email)
    if user is None:
        service.create_user(email, None, _name(data), external_id=external_id, external_updated_at=updated_at)
        return
    if user.external_id not in (None, external_id):
        raise conflict("email", "This email belongs to a user linked to another identity.")
    if user.deactivated_at is not None:
        return  # deleted at the provider, which never brings a user id back
    if user.external_updated_at is not None and updated_at is not None and updated_at < user.external_updated_at:
        return
    holder = service.get_user_by_email(email)
    if holder is not None and holder.id != user.id:
        raise conflict("email", "Another user has this email address.")
    user.external_id, user.external_updated_at = external_id, updated_at or user.external_updated_at
    user.email, user.email_normalized = email.strip(), service.normalize_email(email)
    user.name = _name(data) or user.name
    db.session.commit()


def _deactivate(external_id: str) -> None:
    """Deleted at the provider: the user can no longer log in and their sessions end at once.
    Their memberships stay (a workspace keeps its owner) until an owner removes them."""
    user = _by_external_id(external_id)
    if user is None or user.deactivated_at is not None:
        return
    now = utcnow()
    user.deactivated_at = now
    db.session.execute(
        sa.update(Session).where(Session.user_id == user.id, Session.revoked_at.is_(None)).values(revoked_at=now)
    )
    db.session.commit()
    credentials_changed()
