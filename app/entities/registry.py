"""Which entities a workspace has: the built-ins, and its custom ones from the database."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from ..extensions import db
from .builtins import DECLARATIONS
from .declarations import Entity, parse
from .models import CustomEntity


@cache
def builtins() -> dict[str, Entity]:
    entities = [parse(declaration, builtin=True) for declaration in DECLARATIONS]
    return {entity.name: entity for entity in entities}


def custom_entities(workspace_id: str) -> list[Entity]:
    rows = db.session.scalars(
        sa.select(CustomEntity).where(CustomEntity.workspace_id == workspace_id).order_by(CustomEntity.name)
    )
    return [parse(row.declaration, builtin=False) for row in rows]


def entity_named(workspace_id: str, name: str) -> Entity | None:
    if name in builtins():
        return builtins()[name]
    row = db.session.get(CustomEntity, (workspace_id, name))
    return parse(row.declaration, builtin=False) if row else None


def entities_of(workspace_id: str) -> list[Entity]:
    return [*builtins().values(), *custom_entities(workspace_id)]


ACTIONS = ("created", "updated", "deleted")


def event_types() -> list[str]:
    return [f"{e.singular}.{action}" for e in builtins().values() for action in ACTIONS]


def custom_event_types(workspace_id: str) -> list[str]:
    """A workspace's custom entities' events, which its webhooks may subscribe to."""
    return [f"{e.singular}.{action}" for e in custom_entities(workspace_id) for action in ACTIONS]
