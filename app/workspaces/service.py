"""Workspaces (tenants), their settings and members."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..accounts import service as accounts
from ..api_keys import service as api_keys
from ..core import auth as core_auth
from ..core.auth import Principal, role_at_least
from ..core.credentials_cache import credentials_changed
from ..core.errors import ApiError, conflict, not_found, validation_failed
from ..core.events import record_event
from ..core.ids import new_id
from ..entitlements import service as entitlements
from ..extensions import db
from .models import Membership, Workspace
from .schemas import MemberSchema, WorkspaceSchema

SLUG_MAX = 63


EVENT_TYPES = ("workspace.created", "workspace.updated", "member.added", "member.updated", "member.removed")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:SLUG_MAX].strip("-")
    return slug or "workspace"


def _unique_slug(base: str) -> str:
    taken = set(
        db.session.scalars(
            sa.select(Workspace.slug).where(
                sa.or_(Workspace.slug == base, Workspace.slug.like(base[: SLUG_MAX - 4] + "-%"))
            )
        )
    )
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _dump(workspace: Workspace) -> dict:
    return WorkspaceSchema().dump(workspace)


def billing_configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def _check_tier_allowed(principal: Principal | None, is_owner: bool) -> None:
    """A tier is set by a platform admin, or by the owner while billing is off (API.md §9)."""
    if principal is None or principal.is_platform_admin:
        return
    if is_owner and not billing_configured():
        return
    raise ApiError(
        403,
        "access_denied",
        "Only a platform admin can set the tier while billing is configured.",
        required_scope="workspaces:write",
    )


def _insert_workspace(name: str, slug: str | None, tier: str, settings: dict) -> Workspace:
    for _ in range(5):
        workspace = Workspace(
            id=new_id("ws"), name=name, slug=slug or _unique_slug(slugify(name)), tier=tier, settings=settings
        )
        try:
            with db.session.begin_nested():
                db.session.add(workspace)
            return workspace
        except IntegrityError:
            if slug:
                raise conflict("slug", "This slug is already taken.") from None
    raise conflict("slug", "Could not find a free slug; give one explicitly.")


def create_workspace(owner_id: str, data: dict, principal: Principal | None = None) -> Workspace:
    """`principal` is None for operators (CLI), who may set any tier."""
    if "tier" in data:
        _check_tier_allowed(principal, is_owner=True)
    if data.get("slug") and db.session.scalar(sa.select(Workspace.id).where(Workspace.slug == data["slug"])):
        raise conflict("slug", "This slug is already taken.")
    workspace = _insert_workspace(data["name"], data.get("slug"), data.get("tier", "free"), data.get("settings") or {})
    db.session.add(Membership(workspace_id=workspace.id, user_id=owner_id, role="owner"))
    db.session.flush()
    record_event(workspace.id, "workspace.created", _dump(workspace))
    db.session.commit()
    return workspace


def create_personal_workspace(user) -> Workspace:
    """Signup's workspace; the caller commits with the user."""
    name = f"{user.name or user.email.split('@')[0]}'s workspace"[:255]
    workspace = _insert_workspace(name, None, "free", {})
    db.session.add(Membership(workspace_id=workspace.id, user_id=user.id, role="owner"))
    db.session.flush()
    record_event(workspace.id, "workspace.created", _dump(workspace))
    return workspace


def workspaces_of_user(user_id: str):
    return (
        sa.select(Workspace)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
    )


def memberships_of_user(user_id: str) -> list[tuple[Workspace, str]]:
    rows = db.session.execute(
        sa.select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.created_at, Workspace.id)
    )
    return [(ws, role) for ws, role in rows]


def get_workspace(workspace_id: str) -> Workspace:
    """Only after core.auth checked membership: the route's workspace_param does that."""
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise not_found("Workspace not found.")
    return workspace


def get_workspace_by_slug(slug: str) -> Workspace | None:
    return db.session.scalar(sa.select(Workspace).where(Workspace.slug == slug))


def update_workspace(principal: Principal, workspace_id: str, data: dict) -> Workspace:
    workspace = get_workspace(workspace_id)
    if "tier" in data:
        _check_tier_allowed(principal, is_owner=principal.role == "owner")
        workspace.tier = data["tier"]
    renamed = "slug" in data and data["slug"] != workspace.slug
    if renamed:
        if db.session.scalar(sa.select(Workspace.id).where(Workspace.slug == data["slug"])):
            raise conflict("slug", "This slug is already taken.")
        workspace.slug = data["slug"]
    if "name" in data:
        workspace.name = data["name"]
    if "settings" in data:
        workspace.settings = {**(workspace.settings or {}), **data["settings"]}
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise conflict("slug", "This slug is already taken.") from None
    record_event(workspace.id, "workspace.updated", _dump(workspace))
    db.session.commit()
    if "tier" in data or renamed:
        credentials_changed()  # the tier sets its credentials' rate limits; memberships carry the slug
    return workspace


def set_tier(workspace: Workspace, tier: str) -> Workspace:
    """Operators (CLI): no permission check."""
    workspace.tier = tier
    record_event(workspace.id, "workspace.updated", _dump(workspace))
    db.session.commit()
    credentials_changed()
    return workspace


