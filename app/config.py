"""Settings read from the environment, with embedded defaults (API.md §10)."""

from __future__ import annotations

import os
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path

from cryptography.fernet import Fernet

TIERS = ("free", "starter", "pro", "agency", "enterprise")
DEFAULT_FILE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/json",
)


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _env_seconds(name: str, default: str) -> list[int]:
    raw = os.environ.get(name) or default
    try:
        values = [int(item) for item in raw.split(",") if item.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise ValueError(f"{name} must be comma-separated whole seconds (e.g. {default}), got {raw!r}")
    return values


def _prices(name: str) -> dict[str, Decimal]:
    """`api_calls=0.0001,ai_tokens=0.00002`: EUR per unit past the plan's limit."""
    prices = {}
    for item in _env_list(name):
        feature, _, price = item.partition("=")
        try:
            prices[feature.strip()] = Decimal(price.strip())
        except InvalidOperation:
            raise ValueError(f"{name}: '{item}' is not feature=price") from None
    return prices


def _instance_secret(instance: Path, filename: str, make) -> str:
    """A secret generated once into instance/ so restarts keep sessions and encrypted data."""
    path = instance / filename
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def database_url(raw: str | None, instance: Path) -> str:
    if not raw:
        return f"sqlite:///{instance / 'core.db'}"
    # psycopg 3 is our PostgreSQL driver; accept the plain scheme operators usually have.
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def load(instance_path: str, overrides: dict | None = None) -> dict:
    """Every setting the app reads; `overrides` (tests) win over the environment."""
    env = os.environ
    instance = Path(instance_path)
    max_body = int(env.get("MAX_BODY_BYTES", 1024 * 1024))
    threads = int(env.get("GUNICORN_THREADS", 8))  # per web process (gunicorn.conf.py)
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL"), instance),
        # one pooled connection per gunicorn thread: a smaller pool opens and closes connections under load
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": threads + 2},
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SECRET_KEY": env.get("SECRET_KEY")
        or _instance_secret(instance, "secret_key", lambda: secrets.token_urlsafe(48)),
        "ENCRYPTION_KEYS": env.get("ENCRYPTION_KEYS")
        or _instance_secret(instance, "encryption_keys", lambda: Fernet.generate_key().decode()),
        "OUTBOUND_ALLOWED_HOSTS": _env_list("OUTBOUND_ALLOWED_HOSTS"),
        "CORS_ORIGINS": _env_list("CORS_ORIGINS"),
        "MAX_BODY_BYTES": max_body,
        # Werkzeug refuses a body of exactly max_content_length; we check MAX_BODY_BYTES ourselves.
        "MAX_CONTENT_LENGTH": max_body + 1,
        "UPGRADE_URL": env.get("UPGRADE_URL") or None,
        "TRUSTED_PROXY_COUNT": int(env.get("TRUSTED_PROXY_COUNT", 0)),
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_PRICE_STARTER": env.get("STRIPE_PRICE_STARTER") or None,
        "STRIPE_PRICE_PRO": env.get("STRIPE_PRICE_PRO") or None,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or None,
        "CLERK_WEBHOOK_SECRET": env.get("CLERK_WEBHOOK_SECRET") or None,
        # AI: any OpenAI-compatible Chat Completions server; off (503) without a base URL and model
        "AI_BASE_URL": env.get("AI_BASE_URL") or None,
        "AI_API_KEY": env.get("AI_API_KEY") or None,
        "AI_MODEL": env.get("AI_MODEL") or None,
        "AI_ALLOWED_MODELS": _env_list("AI_ALLOWED_MODELS"),
        "AI_TIMEOUT": float(env.get("AI_TIMEOUT", 60)),
        # open AI streams each hold a gunicorn thread: at most half of them, so other requests find one
        "AI_STREAMS_PER_PROCESS": max(1, threads // 2),
        "OVERAGE_PRICES_EUR": _prices("OVERAGE_PRICES_EUR"),
        # webhooks: seconds before each automatic attempt; manual retries count toward the maximum
        "WEBHOOK_RETRY_SCHEDULE": _env_seconds("WEBHOOK_RETRY_SCHEDULE", "0,5,300,1800,7200,18000,36000,36000"),
        "WEBHOOK_MAX_ATTEMPTS": int(env.get("WEBHOOK_MAX_ATTEMPTS", 20)),
        "WEBHOOK_DISABLE_AFTER": int(env.get("WEBHOOK_DISABLE_AFTER", 50)),
        # MCP: spec documents, tool calls and their log
        "MCP_SPEC_MAX_BYTES": int(env.get("MCP_SPEC_MAX_BYTES", 20 * 1024 * 1024)),
        "MCP_SPEC_SYNC_MAX_BYTES": int(env.get("MCP_SPEC_SYNC_MAX_BYTES", 1_000_000)),
        "MCP_RESPONSE_MAX_BYTES": int(env.get("MCP_RESPONSE_MAX_BYTES", 1024 * 1024)),
        "MCP_UPSTREAM_TIMEOUT": float(env.get("MCP_UPSTREAM_TIMEOUT", 30)),
        "MCP_LOG_RETENTION_DAYS": int(env.get("MCP_LOG_RETENTION_DAYS", 30)),
        # files (issue 9): where uploads are stored, and which types are accepted
        "FILES_STORAGE": env.get("FILES_STORAGE") or "local",
        "FILES_ROOT": env.get("FILES_ROOT") or str(instance / "files"),
        "FILES_ALLOWED_TYPES": _env_list("FILES_ALLOWED_TYPES") or list(DEFAULT_FILE_TYPES),
        "FILES_S3_BUCKET": env.get("FILES_S3_BUCKET") or None,
        "FILES_S3_ENDPOINT_URL": env.get("FILES_S3_ENDPOINT_URL") or None,
        "FILES_S3_REGION": env.get("FILES_S3_REGION") or None,
        # None: boto3's own credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, roles…)
        "FILES_S3_ACCESS_KEY_ID": env.get("FILES_S3_ACCESS_KEY_ID") or None,
        "FILES_S3_SECRET_ACCESS_KEY": env.get("FILES_S3_SECRET_ACCESS_KEY") or None,
        # pixel: events per ingestion batch; this many waiting also starts a drain at once
        "PIXEL_BATCH_SIZE": int(env.get("PIXEL_BATCH_SIZE", 5000)),
        # SEO reports: issues one report may carry; a report still queued after this many seconds
        # is enqueued again by the sweeper (Redis was down, or a worker died)
        "SEO_MAX_ISSUES": int(env.get("SEO_MAX_ISSUES", 500)),
        "SEO_REQUEUE_AFTER": int(env.get("SEO_REQUEUE_AFTER", 300)),
        "SEO_MAX_ATTEMPTS": int(env.get("SEO_MAX_ATTEMPTS", 5)),
        "SESSION_DAYS": 30,
        "SESSION_COOKIE_NAME": "core_session",
        "LOGIN_ATTEMPTS_PER_MINUTE": 5,
        # argon2id parameters; tests lower them (hashing is deliberately slow).
        "PASSWORD_HASH_TIME_COST": 3,
        "PASSWORD_HASH_MEMORY_COST": 65536,
        "API_VERSION": "1.0.0",
        "JOBS_SYNC": False,
        # flask-smorest / OpenAPI
        "API_TITLE": "Core API",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": (
                    "Core API: a multi-tenant platform API. Authenticate with "
                    "`Authorization: Bearer sk_live_…` (an API key) or a session token from "
                    "`POST /api/v1/auth/login`. `X-Workspace-ID` selects the workspace a request "
                    "acts in. Errors always have the shape "
                    '`{"error", "message", "request_id"}`; lists take page, per_page, sort, '
                    "fields, include and filters; unsafe methods accept `Idempotency-Key`."
                )
            }
        },
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
        "JSON_SORT_KEYS": False,
    }
    config.update(overrides or {})
    return config
