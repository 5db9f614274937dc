"""Encryption of stored secrets with MultiFernet: the first key encrypts, every key decrypts."""

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _fernet() -> MultiFernet:
    keys = current_app.config["ENCRYPTION_KEYS"]
    cached = current_app.extensions.get("core.fernet")
    if cached is None or cached[0] != keys:
        cached = (keys, MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()]))
        current_app.extensions["core.fernet"] = cached
    return cached[1]


def encrypt(plaintext: bytes) -> bytes:
    return _fernet().encrypt(plaintext)


def decrypt(token: bytes) -> bytes | None:
    """None when no configured key opens the token (rotated away or tampered with)."""
    try:
        return _fernet().decrypt(token)
    except InvalidToken:
        return None


def token_hash(token: str) -> str:
    """Lookup hash for high-entropy tokens (API keys, session tokens); never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()
