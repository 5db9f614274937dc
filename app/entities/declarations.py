"""Entity declarations: one format for the built-in entities (builtins.py) and for the custom
entities a workspace defines through the API. A declaration is plain JSON; `parse` checks it and
turns it into an `Entity` that the schemas, the queries and the routes are generated from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FIELD_TYPES = (
    "string",
    "text",
    "integer",
    "number",
    "boolean",
    "enum",
    "date",
    "datetime",
    "email",
    "url",
    "json",
    "reference",
)
ENTITY_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")  # API.md §12
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # fields and relations
PREFIX = re.compile(r"^[a-z]{2,5}$")
WINDOWS = {"1m": "minute", "1h": "hour", "1d": "day"}  # rate-limit windows, as `limits` names them
ON_DELETE = ("restrict", "cascade")
# every record has these; a declaration may not declare them
GENERATED = ("id", "created_at", "updated_at")
MEMBERS = "members"  # a reference to a member of the workspace (a user id), not to a record


class DeclarationError(ValueError):
    """A declaration that cannot be used; `errors` maps a path to messages (→ 422)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("invalid declaration")
        self.errors = errors


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = False
    default: object = field(default=None, compare=False)  # may be a list: not part of the hash
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    unique: bool = False
    generated: bool = False  # computed by the server (orders.total); never accepted in a request
    references: str | None = None  # entity name, or MEMBERS
    on_delete: str = "restrict"

    def describe(self) -> dict:
        """As OPTIONS shows it."""
        out: dict = {"type": self.type, "required": self.required}
        for key in ("default", "max_length", "min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.values:
            out["values"] = list(self.values)
        if self.unique:
            out["unique"] = True
        if self.generated:
            out["generated"] = True
        if self.references:
            out["entity"] = self.references
        return out


@dataclass(frozen=True)
class Relation:
    name: str
    type: str  # belongs_to | has_many
    entity: str
    foreign_key: str

    def describe(self) -> dict:
        return {"type": self.type, "entity": self.entity, "foreign_key": self.foreign_key}


@dataclass(frozen=True)
class Entity:
    name: str  # plural: the path and the scope resource (`tasks`)
    singular: str  # events: `task.created`
    prefix: str  # ids: `tsk_…`
    fields: tuple[Field, ...]
    relations: tuple[Relation, ...] = ()
    searchable: tuple[str, ...] = ()
    sortable: tuple[str, ...] = ("created_at", "updated_at")
    filterable: tuple[str, ...] = ()
    rate_limit: tuple[int, str] | None = None  # (limit, window)
    builtin: bool = True
    declaration: dict = field(default_factory=dict, compare=False)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def relation(self, name: str) -> Relation | None:
        return next((r for r in self.relations if r.name == name), None)

    @property
    def unique_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.unique)

    @property
    def record_references(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.type == "reference" and f.references != MEMBERS)


def _list_of_names(value, path: str, errors: dict) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.setdefault(path, []).append("Must be a list of field names.")
        return ()
    return tuple(dict.fromkeys(value))


def _number(spec: dict, key: str, path: str, errors: dict) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.setdefault(f"{path}.{key}", []).append("Must be a number.")
        return None
    return value


