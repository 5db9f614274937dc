import click
from flask.cli import AppGroup

from ..accounts import service as accounts
from ..config import TIERS
from ..core.cli import one_of, service_errors
from . import service

workspaces = AppGroup("workspaces", help="Manage workspaces.")


@workspaces.command("create")
@click.argument("name")
@click.option("--owner", "owner_email", required=True, help="Email of the existing user who will own it.")
@click.option("--tier", default="free", show_default=True, callback=one_of(TIERS), help=f"One of: {', '.join(TIERS)}.")
@click.option("--slug", help="Explicit slug (default: derived from the name).")
@service_errors
def create(name, owner_email, tier, slug):
    """Create a workspace owned by an existing user; prints its slug."""
    owner = accounts.get_user_by_email(owner_email)
    if owner is None:
        raise click.ClickException(f"No user has the email {owner_email}.")
    if not 1 <= len(name) <= 255:
        raise click.ClickException("The name must have 1 to 255 characters.")
    data = {"name": name, "tier": tier, **({"slug": slug} if slug else {})}
    workspace = service.create_workspace(owner.id, data)
    click.echo(workspace.slug)


@workspaces.command("set-tier")
@click.argument("slug")
@click.argument("tier", callback=one_of(TIERS))
@service_errors
def set_tier(slug, tier):
    """Set a workspace's tier (rate limits and plan)."""
    workspace = service.get_workspace_by_slug(slug)
    if workspace is None:
        raise click.ClickException(f"No workspace has the slug {slug}.")
    service.set_tier(workspace, tier)
    click.echo(f"{slug}: {tier}")
