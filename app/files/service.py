"""Files: declare, upload straight to storage, check, list, download and delete (issue 9).

A file is declared (`pending`, with an upload target), the client uploads the bytes to storage,
and `complete` reads the stored object back: only bytes that are what was declared become
`ready`. Storage held (ready and pending files) and each file's size are plan entitlements.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import timedelta
from typing import BinaryIO
from urllib.parse import quote

import sqlalchemy as sa
from flask import Flask

from ..core.clock import utcnow
from ..core.errors import ApiError, not_found, validation_failed
from ..core.events import record_event
from ..core.ids import new_id
from ..entitlements import service as entitlements
from ..extensions import db
from . import local, types
from .models import StoredFile
from .schemas import FileSchema
from .storage import backend

log = logging.getLogger("app.files")

EVENT_TYPES = ("file.created", "file.ready", "file.deleted")
UPLOAD_TTL = timedelta(minutes=15)  # how long an upload URL is good for
PENDING_TTL = timedelta(hours=1)  # a declared file not completed by then is removed
DOWNLOAD_TTL = timedelta(minutes=5)


def init_app(app: Flask) -> None:
    """Refuse settings the domain cannot honour at start, not at the first upload."""
    if app.config["FILES_STORAGE"] not in ("local", "s3"):
        raise ValueError(f"FILES_STORAGE must be 'local' or 's3', got {app.config['FILES_STORAGE']!r}")
    unknown = [t for t in app.config["FILES_ALLOWED_TYPES"] if t not in types.KNOWN]
    if unknown:
        raise ValueError(
            f"FILES_ALLOWED_TYPES: {', '.join(unknown)} cannot be checked; choose from {', '.join(types.KNOWN)}"
        )


def _dump(file: StoredFile) -> dict:
    return FileSchema().dump(file)


# --- queries ---------------------------------------------------------------------------------


def files_query(workspace_id: str, purpose: str | None = None):
    stmt = sa.select(StoredFile).where(StoredFile.workspace_id == workspace_id)
    return stmt if purpose is None else stmt.where(StoredFile.purpose == purpose)


def get_file(workspace_id: str, file_id: str) -> StoredFile:
    file = db.session.scalar(files_query(workspace_id).where(StoredFile.id == file_id))
    if file is None:
        raise not_found("File not found.")
    return file


def storage_used(workspace_id: str) -> int:
    """The `storage` entitlement: bytes of the workspace's files, ready and pending."""
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(StoredFile.size), 0)).where(StoredFile.workspace_id == workspace_id)
    )
    return int(total or 0)


# --- declaring and uploading -----------------------------------------------------------------


def create_file(workspace_id: str, tier: str, data: dict) -> tuple[StoredFile, dict]:
    """A pending file and where to upload its bytes (403 past the plan's size or storage)."""
    size = data["size"]
    answer = entitlements.check(workspace_id, tier, "max_file_size", size)
    if not answer["allowed"]:
        raise entitlements.limit_reached(answer)
    entitlements.require(workspace_id, tier, "storage", lambda: storage_used(workspace_id), quantity=size)
    now = utcnow()
    file_id = new_id("fil")
    file = StoredFile(
        id=file_id,
        workspace_id=workspace_id,
        filename=data["filename"],
        content_type=data["content_type"],
        size=size,
        declared_size=size,
        purpose=data.get("purpose"),
        status="pending",
        storage_key=f"{workspace_id}/{file_id}",
        upload_expires_at=now + UPLOAD_TTL,
        created_at=now,
        updated_at=now,
    )
    upload = backend().upload_target(file, file.upload_expires_at)
    upload["expires_at"] = file.upload_expires_at
    db.session.add(file)
    db.session.flush()
    record_event(workspace_id, "file.created", _dump(file))
    db.session.commit()
    return file, upload


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "access_denied", message)


def receive_upload(
    file_id: str, expires: int, sig: str, content_type: str | None, length: int | None, body: BinaryIO
) -> None:
    """The local backend's signed PUT: the URL is the credential, good once, until it expires."""
    storage = backend()
    if not isinstance(storage, local.LocalStorage):
        raise not_found()
    file = db.session.get(StoredFile, file_id)
    if file is None:
        raise not_found("File not found.")
    if not local.signature_valid(sig, "put", file.id, file.content_type, file.declared_size, expires):
        raise _forbidden("The upload URL's signature is not valid.")
    if utcnow().timestamp() > expires:
        raise _forbidden("The upload URL has expired.")
    if file.status != "pending" or file.upload_started_at is not None:
        raise ApiError(409, "conflict", "This upload URL has been used already.")
    if (content_type or "").split(";")[0].strip().lower() != file.content_type:
        raise ApiError(415, "unsupported_media_type", f"The upload's Content-Type must be {file.content_type}.")
    if length is not None and length > file.declared_size:
        raise _too_large(file.declared_size)
    key, size = file.storage_key, file.declared_size
    _claim_upload(file_id)  # commits: no transaction stays open while the body streams in
    try:
        storage.receive(key, body, limit=size)
    except BaseException as exc:
        _release_upload(file_id)  # a refused or broken upload may be sent again
        if isinstance(exc, local.TooLargeError):
            raise _too_large(size) from None
        raise


