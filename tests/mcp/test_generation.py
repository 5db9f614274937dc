"""Operations → tools: names, input schemas (JSON Schema 2020-12), what is skipped."""

import json
import random

import yaml
from jsonschema import Draft202012Validator

from app.mcp import documents
from app.mcp.generation import MAX_NAME, generate

from .specs import FIXTURES, document, json_body, op, petstore_yaml, upstream_spec


def names(doc: dict) -> list[str]:
    return [t.name for t in generate(doc).tools]


def test_petstores_give_one_tool_per_operation_with_valid_schemas():
    for version, expected in (("3.0", ["createPets", "listPets", "showPetById"]), ("3.1", ["createPets", "listPets"])):
        tools = generate(documents.parse(petstore_yaml(version))).tools
        assert sorted(t.name for t in tools) == expected
        for tool in tools:
            Draft202012Validator.check_schema(tool.input_schema)
            assert tool.input_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        show = {t.name: t for t in tools}.get("showPetById")
        if show:
            assert show.description == "Info for a specific pet"
            assert show.input_schema["required"] == ["petId"]
            assert show.operation == {
                "parameters": [{"arg": "petId", "name": "petId", "in": "path", "explode": None}],
                "body": None,
            }


def test_names_from_operation_id_or_method_and_path_reduced_to_safe_characters():
    doc = document(
        {
            "/users/{id}/avatar.png": {"get": op(), "post": op(operationId="upload avatar (v2)!")},
            "/x": {"delete": op(operationId="ns.delete-x")},
        }
    )
    assert sorted(names(doc)) == ["get_users_id_avatar_png", "ns_delete-x", "upload_avatar_v2"]


def test_long_names_are_cut_to_64_with_a_stable_hash_and_collisions_get_one_too():
    long_id = "a" * 80
    doc = document(
        {
            "/one": {"get": op(operationId=long_id)},
            "/two": {"get": op(operationId=long_id)},
            "/three": {"get": op(operationId="same")},
            "/four": {"get": op(operationId="same")},
        }
    )
    got = names(doc)
    assert all(len(n) <= MAX_NAME for n in got)
    assert len(set(got)) == 4
    cut = [n for n in got if n.startswith("aaaa")]
    assert len(cut) == 2 and all(len(n) == MAX_NAME for n in cut)
    assert "same" in got and any(n.startswith("same_") and len(n) == len("same_") + 8 for n in got)
    # stable across re-imports, whatever order the document lists its paths in
    shuffled = dict(random.Random(7).sample(list(doc["paths"].items()), k=4))
    assert sorted(names(document(shuffled))) == sorted(got)
    assert names(json.loads(json.dumps(doc))) == got


def test_input_schema_from_path_query_header_parameters_and_json_body():
    tools = {t.name: t for t in generate(upstream_spec()).tools}
    get = tools["getItem"].input_schema
    assert set(get["properties"]) == {"item_id", "expand", "tags", "X-Trace"}  # path-level parameter merged
    assert get["required"] == ["item_id"] and get["additionalProperties"] is False
    put = tools["putItem"]
    assert put.input_schema["properties"]["body"]["required"] == ["name"]  # the local $ref resolved
    assert put.input_schema["required"] == ["item_id", "body"]
    assert put.operation["body"] == "body"
    validator = Draft202012Validator(put.input_schema)
    assert validator.is_valid({"item_id": "1", "body": {"name": "x", "count": 2}})
    assert not validator.is_valid({"item_id": "1", "body": {"count": -1}})
    assert not validator.is_valid({"item_id": "1", "body": {"name": "x"}, "extra": 1})


def test_accept_content_type_and_authorization_headers_are_not_arguments():
    params = [
        {"name": n, "in": "header", "schema": {"type": "string"}}
        for n in ("Accept", "Content-Type", "Authorization", "X-Ok")
    ]
    params.append({"name": "session", "in": "cookie", "schema": {"type": "string"}})
    (tool,) = generate(document({"/a": {"get": op(parameters=params)}})).tools
    assert list(tool.input_schema["properties"]) == ["X-Ok"]


