"""Opaque, prefixed, random identifiers (`ws_…`, `usr_…`) and secret tokens."""

import secrets
import string

BASE62 = string.ascii_letters + string.digits


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(24)}"