def _too_large(size: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The upload is larger than the declared {size} bytes.")


def _claim_upload(file_id: str) -> None:
    """Compare-and-set: of two uploads with one URL, one goes on and the other is 409."""
    claimed = db.session.execute(
        sa.update(StoredFile)
        .where(StoredFile.id == file_id, StoredFile.status == "pending", StoredFile.upload_started_at.is_(None))
        .values(upload_started_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ApiError(409, "conflict", "This upload URL has been used already.")


def _release_upload(file_id: str) -> None:
    db.session.rollback()
    db.session.execute(
        sa.update(StoredFile)
        .where(StoredFile.id == file_id, StoredFile.status == "pending")
        .values(upload_started_at=None),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


# --- completing: the app checks what was stored ----------------------------------------------


def _check_object(key: str, content_type: str, declared: int) -> tuple[str | None, int]:
    """Why the stored object is not the declared file (None when it is), and its size."""
    storage = backend()
    info = storage.info(key)
    if info is None:
        return "No upload was received for this file.", 0
    if info.size == 0:
        return "The uploaded file is empty.", 0
    if info.size > declared:
        return f"The uploaded file has {info.size} bytes, more than the declared {declared}.", info.size
    if info.content_type is not None and info.content_type.split(";")[0].strip().lower() != content_type:
        return f"The uploaded file was stored as {info.content_type}, not the declared {content_type}.", info.size
    if content_type in types.SIGNATURES:
        head = b""
        for chunk in storage.chunks(key):
            head += chunk
            if len(head) >= types.HEAD_BYTES:
                break
        matches = types.head_matches(content_type, head)
    else:
        matches = types.text_matches(content_type, storage.chunks(key), info.size)
    return (None if matches else f"The uploaded bytes are not {content_type}."), info.size


def complete_file(workspace_id: str, file_id: str) -> StoredFile:
    """Check the stored object and mark the file ready; on any mismatch the object is deleted
    and the answer is 422 (the file stays pending, and its upload URL may be used again)."""
    file = get_file(workspace_id, file_id)
    if file.status == "ready":
        return file
    key, content_type, declared = file.storage_key, file.content_type, file.declared_size
    db.session.rollback()  # no transaction held open while storage is read
    problem, size = _check_object(key, content_type, declared)
    if problem is not None:
        backend().delete(key)
        _release_upload(file_id)
        raise validation_failed({"file": [problem]}, "The uploaded file does not match its declaration.")
    now = utcnow()
    done = db.session.execute(
        sa.update(StoredFile)
        .where(StoredFile.id == file_id, StoredFile.workspace_id == workspace_id, StoredFile.status == "pending")
        .values(status="ready", size=size, ready_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return get_file(workspace_id, file_id)  # completed meanwhile, or removed (404)
    file = db.session.execute(
        sa.select(StoredFile).where(StoredFile.id == file_id).execution_options(populate_existing=True)
    ).scalar_one()
    record_event(workspace_id, "file.ready", _dump(file))
    db.session.commit()
    return file


# --- reading, downloading, deleting ----------------------------------------------------------


def content_disposition(filename: str) -> str:
    """`attachment` with the client's filename made safe for a header: its last path part, an
    ASCII fallback of letters, digits and `._-`, and the exact name in RFC 5987 `filename*`."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = "".join(c if c.isalnum() or c in "._- " else "_" for c in ascii_name).strip(" .") or "download"
    return f"attachment; filename=\"{ascii_name[:150]}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_with_download(workspace_id: str, file_id: str) -> StoredFile:
    """The file, with a short-lived download URL once it is ready."""
    file = get_file(workspace_id, file_id)
    file.download = None  # type: ignore[attr-defined]
    if file.status == "ready":
        expires_at = utcnow() + DOWNLOAD_TTL
        url = backend().download_url(file, expires_at, content_disposition(file.filename))
        file.download = {"url": url, "expires_at": expires_at}  # type: ignore[attr-defined]
    return file


def signed_download(file_id: str, expires: int, sig: str) -> tuple[StoredFile, str]:
    """The local backend's signed GET: the file and the path of its bytes."""
    storage = backend()
    if not isinstance(storage, local.LocalStorage):
        raise not_found()
    file = db.session.get(StoredFile, file_id)
    if file is None or file.status != "ready":
        raise not_found("File not found.")
    if not local.signature_valid(sig, "get", file.id, file.content_type, file.size, expires):
        raise _forbidden("The download URL's signature is not valid.")
    if utcnow().timestamp() > expires:
        raise _forbidden("The download URL has expired.")
    return file, str(storage.path(file.storage_key))


def delete_file(workspace_id: str, file_id: str) -> None:
    """The object first: if storage fails (502) nothing has changed, and a retry finishes."""
    file = get_file(workspace_id, file_id)
    backend().delete(file.storage_key)
    record_event(workspace_id, "file.deleted", _dump(file))
    db.session.delete(file)
    db.session.commit()


def remove_stale_uploads(batch: int = 500) -> int:
    """Pending files declared more than PENDING_TTL ago: rows, events and objects removed."""
    cutoff = utcnow() - PENDING_TTL
    removed = 0
    while True:
        stale = db.session.scalars(
            sa.select(StoredFile)
            .where(StoredFile.status == "pending", StoredFile.created_at <= cutoff)
            .order_by(StoredFile.created_at)
            .limit(batch)
        ).all()
        if not stale:
            return removed
        keys = []
        for file in stale:
            # only if still pending: a `complete` that just won keeps its file
            gone = db.session.execute(
                sa.delete(StoredFile).where(StoredFile.id == file.id, StoredFile.status == "pending"),
                execution_options={"synchronize_session": False},
            )
            if gone.rowcount == 1:  # type: ignore[attr-defined]
                record_event(file.workspace_id, "file.deleted", _dump(file))
                keys.append(file.storage_key)
        db.session.commit()
        for key in keys:
            try:
                backend().delete(key)
            except ApiError:  # storage down: the object stays behind, its row is gone either way
                log.warning("stale upload's object not deleted", extra={"key": key})
        removed += len(keys)
        log.info("stale uploads removed", extra={"files": len(keys)})
        if len(stale) < batch:
            return removed
