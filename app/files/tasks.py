"""Files' periodic job (workers/schedule.py)."""

from __future__ import annotations

from .service import remove_stale_uploads


def expire_pending_uploads() -> int:
    """Remove files declared over an hour ago whose upload was never completed."""
    return remove_stale_uploads()
