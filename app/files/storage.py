"""Where file bytes live: one small interface, two backends (FILES_STORAGE=local|s3).

Clients upload straight to the backend with the target `upload()` describes; the app then reads
the object back (`info`, `chunks`) to check it, hands out short-lived download URLs and deletes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import current_app

from ..core.errors import ApiError


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    # as stored; None where the backend itself refused other types at upload (local)
    content_type: str | None


class Storage(Protocol):
    def upload_target(self, file, expires_at: datetime) -> dict:
        """{method, url, fields | headers} for the client's upload of the declared bytes."""

    def info(self, key: str) -> ObjectInfo | None:
        """The stored object, or None when there is none."""

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes, a chunk at a time."""

    def delete(self, key: str) -> None:
        """Remove the object; no error when there is none."""

    def download_url(self, file, expires_at: datetime, disposition: str) -> str:
        """A URL serving the object with `Content-Disposition: disposition` until expires_at."""


def backend() -> Storage:
    """The configured backend, made once per app."""
    storage = current_app.extensions.get("files.storage")
    if storage is None:
        kind = current_app.config["FILES_STORAGE"]
        if kind == "s3":
            from .s3 import S3Storage

            storage = S3Storage(current_app.config)
        else:
            from .local import LocalStorage

            storage = LocalStorage(current_app.config["FILES_ROOT"])
        current_app.extensions["files.storage"] = storage
    return storage


def unavailable(message: str) -> ApiError:
    return ApiError(503, "service_unavailable", message)
