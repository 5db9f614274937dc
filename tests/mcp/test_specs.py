"""Spec import: formats, validation, non-local references refused before validating, jobs."""

import json
import sys

import pytest
from openapi_spec_validator import validate

from tests import factories
from tests.assertions import ISO_Z, denied, error
from tests.webhooks import run_jobs

from .specs import document, op, petstore_yaml

SPECS = "/api/v1/mcp/specs"


def create(client, owner, **body):
    return client.post(SPECS, json={"name": "Petstore", **body}, headers=owner.headers)


def test_petstore_30_yaml_text_is_imported_at_once(client, owner):
    # the shipped Petstore has `200:` keys (integers to YAML) and a property named `$ref`
    response = create(client, owner, raw_spec=petstore_yaml("3.0"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["message"] == "Spec imported successfully."
    spec = body["data"]
    assert spec["id"].startswith("spc_")
    assert spec["status"] == "ready" and spec["error"] is None
    assert spec["openapi_version"] == "3.0.0"
    assert spec["title"] == "Swagger Petstore"
    assert spec["version"] == "1.0.0"  # from info.version when not given
    assert spec["operation_count"] == 3
    assert ISO_Z.match(spec["created_at"])


def test_petstore_31_as_json_text_and_as_object(client, owner):
    import yaml

    parsed = yaml.safe_load(petstore_yaml("3.1"))
    as_object = json.loads(json.dumps(parsed))  # JSON makes the integer keys strings
    for raw in (json.dumps(as_object), as_object):
        response = create(client, owner, raw_spec=raw, version="v9")
        assert response.status_code == 201, response.get_json()
        spec = response.get_json()["data"]
        assert (spec["openapi_version"], spec["version"], spec["operation_count"]) == ("3.1.0", "v9", 2)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json: [", "Neither JSON nor YAML"),
        ("- a\n- list\n", "must be an object"),
        ('{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}', "Only OpenAPI 3.0 and 3.1"),
        ('{"openapi": "3.0.3", "info": {"title": "x"}, "paths": {}}', "'version' is a required property"),
        (
            json.dumps(document({"/a": {"get": op(parameters=[{"$ref": "#/components/parameters/Nope"}])}})),
            "points nowhere",
        ),
    ],
)
def test_invalid_documents_are_422_with_the_reason(client, owner, raw, message):
    body = error(create(client, owner, raw_spec=raw), 422, "validation_failed")
    assert message.replace("'", '"') in body["errors"]["raw_spec"][0].replace("'", '"')


def test_exactly_one_source(client, owner):
    body = error(client.post(SPECS, json={"name": "x"}, headers=owner.headers), 422, "validation_failed")
    assert "exactly one" in body["errors"]["raw_spec"][0]
    both = {"name": "x", "raw_spec": petstore_yaml(), "source_url": "https://example.com/a.yaml"}
    error(client.post(SPECS, json=both, headers=owner.headers), 422, "validation_failed")
    error(client.post(SPECS, json={"name": "x", "raw_spec": 5}, headers=owner.headers), 422, "validation_failed")
    error(
        client.post(SPECS, json={"name": "x", "raw_spec": {}, "id": "spc_x"}, headers=owner.headers),
        422,
        "validation_failed",
    )


# --- references that are not local ------------------------------------------------------------


def _with_ref(ref: str) -> dict:
    return document(
        {
            "/a": {
                "get": {
                    "responses": {
                        "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}
                    }
                }
            }
        }
    )


def test_validator_alone_would_fetch_a_remote_ref(canary):
    """The control: without our check, openapi-spec-validator connects to the referenced host."""
    with pytest.raises(Exception):  # noqa: B017 - whatever the canary's closed connection causes
        validate(_with_ref(f"http://127.0.0.1:{canary.port}/schemas.yaml#/Pet"))
    assert canary.count() >= 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_remote_ref_is_refused_before_any_connection(client, owner, canary, scheme):
    raw = _with_ref(f"{scheme}://127.0.0.1:{canary.port}/schemas.yaml#/Pet")
    body = error(create(client, owner, raw_spec=raw), 422, "validation_failed")
    assert "Only local references" in body["errors"]["raw_spec"][0]
    assert "#/paths/~1a/get/responses/200" in body["errors"]["raw_spec"][0]
    assert canary.count() == 0


_opened: list[str] = []
_watching: set[str] = set()


def _audit(event, args):
    if event == "open" and args and str(args[0]) in _watching:
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed: it only records the paths a test watches


@pytest.mark.parametrize("form", ["file://{path}", "{path}", "./{name}#/Pet", "{name}"])
def test_file_and_relative_refs_are_refused_without_opening_anything(client, owner, tmp_path, form):
    target = tmp_path / "schemas.yaml"
    target.write_text("Pet: {type: object}\n")
    _watching.add(str(target))
    ref = form.format(path=target, name=target.name)
    body = error(create(client, owner, raw_spec=_with_ref(ref)), 422, "validation_failed")
    assert "Only local references" in body["errors"]["raw_spec"][0]
    assert _opened == []


def test_the_audit_hook_sees_the_validator_open_a_file_ref(tmp_path):
    """The control of the test above: the validator alone does open a file:// reference."""
    target = tmp_path / "schemas.yaml"
    target.write_text("Pet: {type: object}\n")
    _watching.add(str(target))
    validate(_with_ref(f"file://{target}#/Pet"))
    assert str(target) in _opened
    _opened.clear()


def test_a_property_named_ref_is_not_a_reference(client, owner):
    raw = document(
        {
            "/a": {
                "post": op(
                    requestBody={
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"$ref": {"type": "string"}}}
                            }
                        }
                    }
                )
            }
        }
    )
    assert create(client, owner, raw_spec=raw).status_code == 201


