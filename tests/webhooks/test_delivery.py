"""Delivery end to end: events fan out to a real receiver on loopback, signed per Standard
Webhooks; retries on a fast schedule, manual retry, replay, auto-disable, rotation, the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from cryptography.fernet import Fernet

from app.core.events import Event
from app.core.jobs import jobs
from app.extensions import db
from app.webhooks import tasks
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.tasks import deliver, dispatch_pending
from tests.assertions import ISO_Z
from tests.assertions import error as assert_error
from tests.conftest import requires_redis

from . import HOOKS, run_due_work, run_jobs

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEYS = "/api/v1/api-keys"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def subscribe(client, owner, receiver, events=("api_key.*",)) -> dict:
    run_jobs()  # the fixtures' own events are fanned out before the endpoint exists
    response = client.post(HOOKS, json={"url": receiver.url, "events": list(events)}, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["data"]


def make_key(client, owner, name="k") -> str:
    """An API change that records an `api_key.created` event; returns the event's id."""
    response = client.post(KEYS, json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.json
    run_jobs()
    events = db.session.scalars(sa.select(Event).where(Event.type == "api_key.created"))
    return next(e.id for e in events if e.data["id"] == response.json["data"]["id"])


def deliveries(client, owner, endpoint_id, query="") -> list[dict]:
    response = client.get(f"{HOOKS}/{endpoint_id}/deliveries?per_page=100{query}", headers=owner.headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def endpoint_of(client, owner, endpoint_id) -> dict:
    return client.get(f"{HOOKS}/{endpoint_id}", headers=owner.headers).json["data"]


def test_an_event_is_delivered_signed_and_counted(client, owner, receiver, clock):
    endpoint = subscribe(client, owner, receiver)
    event_id = make_key(client, owner)
    assert len(receiver.received) == 1
    request = receiver.received[0]
    payload = request.verified_by(endpoint["secret"])  # the standardwebhooks package accepts it
    assert request.id == event_id
    assert request.headers["webhook-timestamp"] == str(int(T0.timestamp()))
    assert request.headers["user-agent"].startswith("CoreAPI-Webhooks/")
    assert request.headers["content-type"] == "application/json"
    assert set(payload) == {"id", "type", "timestamp", "workspace_id", "data"}
    assert (payload["id"], payload["type"], payload["workspace_id"]) == (
        event_id,
        "api_key.created",
        owner.workspace_id,
    )
    assert ISO_Z.match(payload["timestamp"]) and payload["data"]["name"] == "k" and "key" not in payload["data"]
    event = client.get(f"/api/v1/events/{event_id}", headers=owner.headers).json["data"]
    assert payload["data"] == event["data"]
    [delivery] = deliveries(client, owner, endpoint["id"])
    assert delivery["id"].startswith("dlv_")
    assert (delivery["status"], delivery["attempt"], delivery["response_code"]) == ("success", 1, 200)
    assert (delivery["event_id"], delivery["event_type"], delivery["endpoint_id"]) == (
        event_id,
        "api_key.created",
        endpoint["id"],
    )
    assert delivery["delivered_at"] == "2026-03-02T09:00:00Z" and delivery["next_retry_at"] is None
    counters = endpoint_of(client, owner, endpoint["id"])
    assert (counters["success_count"], counters["failure_count"], counters["last_delivery_at"]) == (
        1,
        0,
        "2026-03-02T09:00:00Z",
    )
    run_due_work()
    assert len(receiver.received) == 1  # nothing is sent twice


def test_only_matching_active_endpoints_of_the_workspace_get_it(client, owner, other, receiver):
    everything = subscribe(client, owner, receiver, ["*"])
    members = subscribe(client, owner, receiver, ["member.*"])
    subscribe(client, other, receiver, ["api_key.*"])  # another tenant's endpoint never sees our events
    received_before = len(receiver.received)
    make_key(client, owner)
    run_due_work()
    assert [json.loads(r.body)["type"] for r in receiver.received[received_before:]] == ["api_key.created"]
    # `*` also got its own creation (like a ping) and the second endpoint's; `member.*` got nothing
    assert sorted(d["event_type"] for d in deliveries(client, owner, everything["id"])) == [
        "api_key.created",
        "webhook.created",
        "webhook.created",
    ]
    assert deliveries(client, owner, members["id"]) == []
    assert {json.loads(r.body)["workspace_id"] for r in receiver.received} == {owner.workspace_id}


def test_failures_are_retried_on_the_schedule_until_failed(client, owner, receiver, clock):
    receiver.statuses = [500]
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    [delivery] = deliveries(client, owner, endpoint["id"])
    assert (delivery["status"], delivery["attempt"], delivery["response_code"]) == ("retrying", 1, 500)
    assert delivery["next_retry_at"] == "2026-03-02T09:00:05Z"
    clock.shift(4)
    run_due_work()
    assert len(receiver.received) == 1  # not due yet
    clock.shift(2)
    run_due_work()
    assert len(receiver.received) == 2
    [delivery] = deliveries(client, owner, endpoint["id"])
    assert (delivery["status"], delivery["attempt"], delivery["next_retry_at"]) == (
        "retrying",
        2,
        "2026-03-02T09:00:16Z",
    )
    clock.shift(11)
    run_due_work()
    [delivery] = deliveries(client, owner, endpoint["id"])
    assert (delivery["status"], delivery["attempt"], delivery["next_retry_at"]) == ("failed", 3, None)
    clock.shift(3600)
    run_due_work()
    assert len(receiver.received) == 3  # the schedule [0, 5, 10] has three attempts
    assert len({r.id for r in receiver.received}) == 1  # every attempt carries the same webhook-id
    detail = client.get(f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}", headers=owner.headers).json["data"]
    assert [a["number"] for a in detail["attempts"]] == [1, 2, 3]
    assert [a["status_code"] for a in detail["attempts"]] == [500, 500, 500]
    assert (
        detail["attempts"][0]["error"] == "HTTP 500" and detail["attempts"][0]["response_body"] == '{"received": true}'
    )
    assert detail["attempts"][1]["attempted_at"] == "2026-03-02T09:00:06Z"
    counters = endpoint_of(client, owner, endpoint["id"])
    assert (counters["success_count"], counters["failure_count"], counters["consecutive_failures"]) == (0, 3, 3)
    assert deliveries(client, owner, endpoint["id"], "&status=failed")[0]["id"] == delivery["id"]
    assert deliveries(client, owner, endpoint["id"], "&status=success") == []


def test_a_retry_that_succeeds_resets_consecutive_failures(client, owner, receiver, clock):
    receiver.statuses = [503, 200]
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    clock.shift(5)
    run_due_work()
    [delivery] = deliveries(client, owner, endpoint["id"])
    assert (delivery["status"], delivery["attempt"], delivery["delivered_at"]) == ("success", 2, "2026-03-02T09:00:05Z")
    counters = endpoint_of(client, owner, endpoint["id"])
    assert (counters["success_count"], counters["failure_count"], counters["consecutive_failures"]) == (1, 1, 0)


def test_no_transaction_is_held_open_while_an_attempt_is_sent(client, owner, receiver, clock, monkeypatch):
    """On SQLite, a reader that outlived another connection's commit cannot write afterwards
    ('database is locked'): the attempt's outcome would be lost and the webhook sent again."""
    held_open, send = [], tasks.signing.send

    def watched_send(*args):
        held_open.append(db.session().in_transaction())
        return send(*args)

    monkeypatch.setattr(tasks.signing, "send", watched_send)
    receiver.statuses = [503, 200]
    subscribe(client, owner, receiver)
    make_key(client, owner)  # the first attempt, made by the fan-out
    clock.shift(5)
    run_due_work()  # the retry, made by a delivery job
    assert held_open == [False, False]


def test_manual_retry_and_cannot_retry(client, owner, receiver, clock, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", [0])
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 3)
    receiver.statuses = [500, 500, 500]
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    [delivery] = deliveries(client, owner, endpoint["id"])
    assert delivery["status"] == "failed"
    url = f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}/retry"
    response = client.post(url, headers=owner.headers)
    assert response.status_code == 200, response.json
    assert response.json == {
        "message": "Delivery queued for retry.",
        "data": {"id": delivery["id"], "status": "pending", "attempt": 2},
    }
    run_jobs()
    assert deliveries(client, owner, endpoint["id"])[0]["attempt"] == 2
    assert client.post(url, headers=owner.headers).status_code == 200
    run_jobs()
    [delivery] = deliveries(client, owner, endpoint["id"])
    assert (delivery["status"], delivery["attempt"]) == ("failed", 3)
    assert "maximum" in assert_error(client.post(url, headers=owner.headers), 400, "cannot_retry")["message"]
    assert len(receiver.received) == 3


def test_a_succeeded_delivery_cannot_be_retried(client, owner, receiver):
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    [delivery] = deliveries(client, owner, endpoint["id"])
    url = f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}/retry"
    assert "succeeded" in assert_error(client.post(url, headers=owner.headers), 400, "cannot_retry")["message"]
    assert_error(
        client.post(f"{HOOKS}/{endpoint['id']}/deliveries/dlv_nope/retry", headers=owner.headers), 404, "not_found"
    )


