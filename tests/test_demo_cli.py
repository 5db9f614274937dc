"""`flask demo` (run by `make run`): a demo owner, workspace and API key; secrets printed once."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.accounts.models import User
from app.extensions import db
from tests.factories import bearer

KEY = re.compile(r"sk_live_[A-Za-z0-9]{32,}")


@pytest.fixture
def demo(app):
    runner = app.test_cli_runner()

    def run(*args: str):
        result = runner.invoke(args=["demo", *args])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return result.stdout

    return run


def field(output: str, name: str) -> str:
    """The value printed after `name` on its own line of the demo's output."""
    match = re.search(rf"^\s+{name}\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def workspace_id(output: str) -> str:
    match = re.search(r"\bid (ws_\w+)", output)
    assert match, output
    return match.group(1)


def users_named(email: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.email_normalized == email))


def test_demo_key_reads_the_demo_workspace(client, demo):
    output = demo()
    key = field(output, "API key")
    assert KEY.fullmatch(key)
    assert KEY.findall(output) == [key]
    ws = workspace_id(output)
    response = client.get(f"/api/v1/workspaces/{ws}", headers=bearer(key))
    assert response.status_code == 200
    assert response.get_json()["data"]["id"] == ws


def test_demo_owner_logs_in_with_the_printed_password(client, demo):
    output = demo()
    email, password = field(output, "user"), field(output, "password")
    assert email == "demo@example.com"
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200
    workspaces = response.get_json()["data"]["user"]["workspaces"]
    assert [(w["id"], w["role"]) for w in workspaces] == [(workspace_id(output), "owner")]


def test_demo_key_has_every_scope(client, demo):
    output = demo()
    response = client.get("/api/v1/api-keys", headers=bearer(field(output, "API key")))
    assert response.status_code == 200
    assert [k["scopes"] for k in response.get_json()["data"]] == [["*"]]


def test_second_demo_run_prints_no_secret(demo):
    first = demo()
    second = demo()
    assert "already exists" in second
    assert workspace_id(first) in second
    assert KEY.search(second) is None
    assert field(first, "password") not in second
    assert users_named("demo@example.com") == 1


def test_demo_with_another_email(demo):
    output = demo("--email", "trial@example.com")
    assert field(output, "user") == "trial@example.com"
    assert users_named("trial@example.com") == 1
    assert users_named("demo@example.com") == 0