def test_deprecated_operations_and_non_json_bodies_are_skipped_and_counted():
    doc = document(
        {
            "/a": {
                "get": op(deprecated=True),
                "post": op(
                    requestBody={"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}
                ),
                "put": op(requestBody={"content": {"application/merge-patch+json": {"schema": {"type": "object"}}}}),
                "patch": op(
                    requestBody={"content": {"multipart/form-data": {}, "application/json; charset=utf-8": {}}}
                ),
            }
        }
    )
    result = generate(doc)
    assert (result.skipped_deprecated, result.skipped_non_json) == (1, 1)
    assert sorted(t.name for t in result.tools) == ["patch_a", "put_a"]


def test_recursion_is_cut_and_refs_to_parameters_and_bodies_are_followed():
    components = {
        "schemas": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            },
            "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
        },
        "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}},
        "requestBodies": {"Tree": json_body({"$ref": "#/components/schemas/Node"})},
    }
    doc = document(
        {
            "/tree": {
                "post": op(
                    requestBody={"$ref": "#/components/requestBodies/Tree"},
                    parameters=[{"$ref": "#/components/parameters/Limit"}],
                )
            },
            "/ab": {"post": op(requestBody=json_body({"$ref": "#/components/schemas/A"}))},
        },
        components,
    )
    assert documents.check(doc)["operation_count"] == 2
    tools = {t.name: t for t in generate(doc).tools}
    tree = tools["post_tree"].input_schema
    Draft202012Validator.check_schema(tree)
    assert "$ref" not in json.dumps(tree)
    assert tree["properties"]["limit"] == {"type": "integer", "minimum": 1}
    children = tree["properties"]["body"]["properties"]["children"]["items"]
    assert "recursive" in children["description"] or "not expanded" in children["description"]
    ab = tools["post_ab"].input_schema["properties"]["body"]
    assert ab["properties"]["b"]["properties"]["a"]["description"].startswith("(not expanded")


def test_openapi_30_schema_keywords_become_2020_12():
    body = {
        "type": "object",
        "properties": {
            "nickname": {"type": "string", "nullable": True, "example": "Rex"},
            "age": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            "nullable": {"type": "string"},  # a property with a keyword's name stays a property
            "example": {"type": "string"},
        },
    }
    doc = document({"/a": {"post": op(requestBody=json_body(body))}}, openapi="3.0.3")
    (tool,) = generate(doc).tools
    schema = tool.input_schema["properties"]["body"]
    Draft202012Validator.check_schema(tool.input_schema)
    assert schema["properties"]["nickname"] == {"type": ["string", "null"], "examples": ["Rex"]}
    assert schema["properties"]["age"] == {"type": "integer", "exclusiveMinimum": 0}
    assert set(schema["properties"]) == {"nickname", "age", "nullable", "example"}
    assert Draft202012Validator(tool.input_schema).is_valid({"body": {"nickname": None}})


def test_yaml_integer_keys_are_strings_after_parsing():
    parsed = documents.parse(
        "openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses:\n        200: {description: OK}\n"
    )
    assert list(parsed["paths"]["/a"]["get"]["responses"]) == ["200"]
    assert yaml.safe_load("200: x") == {200: "x"}  # what it would have been


def test_an_optional_empty_non_json_body_is_no_body():
    """Stripe declares an empty, optional form body on its GETs: those are not skipped."""
    empty = {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {}, "additionalProperties": False}
            }
        },
    }
    with_fields = {
        "content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
        }
    }
    required_empty = {**empty, "required": True}
    doc = document(
        {
            "/a": {
                "get": op(requestBody=empty),
                "post": op(requestBody=with_fields),
                "put": op(requestBody=required_empty),
            }
        }
    )
    result = generate(doc)
    assert [t.name for t in result.tools] == ["get_a"] and result.skipped_non_json == 2
    assert result.tools[0].operation["body"] is None and list(result.tools[0].input_schema["properties"]) == []


def test_openapi_cores_larger_petstore():
    doc = documents.parse((FIXTURES / "petstore-openapi-core.yaml").read_text())
    assert documents.check(doc)["operation_count"] == 8
    result = generate(doc)
    tools = {t.name: t for t in result.tools}
    assert sorted(tools) == [
        "createPets",
        "createTag",
        "deleteTag",
        "listPets",
        "listTags",
        "showPetById",
        "showPetPhotoById",
    ]
    assert (result.skipped_deprecated, result.skipped_non_json) == (0, 1)
    for tool in result.tools:
        Draft202012Validator.check_schema(tool.input_schema)
        assert "$ref" not in json.dumps(tool.input_schema)
    create = tools["createPets"]
    assert create.input_schema["required"] == ["api-key", "body"]  # a header parameter and the JSON body
    assert {"arg": "api-key", "name": "api-key", "in": "header", "explode": None} in create.operation["parameters"]
    assert set(create.input_schema["properties"]) == {"api-key", "body"}  # its cookie parameters are not arguments
