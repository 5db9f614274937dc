import pytest


@pytest.fixture
def stand_in(ai_stand_in):
    return ai_stand_in
