import pytest

from . import ChatStandIn


@pytest.fixture
def stand_in(app, monkeypatch):
    """AI configured, pointing at a local Chat Completions stand-in."""
    server = ChatStandIn()
    for name, value in {
        "AI_BASE_URL": server.base_url,
        "AI_API_KEY": "sk-provider-test",
        "AI_MODEL": "test-model",
        "AI_ALLOWED_MODELS": ["test-model", "other-model"],
        "AI_TIMEOUT": 5.0,
    }.items():
        monkeypatch.setitem(app.config, name, value)
    yield server
    server.stop()
