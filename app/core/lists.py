"""The one list helper: page, per_page, sort, fields, include and filters → a page (API.md §5)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import g, request
from marshmallow import fields as mf
from marshmallow import validate

from ..extensions import db
from .errors import ApiError
from .responses import add_header
from .schemas import QuerySchema, UtcDateTime

MAX_PER_PAGE = 100


class ListQuery(QuerySchema):
    page = mf.Integer(load_default=1, validate=validate.Range(min=1, max=2**31 - 1), metadata={"example": 1})
    per_page = mf.Integer(
        load_default=25,
        validate=validate.Range(min=1),
        metadata={"description": "1–100; larger values are clamped to 100.", "example": 25},
    )
    sort = mf.String(metadata={"description": "e.g. `-created_at,name`", "example": "-created_at"})
    fields = mf.String(metadata={"description": "Only these fields (and `id`)", "example": "id,name"})  # type: ignore[assignment]
    include = mf.String(metadata={"description": "Relations to embed"})
    status = mf.String()
    search = mf.String(metadata={"description": "Text search"})
    created_after = UtcDateTime()
    created_before = UtcDateTime()
    updated_after = UtcDateTime()
    updated_before = UtcDateTime()


@dataclass
class ListSpec:
    """What one resource's list supports; anything else asked for is a 400."""

    model: type
    schema: type
    sortable: tuple[str, ...] = ("created_at",)
    searchable: tuple[str, ...] = ()
    filterable: tuple[str, ...] = ()  # of status/created_*/updated_*: those the model has
    includes: dict[str, str] = field(default_factory=dict)  # name → relationship attribute
    default_sort: str = "-created_at"
    tiebreak: str = "id"  # a unique column: makes the order total
    # name → SQL expression, for what is not a column of the model (a field of a JSON document)
    columns: dict[str, Any] = field(default_factory=dict)
    # rows → the items to dump, given the relations asked for; set when includes are not ORM
    # relationships (then `includes` only names them)
    prepare: Callable[[list, set[str]], list] | None = None

    def column(self, name: str):
        return self.columns[name] if name in self.columns else getattr(self.model, name)


def like_escape(text: str) -> str:
    """`text` as a literal inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def _apply_filters(stmt, spec: ListSpec, args: dict):
    model = spec.model
    bounds = {
        "created_after": ("created_at", ">="),
        "created_before": ("created_at", "<"),
        "updated_after": ("updated_at", ">="),
        "updated_before": ("updated_at", "<"),
    }
    for name, (column, op) in bounds.items():
        if args.get(name) is not None and hasattr(model, column):
            col = getattr(model, column)
            stmt = stmt.where(col >= args[name] if op == ">=" else col < args[name])
    if args.get("status") is not None and "status" in spec.filterable:
        stmt = stmt.where(spec.column("status") == args["status"])
    if args.get("search") and spec.searchable:
        pattern = "%" + like_escape(args["search"]) + "%"
        stmt = stmt.where(sa.or_(*(spec.column(c).ilike(pattern, escape="\\") for c in spec.searchable)))
    return stmt


def _apply_sort(stmt, spec: ListSpec, sort: str | None):
    order = []
    for raw in (sort or spec.default_sort).split(","):
        name = raw.strip()
        descending = name.startswith("-")
        name = name.lstrip("-")
        if name not in spec.sortable:
            raise _bad("invalid_sort", f"Cannot sort by '{name}'. Sortable: {', '.join(spec.sortable)}.")
        column = spec.column(name)
        # NULLs last going up, first going down: PostgreSQL's order, asked of every backend
        order.append(column.desc().nulls_first() if descending else column.asc().nulls_last())
    # ties broken by id: the order is total, so paging never repeats or skips a row
    return stmt.order_by(*order, getattr(spec.model, spec.tiebreak).asc())


def _select_fields(spec: ListSpec, args: dict) -> None:
    g.list_fields = None
    if args.get("fields"):
        wanted = {f.strip() for f in args["fields"].split(",") if f.strip()}
        known = set(spec.schema().fields)
        unknown = sorted(wanted - known)
        if unknown:
            raise _bad("bad_request", f"Unknown field(s) in 'fields': {', '.join(unknown)}.")
        g.list_fields = wanted | {"id"}


def _includes(stmt, spec: ListSpec, args: dict):
    wanted = {i.strip() for i in (args.get("include") or "").split(",") if i.strip()}
    unknown = sorted(wanted - set(spec.includes))
    if unknown:
        raise _bad("bad_request", f"Unknown relation(s) in 'include': {', '.join(unknown)}.")
    g.list_drop = set(spec.includes) - wanted
    if spec.prepare is None:
        for name in wanted:
            stmt = stmt.options(sa.orm.selectinload(getattr(spec.model, spec.includes[name])))
    return stmt, wanted


def _page_url(page: int) -> str:
    query = request.args.to_dict(flat=False)
    query["page"] = [str(page)]
    return f"{request.base_url}?{urlencode(query, doseq=True)}"


def paginate(stmt, spec: ListSpec, args: dict) -> dict:
    """Run `stmt` (already scoped to the tenant) as one page; sets X-Total-Count and Link."""
    stmt = _apply_filters(stmt, spec, args)
    _select_fields(spec, args)
    stmt, wanted = _includes(stmt, spec, args)
    if g.list_fields is not None:
        g.list_fields |= wanted  # `fields` picks fields; what `include` asks for is kept too
    page, per_page = args["page"], min(args["per_page"], MAX_PER_PAGE)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(
        _apply_sort(stmt, spec, args.get("sort")).limit(per_page).offset((page - 1) * per_page)
    ).all()
    if spec.prepare is not None:
        items = spec.prepare(list(items), wanted)
    last_page = max(1, math.ceil(total / per_page))
    first_index = (page - 1) * per_page + 1
    links = {
        "first": _page_url(1),
        "last": _page_url(last_page),
        "prev": _page_url(page - 1) if page > 1 else None,
        "next": _page_url(page + 1) if page < last_page else None,
    }
    add_header("X-Total-Count", str(total))
    add_header("Link", ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url))
    return {
        "data": items,
        "meta": {
            "current_page": page,
            "from_": first_index if items else None,
            "last_page": last_page,
            "per_page": per_page,
            "to": first_index + len(items) - 1 if items else None,
            "total": total,
        },
        "links": links,
    }
