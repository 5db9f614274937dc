import re

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from ..core.schemas import QuerySchema, Schema, UtcDateTime

HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$", re.IGNORECASE)
ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")
MAX_PROPERTIES = 20
MAX_PROPERTY_KEY = 50
MAX_PROPERTY_VALUE = 500


class Features(Schema):
    pageviews = fields.Boolean(metadata={"example": True})
    events = fields.Boolean(metadata={"example": True})
    sessions = fields.Boolean(metadata={"example": True})


class SiteSchema(Schema):
    id = fields.String(metadata={"example": "pxs_2Jd8Kq4Lm9Np3Qr7St1Uv5Wx"})
    domain = fields.String(metadata={"example": "example.com"})
    public_id = fields.String(
        metadata={"description": "What a page embeds: `/pixel.js?site=…`", "example": "px_8hX2kQ9mZt4Lw7Rb3Nc1"}
    )
    enabled = fields.Boolean(metadata={"example": True})
    features = fields.Nested(Features)
    sample_rate = fields.Float(metadata={"example": 1.0})
    allowed_origins = fields.List(fields.String(), metadata={"example": ["https://www.example.com"]})
    created_at = UtcDateTime(metadata={"example": "2026-01-01T00:00:00Z"})
    updated_at = UtcDateTime(metadata={"example": "2026-01-01T00:00:00Z"})


def _domain_field(**kwargs):
    return fields.String(
        metadata={"description": "A host name (unique across the platform); its subdomains count too"}, **kwargs
    )


class _SiteFields(Schema):
    enabled = fields.Boolean()
    features = fields.Nested(Features)
    sample_rate = fields.Float(validate=validate.Range(min=0, max=1), metadata={"example": 1.0})
    allowed_origins = fields.List(
        fields.String(validate=validate.Regexp(ORIGIN, error="An origin is scheme://host[:port], e.g. https://a.com.")),
        validate=validate.Length(max=50),
        metadata={"description": "Browser origins allowed to send events; empty: any page of the domain"},
    )

    @validates("domain")
    def _domain(self, value, **kwargs):
        if not HOSTNAME.match(value):
            raise ValidationError("A domain is a host name such as example.com (no scheme, port or path).")


class SiteCreate(_SiteFields):
    domain = _domain_field(required=True)


class SiteUpdate(_SiteFields):
    domain = _domain_field()


class ConfigQuery(QuerySchema):
    site = fields.String(metadata={"description": "public_id or domain; else the Origin header's host"})


class ConfigSchema(Schema):
    enabled = fields.Boolean(metadata={"example": True})
    features = fields.Nested(Features)
    sample_rate = fields.Float(metadata={"example": 1.0})


def _check_properties(value: dict) -> None:
    if len(value) > MAX_PROPERTIES:
        raise ValidationError(f"At most {MAX_PROPERTIES} properties.")
    for key, item in value.items():
        if len(key) > MAX_PROPERTY_KEY:
            raise ValidationError(f"Property names are at most {MAX_PROPERTY_KEY} characters.")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ValidationError("Property values are strings, numbers, booleans or null.")
        if isinstance(item, str) and len(item) > MAX_PROPERTY_VALUE:
            raise ValidationError(f"Property values are at most {MAX_PROPERTY_VALUE} characters.")


class TrackEvent(Schema):
    site = fields.String(
        validate=validate.Length(max=253), metadata={"description": "public_id or domain; else the url's host"}
    )
    event = fields.String(
        load_default="pageview", validate=validate.Length(min=1, max=100), metadata={"example": "pageview"}
    )
    url = fields.String(
        required=True, validate=validate.Length(min=1, max=2048), metadata={"example": "https://example.com/page"}
    )
    referrer = fields.String(
        allow_none=True, validate=validate.Length(max=2048), metadata={"example": "https://google.com"}
    )
    user_agent = fields.String(
        validate=validate.Length(max=1000),
        metadata={"description": "Defaults to the User-Agent header", "example": "Mozilla/5.0..."},
    )
    properties = fields.Dict(
        keys=fields.String(),
        allow_none=True,
        metadata={
            "description": f"At most {MAX_PROPERTIES}; names ≤ {MAX_PROPERTY_KEY} characters, "
            f"values ≤ {MAX_PROPERTY_VALUE}",
            "example": {"title": "Page Title"},
        },
    )

    @validates("properties")
    def _properties(self, value, **kwargs):
        if value:
            _check_properties(value)


