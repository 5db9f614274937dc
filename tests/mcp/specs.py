"""OpenAPI documents for the tests: the shipped Petstores, and our own edge cases."""

from __future__ import annotations

import copy
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def petstore_yaml(version: str = "3.0") -> str:
    return (FIXTURES / f"petstore-{version}.yaml").read_text()


def document(paths: dict, components: dict | None = None, openapi: str = "3.1.0") -> dict:
    doc = {"openapi": openapi, "info": {"title": "Edge cases", "version": "2.0.0"}, "paths": paths}
    if components:
        doc["components"] = components
    return copy.deepcopy(doc)


OK = {"200": {"description": "OK"}}


def op(**fields) -> dict:
    return {"responses": OK, **fields}


def json_body(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def upstream_spec() -> dict:
    """What the upstream stand-in serves: path, query and header parameters and a JSON body."""
    return document(
        {
            "/items/{item_id}": {
                "parameters": [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": op(
                    operationId="getItem",
                    summary="Get an item",
                    parameters=[
                        {"name": "expand", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                    ],
                ),
                "put": op(
                    operationId="putItem",
                    requestBody=json_body({"$ref": "#/components/schemas/Item"}),
                ),
            },
            "/status/{code}": {
                "get": op(
                    operationId="status",
                    parameters=[{"name": "code", "in": "path", "required": True, "schema": {"type": "integer"}}],
                )
            },
            "/big": {"get": op(operationId="big")},
            "/slow": {"get": op(operationId="slow")},
        },
        {
            "schemas": {
                "Item": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "count": {"type": "integer", "minimum": 0}},
                    "additionalProperties": False,
                }
            }
        },
    )


def make_spec(client, account, raw=None, name: str = "Spec") -> dict:
    response = client.post(
        "/api/v1/mcp/specs", json={"name": name, "raw_spec": raw or petstore_yaml()}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]


def make_server(client, account, spec_id: str, **fields) -> dict:
    body = {"slug": "petstore", "name": "Petstore", "auth_mode": "none", "base_url": "https://petstore.example.com/v1"}
    response = client.post(f"/api/v1/mcp/specs/{spec_id}/servers", json={**body, **fields}, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]
