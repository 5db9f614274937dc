"""Test data made through the services, the same path the API and the CLI use."""

from __future__ import annotations

from types import SimpleNamespace

from app.accounts import service as accounts
from app.api_keys import service as api_keys
from app.workspaces import service as workspaces

PASSWORD = "password123"


def bearer(secret: str, workspace_id: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {secret}"}
    if workspace_id:
        headers["X-Workspace-ID"] = workspace_id
    return headers


def user(email: str, name: str | None = None, admin: bool = False):
    return accounts.create_user(email, PASSWORD, name, is_platform_admin=admin)


def key(
    user_id: str, workspace_id: str, scopes: list[str] | None = None, tier: str | None = None, name: str = "test key"
) -> str:
    _, secret = api_keys.create_key_for(workspace_id, user_id, name, scopes or ["*"], tier)
    return secret


def account(email: str, tier: str = "free", scopes: list[str] | None = None, admin: bool = False) -> SimpleNamespace:
    """A user, their personal workspace (owner) at `tier`, and an API key for it."""
    u = user(email, admin=admin)
    workspace = workspaces.get_workspace(u.default_workspace_id)
    if tier != "free":
        workspaces.set_tier(workspace, tier)
    secret = key(u.id, workspace.id, scopes)
    return SimpleNamespace(user=u, user_id=u.id, workspace_id=workspace.id, key=secret, headers=bearer(secret))


def member(workspace_id: str, email: str, role: str, scopes: list[str] | None = None) -> SimpleNamespace:
    """Another user added to `workspace_id` with `role`, and their key homed there."""
    u = user(email)
    owner_principal = SimpleNamespace(role="owner", user_id="operator")
    workspaces.add_member(owner_principal, workspace_id, {"email": email, "role": role}, enforce_plan=False)
    secret = key(u.id, workspace_id, scopes)
    return SimpleNamespace(user=u, user_id=u.id, workspace_id=workspace_id, key=secret, headers=bearer(secret))


def roomy(workspace_id: str) -> None:
    """The pro tier: for tests about something else than the plan's limits (tests/entitlements)."""
    workspaces.set_tier(workspaces.get_workspace(workspace_id), "pro")
