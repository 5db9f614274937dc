import click
from flask.cli import AppGroup

from ..core.cli import service_errors
from ..workspaces import service as workspaces
from . import plans, service

entitlements = AppGroup("entitlements", help="Show a workspace's entitlements and override its limits.")


def _workspace(slug: str):
    workspace = workspaces.get_workspace_by_slug(slug)
    if workspace is None:
        raise click.ClickException(f"No workspace has the slug {slug}.")
    return workspace


def _feature(_ctx, _param, value):
    if value not in plans.FEATURES:
        raise click.ClickException(f"Unknown feature '{value}'. Features: {', '.join(plans.FEATURES)}.")
    return value


@entitlements.command("show")
@click.argument("slug")
@service_errors
def show(slug):
    """Each feature's usage and limit for the workspace SLUG."""
    workspace = _workspace(slug)
    summary = service.summary(workspace.id, workspace.tier)
    click.echo(f"{slug} ({workspace.tier})")
    for feature, item in summary["entitlements"].items():
        limit = "unlimited" if item["limit"] is None else item["limit"]
        click.echo(f"  {feature:16} {item['used']} / {limit}")


@entitlements.command("set")
@click.argument("slug")
@click.argument("feature", callback=_feature)
@click.argument("limit")
@service_errors
def set_limit(slug, feature, limit):
    """Override FEATURE's limit for SLUG: a whole number, or `unlimited`."""
    if limit != "unlimited" and not limit.isdigit():
        raise click.ClickException("LIMIT is a whole number or `unlimited`.")
    service.set_override(_workspace(slug).id, feature, None if limit == "unlimited" else int(limit))
    click.echo(f"{slug}: {feature} limit is now {limit}.")


@entitlements.command("clear")
@click.argument("slug")
@click.argument("feature", callback=_feature)
@service_errors
def clear(slug, feature):
    """Back to the tier's limit for FEATURE."""
    removed = service.clear_override(_workspace(slug).id, feature)
    click.echo(f"{slug}: {feature} follows the tier again." if removed else f"{slug}: {feature} had no override.")
