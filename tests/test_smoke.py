def test_owner_reads_own_workspace(client, owner):
    response = client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=owner.headers)
    assert response.status_code == 200
    assert response.json["data"]["id"] == owner.workspace_id


def test_writes_of_one_test_vanish(client):
    response = client.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": "password123"})
    assert response.status_code == 401
