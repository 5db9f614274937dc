"""Files: tenants, scopes and roles, lists, delete, plan limits and the stale-upload cleanup."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from app.core.clock import utcnow
from app.entitlements import service as entitlements
from app.extensions import db
from app.files.models import StoredFile
from app.files.tasks import expire_pending_uploads
from tests import factories
from tests.assertions import denied
from tests.assertions import error as assert_error

from . import FILES, PNG, declare, events


def make_ready(client, headers, **body) -> dict:
    data = declare(client, headers, **body)
    assert client.put(data["upload"]["url"], data=PNG, headers={"Content-Type": "image/png"}).status_code == 204
    response = client.post(f"{FILES}/{data['id']}/complete", headers=headers)
    assert response.status_code == 200
    return response.json["data"]


def test_another_workspaces_file_is_404_everywhere(client, owner, other):
    mine = make_ready(client, owner.headers)
    pending = declare(client, owner.headers)
    for file_id in (mine["id"], pending["id"]):
        assert_error(client.get(f"{FILES}/{file_id}", headers=other.headers), 404, "not_found")
        assert_error(client.delete(f"{FILES}/{file_id}", headers=other.headers), 404, "not_found")
        assert_error(client.post(f"{FILES}/{file_id}/complete", headers=other.headers), 404, "not_found")
    assert client.get(FILES, headers=other.headers).json["data"] == []
    assert client.get(f"{FILES}/{mine['id']}", headers=owner.headers).status_code == 200


@pytest.mark.parametrize(
    ("scopes", "method", "path", "needed"),
    [(["files:read"], "post", "", "files:write"), (["files:read"], "post", "/{id}/complete", "files:write"),
     (["files:write"], "delete", "/{id}", "files:delete"), (["files:write"], "get", "/{id}", "files:read"),
     (["files:delete"], "get", "", "files:read"), (["webhooks:read"], "get", "", "files:read")],
)  # fmt: skip
def test_each_route_needs_its_scope(client, owner, scopes, method, path, needed):
    data = declare(client, owner.headers)
    headers = factories.bearer(factories.key(owner.user_id, owner.workspace_id, scopes))
    url = FILES + path.format(id=data["id"])
    body = {"filename": "a.png", "content_type": "image/png", "size": 1} if path == "" and method == "post" else None
    denied(getattr(client, method)(url, headers=headers, json=body), needed)


def test_the_scopes_let_a_key_do_exactly_that(client, owner):
    headers = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["files:read", "files:write"]))
    done = make_ready(client, headers)
    assert client.get(f"{FILES}/{done['id']}", headers=headers).status_code == 200
    deleter = factories.bearer(factories.key(owner.user_id, owner.workspace_id, ["files:delete"]))
    assert client.delete(f"{FILES}/{done['id']}", headers=deleter).status_code == 204


def test_a_viewer_reads_but_does_not_write(client, owner):
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    done = make_ready(client, owner.headers)
    assert client.get(f"{FILES}/{done['id']}", headers=viewer.headers).status_code == 200
    body = {"filename": "a.png", "content_type": "image/png", "size": 1}
    assert_error(client.post(FILES, json=body, headers=viewer.headers), 403, "access_denied")
    assert_error(client.delete(f"{FILES}/{done['id']}", headers=viewer.headers), 403, "access_denied")


def test_no_credentials_is_401(client):
    assert_error(client.get(FILES), 401, "unauthorized")


def test_list_filters_by_status_and_purpose(client, owner):
    done = make_ready(client, owner.headers, purpose="avatar")
    pending = declare(client, owner.headers, purpose="attachment", filename="notes.png")
    listed = client.get(FILES, headers=owner.headers)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    assert [f["id"] for f in listed.json["data"]] == [pending["id"], done["id"]]
    assert "download" not in listed.json["data"][0] and "upload" not in listed.json["data"][0]

    def ids(query):
        return [f["id"] for f in client.get(f"{FILES}?{query}", headers=owner.headers).json["data"]]

    assert ids("status=ready") == [done["id"]]
    assert ids("status=pending") == [pending["id"]]
    assert ids("purpose=attachment") == [pending["id"]]
    assert ids("purpose=avatar&status=pending") == []
    assert ids("search=notes") == [pending["id"]]
    assert ids("sort=size,filename&per_page=1") == [pending["id"]]  # same size: notes < picture
    assert_error(client.get(f"{FILES}?status=gone", headers=owner.headers), 400, "bad_request")
    assert_error(client.get(f"{FILES}?sort=storage_key", headers=owner.headers), 400, "invalid_sort")


def test_delete_removes_the_row_and_the_object(client, owner, storage_root):
    done = make_ready(client, owner.headers)
    path = storage_root / owner.workspace_id / done["id"]
    assert path.exists()
    assert client.delete(f"{FILES}/{done['id']}", headers=owner.headers).status_code == 204
    assert not path.exists()
    assert_error(client.get(f"{FILES}/{done['id']}", headers=owner.headers), 404, "not_found")
    assert [e["id"] for e in events(owner.workspace_id, "file.deleted")] == [done["id"]]


# --- plan limits ----------------------------------------------------------------------------------


def test_a_file_past_the_plans_max_file_size_is_refused(client, owner):
    body = {"filename": "big.pdf", "content_type": "application/pdf", "size": 5_000_001}  # free: 5 MB
    refused = assert_error(client.post(FILES, json=body, headers=owner.headers), 403, "feature_limit_reached")
    assert (refused["feature"], refused["limit"]) == ("max_file_size", 5_000_000)
    assert client.post(FILES, json=body | {"size": 5_000_000}, headers=owner.headers).status_code == 201


def test_storage_counts_ready_and_pending_files_and_is_enforced(client, owner):
    entitlements.set_override(owner.workspace_id, "storage", 200)
    make_ready(client, owner.headers)  # 64 bytes, ready
    declare(client, owner.headers, size=100)  # pending: counts its declared size
    summary = client.get("/api/v1/entitlements/summary", headers=owner.headers).json["data"]["entitlements"]
    assert summary["storage"]["used"] == 164
    body = {"filename": "a.png", "content_type": "image/png", "size": 37}
    refused = assert_error(client.post(FILES, json=body, headers=owner.headers), 403, "feature_limit_reached")
    assert (refused["feature"], refused["limit"], refused["current_usage"]) == ("storage", 200, 164)
    assert client.post(FILES, json=body | {"size": 36}, headers=owner.headers).status_code == 201


def test_a_paid_plan_is_limited_too(client, owner):
    factories.roomy(owner.workspace_id)  # pro: 100 MB files, 5 GB storage
    entitlements.set_override(owner.workspace_id, "storage", 1000)
    body = {"filename": "a.pdf", "content_type": "application/pdf", "size": 1001}
    assert_error(client.post(FILES, json=body, headers=owner.headers), 403, "feature_limit_reached")


# --- the stale-upload cleanup --------------------------------------------------------------------


def test_pending_uploads_older_than_an_hour_are_removed(client, owner, storage_root):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        stale = declare(client, owner.headers)
        client.put(stale["upload"]["url"], data=PNG, headers={"Content-Type": "image/png"})
        done = make_ready(client, owner.headers)
    with time_machine.travel(start + timedelta(minutes=30), tick=False):
        fresh = declare(client, owner.headers)
    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        assert expire_pending_uploads() == 0
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert expire_pending_uploads() == 1
    assert db.session.get(StoredFile, stale["id"]) is None
    assert not (storage_root / owner.workspace_id / stale["id"]).exists()
    assert (storage_root / owner.workspace_id / done["id"]).exists()
    assert {f["id"] for f in client.get(FILES, headers=owner.headers).json["data"]} == {done["id"], fresh["id"]}
    assert [e["id"] for e in events(owner.workspace_id, "file.deleted")] == [stale["id"]]
    assert expire_pending_uploads() == 0  # safe to run again


def test_the_cleanup_is_a_scheduled_job():
    from workers.schedule import PERIODIC

    assert any(job.func is expire_pending_uploads for job in PERIODIC)
