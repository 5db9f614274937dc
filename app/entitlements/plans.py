"""The tiers and what each allows (API.md §11): the one declaration of the plans."""

from __future__ import annotations

MB = 1_000_000
GB = 1_000_000_000

# counted: a live number of things (storage: bytes the workspace's files hold, summed by files);
# metered: usage this period; cap: a bound on one action (a file's size), not a running total
COUNTED = ("members", "api_keys", "webhooks", "records", "custom_entities", "pixel_sites", "mcp_servers", "storage")
METERED = ("api_calls", "pixel_events", "seo_reports", "ai_tokens")
CAPS = ("max_file_size",)
FEATURES = COUNTED + METERED + CAPS
NOT_RESET = ("storage",)
UNITS = {"storage": "bytes", "max_file_size": "bytes", "ai_tokens": "tokens"}
LABELS = {"api_calls": "API call", "ai_tokens": "AI token", "custom_entities": "Custom entity", "api_keys": "API key"}

_U = None  # unlimited
PLANS: dict[str, dict[str, int | None]] = {
    "free": {
        "members": 3, "api_keys": 5, "webhooks": 2, "records": 1_000, "custom_entities": 1, "pixel_sites": 1,
        "mcp_servers": 1, "api_calls": 10_000, "pixel_events": 10_000, "seo_reports": 10, "ai_tokens": 10_000,
        "storage": 100 * MB, "max_file_size": 5 * MB,
    },
    "starter": {
        "members": 10, "api_keys": 20, "webhooks": 10, "records": 50_000, "custom_entities": 5, "pixel_sites": 3,
        "mcp_servers": 5, "api_calls": 100_000, "pixel_events": 100_000, "seo_reports": 100, "ai_tokens": 200_000,
        "storage": 1 * GB, "max_file_size": 25 * MB,
    },
    "pro": {
        "members": 25, "api_keys": 100, "webhooks": 50, "records": 500_000, "custom_entities": 20, "pixel_sites": 10,
        "mcp_servers": 20, "api_calls": 1_000_000, "pixel_events": 1_000_000, "seo_reports": 1_000,
        "ai_tokens": 1_000_000, "storage": 5 * GB, "max_file_size": 100 * MB,
    },
    "agency": {
        "members": 100, "api_keys": 500, "webhooks": 200, "records": 5_000_000, "custom_entities": 100,
        "pixel_sites": 50, "mcp_servers": 100, "api_calls": 10_000_000, "pixel_events": 10_000_000,
        "seo_reports": 10_000, "ai_tokens": 5_000_000, "storage": 50 * GB, "max_file_size": 500 * MB,
    },
    "enterprise": {
        "members": _U, "api_keys": _U, "webhooks": _U, "records": _U, "custom_entities": _U, "pixel_sites": _U,
        "mcp_servers": _U, "api_calls": _U, "pixel_events": _U, "seo_reports": _U, "ai_tokens": 20_000_000,
        "storage": 500 * GB, "max_file_size": 1 * GB,
    },
}  # fmt: skip


# paid tiers may go past metered limits (billed as overage, within the workspace's budget cap)
OVERAGE = {"free": False, "starter": True, "pro": True, "agency": True, "enterprise": True}


def label(feature: str) -> str:
    return LABELS.get(feature, feature.replace("_", " ").capitalize().rstrip("s"))
