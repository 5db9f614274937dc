from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.lists import ListSpec, paginate
from ..core.schemas import created_envelope, envelope, page_envelope
from . import service
from .models import SeoIssue, SeoReport
from .schemas import IssueListQuery, IssueSchema, ReportCreate, ReportListQuery, ReportSchema

blp = Blueprint("seo", __name__, url_prefix="/api/v1/seo", description="SEO reports and their issues")

REPORTS = ListSpec(SeoReport, ReportSchema, sortable=("created_at", "processed_at", "url"), filterable=("status",))
ISSUES = ListSpec(
    SeoIssue,
    IssueSchema,
    sortable=("last_seen_at", "first_seen_at", "created_at", "url", "issue_type"),
    filterable=("status",),
    default_sort="-last_seen_at",
)
CREATED = "SEO report queued for processing."


@blp.route("/report")
class Report(MethodView):
    @blp.auth(scope="seo:write")
    @blp.arguments(ReportCreate)
    @blp.response(201, created_envelope(ReportSchema, CREATED))
    def post(self, data):
        """Submit an audit of a URL (scores and issues, or a raw Lighthouse result); counts one
        `seo_reports`. A worker processes it: poll GET /seo/reports/{id} or subscribe to
        `seo.report.processed`"""
        return responses.created(service.create_report(current.workspace_id, current.tier, data), CREATED)


@blp.route("/reports")
class Reports(MethodView):
    @blp.auth(scope="seo:read")
    @blp.arguments(ReportListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(ReportSchema))
    def get(self, query):
        """List reports, newest first (`url`: one URL's history; `status`)"""
        return paginate(service.reports_query(current.workspace_id, query.get("url")), REPORTS, query)


@blp.route("/reports/<string:report_id>")
class ReportItem(MethodView):
    @blp.auth(scope="seo:read")
    @blp.response(200, envelope(ReportSchema))
    def get(self, report_id):
        """Get a report: scores, deltas against the URL's previous report, issue counts"""
        return responses.one(service.get_report(current.workspace_id, report_id))


@blp.route("/issues/<string:workspace_id>")
class Issues(MethodView):
    @blp.auth(scope="seo:read", workspace_param="workspace_id")
    @blp.arguments(IssueListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(IssueSchema))
    def get(self, query, workspace_id):
        """List a workspace's issues across its URLs, last seen first (filters `url`, `severity`,
        `status` open|resolved, `issue_type`)"""
        return paginate(service.issues_query(current.workspace_id, query), ISSUES, query)