class TrackRequest(TrackEvent):
    """One event, or `{"events": [...]}` (up to 100) from an SDK."""

    url = fields.String(validate=validate.Length(min=1, max=2048), metadata={"example": "https://example.com/page"})
    events = fields.List(fields.Nested(TrackEvent), validate=validate.Length(min=1, max=100))

    @validates_schema
    def _one_form(self, data, **kwargs):
        if "events" in data and set(data) - {"events", "site", "event"}:
            raise ValidationError("Send either one event or `events`, not both.", "events")
        if "events" not in data and "url" not in data:
            raise ValidationError("Missing data for required field.", "url")


# (min, max) length of the plain event's string fields, as TrackEvent declares them
PLAIN_FIELDS = {"site": (0, 253), "event": (1, 100), "url": (1, 2048), "referrer": (0, 2048), "user_agent": (0, 1000)}


def _plain_string(value) -> bool:
    return type(value) is str and "\x00" not in value


def plain_event(body) -> dict | None:
    """The body nearly every page sends (one event of short strings, maybe a few properties),
    checked by hand exactly as TrackRequest accepts it: loading a schema costs more than the rest
    of the request. None for anything else, which TrackRequest then loads and words the errors of."""
    if type(body) is not dict or "url" not in body:
        return None
    for name, value in body.items():
        if name == "properties":
            if value is None:
                continue
            if type(value) is not dict or not all(
                _plain_string(k) and (v is None or type(v) in (int, float, bool) or _plain_string(v))
                for k, v in value.items()
            ):
                return None
            try:
                _check_properties(value)
            except ValidationError:
                return None
            continue
        bounds = PLAIN_FIELDS.get(name)
        if bounds is None:
            return None  # `events`, or a field TrackRequest refuses
        if value is None and name == "referrer":
            continue
        if not _plain_string(value) or not bounds[0] <= len(value) <= bounds[1]:
            return None
    return {"event": "pageview", **body}


class TrackResult(Schema):
    tracked = fields.Boolean(metadata={"example": True})
    accepted = fields.Integer(metadata={"description": "Batch form: how many events were accepted", "example": 3})


class TrackGifQuery(QuerySchema):
    site = fields.String(validate=validate.Length(max=253))
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    event = fields.String(load_default="pageview", validate=validate.Length(min=1, max=100))
    referrer = fields.String(validate=validate.Length(max=2048))


class StatsQuery(QuerySchema):
    site = fields.String(required=True, metadata={"description": "The site's id", "example": "pxs_2Jd8Kq4Lm9Np3Qr7"})
    from_ = fields.Date(data_key="from", metadata={"description": "First day (UTC); default: 6 days before `to`"})
    to = fields.Date(metadata={"description": "Last day (UTC), included; default: today"})
    interval = fields.String(load_default="day", validate=validate.OneOf(("day", "hour")))


class Period(Schema):
    period = fields.String(metadata={"example": "2026-01-15"})
    pageviews = fields.Integer()
    visitors = fields.Integer()
    sessions = fields.Integer(allow_none=True)
    events = fields.Integer()


class Ranked(Schema):
    value = fields.String(metadata={"example": "/pricing"})
    count = fields.Integer(metadata={"example": 42})


class Totals(Schema):
    pageviews = fields.Integer()
    visitors = fields.Integer(metadata={"description": "Sum of each day's unique visitors"})
    sessions = fields.Integer(allow_none=True)
    events = fields.Integer()


class StatsSchema(Schema):
    site_id = fields.String()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    interval = fields.String()
    totals = fields.Nested(Totals)
    series = fields.List(fields.Nested(Period))
    top_pages = fields.List(fields.Nested(Ranked))
    top_referrers = fields.List(fields.Nested(Ranked))
    top_events = fields.List(fields.Nested(Ranked))
