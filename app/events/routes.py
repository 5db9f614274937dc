from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.events import Event
from ..core.lists import ListSpec, paginate
from ..core.schemas import envelope, page_envelope
from . import service
from .schemas import EventListQuery, EventSchema

blp = Blueprint("events", __name__, url_prefix="/api/v1/events", description="The workspace's event log")

EVENTS = ListSpec(Event, EventSchema, sortable=("created_at", "type"))


@blp.route("")
class Events(MethodView):
    @blp.auth(scope="events:read")
    @blp.arguments(EventListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(EventSchema))
    def get(self, query):
        """List events, newest first; `type` takes patterns like `api_key.*`"""
        return paginate(service.events_query(current.workspace_id, query.get("type")), EVENTS, query)


@blp.route("/<string:event_id>")
class EventItem(MethodView):
    @blp.auth(scope="events:read")
    @blp.response(200, envelope(EventSchema))
    def get(self, event_id):
        """Get one event"""
        return responses.one(service.get_event(current.workspace_id, event_id))
