from flask import Blueprint as FlaskBlueprint
from flask import send_from_directory
from flask.views import MethodView
from marshmallow import fields
from swagger_ui_bundle import swagger_ui_path

from ..core import ratelimit
from ..core.api import Blueprint
from ..core.errors import ApiError
from ..core.schemas import Schema, UtcDateTime
from . import service

blp = Blueprint("system", __name__, description="Health and documentation")
# not an API operation: kept out of the OpenAPI document
assets = FlaskBlueprint("docs_assets", __name__)


class HealthChecks(Schema):
    database = fields.String(metadata={"example": "ok"})
    redis = fields.String(metadata={"example": "ok", "description": "ok, unavailable or not_configured"})


class HealthSchema(Schema):
    status = fields.String(metadata={"example": "healthy"})
    version = fields.String(metadata={"example": "1.0.0"})
    timestamp = UtcDateTime()
    checks = fields.Nested(HealthChecks)


class HealthErrorSchema(HealthSchema):
    error = fields.String(metadata={"example": "service_unavailable"})
    message = fields.String(metadata={"example": "Unavailable: redis."})
    request_id = fields.String()


@blp.route("/api/health", endpoint="health")
class Health(MethodView):
    decorators = [ratelimit.exempt]

    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthErrorSchema, description="A dependency is unreachable; its check is named")
    def get(self):
        """Health of the API, its database and Redis (public)"""
        body, healthy = service.health()
        if not healthy:
            failing = ", ".join(name for name, state in body["checks"].items() if state == "unavailable")
            raise ApiError(503, "service_unavailable", f"Unavailable: {failing}.", **HealthSchema().dump(body))
        return body


@assets.route("/api/docs/assets/<path:filename>")
@ratelimit.exempt
def swagger_assets(filename):
    """Swagger UI's own files, served by the app so /api/docs works offline."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
