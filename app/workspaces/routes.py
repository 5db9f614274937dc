from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.lists import ListQuery, ListSpec, paginate
from ..core.schemas import created_envelope, envelope, page_envelope
from . import service
from .models import Membership, Workspace
from .schemas import MemberCreate, MemberSchema, MemberUpdate, WorkspaceCreate, WorkspaceSchema, WorkspaceUpdate

blp = Blueprint("workspaces", __name__, url_prefix="/api/v1/workspaces", description="Workspaces and members")

WORKSPACES = ListSpec(
    Workspace, WorkspaceSchema, sortable=("created_at", "updated_at", "name", "slug"), searchable=("name", "slug")
)
MEMBERS = ListSpec(
    Membership,
    MemberSchema,
    sortable=("created_at", "updated_at", "role"),
    tiebreak="user_id",
)


@blp.route("")
class Workspaces(MethodView):
    @blp.auth(scope="workspaces:read", in_workspace=False)
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(WorkspaceSchema))
    def get(self, query):
        """List the workspaces the caller belongs to"""
        return paginate(service.workspaces_of_user(current.user_id), WORKSPACES, query)

    @blp.auth(scope="workspaces:write", in_workspace=False)
    @blp.arguments(WorkspaceCreate)
    @blp.response(201, created_envelope(WorkspaceSchema, "Workspace created successfully."))
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data):
        """Create a workspace; the caller becomes its owner"""
        workspace = service.create_workspace(current.user_id, data, principal=current)
        return responses.created(workspace, "Workspace created successfully.")


@blp.route("/<string:workspace_id>")
class WorkspaceItem(MethodView):
    @blp.auth(scope="workspaces:read", workspace_param="workspace_id")
    @blp.response(200, envelope(WorkspaceSchema))
    def get(self, workspace_id):
        """Get a workspace"""
        return responses.one(service.get_workspace(workspace_id))

    @blp.auth(scope="workspaces:write", role="admin", workspace_param="workspace_id")
    @blp.arguments(WorkspaceUpdate)
    @blp.response(200, envelope(WorkspaceSchema))
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, data, workspace_id):
        """Update a workspace's name, slug, settings or tier (admin)"""
        return responses.one(service.update_workspace(current, workspace_id, data))

    @blp.auth(scope="workspaces:delete", role="owner", workspace_param="workspace_id")
    @blp.response(204)
    def delete(self, workspace_id):
        """Delete a workspace and everything in it (owner)"""
        service.delete_workspace(workspace_id)


@blp.route("/<string:workspace_id>/members")
class Members(MethodView):
    @blp.auth(scope="members:read", workspace_param="workspace_id")
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(MemberSchema))
    def get(self, query, workspace_id):
        """List the members of a workspace"""
        return paginate(service.members_query(workspace_id), MEMBERS, query)

    @blp.auth(scope="members:write", role="admin", workspace_param="workspace_id")
    @blp.arguments(MemberCreate)
    @blp.response(201, created_envelope(MemberSchema, "Member added successfully."))
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data, workspace_id):
        """Add an existing user to the workspace by email (admin; only owners add owners)"""
        member = service.add_member(current, workspace_id, data)
        return responses.created(member, "Member added successfully.")


@blp.route("/<string:workspace_id>/members/<string:user_id>")
class MemberItem(MethodView):
    @blp.auth(scope="members:read", workspace_param="workspace_id")
    @blp.response(200, envelope(MemberSchema))
    def get(self, workspace_id, user_id):
        """Get one member"""
        return responses.one(service.get_member(workspace_id, user_id))

    @blp.auth(scope="members:write", role="admin", workspace_param="workspace_id")
    @blp.arguments(MemberUpdate)
    @blp.response(200, envelope(MemberSchema))
    def patch(self, data, workspace_id, user_id):
        """Change a member's role (admin; only owners touch owners; nobody raises their own)"""
        return responses.one(service.update_member(current, workspace_id, user_id, data["role"]))

    @blp.auth(scope="members:delete", role="viewer", workspace_param="workspace_id")
    @blp.response(204)
    def delete(self, workspace_id, user_id):
        """Remove a member (admin), or leave (yourself); their keys here are revoked"""
        service.remove_member(current, workspace_id, user_id)
