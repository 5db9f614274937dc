"""Sign up, log in, sessions (bearer and cookie), log out and /auth/me (API.md §2, §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.accounts.models import Session, User
from app.core.ratelimit import limiter
from app.extensions import db
from tests.assertions import ISO_Z, error, without_request_id

from .. import factories
from ..conftest import TEST_REDIS_URL, requires_redis
from ..factories import PASSWORD

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
COOKIE = "core_session"
ALLOWED_ORIGIN = "https://app.example.com"
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def signup(client, email="ana@example.com", password=PASSWORD, **extra):
    return client.post(SIGNUP, json={"email": email, "password": password, **extra})


def login(client, email="owner@example.com", password=PASSWORD, ip="127.0.0.1"):
    return client.post(LOGIN, json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


def session_token(client, email="owner@example.com") -> str:
    response = login(client, email)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def user_row(email: str) -> User:
    return db.session.scalar(
        sa.select(User).where(User.email_normalized == email.lower()).execution_options(populate_existing=True)
    )


# --- signup ----------------------------------------------------------------------------------


def test_signup_creates_user_and_personal_workspace(client):
    response = signup(client, name="Ana Lima")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"message", "data"}
    assert body["message"]
    data = body["data"]
    assert set(data) == {"id", "email", "name", "created_at", "workspaces"}
    assert data["id"].startswith("usr_")
    assert data["email"] == "ana@example.com"
    assert data["name"] == "Ana Lima"
    assert ISO_Z.match(data["created_at"])
    [workspace] = data["workspaces"]
    assert set(workspace) == {"id", "slug", "name", "role"}
    assert workspace["id"].startswith("ws_")
    assert workspace["role"] == "owner"
    assert workspace["slug"] == "ana-lima-s-workspace"


def test_signup_workspace_is_usable_after_login(client):
    workspace = signup(client).get_json()["data"]["workspaces"][0]
    token = session_token(client, "ana@example.com")
    response = client.get(f"/api/v1/workspaces/{workspace['id']}", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["data"]["slug"] == workspace["slug"]


def test_signup_email_is_unique_case_insensitively(client):
    assert signup(client, "ana@example.com").status_code == 201
    body = error(signup(client, "ANA@Example.COM"), 409, "conflict")
    assert "email" in body["errors"]


def test_signup_duplicate_of_existing_account_is_conflict(client, owner):
    error(signup(client, "Owner@Example.com"), 409, "conflict")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "ana@example.com", "password": "short"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "ana@example.com"}, "password"),
        ({"email": "ana@example.com", "password": PASSWORD, "is_platform_admin": True}, "is_platform_admin"),
        ({"email": "ana@example.com", "password": PASSWORD, "id": "usr_x"}, "id"),
        ({"email": "ana@example.com", "password": PASSWORD, "name": ""}, "name"),
    ],
)
def test_signup_invalid_body_is_422_with_field_errors(client, payload, field):
    body = error(client.post(SIGNUP, json=payload), 422, "validation_failed")
    assert isinstance(body["errors"][field], list) and body["errors"][field]
    assert user_row("ana@example.com") is None


def test_signup_malformed_json_is_400(client):
    error(client.post(SIGNUP, data="{nope", content_type="application/json"), 400, "bad_request")


def test_signup_and_login_are_public_and_ignore_a_bad_credential(client, owner):
    garbage = {"Authorization": "Bearer sk_live_not-a-real-key"}
    assert (
        client.post(SIGNUP, json={"email": "ana@example.com", "password": PASSWORD}, headers=garbage).status_code == 201
    )
    response = client.post(LOGIN, json={"email": "ana@example.com", "password": PASSWORD}, headers=garbage)
    assert response.status_code == 200


def test_login_again_while_holding_a_cookie_needs_no_origin(client, owner):
    first = session_token(client)
    second = session_token(client)  # the cookie of the first login rides along, with no Origin
    assert first != second
    assert client.get_cookie(COOKIE).value == second


def test_password_is_stored_as_argon2_hash(client):
    signup(client, password="a-secret-passphrase")
    row = user_row("ana@example.com")
    assert row.password_hash.startswith("$argon2")
    assert "a-secret-passphrase" not in row.password_hash


def test_password_never_appears_in_any_response(client):
    secret = "a-secret-passphrase"
    responses = [signup(client, password=secret)]
    responses.append(login(client, "ana@example.com", secret))
    token = responses[-1].get_json()["data"]["token"]
    responses.append(client.get(ME, headers=bearer(token)))
    responses.append(signup(client, password=secret))  # the 409
    for response in responses:
        text = response.get_data(as_text=True)
        assert secret not in text
        assert "password" not in (response.get_json().get("data") or {})
        assert "password_hash" not in text


# --- login -----------------------------------------------------------------------------------


def test_login_returns_token_expiry_user_and_httponly_cookie(client, owner):
    with time_machine.travel(T0, tick=False):
        response = login(client)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert set(data) == {"token", "expires_at", "user"}
    assert data["token"].startswith("sess_")
    assert data["expires_at"] == "2026-04-01T09:00:00Z"  # 30 days
    assert data["user"]["id"] == owner.user_id
    assert data["user"]["workspaces"] == [
        {"id": owner.workspace_id, "slug": "owner-s-workspace", "name": "owner's workspace", "role": "owner"}
    ]
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{COOKIE}={data['token']}")
    assert "HttpOnly" in set_cookie
    assert client.get_cookie(COOKIE).value == data["token"]


def test_login_email_is_case_insensitive(client, owner):
    assert login(client, "OWNER@example.COM").status_code == 200


def test_wrong_password_and_unknown_email_get_identical_401(client, owner):
    wrong = login(client, "owner@example.com", "wrong-password")
    unknown = login(client, "nobody@example.com", PASSWORD)
    wrong_body = error(wrong, 401, "unauthorized")
    unknown_body = error(unknown, 401, "unauthorized")
    assert without_request_id(wrong_body) == without_request_id(unknown_body)
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert wrong.headers.get("Set-Cookie") is None


def test_login_missing_password_is_422(client):
    body = error(client.post(LOGIN, json={"email": "owner@example.com"}), 422, "validation_failed")
    assert "password" in body["errors"]


def assert_rate_limited(response, limit: int = 5) -> dict:
    body = error(response, 429, "rate_limit_exceeded")
    assert body["limit"] == limit
    assert body["remaining"] == 0
    assert 1 <= body["retry_after"] <= 60
    assert ISO_Z.match(body["reset_at"])
    assert response.headers["Retry-After"] == str(body["retry_after"])
    return body


def test_login_is_limited_to_five_attempts_a_minute_per_ip(client, owner):
    for n in range(5):
        error(login(client, f"nobody{n}@example.com", ip="10.0.0.3"), 401, "unauthorized")
    assert_rate_limited(login(client, "owner@example.com", ip="10.0.0.3"))
    # another address (and a fresh email) is not affected
    assert login(client, "owner@example.com", ip="10.0.0.4").status_code == 200


def test_login_limit_per_email_holds_across_two_ips(client, owner):
    for _ in range(5):
        error(login(client, "owner@example.com", "wrong-password", ip="10.0.0.1"), 401, "unauthorized")
    # the right password from another address is still refused: the email's attempts are spent
    assert_rate_limited(login(client, "OWNER@example.com", ip="10.0.0.2"))
    # that address itself is fine for another email
    error(login(client, "nobody@example.com", ip="10.0.0.2"), 401, "unauthorized")


def test_successful_logins_count_towards_the_limit(client, owner):
    for _ in range(5):
        assert login(client).status_code == 200
    assert_rate_limited(login(client))


@pytest.mark.skipif(bool(TEST_REDIS_URL), reason="Redis expires windows by its own clock; see the TTL test")
def test_login_works_again_after_the_minute_passes(client, owner):
    with time_machine.travel(T0, tick=False) as traveller:
        for _ in range(5):
            login(client, "owner@example.com", "wrong-password")
        body = assert_rate_limited(login(client))
        traveller.shift(timedelta(seconds=body["retry_after"] - 1))
        assert_rate_limited(login(client))
        traveller.shift(timedelta(seconds=2))
        assert login(client).status_code == 200


@requires_redis
def test_login_limit_windows_expire_within_a_minute_on_redis(client, owner, app):
    """On Redis the window is a key TTL kept by the server's clock (time_machine cannot move it)."""
    for _ in range(6):
        login(client, "owner@example.com", "wrong-password")
    redis = limiter.limiter.storage.storage  # the limits RedisStorage's client
    keys = [k for k in redis.scan_iter("*login-*")]
    assert len(keys) == 2  # one per IP, one per email
    for key in keys:
        assert 0 < redis.ttl(key) <= 60
    # the 6th attempt is refused by the IP limit before the email's counter is touched
    assert sorted(int(redis.get(key)) for key in keys) == [5, 6]


