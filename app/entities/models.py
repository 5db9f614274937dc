"""One storage for every entity, built-in or custom: a record is a JSON document (JSONB on
PostgreSQL, JSON1 on SQLite) in `entity_records`. Uniqueness and references are rows of their own
tables, so the database enforces them (a unique key, foreign keys), not a read-then-write check."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import ColumnElement

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class EntityRecord(Model):
    __tablename__ = "entity_records"
    __table_args__ = (sa.Index("ix_entity_records_list", "workspace_id", "entity", "created_at", "id"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    entity: Mapped[str] = mapped_column(sa.String(63), nullable=False)
    data: Mapped[dict] = mapped_column(JSON_DOCUMENT, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)


class EntityUniqueValue(Model):
    """A unique field's value: the primary key makes a second record with it fail at INSERT."""

    __tablename__ = "entity_unique_values"
    __table_args__ = (sa.UniqueConstraint("record_id", "field", name="uq_entity_unique_values_record_field"),)

    workspace_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    field: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(1024), primary_key=True)
    record_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("entity_records.id", ondelete="CASCADE"), nullable=False
    )


class EntityLink(Model):
    """A reference from one record to another: the foreign key refuses to delete a referenced
    record (restrict) unless the service deleted the referencing ones first (cascade)."""

    __tablename__ = "entity_links"
    __table_args__ = (sa.Index("ix_entity_links_to", "to_id", "field"),)

    from_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("entity_records.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    to_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("entity_records.id"), nullable=False)


class CustomEntity(Model):
    """A workspace's own entity: its declaration, in the built-ins' format."""

    __tablename__ = "custom_entities"

    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    declaration: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)


# --- a field of the document as SQL -----------------------------------------------------------


class JsonField(ColumnElement):
    """`data ->> 'status'` (PostgreSQL) / `json_extract(data, '$.status')` (SQLite) with the key
    inlined, so PostgreSQL can use an expression index on it. `kind` casts for comparisons and
    sorting: text, number or boolean. Field names are validated identifiers (declarations.NAME)."""

    inherit_cache = True
    type: sa.types.TypeEngine

    def __init__(self, name: str, kind: str = "text"):
        self.name, self.kind = name, kind
        types: dict[str, sa.types.TypeEngine] = {"number": sa.Numeric(), "boolean": sa.Boolean()}
        self.type = types.get(kind, sa.String())


@compiles(JsonField, "postgresql")
def _pg(element: JsonField, compiler, **kw) -> str:
    text = f"(entity_records.data ->> '{element.name}')"
    return {"number": f"({text}::numeric)", "boolean": f"({text}::boolean)"}.get(element.kind, text)


@compiles(JsonField)
def _sqlite(element: JsonField, compiler, **kw) -> str:
    return f"json_extract(entity_records.data, '$.{element.name}')"


class JsonMerge(ColumnElement):
    """The stored document with `patch` laid over it, computed by the database in the UPDATE
    itself: two concurrent PATCHes of different fields both survive."""

    inherit_cache = True
    type = JSON_DOCUMENT

    def __init__(self, patch: ColumnElement, keys: tuple[str, ...]):
        self.patch, self.keys = patch, keys


@compiles(JsonMerge, "postgresql")
def _pg_merge(element: JsonMerge, compiler, **kw) -> str:
    return f"(entity_records.data || CAST({compiler.process(element.patch, **kw)} AS jsonb))"


@compiles(JsonMerge)
def _sqlite_merge(element: JsonMerge, compiler, **kw) -> str:
    # json_patch merges nested objects (RFC 7396): remove the patched keys first, so a JSON value
    # is replaced whole, as PostgreSQL's || does
    paths = ", ".join(f"'$.{key}'" for key in element.keys)
    return f"json_patch(json_remove(entity_records.data, {paths}), {compiler.process(element.patch, **kw)})"
