import json

from flask import current_app
from marshmallow import ValidationError, fields, validate, validates, validates_schema

from ..core.lists import ListQuery
from ..core.schemas import Schema, UtcDateTime
from .models import ISSUE_STATUSES, REPORT_STATUSES, SEVERITIES

MAX_DETAILS_BYTES = 8 * 1024
URL = validate.And(
    validate.Length(max=2048),
    validate.URL(schemes={"http", "https"}, require_tld=False, error="Must be an http(s) URL."),
)


class StrictNumber(fields.Float):
    """A JSON number only: "85" and true are a 422, never coerced."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Must be a number.")
        return super()._deserialize(value, attr, data, **kwargs)


def _score(**kwargs):
    return StrictNumber(
        allow_none=True, validate=validate.Range(min=0, max=100, error="Must be from 0 to 100."), **kwargs
    )


class Scores(Schema):
    performance = _score(metadata={"example": 85})
    accessibility = _score(metadata={"example": 92})
    best_practices = _score(metadata={"example": 88})
    seo = _score(metadata={"example": 95})


class IssueInput(Schema):
    type = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{1,100}$", error="1–100 letters, digits, '_', '-', '.', ':'."),
        metadata={"example": "missing_alt"},
    )
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES), metadata={"example": "warning"})
    element = fields.String(allow_none=True, validate=validate.Length(max=500), metadata={"example": "img.hero-image"})
    message = fields.String(allow_none=True, validate=validate.Length(max=2000))
    details = fields.Dict(keys=fields.String(), allow_none=True, metadata={"description": "At most 8 KiB as JSON"})

    @validates("details")
    def _details(self, value, **kwargs):
        if value is not None and len(json.dumps(value)) > MAX_DETAILS_BYTES:
            raise ValidationError(f"Must be at most {MAX_DETAILS_BYTES} bytes as JSON.")


class ReportCreate(Schema):
    url = fields.String(required=True, validate=URL, metadata={"example": "https://example.com/page"})
    scores = fields.Nested(Scores, metadata={"description": "0–100 each; with `issues`, not with `lighthouse`"})
    issues = fields.List(fields.Nested(IssueInput), metadata={"description": "At most SEO_MAX_ISSUES (500)"})
    lighthouse = fields.Dict(
        metadata={"description": "A raw Lighthouse result (LHR): scores and issues are taken from it"}
    )

    @validates("issues")
    def _issue_count(self, value, **kwargs):
        cap = current_app.config["SEO_MAX_ISSUES"]
        if len(value) > cap:
            raise ValidationError(f"At most {cap} issues per report.")

    @validates_schema
    def _one_source(self, data, **kwargs):
        if "lighthouse" in data and ("scores" in data or "issues" in data):
            raise ValidationError("Send either 'lighthouse' or 'scores' and 'issues', not both.", "lighthouse")
        if "lighthouse" not in data and "scores" not in data:
            raise ValidationError("Send 'scores' (with 'issues') or a raw 'lighthouse' result.", "scores")


class ReportSchema(Schema):
    id = fields.String(metadata={"example": "seo_4Kq9Lm2Np7Rs1Tu5Vw3Xy8Zb"})
    url = fields.String(metadata={"example": "https://example.com/page"})
    source = fields.String(metadata={"description": "`scores` or `lighthouse`", "example": "scores"})
    status = fields.String(metadata={"description": "queued, processed or failed", "example": "processed"})
    scores = fields.Dict(allow_none=True, metadata={"example": {"performance": 85, "seo": 95}})
    score_deltas = fields.Dict(
        allow_none=True,
        metadata={"description": "Against the previous processed report of the URL", "example": {"seo": -12}},
    )
    previous_report_id = fields.String(allow_none=True)
    issue_count = fields.Integer(allow_none=True, metadata={"example": 3})
    new_issues = fields.Integer(allow_none=True, metadata={"example": 1})
    persisting_issues = fields.Integer(allow_none=True, metadata={"example": 2})
    resolved_issues = fields.Integer(allow_none=True, metadata={"example": 1})
    error = fields.String(allow_none=True, metadata={"description": "Why the report failed"})
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    processed_at = UtcDateTime(allow_none=True)


class IssueSchema(Schema):
    id = fields.String(metadata={"example": "seoi_8Hj2Kl9Mn4Pq8Rs1Tu5Vw3Xy"})
    url = fields.String(metadata={"example": "https://example.com/page"})
    issue_type = fields.String(metadata={"example": "missing_alt"})
    element = fields.String(allow_none=True, metadata={"example": "img.hero-image"})
    severity = fields.String(metadata={"example": "warning"})
    message = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)
    status = fields.String(metadata={"description": "open or resolved", "example": "open"})
    first_seen_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    last_seen_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})
    resolved_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(metadata={"example": "2026-01-15T10:30:00Z"})


class ReportListQuery(ListQuery):
    url = fields.String(validate=validate.Length(max=2048), metadata={"example": "https://example.com/page"})
    status = fields.String(validate=validate.OneOf(REPORT_STATUSES))


class IssueListQuery(ListQuery):
    url = fields.String(validate=validate.Length(max=2048))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    status = fields.String(validate=validate.OneOf(ISSUE_STATUSES))
    issue_type = fields.String(validate=validate.Length(max=100))
