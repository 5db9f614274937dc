"""entities: PostgreSQL indexes for the built-in entities' lists (counts, filters, sorts, search)

Revision ID: 6d9f44d11d22
Revises: 8310b4d24052
Create Date: 2026-11-23 15:10:00.000000

Every index is PostgreSQL-only (SQLite keeps the list index of the first migration) and, apart
from the count index, partial on one entity, so a record's write touches only its own entity's
indexes. The expressions are exactly what app/entities/models.py JsonField renders
(`data ->> 'field'`, `::numeric` for numbers), so the planner matches them. bench/entities.py
measures the lists they serve (bench/RESULTS.md).

- count: (workspace_id, entity) for every record. B-tree deduplication keeps it small (~1/20 of
  ix_entity_records_list), so a list's `total` is an index-only scan of a few hundred pages.
- enum filters (`filter={"status": "todo"}`): one index per declared value, on (workspace_id,
  created_at DESC, id). The value is the index predicate, so the page (default sort) is read in
  order and the count is an index-only scan; an index on the expression itself would make the
  count visit every matching row in the table.
- sortable fields: (workspace_id, field, id), the list's tiebreak included (directions: SORTS).
- reference filters (`assignee_id`, `task_id`, `customer_id`): (workspace_id, field, created_at
  DESC, id).
- `search` (ILIKE '%term%' over the searchable fields): one GIN index per entity over its
  workspace_id (btree_gin) and its searchable fields (pg_trgm), so a search reads only its own
  workspace's matches, however many other workspaces match too. Both extensions are trusted
  (PostgreSQL 13+): the database owner may create them.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "6d9f44d11d22"
down_revision = "8310b4d24052"
branch_labels = None
depends_on = None

ENUMS = {
    ("tasks", "status"): ("todo", "in_progress", "completed"),
    ("tasks", "priority"): ("low", "medium", "high"),
    ("products", "status"): ("active", "archived"),
    ("orders", "status"): ("pending", "paid", "shipped", "cancelled"),
}
# (entity, field, kind, directions): a list sorted by `field` breaks ties by id ascending, so one
# index serves one direction exactly; the other direction is read backwards and re-sorted by id
# within each run of equal values: cheap for fields of many values, not for an enum's runs of
# thousands, which get an index per direction. Dates and numbers that may be NULL are indexed
# descending: NULLs come first in a descending sort, last (the end of the list) in an ascending one.
SORTS = (
    ("tasks", "title", "text", ("asc",)),
    ("tasks", "status", "text", ("asc", "desc")),
    ("tasks", "priority", "text", ("asc", "desc")),
    ("tasks", "due_date", "text", ("desc",)),
    ("customers", "name", "text", ("asc",)),
    ("customers", "email", "text", ("asc",)),
    ("customers", "company", "text", ("asc",)),
    ("products", "name", "text", ("asc",)),
    ("products", "sku", "text", ("asc",)),
    ("products", "price", "number", ("desc",)),
    ("products", "stock", "number", ("asc",)),  # default 0: many equal values, NULLs rare
    ("orders", "status", "text", ("asc", "desc")),
    ("orders", "total", "number", ("desc",)),
)
REFERENCES = (("tasks", "assignee_id"), ("comments", "task_id"), ("orders", "customer_id"))
SEARCHABLE = {
    "tasks": ("title", "description"),
    "comments": ("text",),
    "customers": ("name", "email", "company"),
    "products": ("name", "sku"),
}


def _field(name: str, kind: str = "text") -> str:
    text = f"(data ->> '{name}')"
    return f"({text}::numeric)" if kind == "number" else text


def _indexes() -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index of this migration."""
    table = "entity_records"
    out = [("ix_entity_records_count", f"CREATE INDEX ix_entity_records_count ON {table} (workspace_id, entity)")]
    for (entity, field), values in ENUMS.items():
        for value in values:
            name = f"ix_entity_records_{entity}_{field}_{value}"
            out.append(
                (
                    name,
                    f"CREATE INDEX {name} ON {table} (workspace_id, created_at DESC, id) "
                    f"WHERE entity = '{entity}' AND {_field(field)} = '{value}'",
                )
            )
    for entity, field, kind, directions in SORTS:
        for direction in directions:
            name = f"ix_entity_records_{entity}_by_{field}" + (
                "_desc" if len(directions) > 1 and direction == "desc" else ""
            )
            out.append(
                (
                    name,
                    f"CREATE INDEX {name} ON {table} (workspace_id, {_field(field, kind)} {direction.upper()}, id) "
                    f"WHERE entity = '{entity}'",
                )
            )
    for entity, field in REFERENCES:
        name = f"ix_entity_records_{entity}_{field}"
        out.append(
            (
                name,
                f"CREATE INDEX {name} ON {table} (workspace_id, {_field(field)}, created_at DESC, id) "
                f"WHERE entity = '{entity}'",
            )
        )
    for entity, fields in SEARCHABLE.items():
        name = f"ix_entity_records_{entity}_search"
        columns = ", ".join(["workspace_id", *(f"{_field(f)} gin_trgm_ops" for f in fields)])
        out.append((name, f"CREATE INDEX {name} ON {table} USING gin ({columns}) WHERE entity = '{entity}'"))
    return out


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for _, statement in _indexes():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm and btree_gin stay: other schemas of the database may use them
    for name, _ in reversed(_indexes()):
        op.execute(f"DROP INDEX IF EXISTS {name}")
