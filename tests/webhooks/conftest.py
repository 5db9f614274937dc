import pytest

from tests import factories

from . import Receiver


@pytest.fixture
def owner(app):
    """On the starter tier: some tests need more than the free tier's two endpoints."""
    return factories.account("owner@example.com", tier="starter")


@pytest.fixture
def receiver(app, monkeypatch):
    """A live receiver on loopback, which tests allow-list explicitly (API.md §10)."""
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOWED_HOSTS", ["127.0.0.1"])
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_SCHEDULE", [0, 5, 10])
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def admin(owner):
    return factories.member(owner.workspace_id, "admin@example.com", "admin")
