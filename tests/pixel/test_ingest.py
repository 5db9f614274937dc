"""Ingestion: buffered events drained into raw events, rollups and usage, each exactly once."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
import time_machine

from app.entitlements import service as entitlements
from app.extensions import db
from app.pixel import buffer, service, tasks
from app.pixel.models import PixelEvent
from tests.conftest import requires_redis

from . import SITES, drain, make_site, track

STATS = "/api/v1/pixel/stats"
DAY = datetime(2026, 3, 10, tzinfo=UTC)
A, B = "203.0.113.1", "203.0.113.2"


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return DAY.replace(day=day, hour=hour, minute=minute)


def stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(PixelEvent)) or 0


def test_a_day_of_traffic_in_the_stats(client, owner):
    site = make_site(client, owner)
    traffic = [
        (at(9, 0), A, "/", {}),
        (at(9, 5), A, "/pricing?plan=pro", {"referrer": "https://www.google.com/search?q=x"}),
        (at(9, 10), B, "/", {"referrer": "https://news.ycombinator.com/item?id=1"}),
        (at(9, 12), B, "/", {"event": "signup", "properties": {"plan": "pro"}}),
        (at(11, 0), A, "/", {"referrer": "https://example.com/pricing"}),  # own domain: no referrer
        (at(0, 10, day=11), A, "/", {}),  # a new day: a new salt, a new visitor id
    ]
    for index, (when, ip, path, fields) in enumerate(traffic):
        with time_machine.travel(when, tick=False):
            assert track(client, site, path, ip=ip, **fields).get_json() == {"tracked": True}
            assert track(client, site, path, ip=ip, ua="Googlebot/2.1").get_json() == {"tracked": False}
        if index == 2:  # a visitor's session continues across batches
            assert drain() == 3
    with time_machine.travel(at(12, day=11), tick=False):
        assert drain() == 3
        assert drain() == 0
        query = f"?site={site['id']}&from=2026-03-10&to=2026-03-11"
        body = client.get(STATS + query, headers=owner.headers).get_json()["data"]
        hourly = client.get(STATS + query + "&interval=hour", headers=owner.headers).get_json()["data"]
    assert body["site_id"] == site["id"] and body["from"] == "2026-03-10" and body["to"] == "2026-03-11"
    assert body["totals"] == {"pageviews": 5, "visitors": 3, "sessions": 4, "events": 1}
    assert body["series"] == [
        {"period": "2026-03-10", "pageviews": 4, "visitors": 2, "sessions": 3, "events": 1},
        {"period": "2026-03-11", "pageviews": 1, "visitors": 1, "sessions": 1, "events": 0},
    ]
    assert body["top_pages"] == [{"value": "/", "count": 4}, {"value": "/pricing", "count": 1}]
    assert body["top_referrers"] == [
        {"value": "news.ycombinator.com", "count": 1},
        {"value": "www.google.com", "count": 1},
    ]
    assert body["top_events"] == [{"value": "signup", "count": 1}]
    assert len(hourly["series"]) == 48
    nine, eleven = hourly["series"][9], hourly["series"][11]
    assert nine == {"period": "2026-03-10T09:00:00Z", "pageviews": 3, "visitors": 2, "sessions": 2, "events": 1}
    assert eleven == {"period": "2026-03-10T11:00:00Z", "pageviews": 1, "visitors": 1, "sessions": 1, "events": 0}
    assert hourly["series"][24]["pageviews"] == 1 and hourly["totals"] == body["totals"]
    usage = entitlements.per_day(owner.workspace_id, "pixel_events", date(2026, 3, 10), date(2026, 3, 12))
    assert usage == {date(2026, 3, 10): 5, date(2026, 3, 11): 1}


def test_no_ip_or_user_agent_is_stored(client, owner):
    site = make_site(client, owner)
    track(client, site, ip=A)
    drain()
    [event] = db.session.scalars(sa.select(PixelEvent))
    row = str({c.name: getattr(event, c.name) for c in PixelEvent.__table__.columns})
    assert A not in row and "Mozilla" not in row
    assert len(event.visitor) == 32


def test_a_batch_that_fails_before_its_commit_is_ingested_by_the_next_drain(client, owner, monkeypatch):
    site = make_site(client, owner)
    for n in range(5):
        track(client, site, f"/{n}")

    def crash(entries, hourly):
        raise RuntimeError("worker died mid-batch")

    with monkeypatch.context() as patch:
        patch.setattr(tasks, "_visits", crash)
        with pytest.raises(RuntimeError):
            drain()
    db.session.rollback()  # what the dead worker's connection does
    assert stored() == 0
    assert drain() == 5
    assert stored() == 5 and buffer.waiting() == 0


@requires_redis
def test_a_batch_committed_but_not_acknowledged_is_counted_once(client, owner, monkeypatch):
    site = make_site(client, owner)
    for n in range(5):
        track(client, site, f"/{n}")

    def crash(redis, keys):
        raise RuntimeError("worker died between the commit and the acknowledgement")

    with monkeypatch.context() as patch:
        patch.setattr(tasks, "_acknowledge", crash)
        with pytest.raises(RuntimeError):
            drain()
    assert stored() == 5 and buffer.waiting() == 5
    assert drain() == 0  # read again, inserted nothing, acknowledged
    assert buffer.waiting() == 0
    body = client.get(f"{STATS}?site={site['id']}", headers=owner.headers).get_json()["data"]
    assert body["totals"]["pageviews"] == 5
    assert entitlements.used(owner.workspace_id, "pixel_events") == 5


@requires_redis
def test_a_full_batch_enqueues_a_drain(client, owner, app, monkeypatch):
    from tests.webhooks import run_jobs

    monkeypatch.setitem(app.config, "PIXEL_BATCH_SIZE", 3)
    site = make_site(client, owner)
    track(client, site, "/1")
    track(client, site, "/2")
    assert [j.func_name for j in buffer.jobs.queue().get_jobs()] == []
    track(client, site, "/3")
    assert [j.func_name for j in buffer.jobs.queue().get_jobs()] == ["app.pixel.tasks.drain"]
    run_jobs()
    assert stored() == 3 and buffer.waiting() == 0


def test_events_of_a_deleted_site_are_dropped(client, owner):
    site = make_site(client, owner)
    track(client, site)
    client.delete(f"{SITES}/{site['id']}", headers=owner.headers)
    assert drain() == 0
    assert buffer.waiting() == 0


def test_past_the_monthly_pixel_events_the_free_tier_stops_tracking(client, owner):
    site = make_site(client, owner)
    entitlements.set_override(owner.workspace_id, "pixel_events", 3)
    for _ in range(3):
        assert track(client, site).get_json() == {"tracked": True}
    drain()
    service._cache.clear()  # what CACHE_SECONDS later looks like
    assert track(client, site).get_json() == {"tracked": False}


def test_stats_checks(client, owner, other):
    site = make_site(client, owner)
    from tests.assertions import error

    error(client.get(f"{STATS}?site={site['id']}", headers=other.headers), 404, "not_found")
    error(client.get(STATS, headers=owner.headers), 400, "bad_request")
    error(client.get(f"{STATS}?site={site['id']}&interval=week", headers=owner.headers), 400, "bad_request")
    error(client.get(f"{STATS}?site={site['id']}&from=2026-13-01", headers=owner.headers), 400, "bad_request")
    reversed_range = f"{STATS}?site={site['id']}&from=2026-03-10&to=2026-03-01"
    error(client.get(reversed_range, headers=owner.headers), 422, "validation_failed")
    too_long = f"{STATS}?site={site['id']}&from=2026-01-01&to=2026-03-01&interval=hour"
    error(client.get(too_long, headers=owner.headers), 422, "validation_failed")
