from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.schemas import envelope
from . import service
from .schemas import CheckQuery, CheckSchema, SummarySchema, UsageRecordedSchema, UsageRecordRequest

blp = Blueprint("entitlements", __name__, url_prefix="/api/v1/entitlements", description="Plans and usage")


def _tier() -> str:
    return current.membership.tier if current.membership else "free"


@blp.route("/check")
class Check(MethodView):
    @blp.auth(scope="entitlements:read")
    @blp.arguments(CheckQuery, location="query", error_status_code=400)
    @blp.response(200, CheckSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, args):
        """Would `quantity` more of a feature fit the workspace's plan?"""
        return service.check(current.workspace_id or "", _tier(), args["feature"], args["quantity"])


@blp.route("/usage")
class Usage(MethodView):
    @blp.auth(scope="entitlements:write")
    @blp.arguments(UsageRecordRequest)
    @blp.response(200, UsageRecordedSchema)
    def post(self, data):
        """Record usage of a metered feature (403 feature_limit_reached past the limit)"""
        return service.record_usage(
            current.workspace_id or "",
            _tier(),
            data["feature"],
            data["quantity"],
            data.get("metadata"),
            data.get("idempotency_key"),
        )


@blp.route("/summary")
class Summary(MethodView):
    @blp.auth(scope="entitlements:read")
    @blp.response(200, envelope(SummarySchema))
    def get(self):
        """Every feature of the workspace's plan: used, limit, available, percentage"""
        return responses.one(service.summary(current.workspace_id or "", _tier()))
