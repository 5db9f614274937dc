"""argon2id password hashing; parameters come from config so tests can make it cheap."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["PASSWORD_HASH_TIME_COST"], memory_cost=cfg["PASSWORD_HASH_MEMORY_COST"])


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Always does the work of one verification, so a missing user takes as long as a wrong one."""
    hasher = _hasher()
    if password_hash is None:
        password_hash = current_app.extensions.setdefault("accounts.dummy_hash", hasher.hash("x"))
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
