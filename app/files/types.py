"""The content types files may have, and how the app checks that stored bytes are of that type.

Binary types are recognised by their first bytes (magic numbers). Text types have none: they must
be UTF-8 throughout, without NUL bytes (a binary file declared as text fails); JSON must also
parse, when it is at most JSON_PARSE_LIMIT bytes (larger JSON is checked as text whose first
character opens a JSON value, so that checking never holds a huge document in memory).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable

SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8, checked below
    "application/pdf": (b"%PDF-",),
}
TEXT = ("text/plain", "text/csv", "application/json")
KNOWN = (*SIGNATURES, *TEXT)
HEAD_BYTES = 16
JSON_PARSE_LIMIT = 10 * 1024 * 1024


def head_matches(content_type: str, head: bytes) -> bool:
    """Whether an object starting with `head` (at least HEAD_BYTES, unless shorter) is of a binary type."""
    if not any(head.startswith(magic) for magic in SIGNATURES[content_type]):
        return False
    return content_type != "image/webp" or head[8:12] == b"WEBP"


def text_matches(content_type: str, chunks: Iterable[bytes], size: int) -> bool:
    """Whether the whole object (streamed in chunks) is text of the type."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    keep = content_type == "application/json"
    whole = size <= JSON_PARSE_LIMIT
    kept: list[str] = []
    first = ""
    try:
        for chunk in chunks:
            text = decoder.decode(chunk)
            if "\x00" in text:
                return False
            if keep and whole:
                kept.append(text)
            elif keep and not first.strip():
                first += text[:64]
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    if not keep:
        return True
    if not whole:
        return first.lstrip()[:1] in ("{", "[")
    try:
        json.loads("".join(kept))
    except ValueError:
        return False
    return True
