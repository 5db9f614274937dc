"""API.md §1, §2 and §4: request ids, the error envelope on every failure, body rules, CORS."""

from __future__ import annotations

import io
import re

import pytest

from . import assert_error, key_id_of, spare_app

WORKSPACES = "/api/v1/workspaces"
ALLOWED_ORIGIN = "https://app.example.com"
GENERATED_ID = re.compile(r"^req_[A-Za-z0-9]{8,}$")


@pytest.fixture
def body_limit(app):
    """Set MAX_BODY_BYTES (and werkzeug's limit, one past it, as config.load couples them)."""
    saved = app.config["MAX_BODY_BYTES"], app.config["MAX_CONTENT_LENGTH"]

    def set_limit(limit: int) -> None:
        app.config["MAX_BODY_BYTES"], app.config["MAX_CONTENT_LENGTH"] = limit, limit + 1

    yield set_limit
    app.config["MAX_BODY_BYTES"], app.config["MAX_CONTENT_LENGTH"] = saved


def json_of_size(size: int) -> bytes:
    """A valid workspace body of exactly `size` bytes."""
    body = b'{"name":"' + b"a" * (size - 11) + b'"}'
    assert len(body) == size
    return body


def post_raw(client, owner, data: bytes, content_type: str = "application/json", **kwargs):
    return client.post(WORKSPACES, headers=owner.headers, data=data, content_type=content_type, **kwargs)


# --- X-Request-ID ---------------------------------------------------------------------------


def test_every_response_gets_a_generated_request_id(client, owner):
    response = client.get(WORKSPACES, headers=owner.headers)
    assert response.status_code == 200
    assert GENERATED_ID.match(response.headers["X-Request-ID"])


