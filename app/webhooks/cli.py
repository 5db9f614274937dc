from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from ..core.cli import service_errors
from ..core.clock import iso, utcnow
from ..extensions import db
from ..workspaces import service as workspaces
from . import service, tasks
from .models import WebhookEndpoint

webhooks = AppGroup("webhooks", help="Inspect webhook endpoints and re-send deliveries.")


def _timestamp(_ctx, param, value):
    """ISO 8601 (`2026-01-15T10:30:00Z`); without a zone it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"Invalid {param.name} '{value}': use ISO 8601, e.g. 2026-01-15T10:30:00Z."
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@webhooks.command("list")
@click.option("--workspace", "slug", required=True, help="Slug of the workspace.")
@service_errors
def list_endpoints(slug):
    """List a workspace's webhook endpoints with their delivery counters."""
    workspace = workspaces.get_workspace_by_slug(slug)
    if workspace is None:
        raise click.ClickException(f"No workspace has the slug {slug}.")
    endpoints = db.session.scalars(service.endpoints_query(workspace.id).order_by(WebhookEndpoint.created_at)).all()
    if not endpoints:
        click.echo(f"No webhook endpoints in {slug}.")
    for e in endpoints:
        state = "active" if e.is_active else f"disabled ({e.disabled_reason})"
        click.echo(
            f"{e.id}  {e.url}  events={','.join(e.events)}  {state}  success={e.success_count} "
            f"failure={e.failure_count} consecutive_failures={e.consecutive_failures} "
            f"last_delivery_at={iso(e.last_delivery_at) or '-'}"
        )


@webhooks.command("replay")
@click.argument("endpoint_id")
@click.option("--since", required=True, callback=_timestamp, help="Start of the window (ISO 8601, UTC).")
@click.option("--until", callback=_timestamp, help="End of the window (default: now).")
@service_errors
def replay(endpoint_id, since, until):
    """Re-send to ENDPOINT_ID every matching event of the window that did not succeed."""
    if db.session.get(WebhookEndpoint, endpoint_id) is None:
        raise click.ClickException(f"No webhook endpoint has the id {endpoint_id}.")
    until = until or utcnow()
    if until <= since:
        raise click.ClickException("--until must be after --since.")
    result = tasks.replay_window(endpoint_id, since, until)
    click.echo(f"Queued {result['queued']} deliveries; skipped {result['skipped']} at the maximum attempts.")


@webhooks.command("retry-failed")
@click.option("--since", required=True, callback=_timestamp, help="Failed deliveries created since (ISO 8601, UTC).")
@service_errors
def retry_failed(since):
    """Give every failed delivery since --since one more attempt, in every workspace."""
    result = service.retry_failed(since)
    click.echo(
        f"Queued {result['queued']} deliveries; skipped {result['skipped']} at the maximum attempts "
        "(disabled endpoints are left out)."
    )
