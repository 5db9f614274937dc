"""Extensions, created unbound here and bound in create_app (no side effects at import)."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from .core.api import Api
from .core.ratelimit import limiter  # noqa: F401 - the limiter lives with its rules


class UtcDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC in and out, on PostgreSQL and on SQLite (which stores naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:  # db.Model is made at run time; type checkers see the declarative base
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
api = Api()
