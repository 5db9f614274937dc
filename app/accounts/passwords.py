"""argon2id password hashing; parameters come from config so tests can make it cheap."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["PASSWORD_HASH_TIME_COST"], memory_cost=cfg["PASSWORD_HASH_MEMORY_COST"])


# The stored hash of a user who signs in elsewhere (an identity provider): no password matches it.
UNUSABLE = "!"


def hash_password(password: str | None) -> str:
    return UNUSABLE if password is None else _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Always does the work of one verification, so a missing user (or one without a password)
    takes as long as a wrong password."""
    hasher = _hasher()
    usable = password_hash is not None and password_hash != UNUSABLE
    checked = password_hash if password_hash is not None and usable else _dummy_hash(hasher)
    try:
        return hasher.verify(checked, password) and usable
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash(hasher: PasswordHasher) -> str:
    # made once: hashing it on every call would make a missing user slower than a wrong password
    if "accounts.dummy_hash" not in current_app.extensions:
        current_app.extensions["accounts.dummy_hash"] = hasher.hash("x")
    return current_app.extensions["accounts.dummy_hash"]
