"""The admin CLI (API.md §10): users, workspaces and keys; errors are one line, never a traceback."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.accounts import service as accounts
from app.extensions import db
from tests import factories

KEY_FORMAT = re.compile(r"^sk_live_[A-Za-z0-9]{32,}$")


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=[str(a) for a in args])

    return run


def ok(result) -> list[str]:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout.strip().splitlines()


def fails(result, *words: str) -> str:
    """Non-zero exit, no traceback, exactly one `Error:` line naming what was wrong."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def fails_in_one_line(result, *words: str) -> str:
    line = fails(result, *words)
    assert result.stderr.strip() == line
    assert result.stdout.strip() == ""
    return line


def login(client, email, password):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def slug_of(client, owner) -> str:
    return client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=owner.headers).json["data"]["slug"]


def workspace_by_slug(client, headers, slug) -> dict:
    listed = client.get("/api/v1/workspaces?per_page=100", headers=headers).json["data"]
    [workspace] = [w for w in listed if w["slug"] == slug]
    return workspace


def is_platform_admin(email) -> bool:
    return accounts.get_user_by_email(email).is_platform_admin


# --- users create ---------------------------------------------------------------------------------------


def test_users_create_with_a_password(cli, client):
    lines = ok(cli("users", "create", "ann@example.com", "--password", "s3cret-pass", "--name", "Ann"))

    assert "ann@example.com" in lines[0]
    assert not any("s3cret-pass" in line for line in lines)
    response = login(client, "ann@example.com", "s3cret-pass")
    assert response.status_code == 200
    me = client.get("/api/v1/auth/me", headers=factories.bearer(response.json["data"]["token"]))
    assert me.json["data"]["name"] == "Ann"
    assert [w["role"] for w in me.json["data"]["workspaces"]] == ["owner"]
    assert is_platform_admin("ann@example.com") is False


def test_users_create_without_a_password_prints_a_generated_one(cli, client):
    lines = ok(cli("users", "create", "ben@example.com"))

    [password_line] = [line for line in lines if line.startswith("Password: ")]
    password = password_line.removeprefix("Password: ")
    assert len(password) >= 12
    assert login(client, "ben@example.com", password).status_code == 200


def test_users_create_admin(cli):
    ok(cli("users", "create", "root@example.com", "--password", "password123", "--admin"))
    assert is_platform_admin("root@example.com") is True


def test_users_create_duplicate_email_fails_cleanly(cli, owner):
    fails_in_one_line(cli("users", "create", "OWNER@example.com", "--password", "password123"), "already exists")


def test_users_create_bad_email_or_short_password_fails_cleanly(cli):
    fails_in_one_line(cli("users", "create", "not-an-email"), "not-an-email")
    fails_in_one_line(cli("users", "create", "cat@example.com", "--password", "short"), "8 characters")
    assert db.session.scalar(sa.text("SELECT count(*) FROM users WHERE email_normalized = 'cat@example.com'")) == 0


# --- workspaces create / set-tier -----------------------------------------------------------------------


def test_workspaces_create_prints_the_slug_and_makes_the_user_owner(cli, client, owner):
    [slug] = ok(cli("workspaces", "create", "Acme Corp", "--owner", "owner@example.com"))

    assert slug == "acme-corp"
    workspace = workspace_by_slug(client, owner.headers, slug)
    assert workspace["name"] == "Acme Corp" and workspace["tier"] == "free"
    members = client.get(f"/api/v1/workspaces/{workspace['id']}/members", headers=owner.headers).json["data"]
    assert [(m["user_id"], m["role"]) for m in members] == [(owner.user_id, "owner")]


def test_workspaces_create_with_tier_and_slug(cli, client, owner):
    [slug] = ok(cli("workspaces", "create", "Big Co", "--owner", "owner@example.com", "--tier", "pro", "--slug", "big"))
    assert slug == "big"
    assert workspace_by_slug(client, owner.headers, "big")["tier"] == "pro"


def test_workspaces_create_makes_derived_slugs_unique(cli, owner):
    assert ok(cli("workspaces", "create", "Acme Corp", "--owner", "owner@example.com")) == ["acme-corp"]
    assert ok(cli("workspaces", "create", "Acme  Corp!", "--owner", "owner@example.com")) == ["acme-corp-2"]


def test_workspaces_create_errors(cli, owner):
    fails_in_one_line(cli("workspaces", "create", "X", "--owner", "nobody@example.com"), "nobody@example.com")
    ok(cli("workspaces", "create", "X", "--owner", "owner@example.com", "--slug", "taken"))
    fails_in_one_line(cli("workspaces", "create", "Y", "--owner", "owner@example.com", "--slug", "taken"), "taken")
    fails(cli("workspaces", "create", "Z", "--owner", "owner@example.com", "--tier", "platinum"), "platinum")


