from flask import current_app, make_response, request
from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.ratelimit import client_ip, exempt
from ..core.schemas import ReceivedSchema, created_envelope, envelope
from ..workspaces import service as workspaces
from . import identity, service
from .schemas import LoginResultSchema, LoginSchema, SignupSchema, UserSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign up, log in, sessions")
identity_hooks = Blueprint(
    "identity_webhooks", __name__, url_prefix="/api/webhooks", description="Identity provider webhooks"
)


def _user_view(user) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at,
        "workspaces": [
            {"id": ws.id, "slug": ws.slug, "name": ws.name, "role": role}
            for ws, role in workspaces.memberships_of_user(user.id)
        ],
    }


@blp.route("/signup")
class Signup(MethodView):
    @blp.arguments(SignupSchema)
    @blp.response(201, created_envelope(UserSchema, "Account created successfully."))
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """Create an account and its personal workspace (public)"""
        return responses.created(_user_view(service.signup(data)), "Account created successfully.")


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, envelope(LoginResultSchema))
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """Log in: a session token, also set as an HttpOnly cookie (public; 5 attempts a minute)"""
        token, session, user = service.login(data["email"], data["password"], client_ip())
        body = {"data": {"token": token, "expires_at": session.expires_at, "user": _user_view(user)}}
        response = make_response(envelope(LoginResultSchema)().dump(body))
        response.set_cookie(
            current_app.config["SESSION_COOKIE_NAME"],
            token,
            expires=session.expires_at,
            httponly=True,
            secure=request.is_secure,  # HTTPS, directly or via TRUSTED_PROXY_COUNT proxies
            samesite="Lax",
            path="/",
        )
        return response


@blp.route("/logout")
class Logout(MethodView):
    @blp.auth()
    @blp.response(204)
    @blp.alt_response(400, response="BAD_REQUEST")
    def post(self):
        """End the current session (its token and cookie stop working at once)"""
        service.logout(current)
        response = make_response("", 204)
        response.delete_cookie(current_app.config["SESSION_COOKIE_NAME"], path="/")
        return response


@blp.route("/me")
class Me(MethodView):
    @blp.auth()
    @blp.response(200, envelope(UserSchema))
    def get(self):
        """The calling user and the workspaces they belong to"""
        return responses.one(_user_view(service.get_user(current.user_id)))


@identity_hooks.route("/clerk")
class ClerkWebhook(MethodView):
    decorators = [exempt]  # the provider's retries must never be refused by a rate limit

    @identity_hooks.response(200, ReceivedSchema)
    @identity_hooks.alt_response(400, response="BAD_REQUEST")
    @identity_hooks.alt_response(409, response="CONFLICT")
    @identity_hooks.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self):
        """Clerk's `user.created`, `user.updated` and `user.deleted` events keep users in step
        (public; authenticated by the `svix-id`, `svix-timestamp` and `svix-signature` headers;
        off unless CLERK_WEBHOOK_SECRET is set). A deleted user can no longer log in."""
        identity.receive(request.get_data(), request.headers)
        return {"received": True}
