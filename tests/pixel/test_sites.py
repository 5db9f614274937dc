from tests import factories
from tests.assertions import denied, error

from . import SITES, make_site


def test_create_get_list_update_delete(client, owner):
    created = client.post(
        SITES,
        json={"domain": "Example.com", "sample_rate": 0.5, "allowed_origins": ["https://example.com"]},
        headers=owner.headers,
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["message"] == "Pixel site created successfully."
    site = body["data"]
    assert site["id"].startswith("pxs_") and site["public_id"].startswith("px_")
    assert site["domain"] == "example.com"
    assert site["enabled"] is True
    assert site["features"] == {"pageviews": True, "events": True, "sessions": True}
    assert site["sample_rate"] == 0.5

    assert client.get(f"{SITES}/{site['id']}", headers=owner.headers).get_json()["data"] == site
    page = client.get(SITES, headers=owner.headers).get_json()
    assert [s["id"] for s in page["data"]] == [site["id"]] and page["meta"]["total"] == 1

    patched = client.patch(
        f"{SITES}/{site['id']}", json={"enabled": False, "features": {"events": False}}, headers=owner.headers
    )
    assert patched.status_code == 200
    assert patched.get_json()["data"]["enabled"] is False
    assert patched.get_json()["data"]["features"] == {"pageviews": True, "events": False, "sessions": True}
    again = client.patch(f"{SITES}/{site['id']}", json={"features": {"sessions": False}}, headers=owner.headers)
    assert again.get_json()["data"]["features"] == {"pageviews": True, "events": False, "sessions": False}

    assert client.delete(f"{SITES}/{site['id']}", headers=owner.headers).status_code == 204
    error(client.get(f"{SITES}/{site['id']}", headers=owner.headers), 404, "not_found")


def test_domain_is_unique_across_the_platform(client, owner, other):
    make_site(client, owner, "example.com")
    taken = client.post(SITES, json={"domain": "example.com"}, headers=other.headers)
    assert error(taken, 409, "conflict")


def test_bad_input_is_422(client, owner):
    for body in (
        {"domain": "https://example.com/path"},
        {"domain": "example.com", "sample_rate": 1.5},
        {"domain": "example.com", "allowed_origins": ["example.com"]},
        {"domain": "example.com", "public_id": "px_mine"},
        {},
    ):
        error(client.post(SITES, json=body, headers=owner.headers), 422, "validation_failed")


def test_another_workspace_sees_404(client, owner, other):
    site = make_site(client, owner)
    error(client.get(f"{SITES}/{site['id']}", headers=other.headers), 404, "not_found")
    error(client.patch(f"{SITES}/{site['id']}", json={"enabled": False}, headers=other.headers), 404, "not_found")
    error(client.delete(f"{SITES}/{site['id']}", headers=other.headers), 404, "not_found")
    assert client.get(SITES, headers=other.headers).get_json()["data"] == []


def test_scopes(client, owner):
    reader = factories.member(owner.workspace_id, "reader@example.com", "member", scopes=["pixel:read"])
    denied(client.post(SITES, json={"domain": "example.com"}, headers=reader.headers), "pixel:write")
    site = make_site(client, owner)
    assert client.get(f"{SITES}/{site['id']}", headers=reader.headers).status_code == 200
    denied(client.delete(f"{SITES}/{site['id']}", headers=reader.headers), "pixel:delete")
    viewer = factories.member(owner.workspace_id, "viewer@example.com", "viewer")
    assert client.post(SITES, json={"domain": "b.example.org"}, headers=viewer.headers).status_code == 403


def test_pixel_sites_is_a_plan_limit(client, owner):
    make_site(client, owner, "one.example.com")
    second = client.post(SITES, json={"domain": "two.example.com"}, headers=owner.headers)
    body = error(second, 403, "feature_limit_reached")
    assert body["feature"] == "pixel_sites" and body["limit"] == 1 and body["current_usage"] == 1
    summary = client.get("/api/v1/entitlements/summary", headers=owner.headers).get_json()
    assert summary["data"]["entitlements"]["pixel_sites"]["used"] == 1