def test_workspaces_set_tier(cli, client, owner):
    slug = slug_of(client, owner)

    ok(cli("workspaces", "set-tier", slug, "agency"))

    workspace = client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=owner.headers).json["data"]
    assert workspace["tier"] == "agency"
    assert client.get("/api/v1/api-keys", headers=owner.headers).headers["X-RateLimit-Limit"] == "20000"


def test_workspaces_set_tier_errors(cli, client, owner):
    fails_in_one_line(cli("workspaces", "set-tier", "no-such-slug", "pro"), "no-such-slug")
    fails(cli("workspaces", "set-tier", slug_of(client, owner), "platinum"), "platinum")
    assert client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=owner.headers).json["data"]["tier"] == "free"


# --- keys create / revoke -------------------------------------------------------------------------------


def create_key(cli, client, owner, *extra) -> tuple[str, str]:
    lines = ok(cli("keys", "create", "--user", "owner@example.com", "--workspace", slug_of(client, owner), *extra))
    secret = lines[-1]
    assert KEY_FORMAT.match(secret), lines
    key_id = re.search(r"\bkey_[A-Za-z0-9]+", "\n".join(lines[:-1])).group(0)
    return key_id, secret


def test_keys_create_prints_the_key_alone_on_the_last_line_and_it_works(cli, client, owner):
    key_id, secret = create_key(cli, client, owner)

    response = client.get(f"/api/v1/api-keys/{key_id}", headers=factories.bearer(secret))
    assert response.status_code == 200
    data = response.json["data"]
    assert data["scopes"] == ["read", "write"]
    assert data["name"] == "CLI key"
    assert data["prefix"] == secret[:12]
    assert data["workspace_id"] == owner.workspace_id and data["user_id"] == owner.user_id


def test_keys_create_with_scopes_name_and_tier(cli, client, owner):
    key_id, secret = create_key(
        cli, client, owner, "--scopes", "events:read, api-keys:read", "--name", "Ops", "--tier", "free"
    )
    headers = factories.bearer(secret)

    data = client.get(f"/api/v1/api-keys/{key_id}", headers=headers).json["data"]
    assert data["scopes"] == ["events:read", "api-keys:read"]
    assert data["name"] == "Ops" and data["rate_limit_tier"] == "free"
    assert client.get("/api/v1/events", headers=headers).status_code == 200
    response = client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=headers)
    assert response.status_code == 403 and response.json["required_scope"] == "workspaces:read"


def test_keys_create_records_an_event_without_the_key(cli, client, owner):
    key_id, secret = create_key(cli, client, owner)
    events = client.get("/api/v1/events?type=api_key.created&per_page=100", headers=owner.headers)
    assert key_id in [e["data"]["id"] for e in events.json["data"]]
    assert secret not in events.get_data(as_text=True)


def test_keys_create_errors(cli, client, owner, other):
    slug = slug_of(client, owner)
    fails_in_one_line(cli("keys", "create", "--user", "nobody@example.com", "--workspace", slug), "nobody@example.com")
    fails_in_one_line(
        cli("keys", "create", "--user", "owner@example.com", "--workspace", "no-such-slug"), "no-such-slug"
    )
    # a user who is not a member of that workspace
    fails_in_one_line(cli("keys", "create", "--user", "stranger@example.com", "--workspace", slug), slug)
    fails_in_one_line(
        cli("keys", "create", "--user", "owner@example.com", "--workspace", slug, "--scopes", "read,bogus"), "bogus"
    )
    fails_in_one_line(cli("keys", "create", "--user", "owner@example.com", "--workspace", slug, "--scopes", ","))
    fails(cli("keys", "create", "--user", "owner@example.com", "--workspace", slug, "--tier", "gold"), "gold")
    count = db.session.scalar(
        sa.text("SELECT count(*) FROM api_keys WHERE workspace_id = :ws"), {"ws": owner.workspace_id}
    )
    assert count == 1  # the fixture's key only


def test_keys_revoke_then_the_key_is_401(cli, client, owner):
    key_id, secret = create_key(cli, client, owner)
    assert client.get("/api/v1/api-keys", headers=factories.bearer(secret)).status_code == 200

    lines = ok(cli("keys", "revoke", key_id))

    assert key_id in lines[-1]
    response = client.get("/api/v1/api-keys", headers=factories.bearer(secret))
    assert response.status_code == 401 and response.json["error"] == "unauthorized"
    assert (
        client.get("/api/v1/events?type=api_key.revoked", headers=owner.headers).json["data"][0]["data"]["id"] == key_id
    )


def test_keys_revoke_errors(cli, client, owner):
    key_id, _ = create_key(cli, client, owner)
    fails_in_one_line(cli("keys", "revoke", "key_doesnotexist"), "key_doesnotexist")
    ok(cli("keys", "revoke", key_id))
    fails_in_one_line(cli("keys", "revoke", key_id), key_id)
