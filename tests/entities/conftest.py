import pytest


@pytest.fixture
def make(client, owner):
    """POST a record of `entity` as the owner; returns its data (asserts 201)."""

    def create(entity: str, headers=None, **body) -> dict:
        response = client.post(f"/api/v1/{entity}", json=body, headers=headers or owner.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json["data"]

    return create
