from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime

STATUSES = ("pending", "ready")


class StoredFile(Model):
    """A file of a workspace: declared at creation (`pending`), uploaded by the client straight to
    storage, and `ready` once the app has checked the stored object."""

    __tablename__ = "files"
    __table_args__ = (
        sa.Index("ix_files_workspace_created", "workspace_id", "created_at"),
        # the cleanup job's scan of stale pending uploads
        sa.Index("ix_files_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    filename: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    # declared while pending; the stored object's real size once ready
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    # what the client declared: the upload URL is signed over it
    declared_size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    purpose: Mapped[str | None] = mapped_column(sa.String(50))
    status: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="pending")
    # chosen by the server (`<workspace_id>/<file_id>`), never from the client's filename
    storage_key: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    # the local backend's upload URL is single use: set when an upload starts
    upload_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    upload_expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)
