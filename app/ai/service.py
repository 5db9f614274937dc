"""AI chat and generation (issue 9): chats belong to their user inside the workspace; every
answer is charged in `ai_tokens`, once per message id."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from flask import current_app, g
from sqlalchemy.exc import IntegrityError

from ..core.auth import Principal
from ..core.clock import utcnow
from ..core.errors import ApiError, not_found
from ..core.events import record_event
from ..core.ids import new_id
from ..extensions import db
from . import limits, provider
from .models import Chat, ChatMessage
from .schemas import ChatSchema

EVENT_TYPES = ("chat.created",)
TITLE_LENGTH = 80
HISTORY_MESSAGES = 50  # the latest messages of a chat sent with a new question


# --- chats -----------------------------------------------------------------------------------


def chats_query(principal: Principal):
    provider.require_configured()
    return sa.select(Chat).where(Chat.workspace_id == principal.workspace_id, Chat.user_id == principal.user_id)


def get_chat(principal: Principal, chat_id: str) -> Chat:
    """The caller's own chat; anybody else's (even in the same workspace) is 404."""
    chat = db.session.scalar(chats_query(principal).where(Chat.id == chat_id))
    if chat is None:
        raise not_found("Chat not found.")
    return chat


def update_chat(principal: Principal, chat_id: str, data: dict) -> Chat:
    chat = get_chat(principal, chat_id)
    chat.title = data["title"]
    db.session.commit()
    return chat


def delete_chat(principal: Principal, chat_id: str) -> None:
    db.session.delete(get_chat(principal, chat_id))
    db.session.commit()


def _title(message: str) -> str:
    words = " ".join(message.split())
    if len(words) <= TITLE_LENGTH:
        return words or "New chat"
    return words[: TITLE_LENGTH - 1].rsplit(" ", 1)[0].rstrip() + "…"


# --- asking ----------------------------------------------------------------------------------


class Turn:
    """One question of a chat, checked and ready to send: the chat (new or the caller's), the
    messages the provider gets, and the ids the question and its answer will have."""

    def __init__(self, principal: Principal, data: dict):
        provider.require_configured()
        limits.check_rate(principal)
        # the answer streams after the request's own context is gone: keep what it needs
        self.principal = principal._get_current_object() if hasattr(principal, "_get_current_object") else principal
        self.request_id = g.get("request_id")
        self.app = current_app._get_current_object()  # type: ignore[attr-defined]
        self.model = provider.model_for(data.get("model"))
        self.chat = get_chat(principal, data["chat_id"]) if data.get("chat_id") else None
        self.question = data["message"]
        earlier = [] if self.chat is None else _latest_messages(self.chat.id)
        self.seq = (earlier[-1].seq if earlier else 0) + 1
        self.messages = [{"role": "system", "content": data["system"]}] if data.get("system") else []
        self.messages += [{"role": m.role, "content": m.content} for m in earlier if m.content]
        self.messages.append({"role": "user", "content": self.question})
        self.prompt_tokens = limits.estimate_tokens(*(m["content"] for m in self.messages))
        limits.require_credits(principal, self.prompt_tokens)
        self.chat_id = self.chat.id if self.chat else new_id("cht")
        self.question_id, self.answer_id = new_id("msg"), new_id("msg")

    def save_question(self) -> None:
        """The chat (made now if new, with its event) and the question; committed."""
        if self.chat is None:
            self.chat = Chat(
                id=self.chat_id,
                workspace_id=self.principal.workspace_id,
                user_id=self.principal.user_id,
                title=_title(self.question),
                model=self.model,
            )
            db.session.add(self.chat)
            db.session.flush()
            record_event(self.chat.workspace_id, "chat.created", ChatSchema().dump(self.chat))
        db.session.add(
            ChatMessage(id=self.question_id, chat_id=self.chat_id, seq=self.seq, role="user", content=self.question)
        )
        self.chat.updated_at = utcnow()
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise ApiError(
                409, "conflict", "This chat is answering another question; ask again when it is done."
            ) from None

    def save_answer(self, text: str, status: str, usage: dict | None) -> ChatMessage:
        """The answer with its charge (the provider's count, else the estimate); committed."""
        tokens = usage["total_tokens"] if usage else self.prompt_tokens + limits.estimate_tokens(text)
        answer = ChatMessage(
            id=self.answer_id,
            chat_id=self.chat_id,
            seq=self.seq + 1,
            role="assistant",
            content=text,
            status=status,
            model=self.model,
            usage=usage,
            credits_charged=tokens,
        )
        db.session.add(answer)
        limits.charge(self.principal, self.answer_id, tokens, self.model)
        db.session.commit()
        return answer


def _latest_messages(chat_id: str) -> list[ChatMessage]:
    rows = db.session.scalars(
        sa.select(ChatMessage)
        .where(ChatMessage.chat_id == chat_id)
        .order_by(ChatMessage.seq.desc())
        .limit(HISTORY_MESSAGES)
    ).all()
    return list(reversed(rows))


def answer(principal: Principal, data: dict) -> dict:
    """The whole answer as one object (`"stream": false`)."""
    turn = Turn(principal, data)
    result = provider.complete(turn.messages, turn.model)
    turn.save_question()
    message = turn.save_answer(result.text, "complete", result.usage)
    return {
        "chat_id": turn.chat_id,
        "message": message,
        "usage": result.usage,
        "credits_charged": message.credits_charged,
    }


def stream(principal: Principal, data: dict) -> tuple[Iterator[str], Callable[[], None]]:
    """Server-Sent Events of the answer, and what ends it if the events are never read. Everything
    that can fail before the first byte (checks, credits, a stream place, the provider's first
    chunk) raises here, as a normal error response."""
    turn = Turn(principal, data)
    give_back = limits.open_stream(principal.workspace_id or "")
    try:
        upstream = provider.Stream(turn.messages, turn.model)
    except ApiError:
        give_back()
        raise
    try:
        turn.save_question()
    except ApiError:
        upstream.close()
        give_back()
        raise

    def abandon() -> None:
        upstream.close()
        give_back()

    return _events(turn, upstream, abandon), abandon


def _events(turn: Turn, upstream: provider.Stream, end: Callable[[], None]) -> Iterator[str]:
    """The events, read by the server after the request's context is gone: the answer is saved
    in an application context of its own."""
    parts: list[str] = []
    saved = False

    def save(status: str) -> dict:
        nonlocal saved
        saved = True
        with turn.app.app_context():
            message = turn.save_answer("".join(parts), status, upstream.usage)
            return {"message_id": message.id, "usage": message.usage, "credits_charged": message.credits_charged}

    try:
        yield _sse("start", {"chat_id": turn.chat_id, "message_id": turn.answer_id})
        try:
            for piece in upstream.deltas():
                parts.append(piece)
                yield _sse("delta", {"content": piece})
        except ApiError as error:
            save("error")
            yield _sse("error", {"error": error.code, "message": error.message, "request_id": turn.request_id})
            return
        yield _sse("done", save("complete"))
    finally:
        if not saved:  # the client went away mid-stream: keep what was said
            save("interrupted")
        end()


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def generate(principal: Principal, data: dict) -> dict:
    """One answer to one prompt, outside any chat; charged under its own id."""
    provider.require_configured()
    limits.check_rate(principal)
    model = provider.model_for(data.get("model"))
    messages = [{"role": "system", "content": data["system"]}] if data.get("system") else []
    messages.append({"role": "user", "content": data["prompt"]})
    prompt_tokens = limits.estimate_tokens(*(m["content"] for m in messages))
    limits.require_credits(principal, prompt_tokens)
    result = provider.complete(messages, model, data.get("max_tokens"))
    generation_id = new_id("gen")
    tokens = result.usage["total_tokens"] if result.usage else prompt_tokens + limits.estimate_tokens(result.text)
    limits.charge(principal, generation_id, tokens, model)
    db.session.commit()
    return {"id": generation_id, "model": model, "text": result.text, "usage": result.usage, "credits_charged": tokens}
