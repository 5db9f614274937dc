"""flask-smorest's Api and Blueprint, subclassed once: auth that also writes the OpenAPI doc."""

from __future__ import annotations

from functools import wraps

import flask_smorest

from . import auth as core_auth
from .schemas import ErrorSchema

SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        """core.errors renders every error; smorest's own handler would use another shape."""

    def init_app(self, app, *, spec_kwargs=None):
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.spec.components.security_scheme(
            "bearerAuth",
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`sk_live_…`) or a session token from /auth/login.",
            },
        )
        self.spec.components.security_scheme(
            "cookieAuth",
            {"type": "apiKey", "in": "cookie", "name": app.config["SESSION_COOKIE_NAME"]},
        )


BODY_ERRORS = ((400, "BAD_REQUEST"), (413, "REQUEST_ENTITY_TOO_LARGE"), (415, "UNSUPPORTED_MEDIA_TYPE"))
IDEMPOTENCY_ERRORS = ((400, "BAD_REQUEST"), (409, "CONFLICT"), (422, "UNPROCESSABLE_ENTITY"))
UNSAFE_VIEW_METHODS = {"post", "put", "patch", "delete"}


class Blueprint(flask_smorest.Blueprint):
    def arguments(self, schema, *, location="json", **kwargs):
        """Also documents what any JSON body can fail with: bad JSON, too large, not JSON."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse

        def decorator(func):
            func = parse(func)
            for status, response in BODY_ERRORS:
                func = self.alt_response(status, response=response)(func)
            return func

        return decorator

    def auth(
        self,
        scope: str | None = None,
        role: str | None = None,
        workspace_param: str | None = None,
        in_workspace: bool = True,
    ):
        """Authenticate, check scope and role (API.md §3), and document security, 401 and 403.

        scope=None: any valid credential. `workspace_param` names the path parameter holding
        the workspace the request acts in (else X-Workspace-ID or the credential's home).
        """

        def decorator(func):
            @wraps(func)
            def wrapper(*args, **kwargs):
                if scope is None:
                    core_auth.authenticated()
                else:
                    core_auth.authorize(
                        scope,
                        role,
                        workspace_id=kwargs.get(workspace_param) if workspace_param else None,
                        in_workspace=in_workspace,
                    )
                return func(*args, **kwargs)

            documented = self.doc(security=SECURITY)(wrapper)
            documented = self.alt_response(401, response="UNAUTHORIZED")(documented)
            if scope is not None:
                documented = self.alt_response(403, response="FORBIDDEN")(documented)
            if in_workspace and scope is not None:
                documented = self.alt_response(404, response="NOT_FOUND")(documented)
            documented = self.alt_response(429, response="TOO_MANY_REQUESTS")(documented)
            if func.__name__ in UNSAFE_VIEW_METHODS:  # Idempotency-Key: bad key, in use, reused (§7)
                for status, response in IDEMPOTENCY_ERRORS:
                    documented = self.alt_response(status, response=response)(documented)
            return documented

        return decorator