# --- big documents and URLs: a job ------------------------------------------------------------


def _big(extra_bytes: int) -> dict:
    doc = document({"/a": {"get": op(operationId="a", description="x" * extra_bytes)}})
    return doc


def test_a_big_spec_is_imported_by_a_job(client, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "MCP_SPEC_SYNC_MAX_BYTES", 2000)
    response = create(client, owner, raw_spec=json.dumps(_big(3000)))
    assert response.status_code == 202
    assert response.get_json()["message"] == "Spec import queued."
    spec = response.get_json()["data"]
    assert spec["status"] == "processing" and spec["operation_count"] is None
    run_jobs()
    after = client.get(f"{SPECS}/{spec['id']}", headers=owner.headers).get_json()["data"]
    assert after["status"] == "ready" and after["operation_count"] == 1 and after["error"] is None


def test_a_big_invalid_spec_fails_in_the_job_with_the_reason(client, owner, app, monkeypatch, canary):
    monkeypatch.setitem(app.config, "MCP_SPEC_SYNC_MAX_BYTES", 2000)
    doc = _big(3000)
    doc["paths"]["/a"]["get"]["parameters"] = [{"$ref": f"http://127.0.0.1:{canary.port}/p.yaml"}]
    spec = create(client, owner, raw_spec=doc).get_json()["data"]
    run_jobs()
    after = client.get(f"{SPECS}/{spec['id']}", headers=owner.headers).get_json()["data"]
    assert after["status"] == "failed"
    assert "Only local references" in after["error"]
    assert canary.count() == 0


def test_spec_import_takes_bodies_past_the_general_limit(client, owner, app, monkeypatch):
    # 1.5 MB: over MAX_BODY_BYTES (1 MiB), which other endpoints keep
    big = json.dumps({"name": "Big", "raw_spec": _big(1_500_000)})
    response = client.post(SPECS, data=big, content_type="application/json", headers=owner.headers)
    assert response.status_code == 202, response.get_json()
    other = client.post("/api/v1/webhooks", data=big, content_type="application/json", headers=owner.headers)
    error(other, 413, "payload_too_large")
    monkeypatch.setitem(app.config, "MCP_SPEC_MAX_BYTES", 1_000_000)
    error(
        client.post(SPECS, data=big, content_type="application/json", headers=owner.headers), 413, "payload_too_large"
    )


def test_source_url_is_fetched_by_a_job_through_the_outbound_client(client, owner, upstream):
    upstream.documents["/openapi.yaml"] = petstore_yaml("3.0").encode()
    response = create(client, owner, source_url=f"{upstream.base_url}/openapi.yaml")
    assert response.status_code == 202
    spec = response.get_json()["data"]
    assert spec["source_url"].endswith("/openapi.yaml")
    run_jobs()
    after = client.get(f"{SPECS}/{spec['id']}", headers=owner.headers).get_json()["data"]
    assert after["status"] == "ready" and after["operation_count"] == 3
    assert [r["path"] for r in upstream.requests] == ["/openapi.yaml"]


def test_source_url_failures_are_recorded(client, owner, upstream, app, monkeypatch):
    upstream.documents["/openapi.yaml"] = petstore_yaml("3.0").encode()
    monkeypatch.setitem(app.config, "MCP_SPEC_MAX_BYTES", 1000)  # the size cap
    too_big = create(client, owner, source_url=f"{upstream.base_url}/openapi.yaml").get_json()["data"]
    missing = create(client, owner, source_url=f"{upstream.base_url}/missing.yaml").get_json()["data"]
    run_jobs()
    get = lambda s: client.get(f"{SPECS}/{s['id']}", headers=owner.headers).get_json()["data"]  # noqa: E731
    assert get(too_big)["status"] == "failed" and "larger than 1000 bytes" in get(too_big)["error"]
    assert get(missing)["status"] == "failed" and "HTTP 404" in get(missing)["error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/openapi.yaml",  # loopback, not allow-listed
        "https://127.0.0.1/openapi.yaml",
        "https://10.0.0.8/openapi.yaml",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:192.168.0.1]/openapi.yaml",
        "ftp://example.com/openapi.yaml",
    ],
)
def test_source_url_at_private_loopback_or_metadata_addresses_is_refused(client, owner, url):
    body = error(create(client, owner, source_url=url), 422, "validation_failed")
    assert body["errors"]["source_url"]


