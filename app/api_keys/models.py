from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime


class ApiKey(Model):
    """Only the key's SHA-256 is stored; `prefix` (first 12 characters) identifies it to people."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.Index("ix_api_keys_workspace_user", "workspace_id", "user_id"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    prefix: Mapped[str] = mapped_column(sa.String(12), nullable=False)
    key_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    scopes: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    rate_limit_tier: Mapped[str | None] = mapped_column(sa.String(20))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # set on the old key when it is rotated: it works until then
    grace_period_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rotated_to_id: Mapped[str | None] = mapped_column(sa.String(40))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)

    user = relationship("User", lazy="select")
