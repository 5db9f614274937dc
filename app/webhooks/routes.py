from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.lists import ListQuery, ListSpec, paginate
from ..core.schemas import created_envelope, envelope, page_envelope
from . import service
from .models import WebhookDelivery, WebhookEndpoint
from .schemas import (
    DeliveryDetailSchema,
    DeliveryListQuery,
    DeliverySchema,
    EndpointCreate,
    EndpointSchema,
    EndpointUpdate,
    EndpointWithSecretSchema,
    ReplayRequest,
    ReplaySchema,
    RetriedSchema,
    RotatedSecretSchema,
    TestResultSchema,
)

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks", description="Outbound webhooks")

ENDPOINTS = ListSpec(
    WebhookEndpoint,
    EndpointSchema,
    sortable=("created_at", "updated_at", "url", "last_delivery_at"),
    searchable=("url", "description"),
)
DELIVERIES = ListSpec(
    WebhookDelivery, DeliverySchema, sortable=("created_at", "next_retry_at", "delivered_at"), filterable=("status",)
)

# Endpoint URLs can carry tokens of the receiving service: managing webhooks is for admins (§3).
ADMIN = "admin"


@blp.route("")
class Endpoints(MethodView):
    @blp.auth(scope="webhooks:read", role=ADMIN)
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(EndpointSchema))
    def get(self, query):
        """List webhook endpoints"""
        return paginate(service.endpoints_query(current.workspace_id), ENDPOINTS, query)

    @blp.auth(scope="webhooks:write", role=ADMIN)
    @blp.arguments(EndpointCreate)
    @blp.response(201, created_envelope(EndpointWithSecretSchema, "Webhook endpoint created successfully."))
    def post(self, data):
        """Create a webhook endpoint; its `secret` is in this response only"""
        endpoint, secret = service.create_endpoint(current.workspace_id, data, tier=current.tier)
        endpoint.secret = secret
        return responses.created(endpoint, "Webhook endpoint created successfully.")


@blp.route("/<string:endpoint_id>")
class EndpointItem(MethodView):
    @blp.auth(scope="webhooks:read", role=ADMIN)
    @blp.response(200, envelope(EndpointSchema))
    def get(self, endpoint_id):
        """Get a webhook endpoint (never its secret)"""
        return responses.one(service.get_endpoint(current.workspace_id, endpoint_id))

    @blp.auth(scope="webhooks:write", role=ADMIN)
    @blp.arguments(EndpointUpdate)
    @blp.response(200, envelope(EndpointSchema))
    def patch(self, data, endpoint_id):
        """Update a webhook endpoint; `is_active: true` re-enables it and resets its failures"""
        return responses.one(service.update_endpoint(current.workspace_id, endpoint_id, data))

    @blp.auth(scope="webhooks:delete", role=ADMIN)
    @blp.response(204)
    def delete(self, endpoint_id):
        """Delete a webhook endpoint with its deliveries"""
        service.delete_endpoint(current.workspace_id, endpoint_id)


@blp.route("/<string:endpoint_id>/rotate-secret")
class EndpointSecret(MethodView):
    @blp.auth(scope="webhooks:write", role=ADMIN)
    @blp.response(200, created_envelope(RotatedSecretSchema, "Webhook secret rotated."))
    def post(self, endpoint_id):
        """Rotate the signing secret: for 24 hours deliveries carry signatures of both secrets"""
        return responses.created(service.rotate_secret(current.workspace_id, endpoint_id), "Webhook secret rotated.")


@blp.route("/<string:endpoint_id>/test")
class EndpointTest(MethodView):
    @blp.auth(scope="webhooks:write", role=ADMIN)
    @blp.response(200, TestResultSchema)
    def post(self, endpoint_id):
        """Send a signed `webhook.test` event now and report how the endpoint answered"""
        return service.send_test(current.workspace_id, endpoint_id)


@blp.route("/<string:endpoint_id>/replay")
class EndpointReplay(MethodView):
    @blp.auth(scope="webhooks:write", role=ADMIN)
    @blp.arguments(ReplayRequest)
    @blp.response(202, created_envelope(ReplaySchema, "Replay queued."))
    def post(self, data, endpoint_id):
        """Re-send every matching event of a time window that did not succeed to this endpoint"""
        window = service.replay(current.workspace_id, endpoint_id, data["since"], data.get("until"))
        return responses.created(window, "Replay queued.")


@blp.route("/<string:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @blp.auth(scope="webhooks:read", role=ADMIN)
    @blp.arguments(DeliveryListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(DeliverySchema))
    def get(self, query, endpoint_id):
        """List an endpoint's deliveries (`status`: pending, retrying, success, failed)"""
        return paginate(service.deliveries_query(current.workspace_id, endpoint_id), DELIVERIES, query)


@blp.route("/<string:endpoint_id>/deliveries/<string:delivery_id>")
class DeliveryItem(MethodView):
    @blp.auth(scope="webhooks:read", role=ADMIN)
    @blp.response(200, envelope(DeliveryDetailSchema))
    def get(self, endpoint_id, delivery_id):
        """Get a delivery with each of its attempts"""
        return responses.one(service.get_delivery(current.workspace_id, endpoint_id, delivery_id))


@blp.route("/<string:endpoint_id>/deliveries/<string:delivery_id>/retry")
class DeliveryRetry(MethodView):
    @blp.auth(scope="webhooks:write", role=ADMIN)
    @blp.response(200, created_envelope(RetriedSchema, "Delivery queued for retry."))
    @blp.alt_response(400, response="BAD_REQUEST")
    def post(self, endpoint_id, delivery_id):
        """Retry a failed delivery now (`400 cannot_retry` once it succeeded or had every attempt)"""
        retried = service.retry_delivery(current.workspace_id, endpoint_id, delivery_id)
        return responses.created(retried, "Delivery queued for retry.")
