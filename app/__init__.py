"""Core API: create_app() binds config, extensions, the contract's core and every domain."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as app_config
from .core import auth as core_auth
from .core import errors, http, idempotency, ratelimit
from .core import events as core_events
from .core.credentials_cache import CredentialsCache
from .core.jobs import jobs
from .core.logging import configure as configure_logging
from .extensions import api, db, migrate


def _sqlite_pragmas(engine) -> None:
    """WAL and a busy timeout so threads can write; pysqlite's own BEGIN handling is replaced
    so that SAVEPOINTs (nested transactions) work."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_PATH") or None, static_folder=None)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(app_config.load(app.instance_path, overrides))
    if not app.config.get("TESTING"):
        configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    if app.config["TRUSTED_PROXY_COUNT"]:
        n = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_pragmas(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    jobs.init_app(app)

    # Order matters: request id → body checks → who is calling → rate limit → idempotency.
    http.init_app(app)
    app.before_request(core_auth.resolve_request_principal)
    ratelimit.init_app(app)
    idempotency.init_app(app, app.extensions["core.redis"])
    app.extensions["core.credentials_cache"] = CredentialsCache(app.extensions["core.redis"])

    api.init_app(app)
    errors.init_app(app)
    _register_domains(app)
    return app


def _register_domains(app: Flask) -> None:
    from .accounts import cli as accounts_cli
    from .accounts import routes as accounts_routes
    from .accounts import service as accounts_service
    from .ai import routes as ai_routes
    from .ai import service as ai_service
    from .api_keys import cli as api_keys_cli
    from .api_keys import routes as api_keys_routes
    from .api_keys import service as api_keys_service
    from .billing import routes as billing_routes
    from .billing import service as billing_service
    from .entities import catalog as entities_catalog
    from .entities import registry as entities_registry
    from .entities import routes as entities_routes
    from .entities import service as entities_service
    from .entitlements import cli as entitlements_cli
    from .entitlements import metering
    from .entitlements import routes as entitlements_routes
    from .entitlements import service as entitlements_service
    from .events import routes as events_routes
    from .files import routes as files_routes
    from .files import service as files_service
    from .mcp import cli as mcp_cli
    from .mcp import protocol_doc as mcp_protocol_doc
    from .mcp import protocol_routes as mcp_protocol
    from .mcp import routes as mcp_routes
    from .mcp import service as mcp_service
    from .pixel import routes as pixel_routes
    from .pixel import service as pixel_service
    from .seo import routes as seo_routes
    from .seo import service as seo_service
    from .system import cli as system_cli
    from .system import routes as system_routes
    from .webhooks import cli as webhooks_cli
    from .webhooks import routes as webhooks_routes
    from .webhooks import service as webhooks_service
    from .workspaces import cli as workspaces_cli
    from .workspaces import routes as workspaces_routes
    from .workspaces import service as workspaces_service

    core_auth.register_token_loader(app, accounts_service.SESSION_TOKEN_PREFIX, accounts_service.load_session_principal)
    core_auth.register_token_loader(app, api_keys_service.KEY_PREFIX, api_keys_service.load_key_principal)
    core_auth.register_membership_loader(app, workspaces_service.load_membership)
    core_events.init_app(app, on_committed=webhooks_service.dispatch_committed)
    files_service.init_app(app)
    for service in (
        workspaces_service,
        api_keys_service,
        webhooks_service,
        entitlements_service,
        ai_service,
        files_service,
        seo_service,
    ):
        core_events.register_event_types(app, service.EVENT_TYPES)
    core_events.register_event_types(app, [*entities_registry.event_types(), *entities_catalog.EVENT_TYPES])
    core_events.register_event_type_source(app, entities_registry.custom_event_types)
    for feature, count in (
        ("members", workspaces_service.member_count),
        ("api_keys", api_keys_service.key_count),
        ("webhooks", webhooks_service.endpoint_count),
        ("records", entities_service.record_count),
        ("custom_entities", entities_catalog.custom_entity_count),
        ("mcp_servers", mcp_service.server_count),
        ("mcp_servers.active", mcp_service.active_server_count),
        ("storage", files_service.storage_used),
        ("pixel_sites", pixel_service.site_count),
    ):
        entitlements_service.register_counter(app, feature, count)
    entitlements_service.register_budget(app, billing_service.budget_cap)
    entitlements_service.register_period_anchor(app, billing_service.period_anchor)
    metering.init_app(app)

    app.url_map.converters["entity"] = entities_catalog.EntityNameConverter
    for blueprint in (
        system_routes.blp,
        accounts_routes.blp,
        workspaces_routes.blp,
        api_keys_routes.blp,
        events_routes.blp,
        webhooks_routes.blp,
        entities_routes.blp,
        entitlements_routes.blp,
        entitlements_routes.usage_blp,
        billing_routes.blp,
        billing_routes.hooks,
        accounts_routes.identity_hooks,
        ai_routes.blp,
        mcp_routes.blp,
        files_routes.blp,
        pixel_routes.blp,
        seo_routes.blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(system_routes.assets)
    app.register_blueprint(mcp_protocol.blp)
    mcp_protocol_doc.document(app, api.spec)
    app.register_blueprint(pixel_routes.snippet)
    for group in (
        accounts_cli.users,
        workspaces_cli.workspaces,
        api_keys_cli.keys,
        system_cli.demo,
        webhooks_cli.webhooks,
        entitlements_cli.entitlements,
        mcp_cli.mcp,
    ):
        app.cli.add_command(group)
