"""Files on local storage end to end: declare, the signed PUT and its refusals, complete and its
checks, download, list, delete (issue 9)."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from app.core.clock import utcnow
from app.extensions import db
from app.files.models import StoredFile
from tests.assertions import ISO_Z
from tests.assertions import error as assert_error

from . import FILES, GIF, JPEG, PDF, PNG, WEBP, declare, events

FIELDS = {"id", "filename", "content_type", "size", "purpose", "status", "created_at", "updated_at", "ready_at"}


def put(client, upload, content, content_type=None, url=None, **kwargs):
    headers = {"Content-Type": content_type or upload["headers"]["Content-Type"]}
    return client.put(url or upload["url"], data=content, headers=headers, **kwargs)


def uploaded(client, headers, content=PNG, **body) -> dict:
    data = declare(client, headers, content, **body)
    assert put(client, data["upload"], content).status_code == 204
    return data


def complete(client, headers, file_id):
    return client.post(f"{FILES}/{file_id}/complete", headers=headers)


def ready(client, headers, content=PNG, **body) -> dict:
    data = uploaded(client, headers, content, **body)
    response = complete(client, headers, data["id"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["data"]


def stored_path(storage_root, workspace_id, file_id):
    return storage_root / workspace_id / file_id


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {k: str(v) for k, v in changes.items()}
    return f"{parts.path}?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_declaring_a_file_answers_it_pending_with_a_signed_upload_url(client, owner):
    response = client.post(
        FILES,
        json={"filename": "report.pdf", "content_type": "application/pdf", "size": 1234, "purpose": "invoice"},
        headers=owner.headers,
    )
    assert response.status_code == 201
    assert response.json["message"].startswith("File created")
    data = response.json["data"]
    assert set(data) == FIELDS | {"upload"}
    assert data["id"].startswith("fil_") and data["status"] == "pending" and data["ready_at"] is None
    assert (data["filename"], data["content_type"], data["size"], data["purpose"]) == (
        "report.pdf",
        "application/pdf",
        1234,
        "invoice",
    )
    upload = data["upload"]
    assert upload["method"] == "PUT" and upload["headers"] == {"Content-Type": "application/pdf"}
    assert upload["url"].startswith(f"http://localhost{FILES}/{data['id']}/content?expires=")
    assert "&sig=" in upload["url"] and ISO_Z.match(upload["expires_at"])
    assert [e["id"] for e in events(owner.workspace_id, "file.created")] == [data["id"]]
    assert events(owner.workspace_id, "file.created")[0]["status"] == "pending"
    # the storage key is the server's, never the client's filename
    assert db.session.get(StoredFile, data["id"]).storage_key == f"{owner.workspace_id}/{data['id']}"


def test_upload_complete_and_download_end_to_end(client, owner, storage_root):
    data = declare(client, owner.headers, PNG, filename='../../etc/"holiday"; X: 1 été.png', purpose="avatar")
    # the upload is authorised by its signature alone: no API key
    assert put(client, data["upload"], PNG).status_code == 204
    assert stored_path(storage_root, owner.workspace_id, data["id"]).read_bytes() == PNG
    response = complete(client, owner.headers, data["id"])
    assert response.status_code == 200
    done = response.json["data"]
    assert done["status"] == "ready" and done["size"] == len(PNG) and ISO_Z.match(done["ready_at"])
    assert [e["status"] for e in events(owner.workspace_id, "file.ready")] == ["ready"]
    # completing again changes nothing and emits nothing
    assert complete(client, owner.headers, data["id"]).json["data"]["status"] == "ready"
    assert len(events(owner.workspace_id, "file.ready")) == 1

    detail = client.get(f"{FILES}/{data['id']}", headers=owner.headers).json["data"]
    assert set(detail) == FIELDS | {"download"} and ISO_Z.match(detail["download"]["expires_at"])
    download = client.get(detail["download"]["url"])
    assert download.status_code == 200 and download.data == PNG
    assert download.mimetype == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    disposition = download.headers["Content-Disposition"]
    assert disposition == (
        'attachment; filename="_holiday__ X_ 1 ete.png"; '
        "filename*=UTF-8''%22holiday%22%3B%20X%3A%201%20%C3%A9t%C3%A9.png"
    )


def test_a_pending_file_has_no_download(client, owner):
    data = declare(client, owner.headers)
    assert client.get(f"{FILES}/{data['id']}", headers=owner.headers).json["data"]["download"] is None


@pytest.mark.parametrize(
    ("content_type", "content"),
    [("image/jpeg", JPEG), ("image/gif", GIF), ("image/webp", WEBP), ("application/pdf", PDF),
     ("text/plain", "héllo\n".encode()), ("text/csv", b"a,b\n1,2\n"), ("application/json", b'{"a": [1, 2]}')],
)  # fmt: skip
def test_each_default_type_is_accepted_when_its_bytes_match(client, owner, content_type, content):
    assert ready(client, owner.headers, content, filename="f", content_type=content_type)["status"] == "ready"


# --- refusals of the signed PUT ----------------------------------------------------------------


def test_the_upload_url_is_single_use(client, owner):
    data = uploaded(client, owner.headers)
    assert_error(put(client, data["upload"], PNG), 409, "conflict")
    # also once complete has recorded a real size below the declared one
    smaller = declare(client, owner.headers, size=len(PNG) + 100)
    assert put(client, smaller["upload"], PNG).status_code == 204
    assert complete(client, owner.headers, smaller["id"]).json["data"]["size"] == len(PNG)
    assert_error(put(client, smaller["upload"], PNG), 409, "conflict")


def test_an_expired_upload_url_is_refused(client, owner):
    data = declare(client, owner.headers)
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=False):
        assert_error(put(client, data["upload"], PNG), 403, "access_denied")


@pytest.mark.parametrize(
    "change", [{"sig": "0" * 64}, {"sig": ""}, {"expires": 9999999999}, {"expires": 1}],
    ids=["forged", "empty", "extended", "other-expiry"],
)  # fmt: skip
def test_a_tampered_upload_url_is_refused(client, owner, change):
    data = declare(client, owner.headers)
    assert_error(
        put(client, data["upload"], PNG, url=with_query(data["upload"]["url"], **change)), 403, "access_denied"
    )


def test_a_signature_is_bound_to_its_file(client, owner):
    first, second = declare(client, owner.headers), declare(client, owner.headers)
    query = urlsplit(first["upload"]["url"]).query
    assert_error(
        put(client, second["upload"], PNG, url=f"{FILES}/{second['id']}/content?{query}"), 403, "access_denied"
    )


def test_a_download_url_is_no_upload_url(client, owner):
    done = ready(client, owner.headers)
    url = client.get(f"{FILES}/{done['id']}", headers=owner.headers).json["data"]["download"]["url"]
    assert_error(put(client, {"headers": {"Content-Type": "image/png"}}, PNG, url=url.replace("/download", "/content")), 403, "access_denied")  # fmt: skip


def test_a_missing_or_malformed_signature_query_is_400(client, owner):
    data = declare(client, owner.headers)
    assert_error(put(client, data["upload"], PNG, url=f"{FILES}/{data['id']}/content"), 400, "bad_request")
    bad = with_query(data["upload"]["url"], expires="soon")
    assert_error(put(client, data["upload"], PNG, url=bad), 400, "bad_request")


def test_an_unknown_file_is_404(client, owner):
    data = declare(client, owner.headers)
    url = data["upload"]["url"].replace(data["id"], "fil_nope")
    assert_error(put(client, data["upload"], PNG, url=url), 404, "not_found")


def test_a_wrong_content_type_is_415_and_the_url_stays_usable(client, owner):
    data = declare(client, owner.headers)
    assert_error(put(client, data["upload"], PNG, content_type="image/gif"), 415, "unsupported_media_type")
    assert put(client, data["upload"], PNG, content_type="image/png; charset=binary").status_code == 204


def test_more_bytes_than_declared_are_413(client, owner, storage_root):
    data = declare(client, owner.headers, size=len(PNG) - 1)
    assert_error(put(client, data["upload"], PNG), 413, "payload_too_large")
    assert not stored_path(storage_root, owner.workspace_id, data["id"]).exists()


def test_a_chunked_body_is_counted_while_streaming_and_the_partial_file_removed(client, owner, storage_root):
    content = PNG + bytes(200_000)
    data = declare(client, owner.headers, size=100_000)
    response = client.put(
        data["upload"]["url"],
        input_stream=io.BytesIO(content),
        headers={"Content-Type": "image/png", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_error(response, 413, "payload_too_large")
    folder = storage_root / owner.workspace_id
    assert not folder.exists() or list(folder.iterdir()) == []
    # a refused upload may be sent again, right this time
    response = client.put(
        data["upload"]["url"],
        input_stream=io.BytesIO(PNG + bytes(1000)),
        headers={"Content-Type": "image/png", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 204
    assert stored_path(storage_root, owner.workspace_id, data["id"]).read_bytes() == PNG + bytes(1000)


def test_an_upload_may_be_larger_than_the_json_body_limit(client, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_BODY_BYTES", 1024)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1025)
    content = PNG + bytes(50_000)
    done = ready(client, owner.headers, content)
    assert done["size"] == len(content)
    # JSON endpoints keep their limit
    big = client.post(
        FILES, json={"filename": "x" * 2000, "content_type": "image/png", "size": 1}, headers=owner.headers
    )
    assert_error(big, 413, "payload_too_large")


# --- the complete check ------------------------------------------------------------------------


def test_complete_refuses_bytes_of_another_type_and_deletes_them(client, owner, storage_root):
    content = b"<html><script>alert(1)</script></html>"
    data = uploaded(client, owner.headers, content)  # declared PNG
    body = assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")
    assert body["errors"] == {"file": ["The uploaded bytes are not image/png."]}
    assert not stored_path(storage_root, owner.workspace_id, data["id"]).exists()
    assert client.get(f"{FILES}/{data['id']}", headers=owner.headers).json["data"]["status"] == "pending"
    assert events(owner.workspace_id, "file.ready") == []
    # the same URL may carry the right bytes while it lasts
    assert put(client, data["upload"], PNG[: len(content)]).status_code == 204
    assert complete(client, owner.headers, data["id"]).status_code == 200


def test_complete_refuses_an_object_larger_than_declared(client, owner, storage_root):
    # a store that wrote more than the URL allowed (the local PUT itself never does)
    data = declare(client, owner.headers)
    path = stored_path(storage_root, owner.workspace_id, data["id"])
    path.parent.mkdir(parents=True)
    path.write_bytes(PNG + b"more")
    body = assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")
    assert "more than the declared" in body["errors"]["file"][0]
    assert not path.exists()


def test_complete_without_an_upload_is_422(client, owner):
    data = declare(client, owner.headers)
    body = assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")
    assert body["errors"] == {"file": ["No upload was received for this file."]}


@pytest.mark.parametrize(
    ("content_type", "content"),
    [("image/webp", b"RIFF\x24\x00\x00\x00AVI LIST" + bytes(20)), ("text/plain", b"\xff\xfe\x00binary"),
     ("text/csv", b"a,b\n\xc3\x28\n"), ("text/plain", b"nul\x00inside"), ("application/json", b'{"a": '),
     ("application/pdf", b"PDF-1.4 but not at the start")],
    ids=["webp-riff-not-webp", "text-not-utf8", "csv-bad-utf8", "text-with-nul", "json-unparseable", "pdf-no-magic"],
)  # fmt: skip
def test_complete_checks_each_type(client, owner, content_type, content):
    data = uploaded(client, owner.headers, content, content_type=content_type)
    assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")


def test_complete_records_the_real_size(client, owner):
    data = declare(client, owner.headers, size=10_000)
    assert put(client, data["upload"], PNG).status_code == 204
    assert complete(client, owner.headers, data["id"]).json["data"]["size"] == len(PNG)


# --- downloads ----------------------------------------------------------------------------------


def test_a_download_url_expires_and_cannot_be_forged(client, owner):
    done = ready(client, owner.headers)
    url = client.get(f"{FILES}/{done['id']}", headers=owner.headers).json["data"]["download"]["url"]
    assert_error(client.get(with_query(url, sig="a" * 64)), 403, "access_denied")
    assert_error(client.get(with_query(url, expires=9999999999)), 403, "access_denied")
    with time_machine.travel(utcnow() + timedelta(minutes=6), tick=False):
        assert_error(client.get(url), 403, "access_denied")


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [({"content_type": "text/html"}, "content_type"), ({"content_type": "application/x-msdownload"}, "content_type"),
     ({"size": 1.5}, "size"), ({"size": 0}, "size"), ({"size": "10"}, "size"), ({"filename": ""}, "filename"),
     ({"filename": "a\x01b"}, "filename"), ({"filename": "x" * 256}, "filename"), ({"purpose": "Has Space"}, "purpose"),
     ({"status": "ready"}, "status"), ({"id": "fil_x"}, "id")],
)  # fmt: skip
def test_bad_declarations_are_422(client, owner, body, field):
    payload = {"filename": "a.png", "content_type": "image/png", "size": 10} | body
    response = client.post(FILES, json=payload, headers=owner.headers)
    assert field in assert_error(response, 422, "validation_failed")["errors"]


def test_allowed_types_are_configurable(client, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_ALLOWED_TYPES", ["application/pdf"])
    response = client.post(
        FILES, json={"filename": "a.png", "content_type": "image/png", "size": 10}, headers=owner.headers
    )
    body = assert_error(response, 422, "validation_failed")
    assert body["errors"]["content_type"] == ["Not an allowed type. Allowed: application/pdf."]


def test_types_the_app_cannot_check_are_refused_at_start(app):
    from types import SimpleNamespace

    from app.files import service

    def start(**settings):
        service.init_app(SimpleNamespace(config=app.config | settings))  # what create_app calls

    with pytest.raises(ValueError, match="application/zip"):
        start(FILES_ALLOWED_TYPES=["image/png", "application/zip"])
    with pytest.raises(ValueError, match="FILES_STORAGE"):
        start(FILES_STORAGE="ftp")
    start(FILES_STORAGE="s3", FILES_ALLOWED_TYPES=["text/csv"])