# --- CRUD, tenancy, scopes --------------------------------------------------------------------


def test_list_get_patch_delete(client, owner):
    first = create(client, owner, raw_spec=petstore_yaml("3.0")).get_json()["data"]
    create(client, owner, raw_spec=petstore_yaml("3.1"), name="Other")
    page = client.get(f"{SPECS}?sort=name", headers=owner.headers)
    assert page.status_code == 200 and page.headers["X-Total-Count"] == "2"
    assert [s["name"] for s in page.get_json()["data"]] == ["Other", "Petstore"]
    assert client.get(f"{SPECS}?status=failed", headers=owner.headers).get_json()["meta"]["total"] == 0
    error(client.get(f"{SPECS}?status=nope", headers=owner.headers), 400, "bad_request")
    patched = client.patch(f"{SPECS}/{first['id']}", json={"name": "Renamed", "version": None}, headers=owner.headers)
    assert patched.status_code == 200 and patched.get_json()["data"]["name"] == "Renamed"
    assert patched.get_json()["data"]["version"] is None
    error(
        client.patch(f"{SPECS}/{first['id']}", json={"status": "ready"}, headers=owner.headers),
        422,
        "validation_failed",
    )
    assert client.delete(f"{SPECS}/{first['id']}", headers=owner.headers).status_code == 204
    error(client.get(f"{SPECS}/{first['id']}", headers=owner.headers), 404, "not_found")


def test_another_workspaces_specs_are_404(client, owner, other):
    spec = create(client, owner, raw_spec=petstore_yaml()).get_json()["data"]
    url = f"{SPECS}/{spec['id']}"
    error(client.get(url, headers=other.headers), 404, "not_found")
    error(client.patch(url, json={"name": "x"}, headers=other.headers), 404, "not_found")
    error(client.delete(url, headers=other.headers), 404, "not_found")
    assert client.get(SPECS, headers=other.headers).get_json()["meta"]["total"] == 0


def test_scopes_and_roles(client, owner):
    reader = factories.key(owner.user_id, owner.workspace_id, ["mcp:read"])
    error(client.get(SPECS), 401, "unauthorized")
    assert client.get(SPECS, headers=factories.bearer(reader)).status_code == 200
    denied(
        create(client, factories.SimpleNamespace(headers=factories.bearer(reader)), raw_spec=petstore_yaml()),
        "mcp:write",
    )
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    assert client.get(SPECS, headers=viewer.headers).status_code == 200
    error(create(client, viewer, raw_spec=petstore_yaml()), 403, "access_denied")
    spec = create(client, owner, raw_spec=petstore_yaml()).get_json()["data"]
    writer = factories.key(owner.user_id, owner.workspace_id, ["mcp:read", "mcp:write"])
    denied(client.delete(f"{SPECS}/{spec['id']}", headers=factories.bearer(writer)), "mcp:delete")


def test_an_import_whose_job_was_lost_is_failed_by_the_sweeper(client, owner, app, monkeypatch):
    from datetime import UTC, datetime, timedelta

    import time_machine

    from app.mcp.tasks import fail_stuck_imports

    monkeypatch.setitem(app.config, "MCP_SPEC_SYNC_MAX_BYTES", 10)
    monkeypatch.setattr(app.extensions["core.jobs"], "enqueue", lambda *a, **k: None)  # the job is lost
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        lost = create(client, owner, raw_spec=petstore_yaml()).get_json()["data"]
    with time_machine.travel(t0 + timedelta(minutes=29), tick=False):
        recent = create(client, owner, raw_spec=petstore_yaml()).get_json()["data"]
        assert fail_stuck_imports() == 0  # 29 minutes: within twice the job's 15-minute limit
    with time_machine.travel(t0 + timedelta(minutes=31), tick=False):
        assert fail_stuck_imports() == 1
        assert fail_stuck_imports() == 0  # safe to run twice
    after = client.get(f"{SPECS}/{lost['id']}", headers=owner.headers).get_json()["data"]
    assert after["status"] == "failed" and "import the spec again" in after["error"]
    assert client.get(f"{SPECS}/{recent['id']}", headers=owner.headers).get_json()["data"]["status"] == "processing"
