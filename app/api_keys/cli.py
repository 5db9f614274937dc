import click
from flask.cli import AppGroup

from ..accounts import service as accounts
from ..config import TIERS
from ..core.auth import membership_of
from ..core.cli import one_of, service_errors, split_list
from ..workspaces import service as workspaces
from . import service
from .schemas import SCOPE

keys = AppGroup("keys", help="Manage API keys.")


@keys.command("create")
@click.option("--user", "user_email", required=True, help="Email of the key's owner.")
@click.option("--workspace", "slug", required=True, help="Slug of the key's home workspace.")
@click.option("--scopes", help="Comma-separated scopes (default: read,write).")
@click.option("--name", default="CLI key", show_default=True)
@click.option(
    "--tier",
    callback=one_of(TIERS),
    help=f"Rate-limit tier ({', '.join(TIERS)}); the lower of it and the workspace's applies.",
)
@service_errors
def create(user_email, slug, scopes, name, tier):
    """Create an API key; the key alone is printed on the last line."""
    user = accounts.get_user_by_email(user_email)
    if user is None:
        raise click.ClickException(f"No user has the email {user_email}.")
    workspace = workspaces.get_workspace_by_slug(slug)
    if workspace is None or membership_of(user.id, workspace.id) is None:
        raise click.ClickException(f"{user_email} is not a member of a workspace with the slug {slug}.")
    scope_list = split_list(scopes)
    bad = [s for s in scope_list or [] if not SCOPE.match(s)]
    if bad or scope_list == []:
        raise click.ClickException(f"Invalid scopes: {', '.join(bad) or '(none)'}.")
    key, secret = service.create_key_for(workspace.id, user.id, name, scope_list, tier)
    click.echo(f"Created API key {key.id} ({key.prefix}…) for {user_email} in {slug}. It is shown once:")
    click.echo(secret)


@keys.command("revoke")
@click.argument("key_id")
@service_errors
def revoke(key_id):
    """Revoke an API key by id (key_…); it stops working on the next request."""
    if not service.revoke_key_by_id(key_id):
        raise click.ClickException(f"No live API key has the id {key_id}.")
    click.echo(f"Revoked {key_id}.")
