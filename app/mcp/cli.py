from pathlib import Path

import click
from flask.cli import AppGroup

from ..core.cli import service_errors
from ..extensions import db
from ..workspaces import service as workspaces
from . import service
from .models import McpServer

mcp = AppGroup("mcp", help="Import OpenAPI specs and inspect MCP servers.")


def _workspace_id(slug: str) -> str:
    workspace = workspaces.get_workspace_by_slug(slug)
    if workspace is None:
        raise click.ClickException(f"No workspace has the slug {slug}.")
    return workspace.id


@mcp.command("import-spec")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workspace", "slug", required=True, help="Slug of the workspace.")
@click.option("--name", help="Name of the spec (default: the document's title, else the file name).")
@service_errors
def import_spec(file: Path, slug: str, name: str | None):
    """Import the OpenAPI 3.0/3.1 document in FILE (JSON or YAML), validated here and now,
    whatever its size. Prints the new spec's id last."""
    workspace_id = _workspace_id(slug)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text.") from None
    spec = service.import_spec_now(workspace_id, text, name)
    click.echo(f"Imported {spec.name}: OpenAPI {spec.openapi_version}, {spec.operation_count} operations.")
    click.echo(spec.id)


@mcp.command("servers")
@click.option("--workspace", "slug", required=True, help="Slug of the workspace.")
@service_errors
def list_servers(slug: str):
    """List a workspace's MCP servers: slug, id, tools, state and upstream."""
    workspace_id = _workspace_id(slug)
    servers = db.session.scalars(service.servers_query(workspace_id).order_by(McpServer.slug)).all()
    if not servers:
        click.echo(f"No MCP servers in {slug}.")
    for s in service.with_tool_names(list(servers)):
        state = "active" if s.is_active else "inactive"
        click.echo(
            f"{s.slug}  {s.id}  tools={len(s.tools)}/{s.tool_count}  {state}  auth={s.auth_mode}  "  # type: ignore[attr-defined]
            f"{s.base_url}  endpoint=/mcp/{slug}/{s.slug}"
        )
