from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime

# complete: answered in full; interrupted: the client went away mid-stream; error: the provider
# failed mid-stream (the text is what had arrived)
STATUSES = ("complete", "interrupted", "error")


class Chat(Model):
    """A conversation of one user inside one workspace: nobody else sees it."""

    __tablename__ = "ai_chats"
    __table_args__ = (sa.Index("ix_ai_chats_owner", "workspace_id", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    model: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    messages: Mapped[list["ChatMessage"]] = relationship(
        order_by="ChatMessage.seq", cascade="all, delete-orphan", passive_deletes=True
    )


class ChatMessage(Model):
    __tablename__ = "ai_chat_messages"
    __table_args__ = (sa.UniqueConstraint("chat_id", "seq", name="uq_ai_chat_messages_seq"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    chat_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("ai_chats.id", ondelete="CASCADE"), nullable=False
    )
    # the message's place in its chat: two questions asked at once cannot both take the next one
    seq: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    role: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # user | assistant
    content: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="complete")
    model: Mapped[str | None] = mapped_column(sa.String(200))
    usage: Mapped[dict | None] = mapped_column(sa.JSON)
    credits_charged: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
