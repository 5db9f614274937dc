"""API keys: creation, rotation with a grace period, revocation, and the request-time lookup."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..core.auth import Principal, covers, role_at_least
from ..core.clock import as_utc, utcnow
from ..core.credentials_cache import credentials_changed
from ..core.crypto import token_hash
from ..core.errors import ApiError, not_found, validation_failed
from ..core.events import record_event
from ..core.ids import new_id, random_base62
from ..core.ratelimit import TIER_ORDER, principal_tier
from ..entitlements import service as entitlements
from ..extensions import db
from .models import ApiKey
from .schemas import ApiKeySchema

KEY_PREFIX = "sk_live_"
DEFAULT_SCOPES = ["read", "write"]
LAST_USED_EVERY = timedelta(minutes=1)
EVENT_TYPES = ("api_key.created", "api_key.rotated", "api_key.revoked")


def _new_secret() -> str:
    return KEY_PREFIX + random_base62(40)


def _dump(key: ApiKey) -> dict:
    return ApiKeySchema().dump(key)


def keys_query(principal: Principal):
    """Admins and owners see every key of the workspace; others see their own."""
    stmt = sa.select(ApiKey).where(ApiKey.workspace_id == principal.workspace_id, ApiKey.revoked_at.is_(None))
    if not role_at_least(principal.role, "admin"):
        stmt = stmt.where(ApiKey.user_id == principal.user_id)
    return stmt


def get_key(principal: Principal, key_id: str) -> ApiKey:
    key = db.session.scalar(keys_query(principal).where(ApiKey.id == key_id))
    if key is None:
        raise not_found("API key not found.")
    return key


def _check_grant(principal: Principal, scopes: list[str], tier: str | None) -> None:
    """Nobody hands out more than they hold: scopes and rate-limit tier (API.md §3)."""
    beyond = [s for s in scopes if not covers(principal.scopes, s)]
    if beyond:
        raise ApiError(
            403,
            "access_denied",
            f"A key cannot grant scopes it does not hold: {', '.join(beyond)}.",
            required_scope=beyond[0],
        )
    if tier is not None and TIER_ORDER.index(tier) > TIER_ORDER.index(principal_tier(principal)):
        raise ApiError(
            403, "access_denied", "A key cannot grant a rate-limit tier above its own.", required_scope="api-keys:write"
        )


def _insert(
    workspace_id: str, user_id: str, name: str, scopes: list[str], tier: str | None, expires_at
) -> tuple[ApiKey, str]:
    secret = _new_secret()
    key = ApiKey(
        id=new_id("key"),
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        prefix=secret[:12],
        key_hash=token_hash(secret),
        scopes=scopes,
        rate_limit_tier=tier,
        expires_at=expires_at,
        created_at=utcnow(),
    )
    db.session.add(key)
    return key, secret


def create_key(principal: Principal, data: dict) -> tuple[ApiKey, str]:
    scopes = list(dict.fromkeys(data.get("scopes") or DEFAULT_SCOPES))
    tier = data.get("rate_limit_tier")
    _check_grant(principal, scopes, tier)
    if data.get("expires_at") is not None and data["expires_at"] <= utcnow():
        raise validation_failed({"expires_at": ["Must be in the future."]})
    workspace_id = principal.workspace_id
    if workspace_id is None or principal.membership is None:  # authorize() made sure of both
        raise not_found("Workspace not found.")
    entitlements.require(workspace_id, principal.tier, "api_keys", lambda: key_count(workspace_id))
    key, secret = _insert(workspace_id, principal.user_id, data["name"], scopes, tier, data.get("expires_at"))
    db.session.flush()
    record_event(key.workspace_id, "api_key.created", _dump(key))
    db.session.commit()
    return key, secret


def create_key_for(
    workspace_id: str, user_id: str, name: str, scopes: list[str] | None, tier: str | None
) -> tuple[ApiKey, str]:
    """Operators (CLI, demo setup): no grant check."""
    key, secret = _insert(workspace_id, user_id, name, scopes or DEFAULT_SCOPES, tier, None)
    db.session.flush()
    record_event(workspace_id, "api_key.created", _dump(key))
    db.session.commit()
    return key, secret


def rotate_key(principal: Principal, key_id: str, grace_period_hours: int) -> tuple[ApiKey, str, object]:
    old = get_key(principal, key_id)
    if old.user_id != principal.user_id:
        # the new secret goes to the caller: an admin may revoke others' keys, never take them over
        raise ApiError(403, "access_denied", "Only the key's own user can rotate it.", required_scope="api-keys:write")
    _check_grant(principal, list(old.scopes), old.rate_limit_tier)
    if old.rotated_to_id is not None:
        raise ApiError(409, "conflict", "This key has already been rotated; rotate its successor.")
    new, secret = _insert(
        old.workspace_id, old.user_id, old.name, list(old.scopes), old.rate_limit_tier, old.expires_at
    )
    now = utcnow()
    old.grace_period_ends_at = now + timedelta(hours=grace_period_hours)
    old.rotated_to_id = new.id
    db.session.flush()
    record_event(old.workspace_id, "api_key.rotated", {**_dump(new), "previous_key_id": old.id})
    db.session.commit()
    credentials_changed()  # the old key now ends at its grace period
    return new, secret, old.grace_period_ends_at


def _revoke(key: ApiKey) -> None:
    key.revoked_at = utcnow()
    record_event(key.workspace_id, "api_key.revoked", _dump(key))


def revoke_key(principal: Principal, key_id: str) -> None:
    _revoke(get_key(principal, key_id))
    db.session.commit()
    credentials_changed()


def revoke_key_by_id(key_id: str) -> bool:
    """Operators (CLI). False when there is no such live key."""
    key = db.session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    _revoke(key)
    db.session.commit()
    credentials_changed()
    return True


def revoke_member_keys(workspace_id: str, user_id: str) -> None:
    """A member's keys are revoked when they leave the workspace; the caller commits and
    reports credentials_changed()."""
    for key in db.session.scalars(
        sa.select(ApiKey).where(
            ApiKey.workspace_id == workspace_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)
        )
    ):
        _revoke(key)


def load_key_principal(token: str) -> Principal:
    """core.auth token loader for `sk_live_…` keys: revoked, rotated-out or expired keys fail."""
    key = db.session.scalar(
        sa.select(ApiKey).options(joinedload(ApiKey.user)).where(ApiKey.key_hash == token_hash(token))
    )
    if key is None or key.revoked_at is not None:
        raise ApiError(401, "unauthorized")
    now = utcnow()
    grace_end = as_utc(key.grace_period_ends_at)
    if (key.expires_at is not None and as_utc(key.expires_at) <= now) or (grace_end is not None and grace_end <= now):
        raise ApiError(401, "expired_key")
    last_used = as_utc(key.last_used_at)
    if last_used is None or now - last_used >= LAST_USED_EVERY:
        # at most one write a minute per key, and only if nobody else just wrote it
        db.session.execute(
            sa.update(ApiKey)
            .where(
                ApiKey.id == key.id, sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_EVERY)
            )
            .values(last_used_at=now)
        )
        db.session.commit()
    return Principal(
        user_id=key.user_id,
        kind="api_key",
        credential_id=key.id,
        scopes=frozenset(key.scopes),
        home_workspace_id=key.workspace_id,
        is_platform_admin=key.user.is_platform_admin,
        key_tier=key.rate_limit_tier,
        valid_until=min((t for t in (as_utc(key.expires_at), grace_end) if t is not None), default=None),
    )


def key_count(workspace_id: str) -> int:
    """The `api_keys` entitlement: keys of the workspace not revoked."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ApiKey)
            .where(ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None))
        )
        or 0
    )