def test_delivery_detail_and_list_filters(client, owner, other, receiver):
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    [delivery] = deliveries(client, owner, endpoint["id"])
    detail = client.get(f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}", headers=owner.headers)
    assert detail.status_code == 200
    [attempt] = detail.json["data"]["attempts"]
    assert set(attempt) == {"number", "attempted_at", "status_code", "duration_ms", "error", "response_body"}
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["duration_ms"] >= 0
    assert_error(
        client.get(f"{HOOKS}/{endpoint['id']}/deliveries?status=lost", headers=owner.headers), 400, "bad_request"
    )
    assert_error(
        client.get(f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}", headers=other.headers), 404, "not_found"
    )
    second = subscribe(client, owner, receiver, ["member.*"])
    assert_error(  # a delivery is addressed through its own endpoint only
        client.get(f"{HOOKS}/{second['id']}/deliveries/{delivery['id']}", headers=owner.headers), 404, "not_found"
    )


def test_response_bodies_are_cut_to_4_kib(client, owner, receiver):
    receiver.body = b"x" * 10_000
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    [delivery] = deliveries(client, owner, endpoint["id"])
    detail = client.get(f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}", headers=owner.headers).json["data"]
    assert detail["attempts"][0]["response_body"] == "x" * 4096


def test_replay_resends_what_did_not_succeed(client, owner, receiver, clock, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", [0])
    before = make_key(client, owner, "before the endpoint existed")
    clock.shift(60)
    receiver.statuses = [500, 200]
    endpoint = subscribe(client, owner, receiver)
    failed = make_key(client, owner, "failed")
    succeeded = make_key(client, owner, "succeeded")
    assert [r.id for r in receiver.received] == [failed, succeeded]
    clock.shift(60)
    response = client.post(
        f"{HOOKS}/{endpoint['id']}/replay", json={"since": "2026-03-02T08:00:00Z"}, headers=owner.headers
    )
    assert response.status_code == 202, response.json
    assert response.json["message"] == "Replay queued."
    assert response.json["data"] == {
        "endpoint_id": endpoint["id"],
        "since": "2026-03-02T08:00:00Z",
        "until": "2026-03-02T09:02:00Z",
    }
    run_jobs()
    # the failed one again, and the one from before the endpoint existed; never the succeeded one
    assert sorted(r.id for r in receiver.received[2:]) == sorted([failed, before])
    assert {d["status"] for d in deliveries(client, owner, endpoint["id"])} == {"success"}
    client.post(f"{HOOKS}/{endpoint['id']}/replay", json={"since": "2026-03-02T08:00:00Z"}, headers=owner.headers)
    run_jobs()
    assert len(receiver.received) == 4  # everything succeeded: nothing more to send


def test_replay_window_is_validated(client, owner, receiver, clock):
    endpoint = subscribe(client, owner, receiver)
    url = f"{HOOKS}/{endpoint['id']}/replay"
    assert_error(client.post(url, json={}, headers=owner.headers), 422, "validation_failed")
    window = {"since": "2026-03-02T08:00:00Z", "until": "2026-03-02T07:00:00Z"}
    assert (
        "until"
        in assert_error(client.post(url, json=window, headers=owner.headers), 422, "validation_failed")["errors"]
    )
    future = {"since": "2026-04-01T00:00:00Z"}
    assert (
        "since"
        in assert_error(client.post(url, json=future, headers=owner.headers), 422, "validation_failed")["errors"]
    )
    assert_error(client.post(url, json={"since": "yesterday"}, headers=owner.headers), 422, "validation_failed")


def test_consecutive_failures_disable_the_endpoint_once(client, owner, receiver, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", [0])
    monkeypatch.setitem(app.config, "WEBHOOK_DISABLE_AFTER", 2)
    receiver.statuses = [500]
    endpoint = subscribe(client, owner, receiver)
    watcher = subscribe(client, owner, receiver, ["webhook.disabled"])
    make_key(client, owner, "one")
    assert endpoint_of(client, owner, endpoint["id"])["is_active"] is True
    make_key(client, owner, "two")
    state = endpoint_of(client, owner, endpoint["id"])
    assert (state["is_active"], state["consecutive_failures"]) == (False, 2)
    assert "2 consecutive failed deliveries" in state["disabled_reason"]
    disabled = client.get("/api/v1/events?type=webhook.disabled", headers=owner.headers).json["data"]
    assert len(disabled) == 1 and disabled[0]["data"]["id"] == endpoint["id"]
    assert "secret" not in disabled[0]["data"]
    run_due_work()
    assert [d["event_type"] for d in deliveries(client, owner, watcher["id"])] == ["webhook.disabled"]
    sent = len(receiver.received)
    make_key(client, owner, "three")  # a disabled endpoint gets nothing
    run_due_work()
    assert len(receiver.received) == sent
    assert len(deliveries(client, owner, endpoint["id"])) == 2
    # re-enabled: a fresh count
    state = client.patch(f"{HOOKS}/{endpoint['id']}", json={"is_active": True}, headers=owner.headers).json["data"]
    assert (state["is_active"], state["consecutive_failures"], state["disabled_reason"]) == (True, 0, None)


def test_after_rotation_both_secrets_sign_for_24_hours(client, owner, receiver, clock):
    endpoint = subscribe(client, owner, receiver)
    rotated = client.post(f"{HOOKS}/{endpoint['id']}/rotate-secret", headers=owner.headers).json["data"]
    assert rotated["previous_secret_expires_at"] == "2026-03-03T09:00:00Z"
    make_key(client, owner)
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    request.verified_by(rotated["secret"])
    request.verified_by(endpoint["secret"])
    clock.shift(timedelta(hours=24, seconds=1))
    make_key(client, owner)
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    request.verified_by(rotated["secret"])
    with pytest.raises(Exception, match="signature"):
        request.verified_by(endpoint["secret"])


def test_the_outbox_delivers_events_whose_hand_off_was_lost(client, owner, receiver, clock, app, monkeypatch):
    endpoint = subscribe(client, owner, receiver)
    run_jobs()  # the endpoint's own event: no fan-out job is left to take the next one

    def redis_down(_event_ids):
        raise ConnectionError("Redis is unreachable")

    monkeypatch.setitem(app.extensions, "core.events.on_committed", redis_down)
    event_id = make_key(client, owner)  # the change commits; the hand-off fails quietly
    assert receiver.received == []
    assert db.session.get(Event, event_id).dispatched_at is None
    monkeypatch.undo()
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOWED_HOSTS", ["127.0.0.1"])
    run_due_work()
    assert receiver.received == []  # just committed: its own fan-out job may still be coming
    clock.shift(31)
    run_due_work()
    assert [r.id for r in receiver.received] == [event_id]
    assert deliveries(client, owner, endpoint["id"])[0]["status"] == "success"


def test_a_lost_delivery_job_is_queued_again_by_the_sweeper(client, owner, receiver, clock):
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    [delivery] = deliveries(client, owner, endpoint["id"])
    # as if a worker was killed mid-attempt: claimed, never recorded
    row = db.session.get(WebhookDelivery, delivery["id"])
    row.status, row.sending_until, row.queued_until = "pending", T0 + timedelta(seconds=90), T0 + timedelta(minutes=5)
    db.session.commit()
    deliver(delivery["id"])  # a duplicate job finds the attempt claimed: nothing is sent
    assert len(receiver.received) == 1
    clock.shift(91)
    assert dispatch_pending()["requeued"] == 0  # its queue lease still runs
    clock.shift(timedelta(minutes=4))
    assert dispatch_pending()["requeued"] == 1
    run_jobs()
    assert len(receiver.received) == 2
    assert deliveries(client, owner, endpoint["id"])[0]["status"] == "success"


def test_an_address_refused_at_delivery_is_a_failed_attempt(client, owner, receiver, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", [0])
    endpoint = subscribe(client, owner, receiver)
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOWED_HOSTS", [])  # loopback is no longer allowed
    make_key(client, owner)
    assert receiver.received == []
    [delivery] = deliveries(client, owner, endpoint["id"])
    detail = client.get(f"{HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}", headers=owner.headers).json["data"]
    assert detail["status"] == "failed" and detail["attempts"][0]["status_code"] is None
    assert "127.0.0.1" in detail["attempts"][0]["error"] or "http" in detail["attempts"][0]["error"].lower()


def test_the_test_endpoint_sends_now_and_reports(client, owner, receiver):
    endpoint = subscribe(client, owner, receiver)
    response = client.post(f"{HOOKS}/{endpoint['id']}/test", headers=owner.headers)
    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"success", "status_code", "response_time_ms", "response_body"}
    assert (body["success"], body["status_code"], body["response_body"]) == (True, 200, '{"received": true}')
    payload = receiver.received[-1].verified_by(endpoint["secret"])
    assert payload["type"] == "webhook.test" and payload["data"]["webhook_id"] == endpoint["id"]
    receiver.statuses = [500]
    body = client.post(f"{HOOKS}/{endpoint['id']}/test", headers=owner.headers).json
    assert set(body) == {"success", "status_code", "error", "response_time_ms"}
    assert (body["success"], body["status_code"], body["error"]) == (False, 500, "HTTP 500")
    counters = endpoint_of(client, owner, endpoint["id"])
    assert (counters["success_count"], counters["failure_count"]) == (0, 0)  # tests are not deliveries
    assert deliveries(client, owner, endpoint["id"]) == []


def test_the_test_endpoint_reports_an_unreachable_receiver(client, owner, receiver):
    endpoint = subscribe(client, owner, receiver)
    receiver.stop()
    body = client.post(f"{HOOKS}/{endpoint['id']}/test", headers=owner.headers).json
    assert body["success"] is False and body["status_code"] is None and body["error"]


def test_the_test_endpoint_is_rate_limited(client, owner, receiver):
    endpoint = subscribe(client, owner, receiver)
    statuses = [client.post(f"{HOOKS}/{endpoint['id']}/test", headers=owner.headers).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]


def test_endpoint_deleted_with_deliveries_pending(client, owner, receiver, clock):
    receiver.statuses = [500]
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner)
    assert client.delete(f"{HOOKS}/{endpoint['id']}", headers=owner.headers).status_code == 204
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0
    clock.shift(10)
    run_due_work()
    assert len(receiver.received) == 1
    assert db.session.get(WebhookEndpoint, endpoint["id"]) is None


@requires_redis
def test_a_redis_restart_loses_no_delivery(client, owner, receiver, clock):
    """Queued fan-out and retry jobs vanish with Redis' memory; the database still has the work."""
    receiver.statuses = [500, 200]
    endpoint = subscribe(client, owner, receiver)
    make_key(client, owner, "retried")  # attempt 1 failed: a retry job waits in RQ's scheduler
    response = client.post(KEYS, json={"name": "queued"}, headers=owner.headers)
    assert response.status_code == 201  # its fan-out job is on the queue
    jobs.redis.flushdb()  # the restart: nothing queued or scheduled survives
    clock.shift(31)
    run_due_work()  # the dispatcher fans out the event whose job was lost
    assert [d["status"] for d in deliveries(client, owner, endpoint["id"], "&sort=created_at")] == [
        "retrying",
        "success",
    ]
    clock.shift(timedelta(minutes=5))
    run_due_work()  # the sweeper: the retry's job was lost, its queue lease has run out
    assert [d["status"] for d in deliveries(client, owner, endpoint["id"])] == ["success", "success"]
    assert len(receiver.received) == 3  # the failed attempt, then each event once


def test_secrets_survive_an_encryption_key_rotation(client, owner, receiver, app, monkeypatch):
    endpoint = subscribe(client, owner, receiver)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", f"{new_key},{app.config['ENCRYPTION_KEYS']}")
    make_key(client, owner)
    receiver.received[-1].verified_by(endpoint["secret"])
