"""`flask demo`: the demo owner, workspace and API key that `make run` sets up on first start."""

import os

import click

from ..accounts import service as accounts
from ..api_keys import service as api_keys
from ..core.cli import service_errors
from ..workspaces import service as workspaces

DEMO_EMAIL = "demo@example.com"


def _base_url() -> str:
    return f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"


@click.command("demo")
@click.option("--email", default=DEMO_EMAIL, show_default=True, help="Email of the demo owner.")
@service_errors
def demo(email):
    """Create a demo owner, their workspace and an API key (secrets printed once; idempotent)."""
    user = accounts.get_user_by_email(email)
    if user is not None:
        workspace = workspaces.get_workspace(user.default_workspace_id) if user.default_workspace_id else None
        where = f", workspace {workspace.slug} ({workspace.id})" if workspace else ""
        click.echo(f"The demo already exists: {user.email}{where}. Its password and key were printed when it was made.")
        if workspace:
            click.echo(f"A new key: flask --app wsgi keys create --user {user.email} --workspace {workspace.slug}")
        return
    password = accounts.new_password()
    user = accounts.create_user(email, password, "Demo")
    workspace = workspaces.get_workspace(user.default_workspace_id)
    _, secret = api_keys.create_key_for(workspace.id, user.id, "Demo key", ["*"], None)
    click.echo("Demo set up. The password and key are shown this once:")
    click.echo(f"  user       {user.email}  (owner)")
    click.echo(f"  password   {password}")
    click.echo(f"  workspace  {workspace.name}  id {workspace.id}  slug {workspace.slug}")
    click.echo(f"  API key    {secret}")
    click.echo(f'Try: curl -H "Authorization: Bearer <API key>" {_base_url()}/api/v1/workspaces/{workspace.id}')
