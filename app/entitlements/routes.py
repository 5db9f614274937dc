from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.schemas import envelope
from . import service, usage
from .schemas import (
    CheckQuery,
    CheckSchema,
    DailyQuery,
    DailySchema,
    SummarySchema,
    UsageRecordedSchema,
    UsageRecordRequest,
    UsageSchema,
)

blp = Blueprint("entitlements", __name__, url_prefix="/api/v1/entitlements", description="Plans and usage")


@blp.route("/check")
class Check(MethodView):
    @blp.auth(scope="entitlements:read")
    @blp.arguments(CheckQuery, location="query", error_status_code=400)
    @blp.response(200, CheckSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, args):
        """Would `quantity` more of a feature fit the workspace's plan?"""
        return service.check(current.workspace_id or "", current.tier, args["feature"], args["quantity"])


@blp.route("/usage")
class Usage(MethodView):
    @blp.auth(scope="entitlements:write")
    @blp.arguments(UsageRecordRequest)
    @blp.response(200, UsageRecordedSchema)
    def post(self, data):
        """Record usage of a metered feature (403 feature_limit_reached past the limit)"""
        return service.record_usage(
            current.workspace_id or "",
            current.tier,
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
        return responses.one(service.summary(current.workspace_id or "", current.tier))


usage_blp = Blueprint("usage", __name__, url_prefix="/api/v1/usage", description="Usage for dashboards")


@usage_blp.route("")
class UsageOverview(MethodView):
    @usage_blp.auth(scope="usage:read")
    @usage_blp.response(200, envelope(UsageSchema))
    def get(self):
        """This period's usage: MCP servers, API requests, tool calls"""
        return responses.one(usage.overview(current.workspace_id or ""))


@usage_blp.route("/daily")
class UsageDaily(MethodView):
    @usage_blp.auth(scope="usage:read")
    @usage_blp.arguments(DailyQuery, location="query", error_status_code=400)
    @usage_blp.response(200, DailySchema)
    @usage_blp.alt_response(400, response="BAD_REQUEST")
    def get(self, args):
        """API calls per day, for charts (`from`, `to`: dates; at most 366 days)"""
        return {"data": usage.daily(current.workspace_id or "", args.get("from_"), args.get("to"))}
