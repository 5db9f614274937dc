import json

from app.pixel import buffer
from app.pixel.schemas import TrackRequest, plain_event
from tests.assertions import error

from . import BROWSER_UA, SITES, TRACK, make_site, track

CONFIG = "/api/v1/pixel/config"


def test_config_by_site_or_origin(client, owner):
    site = make_site(client, owner, sample_rate=0.5, features={"sessions": False})
    expected = {"enabled": True, "features": {"pageviews": True, "events": True, "sessions": False}, "sample_rate": 0.5}
    assert client.get(f"{CONFIG}?site={site['public_id']}").get_json() == expected
    assert client.get(f"{CONFIG}?site=example.com").get_json() == expected
    assert client.get(CONFIG, headers={"Origin": "https://www.example.com"}).get_json() == expected


def test_config_of_an_unknown_or_disabled_site_is_disabled(client, owner):
    off = {"enabled": False, "features": {"pageviews": False, "events": False, "sessions": False}, "sample_rate": 0.0}
    assert client.get(f"{CONFIG}?site=nowhere.example.org").get_json() == off
    assert client.get(CONFIG).get_json() == off
    site = make_site(client, owner, enabled=False)
    assert client.get(f"{CONFIG}?site={site['public_id']}").get_json() == off


def test_track_answers_tracked(client, owner):
    site = make_site(client, owner)
    response = track(client, site, "/pricing", referrer="https://google.com/", properties={"title": "Pricing"})
    assert response.status_code == 200
    assert response.get_json() == {"tracked": True}


def test_the_site_may_come_from_the_url(client, owner):
    make_site(client, owner)
    body = {"url": "https://www.example.com/"}
    assert client.post(TRACK, json=body, headers={"User-Agent": BROWSER_UA}).get_json() == {"tracked": True}


def test_send_beacon_text_plain_body_is_read(client, owner):
    site = make_site(client, owner)
    body = json.dumps({"site": site["public_id"], "url": "https://example.com/"})
    response = client.post(
        TRACK, data=body, content_type="text/plain;charset=UTF-8", headers={"User-Agent": BROWSER_UA}
    )
    assert response.get_json() == {"tracked": True}


def test_bots_disabled_features_and_sampling_are_not_tracked(client, owner):
    site = make_site(client, owner, features={"events": False})
    for ua in ("Googlebot/2.1 (+http://www.google.com/bot.html)", "Mozilla/5.0 HeadlessChrome/131.0", "curl/8.5", ""):
        assert track(client, site, ua=ua).get_json() == {"tracked": False}, ua
    assert track(client, site, event="signup").get_json() == {"tracked": False}
    client.patch(f"{SITES}/{site['id']}", json={"sample_rate": 0}, headers=owner.headers)
    assert track(client, site).get_json() == {"tracked": False}


def test_unknown_site_is_404_and_foreign_url_422(client, owner):
    site = make_site(client, owner)
    error(track(client, {**site, "public_id": "px_nope"}), 404, "not_found")
    foreign = client.post(
        TRACK, json={"site": site["public_id"], "url": "https://evil.com/"}, headers={"User-Agent": BROWSER_UA}
    )
    assert error(foreign, 422, "validation_failed")["errors"] == {
        "url": ["The url is not on the site's domain (example.com)."]
    }
    lookalike = client.post(TRACK, json={"site": site["public_id"], "url": "https://notexample.com/"})
    error(lookalike, 422, "validation_failed")


def test_allowed_origins(client, owner):
    site = make_site(client, owner, allowed_origins=["https://example.com"])
    body = {"site": site["public_id"], "url": "https://example.com/"}
    ok = client.post(TRACK, json=body, headers={"User-Agent": BROWSER_UA, "Origin": "https://example.com"})
    assert ok.get_json() == {"tracked": True}
    refused = client.post(TRACK, json=body, headers={"User-Agent": BROWSER_UA, "Origin": "https://other.example.com"})
    assert "origin" in error(refused, 422, "validation_failed")["errors"]


def test_bad_bodies(client, owner):
    site = make_site(client, owner)
    url = "https://example.com/"
    too_many = {f"k{i}": i for i in range(21)}
    for body in (
        {"site": site["public_id"]},
        {"site": site["public_id"], "url": url, "properties": too_many},
        {"site": site["public_id"], "url": url, "properties": {"k": "x" * 501}},
        {"site": site["public_id"], "url": url, "properties": {"k": {"nested": 1}}},
        {"site": site["public_id"], "url": url, "tracked": True},
        {"events": []},
        {"events": [{"url": url}] * 101},
    ):
        error(client.post(TRACK, json=body), 422, "validation_failed")
    error(client.post(TRACK, data="{nope", content_type="text/plain"), 400, "bad_request")
    big = {"site": site["public_id"], "url": url, "properties": {f"k{i}": "x" * 500 for i in range(20)}}
    assert len(json.dumps(big)) > 16 * 1024 // 2
    big["url"] = url + "?" + "q" * 1900
    big["properties"] = {f"k{i}": "x" * 500 for i in range(20)}
    padded = json.dumps(big) + " " * (16 * 1024)
    error(client.post(TRACK, data=padded, content_type="application/json"), 413, "payload_too_large")
    huge = json.dumps({"events": [{"url": url}]}) + " " * (256 * 1024)
    error(client.post(TRACK, data=huge, content_type="application/json"), 413, "payload_too_large")


