"""Files on S3 end to end, against moto's S3 server: the presigned POST, complete's checks of the
stored object (moto, like some S3-compatible stores, does not enforce the POST's conditions), the
presigned download and delete (issue 9)."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from botocore.exceptions import ClientError

from tests.assertions import error as assert_error

from . import FILES, PDF, PNG, declare, events


def post_upload(upload: dict, content: bytes, **field_changes) -> requests.Response:
    fields = upload["fields"] | field_changes
    return requests.post(upload["url"], data=fields, files={"file": ("ignored-name.bin", content)}, timeout=10)


def exists(s3, key: str) -> bool:
    try:
        s3.head_object(Bucket=s3.bucket, Key=key)
    except ClientError:
        return False
    return True


def complete(client, headers, file_id):
    return client.post(f"{FILES}/{file_id}/complete", headers=headers)


def test_declaring_answers_a_presigned_post_with_the_size_and_type_conditions(client, owner, s3):
    data = declare(client, owner.headers, PDF, filename="../invoice.pdf", content_type="application/pdf")
    upload = data["upload"]
    assert upload["method"] == "POST" and upload["url"].endswith(f"/{s3.bucket}")
    fields = upload["fields"]
    assert fields["key"] == f"{owner.workspace_id}/{data['id']}"  # the server's key, not the filename
    assert fields["Content-Type"] == "application/pdf"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert ["content-length-range", 1, len(PDF)] in policy["conditions"]
    assert "headers" not in upload


def test_upload_complete_download_and_delete_end_to_end(client, owner, s3):
    data = declare(client, owner.headers, PDF, filename="Rapport d'été.pdf", content_type="application/pdf")
    key = f"{owner.workspace_id}/{data['id']}"
    assert post_upload(data["upload"], PDF).status_code in (200, 201, 204)
    assert s3.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == PDF
    response = complete(client, owner.headers, data["id"])
    assert response.status_code == 200
    assert response.json["data"]["status"] == "ready" and response.json["data"]["size"] == len(PDF)
    assert [e["id"] for e in events(owner.workspace_id, "file.ready")] == [data["id"]]

    download = client.get(f"{FILES}/{data['id']}", headers=owner.headers).json["data"]["download"]
    fetched = requests.get(download["url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == PDF
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert fetched.headers["Content-Disposition"] == (
        "attachment; filename=\"Rapport d_ete.pdf\"; filename*=UTF-8''Rapport%20d%27%C3%A9t%C3%A9.pdf"
    )

    assert client.delete(f"{FILES}/{data['id']}", headers=owner.headers).status_code == 204
    assert not exists(s3, key)
    assert [e["id"] for e in events(owner.workspace_id, "file.deleted")] == [data["id"]]


def test_complete_catches_an_object_larger_than_declared(client, owner, s3):
    data = declare(client, owner.headers, PNG)
    assert post_upload(data["upload"], PNG + bytes(1000)).status_code in (200, 201, 204)  # moto lets it in
    body = assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")
    assert body["errors"]["file"] == [
        f"The uploaded file has {len(PNG) + 1000} bytes, more than the declared {len(PNG)}."
    ]
    assert not exists(s3, f"{owner.workspace_id}/{data['id']}")
    assert client.get(f"{FILES}/{data['id']}", headers=owner.headers).json["data"]["status"] == "pending"


def test_complete_catches_bytes_of_another_type(client, owner, s3):
    data = declare(client, owner.headers, PNG)
    assert post_upload(data["upload"], b"MZ\x90\x00 an executable, not a PNG.....").status_code in (200, 201, 204)
    body = assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")
    assert body["errors"]["file"] == ["The uploaded bytes are not image/png."]
    assert not exists(s3, f"{owner.workspace_id}/{data['id']}")
    # the same presigned POST may carry the right bytes while it lasts
    assert post_upload(data["upload"], PNG).status_code in (200, 201, 204)
    assert complete(client, owner.headers, data["id"]).status_code == 200


def test_complete_catches_a_stored_content_type_other_than_declared(client, owner, s3):
    data = declare(client, owner.headers, PNG)
    assert post_upload(data["upload"], PNG, **{"Content-Type": "text/html"}).status_code in (200, 201, 204)
    body = assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")
    assert body["errors"]["file"] == ["The uploaded file was stored as text/html, not the declared image/png."]
    assert not exists(s3, f"{owner.workspace_id}/{data['id']}")


def test_complete_without_an_upload_is_422(client, owner, s3):
    data = declare(client, owner.headers, PNG)
    body = assert_error(complete(client, owner.headers, data["id"]), 422, "validation_failed")
    assert body["errors"]["file"] == ["No upload was received for this file."]


@pytest.mark.parametrize(
    ("content_type", "content", "ok"),
    [("application/json", b'{"rows": [1, 2, 3]}', True), ("application/json", b"{nope", False),
     ("text/csv", "name\nZoë\n".encode(), True), ("text/csv", b"\xff\xfe", False)],
)  # fmt: skip
def test_text_types_are_checked_in_full(client, owner, s3, content_type, content, ok):
    data = declare(client, owner.headers, content, filename="data", content_type=content_type)
    assert post_upload(data["upload"], content).status_code in (200, 201, 204)
    assert complete(client, owner.headers, data["id"]).status_code == (200 if ok else 422)


def test_the_local_upload_and_download_routes_are_off(client, owner, s3):
    data = declare(client, owner.headers, PNG)
    url = f"{FILES}/{data['id']}/content?expires=9999999999&sig=x"
    assert_error(client.put(url, data=PNG, headers={"Content-Type": "image/png"}), 404, "not_found")
    assert_error(client.get(f"{FILES}/{data['id']}/download?expires=9999999999&sig=x"), 404, "not_found")


def test_an_unset_bucket_is_503_naming_the_variable(client, owner, s3, app, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_S3_BUCKET", None)
    app.extensions.pop("files.storage", None)
    body = {"filename": "a.png", "content_type": "image/png", "size": 10}
    refused = assert_error(client.post(FILES, json=body, headers=owner.headers), 503, "service_unavailable")
    assert "FILES_S3_BUCKET" in refused["message"]


def test_unreachable_storage_is_502_and_a_delete_changes_nothing(client, owner, s3, app, monkeypatch):
    from tests.processes import free_port

    data = declare(client, owner.headers, PDF, content_type="application/pdf")
    assert post_upload(data["upload"], PDF).status_code in (200, 201, 204)
    assert complete(client, owner.headers, data["id"]).status_code == 200
    monkeypatch.setitem(app.config, "FILES_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    app.extensions.pop("files.storage", None)
    assert_error(client.delete(f"{FILES}/{data['id']}", headers=owner.headers), 502, "upstream_error")
    assert client.get(f"{FILES}/{data['id']}", headers=owner.headers).status_code == 200
    second = declare(client, owner.headers, PDF, content_type="application/pdf")
    assert_error(complete(client, owner.headers, second["id"]), 502, "upstream_error")