# --- sessions: bearer and cookie -------------------------------------------------------------


def test_session_token_works_as_bearer(client, owner):
    token = session_token(client)
    client.delete_cookie(COOKIE)
    response = client.get(ME, headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["data"]["id"] == owner.user_id


def test_session_cookie_authenticates_safe_requests(client, owner):
    session_token(client)
    response = client.get(f"/api/v1/workspaces/{owner.workspace_id}")
    assert response.status_code == 200


def test_api_key_in_the_session_cookie_is_refused(client, owner):
    client.set_cookie(COOKIE, owner.key)
    error(client.get(ME), 401, "unauthorized")


def patch_workspace(client, workspace_id: str, headers: dict | None = None):
    return client.patch(f"/api/v1/workspaces/{workspace_id}", json={"name": "Renamed"}, headers=headers or {})


def test_cookie_unsafe_request_without_origin_is_denied(client, owner):
    session_token(client)
    error(patch_workspace(client, owner.workspace_id), 403, "access_denied")


def test_cookie_unsafe_request_from_foreign_origin_is_denied(client, owner):
    session_token(client)
    error(patch_workspace(client, owner.workspace_id, {"Origin": "https://evil.example.com"}), 403, "access_denied")
    error(
        patch_workspace(client, owner.workspace_id, {"Origin": "https://app.example.com.evil.io"}), 403, "access_denied"
    )


def test_cookie_unsafe_request_from_allowed_origin_is_accepted(client, owner):
    session_token(client)
    response = patch_workspace(client, owner.workspace_id, {"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 200
    assert response.get_json()["data"]["name"] == "Renamed"


def test_bearer_session_needs_no_origin(client, owner):
    token = session_token(client)
    client.delete_cookie(COOKIE)
    assert patch_workspace(client, owner.workspace_id, bearer(token)).status_code == 200


def test_session_expires_after_thirty_days(client, owner):
    with time_machine.travel(T0, tick=False) as traveller:
        token = session_token(client)
        client.delete_cookie(COOKIE)
        traveller.shift(timedelta(days=30) - timedelta(seconds=1))
        assert client.get(ME, headers=bearer(token)).status_code == 200
        traveller.shift(timedelta(seconds=1))
        body = error(client.get(ME, headers=bearer(token)), 401, "unauthorized")
    assert set(body) == {"error", "message", "request_id"}


def test_session_is_stored_hashed(client, owner):
    token = session_token(client)
    rows = db.session.scalars(sa.select(Session).where(Session.user_id == owner.user_id)).all()
    assert len(rows) == 1
    assert rows[0].token_hash != token
    assert token not in rows[0].token_hash
    assert rows[0].id.startswith("ses_")
    assert db.session.scalar(sa.select(sa.func.count()).where(Session.token_hash == token)) == 0


def test_unknown_session_token_is_401(client, owner):
    error(client.get(ME, headers=bearer("sess_" + "x" * 43)), 401, "unauthorized")


def test_malformed_authorization_header_is_401(client, owner):
    error(client.get(ME, headers={"Authorization": f"Basic {owner.key}"}), 401, "unauthorized")


# --- logout ----------------------------------------------------------------------------------


def test_logout_revokes_the_session(client, owner):
    token = session_token(client)
    client.delete_cookie(COOKIE)
    response = client.post(LOGOUT, headers=bearer(token))
    assert response.status_code == 204
    assert response.get_data() == b""
    error(client.get(ME, headers=bearer(token)), 401, "unauthorized")
    row = db.session.scalar(
        sa.select(Session).where(Session.user_id == owner.user_id).execution_options(populate_existing=True)
    )
    assert row.revoked_at is not None


def test_logout_with_cookie_clears_it_and_revokes(client, owner):
    token = session_token(client)
    response = client.post(LOGOUT, headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 204
    assert f"{COOKIE}=;" in response.headers["Set-Cookie"]
    assert client.get_cookie(COOKIE) is None
    error(client.get(ME, headers=bearer(token)), 401, "unauthorized")


def test_logout_only_ends_that_session(client, owner):
    first, second = session_token(client), session_token(client)
    client.delete_cookie(COOKIE)
    assert client.post(LOGOUT, headers=bearer(first)).status_code == 204
    assert client.get(ME, headers=bearer(second)).status_code == 200


def test_logout_with_api_key_is_400(client, owner):
    body = error(client.post(LOGOUT, headers=owner.headers), 400, "bad_request")
    assert owner.key not in str(body)
    assert client.get(ME, headers=owner.headers).status_code == 200


def test_logout_with_foreign_workspace_header_is_404_and_keeps_the_session(client, owner, other):
    token = session_token(client)
    client.delete_cookie(COOKIE)
    headers = {**bearer(token), "X-Workspace-ID": other.workspace_id}
    error(client.post(LOGOUT, headers=headers), 404, "not_found")
    assert client.get(ME, headers=bearer(token)).status_code == 200


def test_logout_without_credentials_is_401(client):
    error(client.post(LOGOUT), 401, "unauthorized")


# --- /auth/me --------------------------------------------------------------------------------


def test_me_lists_every_workspace_with_its_role(client, owner):
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    response = client.get(ME, headers=viewer.headers)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["id"] == viewer.user_id
    assert data["email"] == "viewer@example.com"
    assert data["name"] is None
    assert ISO_Z.match(data["created_at"])
    roles = {w["id"]: w["role"] for w in data["workspaces"]}
    assert roles == {owner.workspace_id: "viewer", viewer.user.default_workspace_id: "owner"}


def test_me_never_shows_other_users_workspaces(client, owner, other):
    data = client.get(ME, headers=owner.headers).get_json()["data"]
    assert [w["id"] for w in data["workspaces"]] == [owner.workspace_id]


def test_me_works_with_a_narrowly_scoped_key(client, owner):
    secret = factories.key(owner.user_id, owner.workspace_id, ["events:read"])
    response = client.get(ME, headers=factories.bearer(secret))
    assert response.status_code == 200
    assert response.get_json()["data"]["id"] == owner.user_id


def test_me_with_foreign_workspace_header_is_404(client, owner, other):
    error(client.get(ME, headers=factories.bearer(owner.key, other.workspace_id)), 404, "not_found")


def test_me_without_credentials_is_401(client):
    response = client.get(ME)
    body = error(response, 401, "unauthorized")
    assert set(body) == {"error", "message", "request_id"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_session_cookie_is_secure_over_https(client, owner):
    body = {"email": "owner@example.com", "password": factories.PASSWORD}
    plain = client.post("/api/v1/auth/login", json=body).headers["Set-Cookie"]
    tls = client.post("/api/v1/auth/login", json=body, base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" not in plain and "HttpOnly" in plain
    assert "Secure" in tls and "HttpOnly" in tls and "SameSite=Lax" in tls
