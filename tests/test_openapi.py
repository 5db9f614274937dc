"""The OpenAPI document (API.md §1), the offline docs page, and a schemathesis run against both.

schemathesis needs its schema when the module is imported (`from_fixture` is broken with
pytest 9), before the suite's `app` fixture exists: a spare app serves the document for loading,
and every generated request is then sent to the suite's own app (`app=` on the call).
"""

from __future__ import annotations

import re

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app.core.events import Event
from app.extensions import db
from app.workspaces import service as workspaces

from . import factories
from .core import key_id_of, spare_app

SPEC_URL = "/api/v1/openapi.json"
PUBLIC = {
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/login"),
    # presigned URLs of local file storage: the signature in the query is the credential
    ("put", "/api/v1/files/{file_id}/content"),
    ("get", "/api/v1/files/{file_id}/download"),
    ("get", "/api/v1/pixel/config"),
    ("post", "/api/v1/pixel/track"),
    ("get", "/api/v1/pixel/track.gif"),
}
# bodies read as JSON whatever their Content-Type (navigator.sendBeacon sends text/plain): no 415
ANY_MEDIA_TYPE = {("post", "/api/v1/pixel/track")}
# the MCP endpoints answer a malformed JSON-RPC message with a JSON-RPC error object (the MCP transport),
# other 400s (a bad Idempotency-Key) with the error envelope
MCP_PATHS = ("/mcp/{workspace_slug}/{server_slug}", "/mcp/{workspace_slug}/entities")
JSON_RPC_ERRORS = {(path, "400") for path in MCP_PATHS}
UNSAFE = {"post", "put", "patch", "delete"}
METHODS = {"get", "post", "put", "patch", "delete"}

with spare_app() as _loader_app:
    schema = schemathesis.openapi.from_wsgi(SPEC_URL, _loader_app)
    LOADED_SPEC = _loader_app.test_client().get(SPEC_URL).get_json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


@pytest.fixture
def spec(client):
    response = client.get(SPEC_URL)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def resolve(spec: dict, obj: dict) -> dict:
    while "$ref" in obj:
        assert obj["$ref"].startswith("#/")
        node = spec
        for part in obj["$ref"][2:].split("/"):
            node = node[part]
        obj = node
    return obj


# --- the document ---------------------------------------------------------------------------------


def test_document_is_openapi_3(spec):
    assert spec["openapi"] in ("3.0.3", "3.1.0")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert any(path.startswith("/api/v1/") for path in spec["paths"])


def test_document_passes_the_openapi_validator(spec):
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator is not installed")
    validator.validate(spec)


def test_the_schemathesis_run_uses_the_document_the_app_serves(spec):
    assert LOADED_SPEC == spec


def test_security_schemes(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["cookieAuth"] == {"type": "apiKey", "in": "cookie", "name": "core_session"}


def test_every_api_operation_but_signup_and_login_needs_credentials_and_documents_401(spec):
    checked = 0
    for method, path, operation in operations(spec):
        if not path.startswith("/api/v1/") or (method, path) in PUBLIC:
            continue
        checked += 1
        names = {name for requirement in operation.get("security", []) for name in requirement}
        assert names == {"bearerAuth", "cookieAuth"}, (method, path)
        assert "401" in operation["responses"], (method, path)
        assert "429" in operation["responses"], (method, path)
    assert checked >= 15


def test_signup_and_login_are_public(spec):
    for method, path in PUBLIC:
        assert not spec["paths"][path][method].get("security")


def test_every_operation_documents_its_error_responses(spec):
    missing = []
    for method, path, operation in operations(spec):
        documented = set(operation["responses"])
        expected = set()
        if operation.get("requestBody"):
            expected |= {"400", "413", "422"} | (set() if (method, path) in ANY_MEDIA_TYPE else {"415"})
        if "{" in path:
            expected.add("404")
        if operation.get("security"):
            expected |= {"401", "429"}
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        missing += [f"{method.upper()} {path}: {code}" for code in sorted(expected - documented)]
    assert not missing


def test_unsafe_operations_document_the_idempotency_errors(spec):
    """Idempotency-Key on POST/PUT/PATCH/DELETE (API.md §7): 400 bad key, 409 in use, 422 reused."""
    missing = []
    for method, path, operation in operations(spec):
        if method in UNSAFE and operation.get("security"):
            missing += [
                f"{method.upper()} {path}: {c}" for c in ("400", "409", "422") if c not in operation["responses"]
            ]
    assert not missing


def test_error_responses_use_the_error_envelope(spec):
    error = resolve(spec, {"$ref": "#/components/schemas/Error"})
    assert {"error", "message"} <= set(error.get("required", []))
    assert {"error", "message", "request_id", "errors"} <= set(error["properties"])
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/api/health":
                content = resolve(spec, response)["content"]["application/json"]
                if (path, status) in JSON_RPC_ERRORS:
                    shapes = [resolve(spec, shape) for shape in content["schema"]["oneOf"]]
                    assert error in shapes, (method, path, status)
                    continue
                assert resolve(spec, content["schema"]) == error, (method, path, status)


def test_the_mcp_endpoints_are_documented(spec):
    for path in MCP_PATHS:
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "202", "400", "401", "403", "404", "429"} <= set(operation["responses"])
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        body = operation["requestBody"]["content"]["application/json"]
        assert resolve(spec, body["schema"])["required"] == ["jsonrpc", "method"]
        assert {"initialize", "tools/list", "tools/call"} <= set(body["examples"])
        assert [p["name"] for p in operation["parameters"]] == ["MCP-Protocol-Version"]
        assert {p["name"] for p in spec["paths"][path]["parameters"]} <= {"workspace_slug", "server_slug"}
    assert set(spec["paths"]) >= set(MCP_PATHS)


