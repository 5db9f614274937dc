import pytest

from tests import factories


@pytest.fixture
def owner(app):
    """On the pro tier: most tests are about something else than the plan's seo_reports limit."""
    return factories.account("owner@example.com", tier="pro")
