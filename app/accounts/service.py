"""Users, signup, login and sessions."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..core import ratelimit
from ..core.auth import Principal
from ..core.clock import as_utc, utcnow
from ..core.credentials_cache import credentials_changed
from ..core.crypto import token_hash
from ..core.errors import ApiError, conflict
from ..core.ids import new_id, random_base62
from ..extensions import db
from .models import Session, User
from .passwords import hash_password, verify_password

SESSION_TOKEN_PREFIX = "sess_"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get_user(user_id: str) -> User | None:
    return db.session.get(User, user_id)


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email_normalized == normalize_email(email)))


def _new_user(email: str, password: str | None, name: str | None, is_platform_admin: bool = False) -> User:
    if get_user_by_email(email) is not None:
        raise conflict("email", "An account with this email already exists.")
    user = User(
        id=new_id("usr"),
        email=email.strip(),
        email_normalized=normalize_email(email),
        name=name,
        password_hash=hash_password(password),
        is_platform_admin=is_platform_admin,
    )
    db.session.add(user)
    db.session.flush()
    return user


def create_user(
    email: str, password: str | None, name: str | None = None, is_platform_admin: bool = False, **fields
) -> User:
    """A user with their personal workspace (owner), as signup, the CLI and the identity provider
    make them (`password` None: the user signs in elsewhere)."""
    from ..workspaces import service as workspaces  # workspaces needs users too: import late

    user = _new_user(email, password, name, is_platform_admin)
    for field, value in fields.items():
        setattr(user, field, value)
    workspace = workspaces.create_personal_workspace(user)
    user.default_workspace_id = workspace.id
    db.session.commit()
    return user


def signup(data: dict) -> User:
    return create_user(data["email"], data["password"], data.get("name"))


def login(email: str, password: str, client_ip: str) -> tuple[str, Session, User]:
    per_minute = current_app.config["LOGIN_ATTEMPTS_PER_MINUTE"]
    ratelimit.hit(f"{per_minute}/minute", "login-ip", client_ip)
    ratelimit.hit(f"{per_minute}/minute", "login-email", normalize_email(email))
    user = get_user_by_email(email)
    if user is not None and user.deactivated_at is not None:
        user = None
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise ApiError(401, "unauthorized", "Invalid email or password.")
    token = SESSION_TOKEN_PREFIX + random_base62(43)
    session = Session(
        id=new_id("ses"),
        user_id=user.id,
        token_hash=token_hash(token),
        expires_at=utcnow() + timedelta(days=current_app.config["SESSION_DAYS"]),
    )
    db.session.add(session)
    db.session.commit()
    return token, session, user


def logout(principal: Principal) -> None:
    if principal.kind != "session":
        raise ApiError(400, "bad_request", "Only a session can log out; revoke an API key instead.")
    session = db.session.get(Session, principal.credential_id)
    if session is not None and session.revoked_at is None:
        session.revoked_at = utcnow()
        db.session.commit()
        credentials_changed()


def load_session_principal(token: str) -> Principal:
    """core.auth token loader for session tokens (bearer or cookie)."""
    row = db.session.execute(
        sa.select(Session, User).join(User, User.id == Session.user_id).where(Session.token_hash == token_hash(token))
    ).first()
    if row is None:
        raise ApiError(401, "unauthorized")
    session, user = row
    if session.revoked_at is not None or as_utc(session.expires_at) <= utcnow() or user.deactivated_at is not None:
        raise ApiError(401, "unauthorized")
    return Principal(
        user_id=user.id,
        kind="session",
        credential_id=session.id,
        scopes=frozenset({"*"}),  # sessions act with every scope (API.md §3)
        home_workspace_id=user.default_workspace_id,
        is_platform_admin=user.is_platform_admin,
        valid_until=as_utc(session.expires_at),
    )


def purge_expired_sessions() -> int:
    """RQ job (daily): drop sessions that can no longer be used."""
    cutoff = utcnow() - timedelta(days=1)
    result = db.session.execute(
        sa.delete(Session).where(sa.or_(Session.expires_at < cutoff, Session.revoked_at < cutoff))
    )
    db.session.commit()
    return result.rowcount  # type: ignore[attr-defined]  # a CursorResult for a DELETE


def clear_default_workspace(workspace_id: str, user_id: str | None = None) -> None:
    """A user who leaves (or loses) their default workspace falls back to no default."""
    stmt = sa.update(User).where(User.default_workspace_id == workspace_id)
    if user_id is not None:
        stmt = stmt.where(User.id == user_id)
    db.session.execute(stmt.values(default_workspace_id=None))


def new_password() -> str:
    return secrets.token_urlsafe(18)


def user_summaries(user_ids: set[str]) -> dict[str, dict]:
    """{user id: {id, name, email}}: how other resources embed a user."""
    if not user_ids:
        return {}
    users = db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))
    return {u.id: {"id": u.id, "name": u.name, "email": u.email} for u in users}