def delete_workspace(workspace_id: str) -> None:
    """Everything of the tenant goes with it (foreign keys cascade), its events included."""
    workspace = get_workspace(workspace_id)
    accounts.clear_default_workspace(workspace.id)
    db.session.delete(workspace)
    db.session.commit()
    credentials_changed()


# --- members ---------------------------------------------------------------------------------


def members_query(workspace_id: str):
    return sa.select(Membership).where(Membership.workspace_id == workspace_id)


def _member(workspace_id: str, user_id: str) -> Membership:
    member = db.session.get(Membership, (workspace_id, user_id))
    if member is None:
        raise not_found("Member not found.")
    return member


def _owner_count(workspace_id: str) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).where(Membership.workspace_id == workspace_id, Membership.role == "owner")
        )
        or 0
    )


def _may_grant(principal: Principal, role: str, scope: str = "members:write") -> None:
    """Admins manage members up to admin; only owners make or touch owners."""
    if role == "owner" and principal.role != "owner":
        raise ApiError(
            403,
            "access_denied",
            "Only an owner can grant, change or remove the owner role.",
            required_scope=scope,
            required_role="owner",
        )


def get_member(workspace_id: str, user_id: str) -> Membership:
    return _member(workspace_id, user_id)


def add_member(principal: Principal, workspace_id: str, data: dict, enforce_plan: bool = True) -> Membership:
    """`enforce_plan=False`: an operator seeding a workspace, beyond its plan's `members`."""
    _may_grant(principal, data["role"])
    user = accounts.get_user_by_email(data["email"])
    if user is None:
        raise validation_failed({"email": ["No user has this email address."]})
    if db.session.get(Membership, (workspace_id, user.id)) is not None:
        raise conflict("email", "This user is already a member of the workspace.")
    if enforce_plan:
        tier = get_workspace(workspace_id).tier
        entitlements.require(workspace_id, tier, "members", lambda: member_count(workspace_id))
    member = Membership(workspace_id=workspace_id, user_id=user.id, role=data["role"])
    db.session.add(member)
    db.session.flush()
    record_event(workspace_id, "member.added", MemberSchema().dump(member))
    db.session.commit()
    credentials_changed()
    return member


def update_member(principal: Principal, workspace_id: str, user_id: str, role: str) -> Membership:
    member = _member(workspace_id, user_id)
    if user_id == principal.user_id and core_auth.ROLE_RANK[role] > core_auth.ROLE_RANK[member.role]:
        raise ApiError(403, "access_denied", "You cannot raise your own role.", required_scope="members:write")
    if member.role == "owner" or role == "owner":
        _may_grant(principal, "owner")
    if member.role == "owner" and role != "owner" and _owner_count(workspace_id) <= 1:
        raise validation_failed({"role": ["A workspace must keep at least one owner."]})
    member.role = role
    db.session.flush()
    record_event(workspace_id, "member.updated", MemberSchema().dump(member))
    db.session.commit()
    credentials_changed()
    return member


def remove_member(principal: Principal, workspace_id: str, user_id: str) -> None:
    """Admins remove members; anyone may leave. Their keys of this workspace are revoked."""
    member = _member(workspace_id, user_id)
    leaving = user_id == principal.user_id
    if not leaving and not role_at_least(principal.role, "admin"):
        raise ApiError(
            403,
            "access_denied",
            "Insufficient permissions. Required scope: members:delete",
            required_scope="members:delete",
            required_role="admin",
        )
    if member.role == "owner":
        if not leaving:
            _may_grant(principal, "owner", scope="members:delete")
        if _owner_count(workspace_id) <= 1:
            raise validation_failed({"user_id": ["A workspace must keep at least one owner."]})
    record_event(workspace_id, "member.removed", MemberSchema().dump(member))
    api_keys.revoke_member_keys(workspace_id, user_id)
    accounts.clear_default_workspace(workspace_id, user_id)
    db.session.delete(member)
    db.session.commit()
    credentials_changed()


def load_membership(user_id: str, workspace_id: str) -> core_auth.Membership | None:
    """core.auth membership loader: role, tier and slug of a user's workspace, or None."""
    row = db.session.execute(
        sa.select(Membership.role, Workspace.tier, Workspace.slug)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.user_id == user_id, Membership.workspace_id == workspace_id)
    ).first()
    return core_auth.Membership(workspace_id, row.role, row.tier, row.slug) if row else None


def member_summaries(workspace_id: str, user_ids: set[str]) -> dict[str, dict]:
    """{user id: {id, name, email}} for those of `user_ids` who are members of the workspace."""
    if not user_ids:
        return {}
    members = db.session.scalars(
        sa.select(Membership.user_id).where(Membership.workspace_id == workspace_id, Membership.user_id.in_(user_ids))
    )
    return accounts.user_summaries(set(members))


def member_count(workspace_id: str) -> int:
    """The `members` entitlement: members of the workspace now."""
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Membership).where(Membership.workspace_id == workspace_id)
        )
        or 0
    )


def get_workspace_or_none(workspace_id: str) -> Workspace | None:
    return db.session.get(Workspace, workspace_id)


def apply_tier(workspace_id: str, tier: str) -> None:
    """Billing moved the workspace to `tier` (a Stripe event): rate limits and entitlements follow
    from the next request on."""
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is not None and workspace.tier != tier:
        set_tier(workspace, tier)