def test_a_sane_caller_request_id_is_echoed(client, owner):
    response = client.get(WORKSPACES, headers={**owner.headers, "X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


def test_the_echoed_request_id_is_also_in_error_bodies(client):
    response = client.get("/api/v1/no-such-thing", headers={"X-Request-ID": "abc-123"})
    body = assert_error(response, 404, "not_found")
    assert body["request_id"] == "abc-123"


@pytest.mark.parametrize("given", ["a" * 300, "abc 123", "abc\t123", "<script>", ""])
def test_an_insane_request_id_is_replaced(client, owner, given):
    response = client.get(WORKSPACES, headers={**owner.headers, "X-Request-ID": given})
    assert response.status_code == 200
    assert GENERATED_ID.match(response.headers["X-Request-ID"])
    assert response.headers["X-Request-ID"] != given


def test_two_requests_get_different_request_ids(client):
    first = client.get("/api/health").headers["X-Request-ID"]
    second = client.get("/api/health").headers["X-Request-ID"]
    assert first != second


# --- Flask's own errors in the contract's envelope --------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/no-such-thing", "/nowhere", "/api/v1/workspaces/ws_x/nothing/here"])
def test_unknown_url_is_a_json_404(client, url):
    assert_error(client.get(url), 404, "not_found")


def test_a_path_that_could_name_a_custom_entity_needs_credentials_first(client, owner):
    """`/api/v1/{name}` may be a workspace's custom entity: who asks decides whether it exists."""
    assert_error(client.get("/api/v1/nope"), 401, "unauthorized")
    assert_error(client.get("/api/v1/nope", headers=owner.headers), 404, "entity_not_found")


def test_wrong_method_is_405_and_keeps_the_allow_header(client, owner):
    response = client.put(WORKSPACES, headers=owner.headers, json={"name": "x"})
    assert_error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


def test_malformed_json_is_400_bad_request(client, owner):
    assert_error(post_raw(client, owner, b'{"name": "x"'), 400, "bad_request")


@pytest.mark.parametrize("data", [b'["name"]', b'"name"', b"null", b"1"])
def test_valid_json_that_is_not_an_object_is_422(client, owner, data):
    body = assert_error(post_raw(client, owner, data), 422, "validation_failed")
    assert body["errors"] == {"_schema": ["Invalid input type."]}


def test_a_body_that_is_not_json_is_415(client, owner):
    response = post_raw(client, owner, b"name=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_plain_text_body_is_415_even_if_it_parses_as_json(client, owner):
    assert_error(post_raw(client, owner, b'{"name":"x"}', content_type="text/plain"), 415, "unsupported_media_type")


def test_a_body_over_the_limit_is_413(client, owner, body_limit):
    body_limit(100)
    assert_error(post_raw(client, owner, json_of_size(101)), 413, "payload_too_large")


def test_a_body_of_exactly_the_limit_passes_the_size_check(client, owner, body_limit):
    body_limit(100)
    response = post_raw(client, owner, json_of_size(100))
    assert response.status_code == 201, response.get_json()


def test_the_size_check_comes_before_authentication(client, body_limit):
    body_limit(100)
    response = client.post(WORKSPACES, data=json_of_size(500), content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def post_chunked(client, headers, body: bytes):
    """No Content-Length (the test client needs wsgi.input_terminated to pass the stream on)."""
    return client.post(
        WORKSPACES,
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        input_stream=io.BytesIO(body),
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_limit_is_413(client, owner, body_limit):
    """No Content-Length: the limit must still hold (gunicorn passes chunked bodies through)."""
    body_limit(100)
    assert_error(post_chunked(client, owner.headers, json_of_size(300)), 413, "payload_too_large")


def test_a_chunked_body_within_the_limit_is_accepted(client, owner, body_limit):
    body_limit(100)
    response = post_chunked(client, owner.headers, json_of_size(100))
    assert response.status_code == 201, response.get_json()


# --- body validation --------------------------------------------------------------------------


def test_unknown_body_fields_are_422_with_an_errors_map(client, owner):
    response = client.post(WORKSPACES, headers=owner.headers, json={"name": "Acme", "colour": "red"})
    body = assert_error(response, 422, "validation_failed")
    assert list(body["errors"]) == ["colour"]
    assert all(isinstance(m, str) for m in body["errors"]["colour"])


@pytest.mark.parametrize(
    "field, value",
    [("id", "ws_mine"), ("created_at", "2026-01-15T10:30:00Z"), ("updated_at", "2026-01-15T10:30:00Z")],
)
def test_read_only_fields_in_a_body_are_422(client, owner, field, value):
    response = client.post(WORKSPACES, headers=owner.headers, json={"name": "Acme", field: value})
    body = assert_error(response, 422, "validation_failed")
    assert field in body["errors"]


def test_read_only_fields_in_an_update_are_422_and_change_nothing(client, owner):
    url = f"{WORKSPACES}/{owner.workspace_id}"
    response = client.patch(url, headers=owner.headers, json={"id": "ws_other", "name": "Renamed"})
    assert "id" in assert_error(response, 422, "validation_failed")["errors"]
    assert client.get(url, headers=owner.headers).get_json()["data"]["name"] != "Renamed"


def test_null_for_a_non_nullable_field_is_422(client, owner):
    response = client.post(WORKSPACES, headers=owner.headers, json={"name": None})
    assert "name" in assert_error(response, 422, "validation_failed")["errors"]


def test_a_missing_required_field_is_422(client, owner):
    response = client.post(WORKSPACES, headers=owner.headers, json={})
    assert "name" in assert_error(response, 422, "validation_failed")["errors"]


def test_nested_errors_are_named_by_path(client, owner):
    response = client.post(WORKSPACES, headers=owner.headers, json={"name": "A", "settings": {"timezone": "Mars/Base"}})
    assert "settings.timezone" in assert_error(response, 422, "validation_failed")["errors"]


# --- unexpected exceptions ----------------------------------------------------------------------


def test_an_unexpected_exception_is_a_bare_500(app):
    with spare_app() as other_app:

        @other_app.route("/api/v1/boom")
        def boom():
            raise RuntimeError("secret internals: password=hunter2")

        response = other_app.test_client().get("/api/v1/boom", headers={"X-Request-ID": "trace-me-1"})
    body = assert_error(response, 500, "server_error")
    assert body["request_id"] == "trace-me-1"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "RuntimeError", "hunter2", "secret internals", 'File "'):
        assert leak not in text
    # the suite's own app still answers normally afterwards
    assert app.test_client().get("/api/health").status_code == 200


# --- 401 says nothing about which part was wrong -------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "sk_live_" + "a" * 40},
        {"Authorization": "Bearer sk_live_" + "a" * 40},
        {"Authorization": "Bearer ses_" + "a" * 40},
        {"Authorization": "Bearer something-else"},
    ],
    ids=[
        "missing",
        "basic",
        "empty-bearer",
        "blank-bearer",
        "no-scheme",
        "unknown-key",
        "unknown-session",
        "unknown-kind",
    ],
)
def test_401_bodies_are_identical_for_every_bad_credential(client, headers):
    reference = client.get(WORKSPACES)
    response = client.get(WORKSPACES, headers=headers)
    body = assert_error(response, 401, "unauthorized")
    expected = reference.get_json()
    del body["request_id"], expected["request_id"]
    assert body == expected
    assert response.headers.get("WWW-Authenticate") == reference.headers.get("WWW-Authenticate")


def test_a_revoked_key_gets_the_same_401(client, owner):
    from app.api_keys import service as api_keys

    assert api_keys.revoke_key_by_id(key_id_of(owner.key))
    response = client.get(WORKSPACES, headers=owner.headers)
    body = assert_error(response, 401, "unauthorized")
    assert body["message"] == client.get(WORKSPACES).get_json()["message"]


# --- CORS ------------------------------------------------------------------------------------------


def preflight(client, origin: str):
    return client.options(
        WORKSPACES,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Idempotency-Key, X-Workspace-ID, Content-Type",
        },
    )


def test_preflight_from_a_configured_origin_is_allowed(client):
    response = preflight(client, ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "idempotency-key", "x-workspace-id", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers.get("Access-Control-Allow-Credentials") == "true"


def test_preflight_from_a_foreign_origin_gets_no_cors_headers(client):
    response = preflight(client, "https://evil.example.net")
    assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")]


def test_a_foreign_origin_gets_no_cors_headers_on_real_requests(client, owner):
    response = client.get(WORKSPACES, headers={**owner.headers, "Origin": "https://app.example.com.evil.net"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_exposes_request_id_and_rate_limit_headers(client, owner):
    response = client.get(WORKSPACES, headers={**owner.headers, "Origin": ALLOWED_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "x-total-count",
        "link",
        "idempotent-replayed",
    } <= exposed


def test_errors_carry_cors_headers_for_allowed_origins(client):
    response = client.get(WORKSPACES, headers={"Origin": ALLOWED_ORIGIN})
    assert_error(response, 401, "unauthorized")
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


# --- NUL characters: PostgreSQL text cannot store them; never a 500 -----------------------------


def test_a_nul_character_in_a_body_string_is_a_validation_error(client, owner):
    response = client.post("/api/v1/workspaces", headers=owner.headers, json={"name": "a\u0000b"})
    assert assert_error(response, 422, "validation_failed")["errors"] == {"name": ["Must not contain NUL characters."]}


def test_a_nul_character_nested_in_a_body_names_its_field(client, owner):
    url = f"/api/v1/workspaces/{owner.workspace_id}"
    response = client.patch(url, headers=owner.headers, json={"settings": {"locale": "en\u0000GB"}})
    assert "settings.locale" in assert_error(response, 422, "validation_failed")["errors"]


def test_a_nul_character_at_login_is_refused_before_any_lookup(client):
    response = client.post("/api/v1/auth/login", json={"email": "a\u0000@example.com", "password": "x"})
    assert_error(response, 422, "validation_failed")


def test_a_nul_character_in_a_query_parameter_is_a_bad_request(client, owner):
    assert_error(client.get("/api/v1/workspaces?search=a%00b", headers=owner.headers), 400, "bad_request")


def test_a_nul_character_in_a_path_or_workspace_header_is_not_found(client, owner):
    assert_error(client.get("/api/v1/api-keys/key_%00", headers=owner.headers), 404, "not_found")
    headers = {**owner.headers, "X-Workspace-ID": "ws_\u0000"}
    assert_error(client.get("/api/v1/events", headers=headers), 404, "not_found")
