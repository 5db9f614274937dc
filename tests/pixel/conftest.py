import pytest

from app.pixel import buffer, service


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test's sites are new: forget what the web process cached of the last test's."""
    service._cache.clear()
    buffer._salts.clear()
    buffer._asked_at[0] = 0.0
    yield
    service._cache.clear()
    buffer._salts.clear()