def _parse_field(name: str, spec, path: str, errors: dict) -> Field | None:
    if not NAME.match(name) or name in GENERATED:
        errors.setdefault(path, []).append(
            "Field names are lower-case letters, digits and _ (not id, created_at or updated_at)."
        )
        return None
    if not isinstance(spec, dict):
        errors.setdefault(path, []).append("Must be an object.")
        return None
    known = {
        "type",
        "required",
        "default",
        "max_length",
        "min",
        "max",
        "values",
        "unique",
        "generated",
        "entity",
        "on_delete",
    }
    unknown = sorted(set(spec) - known)
    if unknown:
        errors.setdefault(path, []).append(f"Unknown key(s): {', '.join(unknown)}.")
    type_ = spec.get("type")
    if type_ not in FIELD_TYPES:
        errors.setdefault(f"{path}.type", []).append(f"Must be one of: {', '.join(FIELD_TYPES)}.")
        return None
    values = spec.get("values") or []
    if type_ == "enum" and (not values or not all(isinstance(v, str) and v for v in values)):
        errors.setdefault(f"{path}.values", []).append("An enum needs a list of string values.")
    references = spec.get("entity")
    if type_ == "reference" and not (isinstance(references, str) and references):
        errors.setdefault(f"{path}.entity", []).append("A reference names the entity it points to.")
    on_delete = spec.get("on_delete", "restrict")
    if on_delete not in ON_DELETE:
        errors.setdefault(f"{path}.on_delete", []).append(f"Must be one of: {', '.join(ON_DELETE)}.")
    max_length = spec.get("max_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        errors.setdefault(f"{path}.max_length", []).append("Must be a positive integer.")
    for flag in ("required", "unique", "generated"):
        if not isinstance(spec.get(flag, False), bool):
            errors.setdefault(f"{path}.{flag}", []).append("Must be true or false.")
    if spec.get("unique") and type_ in ("json", "text", "boolean"):
        errors.setdefault(f"{path}.unique", []).append(f"A {type_} field cannot be unique.")
    return Field(
        name=name,
        type=type_,
        required=bool(spec.get("required", False)),
        default=spec.get("default"),
        max_length=max_length,
        min=_number(spec, "min", path, errors),
        max=_number(spec, "max", path, errors),
        values=tuple(values) if isinstance(values, list) else (),
        unique=bool(spec.get("unique", False)),
        generated=bool(spec.get("generated", False)),
        references=references if type_ == "reference" else None,
        on_delete=on_delete,
    )


def parse(declaration: dict, *, builtin: bool, known_entities: set[str] | None = None) -> Entity:
    """Check a declaration and build its Entity; DeclarationError lists every problem.

    `known_entities`: the names references and relations may point to (None: not checked).
    """
    errors: dict[str, list[str]] = {}
    name, singular, prefix = declaration.get("name"), declaration.get("singular"), declaration.get("id_prefix")
    for key, value, rule, message in (
        ("name", name, ENTITY_NAME, "2 to 41 lower-case letters, digits and _, starting with a letter."),
        ("singular", singular, ENTITY_NAME, "2 to 41 lower-case letters, digits and _, starting with a letter."),
        ("id_prefix", prefix, PREFIX, "2 to 5 lower-case letters."),
    ):
        if not isinstance(value, str) or not rule.match(value):
            errors[key] = [message]
    raw_fields = declaration.get("fields")
    fields: list[Field] = []
    if not isinstance(raw_fields, dict) or not raw_fields:
        errors["fields"] = ["Declare at least one field: an object of name → field."]
    else:
        for field_name, spec in raw_fields.items():
            parsed = _parse_field(field_name, spec, f"fields.{field_name}", errors)
            if parsed is not None:
                fields.append(parsed)
    names = {f.name for f in fields} | set(GENERATED)
    relations: list[Relation] = []
    raw_relations = declaration.get("relations") or {}
    if not isinstance(raw_relations, dict):
        errors["relations"] = ["Must be an object of name → relation."]
        raw_relations = {}
    for rel_name, spec in raw_relations.items():
        path = f"relations.{rel_name}"
        if not NAME.match(rel_name) or rel_name in names or not isinstance(spec, dict):
            errors.setdefault(path, []).append("A relation is an object, named unlike any field.")
            continue
        if spec.get("type") not in ("belongs_to", "has_many") or not spec.get("entity") or not spec.get("foreign_key"):
            errors.setdefault(path, []).append("Needs type (belongs_to or has_many), entity and foreign_key.")
            continue
        if spec["type"] == "belongs_to" and spec["foreign_key"] not in names:
            errors.setdefault(path, []).append("A belongs_to relation's foreign_key is one of this entity's fields.")
        relations.append(Relation(rel_name, spec["type"], spec["entity"], spec["foreign_key"]))
    if known_entities is not None:
        for f in fields:
            if f.references and f.references != MEMBERS and f.references not in known_entities | {name}:
                errors.setdefault(f"fields.{f.name}.entity", []).append(f"Unknown entity '{f.references}'.")
        for r in relations:
            if r.entity != MEMBERS and r.entity not in known_entities | {name}:
                errors.setdefault(f"relations.{r.name}", []).append(f"Unknown entity '{r.entity}'.")
    searchable = _list_of_names(declaration.get("searchable"), "searchable", errors)
    sortable = _list_of_names(declaration.get("sortable"), "sortable", errors)
    filterable = _list_of_names(declaration.get("filterable"), "filterable", errors)
    for key, listed in (("searchable", searchable), ("sortable", sortable), ("filterable", filterable)):
        unknown = [n for n in listed if n not in names]
        if unknown:
            errors.setdefault(key, []).append(f"Unknown field(s): {', '.join(unknown)}.")
    text_types = ("string", "text", "email", "url", "enum")
    not_text = [
        n
        for n in searchable
        if n in names and n not in GENERATED and (found := _by_name(fields, n)) and found.type not in text_types
    ]
    if not_text:
        errors.setdefault("searchable", []).append(f"Only text fields are searchable: {', '.join(not_text)}.")
    rate_limit = None
    raw_limit = declaration.get("rate_limit")
    if raw_limit is not None:
        limit, window = (raw_limit or {}).get("limit"), (raw_limit or {}).get("window")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1 or window not in WINDOWS:
            errors["rate_limit"] = [f"Needs limit (a positive integer) and window ({', '.join(WINDOWS)})."]
        else:
            rate_limit = (limit, window)
    if errors:
        raise DeclarationError(errors)
    return Entity(
        name=str(name),
        singular=str(singular),
        prefix=str(prefix),
        fields=tuple(fields),
        relations=tuple(relations),
        searchable=searchable,
        sortable=tuple(dict.fromkeys(("created_at", "updated_at", *sortable))),
        filterable=filterable,
        rate_limit=rate_limit,
        builtin=builtin,
        declaration=declaration,
    )


def _by_name(fields: list[Field], name: str) -> Field | None:
    return next((f for f in fields if f.name == name), None)
