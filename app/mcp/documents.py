"""OpenAPI documents in: parse JSON or YAML, refuse non-local `$ref`s, validate (OpenAPI 3.0/3.1).

The order matters: openapi-spec-validator follows remote and `file://` references on its own
(NOTES.md), so every `$ref` that is not `#/…` is refused before the validator sees the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import yaml  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate
from openapi_spec_validator.exceptions import OpenAPISpecValidatorError
from referencing.exceptions import PointerToNowhere, Unresolvable

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class DocumentError(Exception):
    """The document cannot be imported; str() is one line for the tenant."""


def parse(source: str | dict) -> dict:
    """JSON or YAML text, or an already parsed object → a dict with string keys only."""
    if isinstance(source, dict):
        document = source
    else:
        try:
            document = json.loads(source)
        except ValueError:
            try:
                # the safe loader builds plain data only; its anchors and aliases stay in the text
                document = yaml.safe_load(source)
            except yaml.YAMLError as exc:
                raise DocumentError(f"Neither JSON nor YAML: {_first_line(exc)}") from None
    if not isinstance(document, dict):
        raise DocumentError("The document must be an object (a JSON object or a YAML mapping).")
    return _string_keys(document)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else exc.__class__.__name__


def _string_keys(value):
    # YAML reads `200:` as an integer key, which the validator cannot handle: keys become strings
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def references(value, path: str = "#") -> Iterator[tuple[str, str]]:
    """Every (location, target) of a `$ref` in the document. A `$ref` whose value is not a string
    is not a reference (the Petstore has a property named `$ref`)."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield where, ref
            stack.extend((v, f"{where}/{_escape(k)}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}/{i}") for i, v in enumerate(node))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")  # JSON Pointer (RFC 6901)


def refuse_non_local_refs(document: dict) -> None:
    for where, ref in references(document):
        if not ref.startswith("#"):
            raise DocumentError(f"Only local references (#/…) are allowed; {where} refers to {ref[:200]!r}.")


def check(document: dict) -> dict:
    """Refuse non-local references, then validate; returns facts about the document."""
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith(("3.0.", "3.1.")):
        raise DocumentError("Only OpenAPI 3.0 and 3.1 documents are supported ('openapi': '3.0.x' or '3.1.x').")
    refuse_non_local_refs(document)
    try:
        validate(document)
    except ValidationError as exc:  # its str() quotes the whole instance: use the message and where
        where = "/".join(str(p) for p in exc.absolute_path)
        raise DocumentError(f"Invalid OpenAPI document at #/{where}: {exc.message.splitlines()[0][:300]}") from None
    except PointerToNowhere as exc:
        raise DocumentError(f"Invalid OpenAPI document: the reference #{exc.ref[:200]} points nowhere.") from None
    except (Unresolvable, OpenAPISpecValidatorError, RecursionError) as exc:
        raise DocumentError(f"Invalid OpenAPI document: {exc.__class__.__name__}.") from None
    info = document.get("info") or {}
    return {
        "openapi_version": version,
        "title": str(info.get("title") or "")[:500] or None,
        "version": str(info.get("version") or "")[:100] or None,
        "operation_count": sum(1 for _ in operations(document)),
    }


def operations(document: dict) -> Iterator[tuple[str, str, dict, list]]:
    """(method, path, operation, path-level parameters) for every operation, in document order."""
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield method, path, operation, shared
