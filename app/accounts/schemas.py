from marshmallow import fields, validate

from ..core.schemas import Schema, UtcDateTime


class SignupSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254), metadata={"example": "ana@example.com"})
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=8, max=1024),
        metadata={"example": "correct horse battery staple"},
    )
    name = fields.String(validate=validate.Length(min=1, max=255), metadata={"example": "Ana Lima"})


class LoginSchema(Schema):
    email = fields.String(
        required=True, validate=validate.Length(min=1, max=254), metadata={"example": "ana@example.com"}
    )
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class UserWorkspaceSchema(Schema):
    id = fields.String()
    slug = fields.String()
    name = fields.String()
    role = fields.String(metadata={"example": "owner"})


class UserSchema(Schema):
    id = fields.String(metadata={"example": "usr_9aB3cD4eF5gH6iJ7kL8mN9oP"})
    email = fields.String(metadata={"example": "ana@example.com"})
    name = fields.String(allow_none=True, metadata={"example": "Ana Lima"})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    workspaces = fields.List(fields.Nested(UserWorkspaceSchema))


class LoginResultSchema(Schema):
    token = fields.String(metadata={"example": "sess_Xk2…"})
    expires_at = UtcDateTime()
    user = fields.Nested(UserSchema)
