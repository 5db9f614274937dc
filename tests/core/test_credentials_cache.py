"""The credentials cache saves the per-request lookups but never delays a change (API.md §2).

A second app made with create_app() has its own cache and shares Redis and the database: it
stands for another web process.
"""

from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
import time_machine

from app.core.clock import utcnow
from app.extensions import db
from tests import factories
from tests.conftest import requires_redis

from . import key_id_of, spare_app


@contextmanager
def counted_statements():
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def workspace_url(account) -> str:
    return f"/api/v1/workspaces/{account.workspace_id}"


@requires_redis
def test_a_known_key_costs_only_the_routes_own_query(client, owner):
    assert client.get(workspace_url(owner), headers=owner.headers).status_code == 200
    with counted_statements() as statements:
        assert client.get(workspace_url(owner), headers=owner.headers).status_code == 200
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and "FROM workspaces" in selects[0]


@requires_redis
def test_revocation_in_another_process_refuses_the_next_request(client, owner):
    secret = factories.key(owner.user_id, owner.workspace_id, ["*"])
    headers = factories.bearer(secret)
    assert client.get(workspace_url(owner), headers=headers).status_code == 200  # now remembered
    key_id = key_id_of(secret)
    with spare_app() as other_process:
        response = other_process.test_client().delete(f"/api/v1/api-keys/{key_id}", headers=owner.headers)
        assert response.status_code == 204
    assert client.get(workspace_url(owner), headers=headers).status_code == 401


@requires_redis
def test_removal_from_a_workspace_in_another_process_is_seen_at_once(client, owner):
    member = factories.member(owner.workspace_id, "leaving@example.com", "admin")
    url = workspace_url(owner)
    assert client.patch(url, headers=member.headers, json={"name": "Renamed"}).status_code == 200
    with spare_app() as other_process:
        response = other_process.test_client().patch(
            f"{url}/members/{member.user_id}", headers=owner.headers, json={"role": "viewer"}
        )
        assert response.status_code == 200
    response = client.patch(url, headers=member.headers, json={"name": "Again"})
    assert response.status_code == 403 and response.get_json()["required_role"] == "admin"


@requires_redis
def test_logout_in_another_process_ends_the_session_here(client, owner):
    login = client.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": factories.PASSWORD})
    headers = factories.bearer(login.get_json()["data"]["token"])
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with spare_app() as other_process:
        assert other_process.test_client().post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


@requires_redis
def test_a_tier_change_applies_to_remembered_keys(client, owner):
    assert client.get(workspace_url(owner), headers=owner.headers).headers["X-RateLimit-Limit"] == "60"
    with spare_app() as other_process:
        with other_process.app_context():
            from app.workspaces import service as workspaces

            workspaces.set_tier(workspaces.get_workspace(owner.workspace_id), "pro")
    assert client.get(workspace_url(owner), headers=owner.headers).headers["X-RateLimit-Limit"] == "5000"


@requires_redis
def test_a_remembered_key_still_expires_on_time(client, owner):
    expires_at = (utcnow() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = client.post("/api/v1/api-keys", headers=owner.headers, json={"name": "short", "expires_at": expires_at})
    headers = factories.bearer(created.get_json()["data"]["key"])
    assert client.get(workspace_url(owner), headers=headers).status_code == 200  # now remembered
    with time_machine.travel(utcnow() + timedelta(seconds=31), tick=False):
        response = client.get(workspace_url(owner), headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == "expired_key"


def test_without_redis_nothing_is_remembered():
    with spare_app(REDIS_URL=None) as embedded:
        assert embedded.extensions["core.credentials_cache"].enabled is False
