"""Credential → principal (user, workspace, role, scopes), and the scope/role rules of API.md §3.

Core knows no domain: accounts and api_keys register the loaders that turn a token into a
Principal, and workspaces registers the membership lookup.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app, g, request
from werkzeug.local import LocalProxy

from .credentials_cache import credentials_cache
from .errors import ApiError, access_denied, not_found

ROLES = ("viewer", "member", "admin", "owner")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
ACTIONS = ("read", "write", "delete")
# The role each action needs unless a route asks for more (API.md §3).
ACTION_ROLE = {"read": "viewer", "write": "member", "delete": "member"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Membership:
    workspace_id: str
    role: str
    tier: str
    slug: str  # URLs that name the workspace by slug (the MCP endpoint) need no query for it


@dataclass
class Principal:
    user_id: str
    kind: str  # "api_key" | "session"
    credential_id: str  # key_… or ses_…
    scopes: frozenset[str]
    home_workspace_id: str | None
    is_platform_admin: bool = False
    key_tier: str | None = None
    via_cookie: bool = False
    membership: Membership | None = field(default=None)
    # when the credential stops working by itself (key expiry, rotation grace, session expiry)
    valid_until: datetime | None = None

    @property
    def workspace_id(self) -> str | None:
        return self.membership.workspace_id if self.membership else None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    @property
    def tier(self) -> str:
        """The plan of the workspace acted in (`free` when none): what entitlements go by."""
        return self.membership.tier if self.membership else "free"


current: Principal = LocalProxy(lambda: g.principal)  # type: ignore[assignment]

TokenLoader = Callable[[str], Principal]
MembershipLoader = Callable[[str, str], Membership | None]


def register_token_loader(app: Flask, prefix: str, loader: TokenLoader) -> None:
    """`loader(token)` returns a Principal or raises ApiError(401 …) for tokens with `prefix`."""
    app.extensions.setdefault("core.token_loaders", {})[prefix] = loader


def register_membership_loader(app: Flask, loader: MembershipLoader) -> None:
    app.extensions["core.membership_loader"] = loader


def membership_of(user_id: str, workspace_id: str) -> Membership | None:
    return current_app.extensions["core.membership_loader"](user_id, workspace_id)


# --- scopes ---------------------------------------------------------------------------------


def has_scope(scopes: frozenset[str] | set[str], required: str) -> bool:
    """`*`, the exact scope, or the bare action (`write` covers `webhooks:write`)."""
    if "*" in scopes or required in scopes:
        return True
    _, _, action = required.partition(":")
    return bool(action) and action in scopes


def covers(held: frozenset[str] | set[str], requested: str) -> bool:
    """Whether a holder of `held` may hand `requested` to a new key (nobody hands out more)."""
    if "*" in held:
        return True
    if requested == "*":
        return False
    return has_scope(held, requested)


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[needed]


# --- resolving the request's credential ------------------------------------------------------


def _bearer_token() -> tuple[str | None, bool]:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized")
        return token.strip(), False
    cookie = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])
    return (cookie, True) if cookie else (None, False)


def _origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    own = request.host_url.rstrip("/")
    allowed = [own, *current_app.config["CORS_ORIGINS"]]
    return any(hmac.compare_digest(origin.rstrip("/"), a.rstrip("/")) for a in allowed)


def _load_principal(token: str, via_cookie: bool) -> Principal:
    for prefix, loader in current_app.extensions.get("core.token_loaders", {}).items():
        if token.startswith(prefix):
            principal = loader(token)
            break
    else:
        raise ApiError(401, "unauthorized")
    if via_cookie and principal.kind != "session":
        raise ApiError(401, "unauthorized")
    principal.via_cookie = via_cookie
    return principal


def _resolve_workspace(principal: Principal, requested: str | None) -> None:
    workspace_id = requested or principal.home_workspace_id
    if workspace_id is None:
        return
    membership = membership_of(principal.user_id, workspace_id)
    if membership is None and requested:
        raise not_found("Workspace not found.")
    principal.membership = membership


def _resolve(token: str, via_cookie: bool, workspace_header: str | None) -> Principal:
    principal = _load_principal(token, via_cookie)
    _resolve_workspace(principal, workspace_header)
    return principal


def _principal_for(token: str, via_cookie: bool, workspace_header: str | None) -> Principal:
    """The credential's principal. A remembered one is used at once, pending the epoch check of
    `confirm_principal` (which the request's Redis round trip calls before anything else)."""
    cache = credentials_cache()
    if not cache.enabled:
        return _resolve(token, via_cookie, workspace_header)
    key = cache.key(token, via_cookie, workspace_header)
    remembered = cache.get(key)
    if remembered is not None:
        epoch, principal = remembered
        g.unconfirmed_principal = key, epoch, token, via_cookie, workspace_header
        return principal
    epoch = cache.epoch()  # read before the database: a change committed after it bumps it
    g.credentials_epoch = epoch
    principal = _resolve(token, via_cookie, workspace_header)
    cache.put(key, epoch, principal)
    return principal


def awaiting_confirmation() -> bool:
    """Whether the request's principal was remembered and still needs `confirm_principal`."""
    return g.get("unconfirmed_principal") is not None


def confirm_principal(epoch: int | None = None) -> bool:
    """Check a remembered principal against the credentials epoch (`epoch` if the caller read it,
    else read now): when anything changed since it was resolved, resolve the credential again.
    Returns whether it was resolved again (the request's principal may differ)."""
    pending = g.pop("unconfirmed_principal", None)
    if pending is None:
        return False
    key, remembered_epoch, token, via_cookie, workspace_header = pending
    cache = credentials_cache()
    if epoch is None:
        epoch = cache.epoch()
    g.credentials_epoch = epoch
    if epoch == remembered_epoch:
        return False
    try:
        g.principal = _resolve(token, via_cookie, workspace_header)
    except ApiError as error:
        g.principal, g.auth_error = None, error
        return True
    cache.put(key, epoch, g.principal)
    return True


def resolve_request_principal() -> None:
    """before_request: remember who is calling; the auth decorator decides what that allows.

    Errors are kept, not raised, so public endpoints ignore a bad credential, and the rate
    limiter can still count the request against the client's address.
    """
    g.principal, g.auth_error = None, None
    try:
        token, via_cookie = _bearer_token()
        if token is None:
            return
        if via_cookie and request.method in UNSAFE_METHODS and not _origin_allowed(request.headers.get("Origin")):
            raise ApiError(403, "access_denied", "Cookie-authenticated requests need an allowed Origin.")
        g.principal = _principal_for(token, via_cookie, request.headers.get("X-Workspace-ID"))
    except ApiError as error:
        g.principal, g.auth_error = None, error


def authorize(
    scope: str, role: str | None = None, workspace_id: str | None = None, in_workspace: bool = True
) -> Principal:
    """Raise unless the request's credential holds `scope` and its user the role it needs.

    `workspace_id` (a path parameter) makes that workspace the one the request acts in; a
    workspace the caller is not a member of is 404, exactly as if it did not exist.
    `in_workspace=False` is for the few routes that act on the user, not on one workspace.
    """
    principal = authenticated()
    if not in_workspace:
        if not has_scope(principal.scopes, scope):
            raise access_denied(scope)
        return principal
    if workspace_id is not None and workspace_id != principal.workspace_id:
        membership = membership_of(principal.user_id, workspace_id)
        if membership is None:
            raise not_found("Workspace not found.")
        principal.membership = membership
    if principal.membership is None:
        raise not_found("Workspace not found.")
    if not has_scope(principal.scopes, scope):
        raise access_denied(scope)
    needed = role or ACTION_ROLE[scope.partition(":")[2]]
    if not role_at_least(principal.role, needed):
        raise ApiError(
            403,
            "access_denied",
            f"Insufficient permissions. Required scope: {scope} (role: {needed})",
            required_scope=scope,
            required_role=needed,
        )
    return principal


def authenticated() -> Principal:
    """Any valid credential, whatever its workspace (auth/me, logout, own workspaces list)."""
    confirm_principal()  # a no-op once the rate limit's round trip has confirmed it
    if g.get("auth_error") is not None:
        raise g.auth_error
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise ApiError(401, "unauthorized")
    return principal