def test_batch_form(client, owner):
    site = make_site(client, owner)
    events = [{"url": f"https://example.com/{n}"} for n in range(3)] + [
        {"url": "https://example.com/", "event": "signup"}
    ]
    response = client.post(
        TRACK, json={"site": site["public_id"], "events": events}, headers={"User-Agent": BROWSER_UA}
    )
    assert response.get_json() == {"tracked": True, "accepted": 4}
    bad = client.post(
        TRACK, json={"site": site["public_id"], "events": [{"url": "https://example.com/"}, {"url": "https://x.org/"}]}
    )
    assert list(error(bad, 422, "validation_failed")["errors"]) == ["events.1.url"]


def test_track_gif(client, owner):
    site = make_site(client, owner)
    response = client.get(
        f"/api/v1/pixel/track.gif?site={site['public_id']}&url=https://example.com/nojs",
        headers={"User-Agent": BROWSER_UA},
    )
    assert response.status_code == 200
    assert response.mimetype == "image/gif" and response.data.startswith(b"GIF89a")
    error(client.get(f"/api/v1/pixel/track.gif?site={site['public_id']}"), 400, "bad_request")


def test_cors_is_open_on_the_public_endpoints_only(client, owner):
    site = make_site(client, owner)
    origin = {"Origin": "https://somebody.example.net"}
    for method, path in (("GET", CONFIG), ("POST", TRACK), ("GET", "/api/v1/pixel/track.gif")):
        preflight = client.options(path, headers={**origin, "Access-Control-Request-Method": method})
        assert preflight.headers["Access-Control-Allow-Origin"] == "*", path
        assert "Access-Control-Allow-Credentials" not in preflight.headers
    answer = client.post(TRACK, json={"site": site["public_id"], "url": "https://example.com/"}, headers=origin)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    # the rest of the API keeps its configured origins, with credentials
    app_origin = {"Origin": "https://app.example.com"}
    sites = client.get(SITES, headers={**owner.headers, **app_origin})
    assert sites.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert sites.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in client.get(SITES, headers={**owner.headers, **origin}).headers


def test_300_requests_a_minute_per_client_ip(client, owner):
    site = make_site(client, owner)
    for _ in range(300):
        assert track(client, site, ip="198.51.100.1").status_code == 200
    limited = track(client, site, ip="198.51.100.1")
    assert error(limited, 429, "rate_limit_exceeded")["limit"] == 300
    assert limited.headers["Retry-After"]
    assert track(client, site, ip="198.51.100.2").status_code == 200


def test_a_request_over_the_limit_buffers_nothing(client, app, owner):
    """The limit and the events share one step: the 301st page view is refused and not kept."""
    site = make_site(client, owner)
    for _ in range(300):
        assert track(client, site, ip="198.51.100.9").status_code == 200
    with app.app_context():
        waiting = buffer.waiting()
    assert waiting == 300
    batch = {"site": site["public_id"], "events": [{"url": "https://example.com/a"}, {"url": "https://example.com/b"}]}
    refused = client.post(
        TRACK, json=batch, headers={"User-Agent": BROWSER_UA}, environ_base={"REMOTE_ADDR": "198.51.100.9"}
    )
    error(refused, 429, "rate_limit_exceeded")
    error(track(client, site, ip="198.51.100.9"), 429, "rate_limit_exceeded")
    with app.app_context():
        assert buffer.waiting() == waiting


def test_refused_and_untracked_requests_count_against_the_limit(client, owner):
    site = make_site(client, owner)
    ip = {"REMOTE_ADDR": "198.51.100.10"}
    for n in range(300):
        if n % 3 == 0:
            error(client.post(TRACK, json={"site": site["public_id"]}, environ_base=ip), 422, "validation_failed")
        elif n % 3 == 1:
            error(
                client.post(TRACK, json={"site": "px_nope", "url": "https://example.com/"}, environ_base=ip),
                404,
                "not_found",
            )
        else:  # a bot: answered, not tracked
            assert track(client, site, ua="curl/8.0", ip="198.51.100.10").get_json() == {"tracked": False}
    error(track(client, site, ip="198.51.100.10"), 429, "rate_limit_exceeded")
    # a bad body past the limit is a 429 too
    error(client.post(TRACK, json={"site": site["public_id"]}, environ_base=ip), 429, "rate_limit_exceeded")


def test_the_plain_event_check_accepts_exactly_what_the_schema_does():
    url = "https://example.com/"
    accepted = [
        {"url": url},
        {"url": url, "site": "", "event": "signup", "referrer": None, "user_agent": "UA", "properties": None},
        {"url": url, "properties": {"plan": "pro", "n": 3, "x": 1.5, "ok": True, "none": None}},
    ]
    refused_or_unusual = [
        {"url": ""},
        {"url": url * 200},
        {"url": url, "event": ""},
        {"url": url, "site": None},
        {"url": url, "referrer": 3},
        {"url": url, "tracked": True},
        {"url": url + "\x00"},
        {"url": url, "properties": {"k": {"nested": 1}}},
        {"url": url, "properties": {f"k{i}": i for i in range(21)}},
        {"url": url, "properties": {"k": "x" * 501}},
        {"url": url, "properties": {"k\x00": 1}},
        {"url": url, "events": [{"url": url}]},
        ["not", "an", "object"],
    ]
    for body in accepted:
        assert plain_event(body) == TrackRequest().load(body), body
    for body in refused_or_unusual:
        assert plain_event(body) is None, body


def test_snippet(client):
    response = client.get("/pixel.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert len(response.data) < 4096
    source = response.get_data(as_text=True)
    assert "sendBeacon" in source and "pushState" in source
    assert "document.cookie" not in source and "localStorage" not in source
