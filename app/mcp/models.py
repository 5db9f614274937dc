"""Specs, the servers made from them, their tools, credentials and the tool-call log (issue 8)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import Model, UtcDateTime

SPEC_STATUSES = ("processing", "ready", "failed")
AUTH_MODES = ("none", "api_key", "bearer", "basic")


class McpSpec(Model):
    """An imported OpenAPI document. Large or fetched ones are imported by a job (`processing`)."""

    __tablename__ = "mcp_specs"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    version: Mapped[str | None] = mapped_column(sa.String(100))
    source_url: Mapped[str | None] = mapped_column(sa.String(2048))
    status: Mapped[str] = mapped_column(sa.String(12), nullable=False)
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    openapi_version: Mapped[str | None] = mapped_column(sa.String(20))
    title: Mapped[str | None] = mapped_column(sa.String(500))
    operation_count: Mapped[int | None] = mapped_column(sa.Integer)
    document: Mapped[dict | None] = mapped_column(sa.JSON)  # the validated document (ready)
    pending_text: Mapped[str | None] = mapped_column(sa.Text)  # raw text a job still has to import
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class McpServer(Model):
    __tablename__ = "mcp_servers"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "slug", name="uq_mcp_servers_workspace_slug"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    spec_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("mcp_specs.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    slug: Mapped[str] = mapped_column(sa.String(63), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    auth_mode: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    auth_header: Mapped[str | None] = mapped_column(sa.String(100))
    auth_query_param: Mapped[str | None] = mapped_column(sa.String(100))
    base_url: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(sa.Integer)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    skipped_deprecated: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    skipped_non_json: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class McpTool(Model):
    """One operation of the spec; `operation` says where each argument goes in the request."""

    __tablename__ = "mcp_tools"
    __table_args__ = (sa.UniqueConstraint("server_id", "name", name="uq_mcp_tools_server_name"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    server_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("mcp_servers.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    method: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    path: Mapped[str] = mapped_column(sa.String(2048), nullable=False)
    input_schema: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    operation: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class McpCredential(Model):
    """The secret a server sends upstream, encrypted with core.crypto; never returned."""

    __tablename__ = "mcp_credentials"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    server_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("mcp_servers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    label: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    auth_type: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    secret_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)


class McpCallLog(Model):
    """One tool call: who, what, how it went and sizes; never bodies or secrets.

    `seq` orders the log for its cursor list (newest first); `id` is the public id."""

    __tablename__ = "mcp_call_logs"
    __table_args__ = (
        sa.Index("ix_mcp_call_logs_server_seq", "server_id", "seq"),
        sa.Index("ix_mcp_call_logs_created_at", "created_at"),
    )

    seq: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    workspace_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    server_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("mcp_servers.id", ondelete="CASCADE"), nullable=False
    )
    tool_name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    method: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    is_error: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    duration_ms: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    request_bytes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    response_bytes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    source: Mapped[str] = mapped_column(sa.String(10), nullable=False)  # rest | protocol
    api_key_id: Mapped[str | None] = mapped_column(sa.String(40))  # the calling credential's id
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, default=utcnow)
