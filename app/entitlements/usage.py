"""`GET /api/v1/usage` and `/usage/daily`: the workspace's usage for dashboards and charts."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app

from ..core.clock import utcnow
from ..core.errors import ApiError
from . import metering, service

MAX_DAYS = 366
TOOL_CALLS = "mcp_tool_calls"  # counted by the MCP proxy (issue 8)


def _count(name: str, workspace_id: str) -> int:
    count = current_app.extensions.get("entitlements.counters", {}).get(name)
    return count(workspace_id) if count else 0


def overview(workspace_id: str) -> dict:
    start, end = service.period(workspace_id)
    return {
        "server_count": _count("mcp_servers", workspace_id),
        "active_servers": _count("mcp_servers.active", workspace_id),
        "requests_this_month": service.used(workspace_id, metering.FEATURE),
        "tool_calls_this_month": service.used_directly(workspace_id, TOOL_CALLS),
        "period_start": start,
        "period_end": end,
    }


def daily(workspace_id: str, start: date | None, end: date | None) -> list[dict]:
    """`api_calls` per day of [from, to] (inclusive; default: the last 30 days)."""
    end = end or utcnow().date()
    start = start or end - timedelta(days=29)
    if start > end:
        raise ApiError(400, "bad_request", "'from' must not be after 'to'.")
    if (end - start).days >= MAX_DAYS:
        raise ApiError(400, "bad_request", f"At most {MAX_DAYS} days at once.")
    after = end + timedelta(days=1)
    counted = metering.requests_per_day(workspace_id, start, after)
    recorded = service.per_day(workspace_id, metering.FEATURE, start, after)
    return [{"date": day, "api_calls": calls + recorded.get(day, 0)} for day, calls in sorted(counted.items())]
