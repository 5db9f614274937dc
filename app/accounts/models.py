from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime


class User(Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), nullable=False)
    # lower-cased copy: email is unique case-insensitively on every database
    email_normalized: Mapped[str] = mapped_column(sa.String(254), nullable=False, unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    is_platform_admin: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # no foreign key (users come before workspaces); cleared by the workspace services
    default_workspace_id: Mapped[str | None] = mapped_column(sa.String(40))
    # the identity provider's user id (Clerk), and its `updated_at` (ms) last applied
    external_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    external_updated_at: Mapped[int | None] = mapped_column(sa.BigInteger)
    # deleted at the identity provider: no login, no session
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class Session(Model):
    """A login. Only the token's hash is stored; revoked_at ends it before expires_at."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
