"""Helpers of the pixel tests."""

from app.pixel import tasks

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SITES = "/api/v1/pixel/sites"
TRACK = "/api/v1/pixel/track"


def make_site(client, owner, domain: str = "example.com", **fields) -> dict:
    response = client.post(SITES, json={"domain": domain, **fields}, headers=owner.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def track(client, site: dict, path: str = "/", ua: str = BROWSER_UA, ip: str = "203.0.113.7", **fields):
    body = {"site": site["public_id"], "url": f"https://{site['domain']}{path}", **fields}
    return client.post(TRACK, json=body, headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})


def drain() -> int:
    """What the ingestion job does (the workers run this same function)."""
    return tasks.drain()
