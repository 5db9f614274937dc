"""Shared by the domains' `flask` command groups: service errors become one clear line."""

from functools import wraps

import click

from .errors import ApiError


def service_errors(func):
    """ApiError → `Error: <message>` on stderr and exit 1, never a traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiError as error:
            details = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.fields.get("errors", {}).items())
            raise click.ClickException(f"{error.message} {details}".strip()) from None

    return wrapper


def split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def one_of(choices: tuple[str, ...]):
    """A click callback: a bad value is one `Error:` line, not click's usage block."""

    def check(_ctx, param, value):
        if value is not None and value not in choices:
            raise click.ClickException(f"Invalid {param.name} '{value}'. Choose from: {', '.join(choices)}.")
        return value

    return check
