"""`flask webhooks list | replay | retry-failed` (issue 3's admin CLI)."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.webhooks.models import WebhookDelivery
from app.workspaces.service import get_workspace

from . import HOOKS, run_jobs


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def subscribe(client, owner, receiver) -> dict:
    run_jobs()
    response = client.post(HOOKS, json={"url": receiver.url, "events": ["api_key.*"]}, headers=owner.headers)
    assert response.status_code == 201, response.json
    return response.json["data"]


def failed_delivery(client, owner, app, monkeypatch, receiver) -> tuple[dict, str]:
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", [0])
    receiver.statuses = [500, 200]
    endpoint = subscribe(client, owner, receiver)
    assert client.post("/api/v1/api-keys", json={"name": "k"}, headers=owner.headers).status_code == 201
    run_jobs()
    [delivery] = db.session.query(WebhookDelivery).filter_by(endpoint_id=endpoint["id"]).all()
    assert delivery.status == "failed"
    return endpoint, delivery.id


def test_list(runner, client, owner, receiver):
    endpoint = subscribe(client, owner, receiver)
    slug = get_workspace(owner.workspace_id).slug
    result = runner.invoke(args=["webhooks", "list", "--workspace", slug])
    assert result.exit_code == 0, result.output
    assert endpoint["id"] in result.output and receiver.url in result.output and "active" in result.output
    assert "whsec_" not in result.output
    missing = runner.invoke(args=["webhooks", "list", "--workspace", "nope"])
    assert missing.exit_code != 0 and "No workspace has the slug nope" in missing.output


def test_replay(runner, client, owner, app, monkeypatch, receiver):
    endpoint, delivery_id = failed_delivery(client, owner, app, monkeypatch, receiver)
    result = runner.invoke(args=["webhooks", "replay", endpoint["id"], "--since", "2020-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    # the failed one, and the owner fixture's key, made before the endpoint existed
    assert "Queued 2 deliveries; skipped 0" in result.output
    run_jobs()
    assert db.session.get(WebhookDelivery, delivery_id).status == "success"
    bad = runner.invoke(args=["webhooks", "replay", endpoint["id"], "--since", "last week"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output and "Traceback" not in bad.output
    unknown = runner.invoke(args=["webhooks", "replay", "whe_nope", "--since", "2020-01-01"])
    assert unknown.exit_code != 0 and "No webhook endpoint" in unknown.output


def test_retry_failed(runner, client, owner, app, monkeypatch, receiver):
    _, delivery_id = failed_delivery(client, owner, app, monkeypatch, receiver)
    result = runner.invoke(args=["webhooks", "retry-failed", "--since", "2020-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "Queued 1 deliveries" in result.output
    run_jobs()
    delivery = db.session.get(WebhookDelivery, delivery_id)
    assert (delivery.status, delivery.attempt) == ("success", 2)
    again = runner.invoke(args=["webhooks", "retry-failed", "--since", "2020-01-01T00:00:00Z"])
    assert "Queued 0 deliveries" in again.output
