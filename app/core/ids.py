"""Opaque, prefixed, random identifiers (`ws_…`, `usr_…`) and secret tokens."""

import secrets
import string

BASE62 = string.ascii_letters + string.digits


def random_base62(length: int) -> str:
    """`length` uniform base62 characters from the system's CSPRNG. The digits of one random
    number of 8 more bytes than needed: the modulo's bias is under 2^-64, and it is ~10x faster
    than a `secrets.choice` per character (an id and a request id are made on hot paths)."""
    number = int.from_bytes(secrets.token_bytes(length + 8))
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(24)}"
