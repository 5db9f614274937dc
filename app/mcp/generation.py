"""OpenAPI operations → MCP tools: names, descriptions and JSON Schema 2020-12 input schemas.

Names come from `operationId`, else method and path; reduced to `[A-Za-z0-9_-]`, at most 64
characters. Operations are taken in a fixed order (path, method), so a re-import of the same
document gives the same names; a name that had to be cut, or that another operation already
has, gets a short hash of the operation's own identity.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .documents import operations

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_NAME = 64
HASH_LENGTH = 8
MAX_REF_DEPTH = 8  # nested references expanded inline before the rest is cut
MAX_EXPANSIONS = 300  # references expanded per tool: wide schemas cannot blow a tool up
# OpenAPI: these header parameters are ignored (the request's own headers decide them)
IGNORED_HEADERS = {"accept", "content-type", "authorization"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# keywords whose value is one schema, a list of schemas, or a name → schema map
_ONE = (
    "items",
    "not",
    "additionalProperties",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_NAMED = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


@dataclass
class Tool:
    name: str
    description: str | None
    method: str
    path: str
    input_schema: dict
    # where each argument goes: [{"arg", "name", "in"}], and the body's argument if any
    operation: dict


@dataclass
class Generated:
    tools: list[Tool] = field(default_factory=list)
    skipped_deprecated: int = 0
    skipped_non_json: int = 0


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def base_name(method: str, path: str, operation: dict) -> tuple[str, bool]:
    """The reduced name, and whether it was cut to fit."""
    raw = operation.get("operationId")
    raw = raw if isinstance(raw, str) and raw.strip() else f"{method}_{path.strip('/')}"
    name = _UNSAFE.sub("_", raw).strip("_") or method
    if len(name) > MAX_NAME:
        return name[: MAX_NAME - HASH_LENGTH - 1].rstrip("_"), True
    return name, False


def _with_hash(name: str, identity: str) -> str:
    return f"{name[: MAX_NAME - HASH_LENGTH - 1]}_{_short_hash(identity)}"


def generate(document: dict) -> Generated:
    result = Generated()
    taken: set[str] = set()
    resolver = _Resolver(document)
    for method, path, operation, shared in sorted(operations(document), key=lambda o: (o[1], o[0])):
        if operation.get("deprecated") is True:
            result.skipped_deprecated += 1
            continue
        resolver.budget = MAX_EXPANSIONS
        built = _input(resolver, operation, shared)
        if built is None:
            result.skipped_non_json += 1
            continue
        schema, where = built
        name, cut = base_name(method, path, operation)
        identity = f"{method.upper()} {path}"
        if cut or name in taken:
            name = _with_hash(name, identity)
        taken.add(name)
        result.tools.append(
            Tool(
                name=name,
                description=_description(operation, method, path),
                method=method.upper(),
                path=path,
                input_schema=schema,
                operation=where,
            )
        )
    return result


def _description(operation: dict, method: str, path: str) -> str:
    parts = [operation.get(k) for k in ("summary", "description")]
    text = "\n\n".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return text or f"{method.upper()} {path}"


def _json_media(content: dict) -> dict | None:
    for media_type, media in content.items():
        essence = media_type.split(";")[0].strip().lower()
        if essence == "application/json" or essence.endswith("+json"):
            return media if isinstance(media, dict) else {}
    return None


def _empty_optional(resolver: _Resolver, request_body: dict) -> bool:
    """An optional body whose every schema is an object with no properties (Stripe declares one on
    its GETs, form-encoded): no body at all, so a non-JSON media type does not skip the operation."""
    if request_body.get("required") is True:
        return False
    for media in (request_body.get("content") or {}).values():
        schema = resolver.follow(media.get("schema")) if isinstance(media, dict) else None
        if not isinstance(schema, dict) or schema.get("properties") or schema.get("additionalProperties") is not False:
            return False
        if schema.get("type") not in (None, "object") or any(k in schema for k in ("allOf", "anyOf", "oneOf", "items")):
            return False
    return True


def _input(resolver: _Resolver, operation: dict, shared: list) -> tuple[dict, dict] | None:
    """The input schema and the argument map, or None for a body that is not JSON."""
    parameters: dict[tuple[str, str], dict] = {}
    for raw in [*shared, *(operation.get("parameters") or [])]:  # the operation's own win
        parameter = resolver.follow(raw)
        if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
            parameters[(parameter["name"], parameter.get("in", ""))] = parameter
    properties: dict[str, dict] = {}
    required: list[str] = []
    where: list[dict] = []
    for (name, location), parameter in parameters.items():
        if location not in ("path", "query", "header") or (location == "header" and name.lower() in IGNORED_HEADERS):
            continue
        arg = name if name not in properties else f"{name}_{location}"
        schema = parameter.get("schema")
        if schema is None:  # `content` instead of `schema`: its one media type's schema
            first: object = next(iter((parameter.get("content") or {}).values()), {})
            schema = first.get("schema") if isinstance(first, dict) else None
        prop = resolver.schema(schema if isinstance(schema, dict) else {})
        if isinstance(parameter.get("description"), str) and "description" not in prop:
            prop = {**prop, "description": parameter["description"]}
        properties[arg] = prop
        if location == "path" or parameter.get("required") is True:
            required.append(arg)
        where.append({"arg": arg, "name": name, "in": location, "explode": parameter.get("explode")})
    body_arg = None
    request_body = resolver.follow(operation.get("requestBody"))
    if isinstance(request_body, dict) and not _empty_optional(resolver, request_body):
        media = _json_media(request_body.get("content") or {})
        if media is None:
            return None
        body_arg = next(a for a in ("body", "request_body", "_body") if a not in properties)
        body_schema = media.get("schema")
        body = resolver.schema(body_schema if isinstance(body_schema, dict) else {})
        if isinstance(request_body.get("description"), str) and "description" not in body:
            body = {**body, "description": request_body["description"]}
        properties[body_arg] = body
        if request_body.get("required") is True:
            required.append(body_arg)
    schema = {"$schema": SCHEMA_DIALECT, "type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema, {"parameters": where, "body": body_arg}


class _Resolver:
    """Local references resolved inline; a reference already being expanded (recursion) or past
    MAX_REF_DEPTH becomes `{}` with a note. OpenAPI 3.0's schema dialect is turned into 2020-12."""

    def __init__(self, document: dict):
        self.document = document
        self.dialect_30 = str(document.get("openapi", "")).startswith("3.0.")
        self.budget = MAX_EXPANSIONS

    def _target(self, ref: str):
        node = self.document
        for token in ref[1:].split("/")[1:] if ref.startswith("#/") else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return None
        return node if ref.startswith("#/") else None

    def follow(self, node, seen: tuple[str, ...] = ()):
        """A parameter or request body that may itself be a reference."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and len(seen) < MAX_REF_DEPTH:
            ref = node["$ref"]
            if ref in seen:
                return None
            seen = (*seen, ref)
            node = self._target(ref)
        return node

    def schema(self, schema: dict, seen: tuple[str, ...] = ()) -> dict:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in seen or len(seen) >= MAX_REF_DEPTH or self.budget <= 0:
                return {"description": f"(not expanded: {ref.rsplit('/', 1)[-1]})"}
            self.budget -= 1
            target = self._target(ref)
            resolved = self.schema(target, (*seen, ref)) if isinstance(target, dict) else {}
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            if siblings and self.dialect_30:
                siblings = {}  # 3.0: siblings of $ref are ignored
            elif siblings:
                return {"allOf": [resolved], **self._keywords(siblings, seen)}
            return resolved
        return self._keywords(schema, seen)

    def _keywords(self, schema: dict, seen: tuple[str, ...]) -> dict:
        out: dict = {}
        for key, value in schema.items():
            if key in _ONE and isinstance(value, dict):
                out[key] = self.schema(value, seen)
            elif key in _MANY and isinstance(value, list):
                out[key] = [self.schema(v, seen) if isinstance(v, dict) else v for v in value]
            elif key in _NAMED and isinstance(value, dict):
                out[key] = {n: self.schema(v, seen) if isinstance(v, dict) else v for n, v in value.items()}
            elif key in ("discriminator", "xml", "externalDocs", "$schema", "$id"):
                continue  # OpenAPI-only annotations, or what would change the dialect
            else:
                out[key] = value
        if self.dialect_30:
            out = _from_30(out)
        return out


def _from_30(schema: dict) -> dict:
    """OpenAPI 3.0 keywords that mean something else (or nothing) in JSON Schema 2020-12."""
    out = dict(schema)
    if out.pop("nullable", False) is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    if "example" in out:
        out["examples"] = [out.pop("example")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool):
            if out.pop(bound) and limit in out:
                out[bound] = out.pop(limit)
    return out
