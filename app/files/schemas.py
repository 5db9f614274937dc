import re

from flask import current_app
from marshmallow import ValidationError, fields, validate, validates

from ..core.lists import ListQuery
from ..core.schemas import QuerySchema, Schema, StrictInteger, UtcDateTime
from .models import STATUSES

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PURPOSE = r"^[a-z0-9][a-z0-9_.-]{0,49}$"


class FileCreate(Schema):
    filename = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Shown in downloads; never used as the storage key", "example": "invoice.pdf"},
    )
    content_type = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "One of FILES_ALLOWED_TYPES", "example": "application/pdf"},
    )
    size = StrictInteger(
        required=True,
        validate=validate.Range(min=1, max=2**53),
        metadata={"description": "Bytes; at most the plan's `max_file_size`", "example": 48213},
    )
    purpose = fields.String(
        validate=validate.Regexp(PURPOSE, error="1–50 characters: a-z, 0-9, '_', '.', '-'."),
        allow_none=True,
        metadata={"description": "Free label to filter by", "example": "attachment"},
    )

    @validates("filename")
    def _printable(self, value, **kwargs):
        if CONTROL.search(value):
            raise ValidationError("Must not contain control characters.")

    @validates("content_type")
    def _allowed(self, value, **kwargs):
        allowed = current_app.config["FILES_ALLOWED_TYPES"]
        if value not in allowed:
            raise ValidationError(f"Not an allowed type. Allowed: {', '.join(allowed)}.")


class DownloadSchema(Schema):
    url = fields.String(metadata={"description": "Short-lived; answers with Content-Disposition: attachment"})
    expires_at = UtcDateTime(metadata={"example": "2026-01-15T10:35:00Z"})


class FileSchema(Schema):
    id = fields.String(metadata={"example": "fil_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    filename = fields.String(metadata={"example": "invoice.pdf"})
    content_type = fields.String(metadata={"example": "application/pdf"})
    size = fields.Integer(metadata={"description": "Declared while pending; the stored size once ready"})
    purpose = fields.String(allow_none=True, metadata={"example": "attachment"})
    status = fields.String(metadata={"description": "pending | ready", "example": "ready"})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    updated_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:05Z"})
    ready_at = UtcDateTime(allow_none=True, metadata={"example": "2026-01-15T10:30:05Z"})


class FileDetailSchema(FileSchema):
    download = fields.Nested(DownloadSchema, allow_none=True, metadata={"description": "null while pending"})


class UploadSchema(Schema):
    method = fields.String(metadata={"description": "PUT (local storage) or POST (S3)", "example": "PUT"})
    url = fields.String()
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "PUT: send the bytes as the body with these headers"},
    )
    fields = fields.Dict(  # type: ignore[assignment]
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "POST: multipart form fields to send before the `file` part"},
    )
    expires_at = UtcDateTime(metadata={"example": "2026-01-15T10:45:00Z"})


class FileCreatedSchema(FileSchema):
    upload = fields.Nested(UploadSchema)


class FileListQuery(ListQuery):
    status = fields.String(validate=validate.OneOf(STATUSES), metadata={"example": "ready"})
    purpose = fields.String(validate=validate.Length(min=1, max=50), metadata={"example": "attachment"})


class SignedQuery(QuerySchema):
    expires = fields.Integer(required=True, metadata={"description": "Unix seconds"})
    sig = fields.String(required=True, validate=validate.Length(max=128))
