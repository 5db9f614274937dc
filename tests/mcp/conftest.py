import pytest

from tests import factories

from . import Canary, Upstream


@pytest.fixture
def owner(app):
    """On the pro tier: tests about something else than the plan's limit make several servers."""
    return factories.account("owner@example.com", tier="pro")


@pytest.fixture
def upstream(app, monkeypatch):
    """A live upstream on loopback, which the tests allow-list explicitly (API.md §10)."""
    monkeypatch.setitem(app.config, "OUTBOUND_ALLOWED_HOSTS", ["127.0.0.1"])
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def canary():
    listener = Canary()
    yield listener
    listener.stop()
