import base64
import json
from contextlib import contextmanager
from pathlib import Path

from flask import Blueprint as FlaskBlueprint
from flask import Response, request
from flask.views import MethodView
from marshmallow import ValidationError

from ..core import ratelimit, responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.errors import ApiError, flatten_messages, validation_failed
from ..core.http import body_limit
from ..core.lists import ListQuery, ListSpec, paginate
from ..core.schemas import created_envelope, envelope, page_envelope
from . import service, stats
from .models import PixelSite
from .schemas import (
    ConfigQuery,
    ConfigSchema,
    SiteCreate,
    SiteSchema,
    SiteUpdate,
    StatsQuery,
    StatsSchema,
    TrackGifQuery,
    TrackRequest,
    TrackResult,
    plain_event,
)

blp = Blueprint("pixel", __name__, url_prefix="/api/v1/pixel", description="Pixel tracking: sites, events, stats")
# /pixel.js is not an API operation: kept out of the OpenAPI document
snippet = FlaskBlueprint("pixel_snippet", __name__)

SITES = ListSpec(PixelSite, SiteSchema, sortable=("created_at", "domain"), searchable=("domain",))
TRACK_LIMIT = "300/minute"  # per client IP, on config, track and track.gif together
EVENT_BYTES = 16 * 1024
BATCH_BYTES = 256 * 1024
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
SNIPPET = (Path(__file__).parent / "pixel.js").read_text()
TRACK_BODY = TrackRequest()  # made once: building a schema costs more than loading a body
TRACKED, NOT_TRACKED = b'{"tracked":true}\n', b'{"tracked":false}\n'


@blp.route("/sites")
class Sites(MethodView):
    @blp.auth(scope="pixel:read")
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(SiteSchema))
    def get(self, query):
        """List the workspace's pixel sites"""
        return paginate(service.sites_query(current.workspace_id), SITES, query)

    @blp.auth(scope="pixel:write")
    @blp.arguments(SiteCreate)
    @blp.response(201, created_envelope(SiteSchema, "Pixel site created successfully."))
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Register a site (its domain is unique across the platform); counts toward `pixel_sites`"""
        site = service.create_site(current.workspace_id, current.tier, data)
        return responses.created(site, "Pixel site created successfully.")


@blp.route("/sites/<string:site_id>")
class SiteItem(MethodView):
    @blp.auth(scope="pixel:read")
    @blp.response(200, envelope(SiteSchema))
    def get(self, site_id):
        """Get a pixel site"""
        return responses.one(service.get_site(current.workspace_id, site_id))

    @blp.auth(scope="pixel:write")
    @blp.arguments(SiteUpdate)
    @blp.response(200, envelope(SiteSchema))
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, data, site_id):
        """Update a pixel site; tracking sees the change within 10 seconds"""
        return responses.one(service.update_site(current.workspace_id, site_id, data))

    @blp.auth(scope="pixel:delete")
    @blp.response(204)
    def delete(self, site_id):
        """Delete a pixel site with its events and stats"""
        service.delete_site(current.workspace_id, site_id)


@blp.route("/stats")
class Stats(MethodView):
    @blp.auth(scope="pixel:read")
    @blp.arguments(StatsQuery, location="query", error_status_code=400)
    @blp.response(200, envelope(StatsSchema))
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, query):
        """Page views, unique visitors, sessions and top pages, referrers and events of a site"""
        return responses.one(
            stats.stats(current.workspace_id, query["site"], query.get("from_"), query.get("to"), query["interval"])
        )


def _limit() -> None:
    ratelimit.hit(TRACK_LIMIT, "pixel", ratelimit.client_ip())


@contextmanager
def _counted_on_error(ip: str):
    """A tracking request counts against the client's limit in the same Redis round trip as its
    events (service.track); one refused before that (a bad body, an unknown site) is counted here,
    and past the limit it is a 429."""
    try:
        yield
    except ApiError as exc:
        if exc.status != 429:
            ratelimit.hit(TRACK_LIMIT, "pixel", ip)
        raise


@blp.route("/config", endpoint="config")
class Config(MethodView):
    decorators = [ratelimit.exempt]

    @blp.arguments(ConfigQuery, location="query", error_status_code=400)
    @blp.response(200, ConfigSchema)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def get(self, query):
        """The pixel configuration of a site (public): from `?site=` or the `Origin`; an unknown
        domain gets `enabled: false`"""
        _limit()
        return service.config_for(query.get("site"), request.headers.get("Origin"))


def _body() -> dict:
    """The body as JSON whatever its Content-Type: navigator.sendBeacon sends text/plain."""
    raw = request.get_data(cache=True)
    if len(raw) > BATCH_BYTES:
        raise ApiError(413, "payload_too_large", f"A batch is at most {BATCH_BYTES} bytes.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "The body is not valid JSON.") from None
    if isinstance(body, dict) and "events" not in body and len(raw) > EVENT_BYTES:
        raise ApiError(413, "payload_too_large", f"One event is at most {EVENT_BYTES} bytes.")
    plain = plain_event(body)
    if plain is not None:
        return plain
    try:
        return TRACK_BODY.load(body)
    except ValidationError as exc:
        raise validation_failed(flatten_messages(exc.messages)) from None


@blp.route("/track", endpoint="track")
class Track(MethodView):
    decorators = [ratelimit.exempt, body_limit(None)]  # _body() reads and limits it, in any media type

    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": TrackRequest}}})
    @blp.response(200, TrackResult)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self):
        """Track a page view or an event (public; 300 requests a minute per client IP). Also
        `{"events": [...]}` (up to 100). Bots and sampled-out events answer `tracked: false`.
        Any Content-Type is read as JSON (sendBeacon sends text/plain)."""
        ip = ratelimit.client_ip()
        with _counted_on_error(ip):
            data = _body()
            batch = data.pop("events", None)
            site = data.pop("site", None)
            events = batch if batch is not None else [data]
            accepted = service.track(
                events, site, ip, request.headers.get("User-Agent", ""), request.headers.get("Origin"), TRACK_LIMIT
            )
        if batch is not None:
            return {"tracked": accepted > 0, "accepted": accepted}
        # the answer of nearly every request, not serialised each time
        return Response(TRACKED if accepted else NOT_TRACKED, mimetype="application/json")


@blp.route("/track.gif", endpoint="track_gif")
class TrackGif(MethodView):
    decorators = [ratelimit.exempt]

    @blp.arguments(TrackGifQuery, location="query", error_status_code=400)
    @blp.response(200, description="A 1×1 transparent GIF", content_type="image/gif")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def get(self, query):
        """Track a page view from a page without JavaScript: `<img src=".../track.gif?url=...">`"""
        ip = ratelimit.client_ip()
        site = query.pop("site", None)
        referrer = query.get("referrer") or request.headers.get("Referer")
        event = {**query, "referrer": referrer}
        with _counted_on_error(ip):
            service.track([event], site, ip, request.headers.get("User-Agent", ""), None, TRACK_LIMIT)
        return Response(GIF, mimetype="image/gif", headers={"Cache-Control": "no-store"})


@snippet.route("/pixel.js")
@ratelimit.exempt
def pixel_js():
    """The snippet sites embed: `<script defer src="https://api…/pixel.js" data-site="px_…">`."""
    return Response(SNIPPET, mimetype="application/javascript", headers={"Cache-Control": "public, max-age=3600"})
