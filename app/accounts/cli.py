import click
from flask.cli import AppGroup

from ..core.cli import service_errors
from . import service

users = AppGroup("users", help="Manage user accounts.")


@users.command("create")
@click.argument("email")
@click.option("--password", help="Password (at least 8 characters); without it one is generated and printed.")
@click.option("--name", help="Display name.")
@click.option("--admin", is_flag=True, help="Make the user a platform admin.")
@service_errors
def create(email, password, name, admin):
    """Create a user (with their personal workspace)."""
    if "@" not in email:
        raise click.ClickException(f"'{email}' is not an email address.")
    generated = password is None
    if generated:
        password = service.new_password()
    elif len(password) < 8:
        raise click.ClickException("The password must have at least 8 characters.")
    user = service.create_user(email, password, name, is_platform_admin=admin)
    click.echo(f"Created user {user.id} <{user.email}>{' (platform admin)' if admin else ''}.")
    if generated:
        click.echo(f"Password: {password}")
