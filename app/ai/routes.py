from flask import Response, request
from flask.views import MethodView

from ..core import responses
from ..core.api import Blueprint
from ..core.auth import current
from ..core.lists import ListQuery, ListSpec, paginate
from ..core.schemas import envelope, page_envelope
from . import service
from .models import Chat
from .schemas import (
    ChatAnswerSchema,
    ChatDetailSchema,
    ChatRequest,
    ChatSchema,
    ChatUpdate,
    GenerateRequest,
    GenerationSchema,
)

blp = Blueprint("ai", __name__, url_prefix="/api/v1/ai", description="AI chat and generation")

CHATS = ListSpec(Chat, ChatSchema, sortable=("created_at", "updated_at", "title"), searchable=("title",))
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
AI_ERRORS = (
    (402, "PAYMENT_REQUIRED"),
    (422, "UNPROCESSABLE_ENTITY"),
    (502, "BAD_GATEWAY"),
    (503, "SERVICE_UNAVAILABLE"),
)


def _ai_errors(func):
    for status, response in AI_ERRORS:
        func = blp.alt_response(status, response=response)(func)
    return func


def _wants_events(data: dict) -> bool:
    return data["stream"] and request.accept_mimetypes.best != "application/json"


@blp.route("/chat")
class ChatTurn(MethodView):
    @blp.auth(scope="ai:write")
    @blp.arguments(ChatRequest)
    @blp.response(
        200,
        envelope(ChatAnswerSchema),
        description="Server-Sent Events (`text/event-stream`): `start` {chat_id, message_id}, then `delta` "
        "{content} pieces, then `done` {message_id, usage, credits_charged} or `error` (the error object). "
        'With `"stream": false` or `Accept: application/json`: this JSON object.',
    )
    @_ai_errors
    def post(self, data):
        """Ask in a chat (a new one without `chat_id`); the answer streams as it is written"""
        if _wants_events(data):
            events, abandon = service.stream(current, data)
            response = Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
            response.call_on_close(abandon)  # also when the events were never read
            return response
        return responses.one(service.answer(current, data))


@blp.route("/generate")
class Generate(MethodView):
    @blp.auth(scope="ai:write")
    @blp.arguments(GenerateRequest)
    @blp.response(200, envelope(GenerationSchema))
    @_ai_errors
    def post(self, data):
        """One answer to one prompt, outside any chat (server-side generation)"""
        return responses.one(service.generate(current, data))


@blp.route("/chats")
class Chats(MethodView):
    @blp.auth(scope="ai:read")
    @blp.arguments(ListQuery, location="query", error_status_code=400)
    @blp.response(200, page_envelope(ChatSchema))
    def get(self, query):
        """The caller's chats in this workspace, newest first (`search` on the title)"""
        return paginate(service.chats_query(current), CHATS, query)


@blp.route("/chats/<string:chat_id>")
class ChatItem(MethodView):
    @blp.auth(scope="ai:read")
    @blp.response(200, envelope(ChatDetailSchema))
    def get(self, chat_id):
        """A chat of the caller's with its messages"""
        return responses.one(service.get_chat(current, chat_id))

    @blp.auth(scope="ai:write")
    @blp.arguments(ChatUpdate)
    @blp.response(200, envelope(ChatSchema))
    def patch(self, data, chat_id):
        """Rename a chat"""
        return responses.one(service.update_chat(current, chat_id, data))

    @blp.auth(scope="ai:delete")
    @blp.response(204)
    def delete(self, chat_id):
        """Delete a chat and its messages"""
        service.delete_chat(current, chat_id)