def test_list_operations_document_the_list_parameters(spec):
    for path in ("/api/v1/workspaces", "/api/v1/api-keys", "/api/v1/events"):
        names = {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])}
        assert {"page", "per_page", "sort", "fields", "include", "created_after", "created_before"} <= names, path


def test_schemas_carry_examples(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"].get("example")
    with_examples = [n for n, s in schemas.items() if any("example" in p for p in s.get("properties", {}).values())]
    assert len(with_examples) >= len(schemas) // 2


# --- the docs page works offline -------------------------------------------------------------------------


def test_docs_page_loads_its_assets_from_the_app(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    urls = re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', html)
    assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls)
    for url in urls:
        assert url.startswith("/api/docs/assets/"), url
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), "a URL outside the app"
    assert SPEC_URL in html
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > 1000, url


def test_an_unknown_docs_asset_is_a_json_404(client):
    response = client.get("/api/docs/assets/nope.js")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_docs_asset_paths_cannot_escape_the_bundle(client):
    for url in ("/api/docs/assets/../../../../etc/passwd", "/api/docs/assets/%2e%2e/%2e%2e/app/__init__.py"):
        assert client.get(url).status_code == 404


# --- schemathesis ------------------------------------------------------------------------------------------


@pytest.fixture
def enterprise(app):
    """An enterprise-tier owner and key (rate limits out of the way), with real ids to aim at:
    a second workspace and a second key, so a generated DELETE does not remove the caller's own."""
    account = factories.account("schemathesis@example.com", tier="enterprise")
    account.spare_workspace_id = workspaces.create_workspace(account.user_id, {"name": "Spare"}).id
    account.spare_key_id = key_id_of(factories.key(account.user_id, account.workspace_id))
    account.event_id = db.session.scalar(sa.select(Event.id).where(Event.workspace_id == account.workspace_id))
    return account


def aim_at_real_resources(case, account) -> None:
    """Half of the generated path ids become real ones, so success responses are checked too."""
    deleting_workspace = case.method == "DELETE" and case.path == "/api/v1/workspaces/{workspace_id}"
    real = {
        "workspace_id": account.spare_workspace_id if deleting_workspace else account.workspace_id,
        "user_id": account.user_id,
        "key_id": account.spare_key_id,
        "event_id": account.event_id,
        "workspace_slug": workspaces.get_workspace(account.workspace_id).slug,  # the MCP endpoints
    }
    for name, value in (case.path_parameters or {}).items():
        if name in real and len(str(value)) % 2 == 0:
            case.path_parameters[name] = real[name]


@schema.parametrize()
@settings(max_examples=20, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case, app, enterprise, stripe_stand_in, ai_stand_in, monkeypatch):
    monkeypatch.setitem(app.config, "CLERK_WEBHOOK_SECRET", "whsec_" + "A" * 44)  # the identity webhook on
    aim_at_real_resources(case, enterprise)
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {enterprise.key}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
