from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.lists import ListQuery, ListSpec, paginate
from ..core.schemas import created_envelope, envelope, page_envelope
from . import service
from .models import ApiKey
from .schemas import (
    ApiKeyCreate,
    ApiKeyListItemSchema,
    ApiKeyRotate,
    ApiKeyRotatedSchema,
    ApiKeySchema,
    ApiKeyWithSecretSchema,
)

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys", description="API keys")

KEYS = ListSpec(
    ApiKey,
    ApiKeyListItemSchema,
    sortable=("created_at", "name", "last_used_at"),
    searchable=("name", "prefix"),
    includes={"user": "user"},
)


@blp.route("")
class ApiKeys(MethodView):
    # Every member manages their own keys (API.md §3): viewers included.
    @blp.auth(scope="api-keys:read", role="viewer")
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(ApiKeyListItemSchema))
    def get(self, query):
        """List API keys: your own, or every key of the workspace for admins"""
        return paginate(service.keys_query(current), KEYS, query)

    @blp.auth(scope="api-keys:write", role="viewer")
    @blp.arguments(ApiKeyCreate)
    @blp.response(201, created_envelope(ApiKeyWithSecretSchema, "API key created successfully."))
    def post(self, data):
        """Create an API key; the secret `key` is in this response only"""
        key, secret = service.create_key(current, data)
        key.key = secret
        return responses.created(key, "API key created successfully.")


@blp.route("/<string:key_id>")
class ApiKeyItem(MethodView):
    @blp.auth(scope="api-keys:read", role="viewer")
    @blp.response(200, envelope(ApiKeySchema))
    def get(self, key_id):
        """Get an API key (never its secret)"""
        return responses.one(service.get_key(current, key_id))

    @blp.auth(scope="api-keys:delete", role="viewer")
    @blp.response(204)
    def delete(self, key_id):
        """Revoke an API key; it stops working on the next request"""
        service.revoke_key(current, key_id)


@blp.route("/<string:key_id>/rotate")
class ApiKeyRotation(MethodView):
    @blp.auth(scope="api-keys:write", role="viewer")
    @blp.arguments(ApiKeyRotate)
    @blp.response(200, created_envelope(ApiKeyRotatedSchema, "API key rotated successfully."))
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, key_id):
        """Rotate: a new key (new id); the old one works until grace_period_ends_at"""
        key, secret, grace_end = service.rotate_key(current, key_id, data["grace_period_hours"])
        key.key, key.previous_grace_period_ends_at, key.previous_key_id = secret, grace_end, key_id
        return responses.created(key, "API key rotated successfully.")
