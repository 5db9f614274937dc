"""The local backend (FILES_STORAGE=local): bytes under FILES_ROOT, uploaded and downloaded
through the app's own routes, which the URLs authorise with an HMAC signature and an expiry."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flask import current_app, url_for

from .storage import ObjectInfo

CHUNK = 64 * 1024


class TooLargeError(Exception):
    """More bytes arrived than the file declared."""


def _signing_key() -> bytes:
    """Derived from the app's secret, so a signature is good for nothing else."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"core-api files url v1", hashlib.sha256).digest()


def signature(action: str, file_id: str, content_type: str, size: int, expires: int) -> str:
    message = "\n".join((action, file_id, content_type, str(size), str(expires))).encode()
    return hmac.new(_signing_key(), message, hashlib.sha256).hexdigest()


def signature_valid(given: str, action: str, file_id: str, content_type: str, size: int, expires: int) -> bool:
    return hmac.compare_digest(given.encode(), signature(action, file_id, content_type, size, expires).encode())


class LocalStorage:
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key  # keys are `<workspace_id>/<file_id>`: base62 ids, no dots

    def upload_target(self, file, expires_at: datetime) -> dict:
        expires = int(expires_at.timestamp())
        sig = signature("put", file.id, file.content_type, file.declared_size, expires)
        url = url_for("files.FileContent", file_id=file.id, expires=expires, sig=sig, _external=True)
        return {"method": "PUT", "url": url, "headers": {"Content-Type": file.content_type}}

    def receive(self, key: str, stream: BinaryIO, limit: int) -> int:
        """Stream the request body to disk; past `limit` bytes the partial file is removed."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        written = 0
        try:
            with open(partial, "wb") as out:
                while chunk := stream.read(CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise TooLargeError
                    out.write(chunk)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return written

    def info(self, key: str) -> ObjectInfo | None:
        try:
            return ObjectInfo(size=self.path(key).stat().st_size, content_type=None)
        except FileNotFoundError:
            return None

    def chunks(self, key: str) -> Iterator[bytes]:
        with open(self.path(key), "rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def download_url(self, file, expires_at: datetime, disposition: str) -> str:
        expires = int(expires_at.timestamp())
        sig = signature("get", file.id, file.content_type, file.size, expires)
        return url_for("files.FileDownload", file_id=file.id, expires=expires, sig=sig, _external=True)
