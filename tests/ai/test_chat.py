"""AI chat and generation against a local Chat Completions stand-in (issue 9): streamed answers
read in full and cut short, JSON answers, chats that only their user sees, credits, limits."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.ai import limits
from app.ai.models import Chat, ChatMessage
from app.core.events import Event
from app.entitlements import service as entitlements
from app.extensions import db
from tests import factories
from tests.assertions import error

from . import USAGE

CHAT = "/api/v1/ai/chat"
CHATS = "/api/v1/ai/chats"
GENERATE = "/api/v1/ai/generate"


def events_of(body: str) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a Server-Sent Events body."""
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def messages_of(chat_id: str) -> list[ChatMessage]:
    return list(
        db.session.scalars(
            sa.select(ChatMessage)
            .where(ChatMessage.chat_id == chat_id)
            .order_by(ChatMessage.seq)
            .execution_options(populate_existing=True)
        )
    )


def ai_tokens_used(client, account) -> int:
    summary = client.get("/api/v1/entitlements/summary", headers=account.headers).json["data"]
    return summary["entitlements"]["ai_tokens"]["used"]


def test_without_a_provider_every_ai_endpoint_is_503(client, owner):
    for method, path, body in [
        ("post", CHAT, {"message": "hi"}),
        ("post", GENERATE, {"prompt": "hi"}),
        ("get", CHATS, None),
        ("get", f"{CHATS}/cht_nope", None),
    ]:
        response = getattr(client, method)(path, json=body, headers=owner.headers)
        assert "AI_BASE_URL" in error(response, 503, "service_unavailable")["message"]


def test_a_streamed_answer_read_to_the_end(client, owner, stand_in):
    response = client.post(CHAT, json={"message": "Say hello to the world"}, headers=owner.headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
    seen = events_of(response.get_data(as_text=True))
    assert [name for name, _ in seen] == ["start", "delta", "delta", "delta", "delta", "done"]
    start, done = seen[0][1], seen[-1][1]
    assert "".join(data["content"] for name, data in seen if name == "delta") == "Hello, world!"
    assert done == {"message_id": start["message_id"], "usage": USAGE, "credits_charged": 18}
    question, answer = messages_of(start["chat_id"])
    assert (question.role, question.content) == ("user", "Say hello to the world")
    assert (answer.id, answer.content, answer.status, answer.credits_charged) == (
        start["message_id"],
        "Hello, world!",
        "complete",
        18,
    )
    [asked] = stand_in.asked
    assert asked["stream"] is True and asked["stream_options"] == {"include_usage": True}
    assert asked["model"] == "test-model" and asked["auth"] == "Bearer sk-provider-test"
    assert asked["messages"] == [{"role": "user", "content": "Say hello to the world"}]
    assert ai_tokens_used(client, owner) == 18
    chat = client.get(f"{CHATS}/{start['chat_id']}", headers=owner.headers).json["data"]
    assert chat["title"] == "Say hello to the world"
    assert [(m["role"], m["status"]) for m in chat["messages"]] == [("user", "complete"), ("assistant", "complete")]
    created = db.session.scalar(sa.select(Event).where(Event.type == "chat.created"))
    assert created.data["id"] == start["chat_id"] and created.workspace_id == owner.workspace_id


def test_a_stream_the_client_leaves_is_saved_as_interrupted(client, owner, stand_in):
    stand_in.delay = 0.05
    response = client.post(CHAT, json={"message": "Tell me a long story"}, headers=owner.headers, buffered=False)
    chunks = iter(response.response)
    start = json.loads(next(chunks).decode().split("data: ", 1)[1])
    assert json.loads(next(chunks).decode().split("data: ", 1)[1]) == {"content": "Hello"}
    response.close()  # the client goes away after the first piece
    _, answer = messages_of(start["chat_id"])
    assert (answer.status, answer.content) == ("interrupted", "Hello")
    # no usage arrived: the charge is the estimate of the prompt and the partial answer
    expected = limits.estimate_tokens("Tell me a long story") + limits.estimate_tokens("Hello")
    assert answer.credits_charged == expected and ai_tokens_used(client, owner) == expected


def test_a_provider_failing_midway_ends_the_stream_with_an_error_event(client, owner, stand_in):
    stand_in.mode = "fail_midway"
    response = client.post(CHAT, json={"message": "hi"}, headers=owner.headers)
    seen = events_of(response.get_data(as_text=True))
    assert [name for name, _ in seen] == ["start", "delta", "delta", "error"]
    assert seen[-1][1]["error"] == "upstream_error" and seen[-1][1]["request_id"].startswith("req_")
    _, answer = messages_of(seen[0][1]["chat_id"])
    assert (answer.status, answer.content) == ("error", "Hello, ")


def test_a_provider_going_silent_midway_times_out_into_an_error_event(client, app, owner, stand_in, monkeypatch):
    monkeypatch.setitem(app.config, "AI_TIMEOUT", 0.3)
    stand_in.delay = 0.6  # the first chunk comes at once, the pieces after it too late
    response = client.post(CHAT, json={"message": "hi"}, headers=owner.headers)
    seen = events_of(response.get_data(as_text=True))
    assert [name for name, _ in seen] == ["start", "error"]
    assert seen[-1][1]["error"] == "upstream_error" and "in time" in seen[-1][1]["message"]
    _, answer = messages_of(seen[0][1]["chat_id"])
    assert (answer.status, answer.content) == ("error", "")


@pytest.mark.parametrize("mode", ["401", "500", "timeout"])
@pytest.mark.parametrize("stream", [True, False])
def test_a_provider_failing_before_the_first_byte_is_a_502_and_saves_nothing(
    client, app, owner, stand_in, monkeypatch, mode, stream
):
    stand_in.mode = mode
    monkeypatch.setitem(app.config, "AI_TIMEOUT", 0.3)
    response = client.post(CHAT, json={"message": "hi", "stream": stream}, headers=owner.headers)
    assert response.mimetype == "application/json"
    error(response, 502, "upstream_error")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Chat)) == 0
    assert ai_tokens_used(client, owner) == 0


def test_json_answers_and_a_chat_that_goes_on(client, owner, stand_in):
    first = client.post(CHAT, json={"message": "Hi there", "stream": False}, headers=owner.headers)
    assert first.status_code == 200 and first.mimetype == "application/json"
    data = first.json["data"]
    assert data["message"]["content"] == "Hello, world!" and data["credits_charged"] == 18
    assert data["usage"] == USAGE
    body = {"chat_id": data["chat_id"], "message": "And again", "system": "Be brief."}
    second = client.post(CHAT, json=body, headers={**owner.headers, "Accept": "application/json"})
    assert second.json["data"]["chat_id"] == data["chat_id"]
    assert stand_in.asked[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello, world!"},
        {"role": "user", "content": "And again"},
    ]
    assert [m.seq for m in messages_of(data["chat_id"])] == [1, 2, 3, 4]
    assert ai_tokens_used(client, owner) == 36


def test_no_credit_left_is_402_and_nothing_is_sent(client, owner, stand_in):
    entitlements.set_override(owner.workspace_id, "ai_tokens", 5)
    db.session.commit()
    prompt = "x" * 40  # an estimate of 10 tokens
    for path, body in [(CHAT, {"message": prompt}), (GENERATE, {"prompt": prompt})]:
        body402 = error(client.post(path, json=body, headers=owner.headers), 402, "insufficient_credits")
        assert (body402["available"], body402["required"]) == (5, 10)
    assert stand_in.asked == []


def test_an_answer_may_overrun_the_balance_once(client, owner, stand_in):
    entitlements.set_override(owner.workspace_id, "ai_tokens", 20)
    db.session.commit()
    assert client.post(CHAT, json={"message": "hi", "stream": False}, headers=owner.headers).status_code == 200
    assert client.post(CHAT, json={"message": "hi", "stream": False}, headers=owner.headers).status_code == 200
    assert ai_tokens_used(client, owner) == 36  # 18 + 18: past the 20, by one answer
    error(client.post(CHAT, json={"message": "hi"}, headers=owner.headers), 402, "insufficient_credits")


def test_a_replayed_charge_counts_once(app, owner):
    principal = type("P", (), {"workspace_id": owner.workspace_id, "tier": "free"})()
    limits.charge(principal, "msg_same", 50, "test-model")
    limits.charge(principal, "msg_same", 50, "test-model")
    db.session.commit()
    assert entitlements.used(owner.workspace_id, "ai_tokens") == 50


def test_chats_are_their_users_own(client, owner, other, stand_in):
    chat_id = client.post(CHAT, json={"message": "mine", "stream": False}, headers=owner.headers).json["data"][
        "chat_id"
    ]
    admin = factories.member(owner.workspace_id, "admin@example.com", "admin")
    for account in (admin, other):
        error(client.get(f"{CHATS}/{chat_id}", headers=account.headers), 404, "not_found")
        error(client.patch(f"{CHATS}/{chat_id}", json={"title": "x"}, headers=account.headers), 404, "not_found")
        error(client.delete(f"{CHATS}/{chat_id}", headers=account.headers), 404, "not_found")
        error(client.post(CHAT, json={"chat_id": chat_id, "message": "x"}, headers=account.headers), 404, "not_found")
        assert client.get(CHATS, headers=account.headers).json["data"] == []
    assert len(stand_in.asked) == 1


def test_list_search_rename_and_delete(client, owner, stand_in):
    ids = [
        client.post(CHAT, json={"message": text, "stream": False}, headers=owner.headers).json["data"]["chat_id"]
        for text in ("Plan the launch", "Draft an email", "Launch checklist")
    ]
    listed = client.get(CHATS, headers=owner.headers).json
    assert [c["id"] for c in listed["data"]] == ids[::-1] and listed["meta"]["total"] == 3
    found = client.get(f"{CHATS}?search=launch", headers=owner.headers).json["data"]
    assert {c["id"] for c in found} == {ids[0], ids[2]}
    renamed = client.patch(f"{CHATS}/{ids[1]}", json={"title": "Email to Bo"}, headers=owner.headers)
    assert renamed.json["data"]["title"] == "Email to Bo"
    error(client.patch(f"{CHATS}/{ids[1]}", json={"title": ""}, headers=owner.headers), 422, "validation_failed")
    assert client.delete(f"{CHATS}/{ids[1]}", headers=owner.headers).status_code == 204
    error(client.get(f"{CHATS}/{ids[1]}", headers=owner.headers), 404, "not_found")
    assert messages_of(ids[1]) == []


def test_generate(client, owner, stand_in):
    body = {"prompt": "Describe a lamp", "system": "One line.", "max_tokens": 64, "model": "other-model"}
    response = client.post(GENERATE, json=body, headers=owner.headers)
    assert response.status_code == 200
    data = response.json["data"]
    assert (data["text"], data["model"], data["usage"], data["credits_charged"]) == (
        "Hello, world!",
        "other-model",
        USAGE,
        18,
    )
    assert data["id"].startswith("gen_")
    asked = stand_in.asked[-1]
    assert (asked["max_tokens"], asked["model"], asked.get("stream")) == (64, "other-model", None)
    stand_in.report_usage = False  # a server that reports no usage: the estimate is charged
    estimate = client.post(GENERATE, json={"prompt": "x" * 8}, headers=owner.headers).json["data"]
    assert estimate["usage"] is None and estimate["credits_charged"] == 2 + limits.estimate_tokens("Hello, world!")


@pytest.mark.parametrize(
    "path, body, field",
    [
        (GENERATE, {"prompt": "x", "model": "gpt-unknown"}, "model"),
        (GENERATE, {"prompt": "x", "max_tokens": 1.5}, "max_tokens"),
        (GENERATE, {"prompt": ""}, "prompt"),
        (CHAT, {"message": "x", "temperature": 2}, "temperature"),
        (CHAT, {}, "message"),
    ],
)
def test_bad_requests_are_422(client, owner, stand_in, path, body, field):
    assert field in error(client.post(path, json=body, headers=owner.headers), 422, "validation_failed")["errors"]
    assert stand_in.asked == []


def test_scopes(client, owner, stand_in):
    reader = factories.key(owner.user_id, owner.workspace_id, ["ai:read"])
    response = client.post(CHAT, json={"message": "x"}, headers=factories.bearer(reader))
    assert error(response, 403, "access_denied")["required_scope"] == "ai:write"
    assert client.get(CHATS, headers=factories.bearer(reader)).status_code == 200


def test_ai_requests_have_a_stricter_limit_by_tier(client, owner, stand_in):
    for n in range(10):
        response = client.post(GENERATE, json={"prompt": "x"}, headers=owner.headers)
        assert response.status_code == 200
        assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == (
            "10",
            str(9 - n),
        )
    refused = client.post(GENERATE, json={"prompt": "x"}, headers=owner.headers)
    assert error(refused, 429, "rate_limit_exceeded")["limit"] == 10
    assert len(stand_in.asked) == 10
    # other endpoints keep the tier's own limit
    assert client.get(CHATS, headers=owner.headers).headers["X-RateLimit-Limit"] == "60"


def test_at_most_four_streams_per_workspace(client, app, owner, other, stand_in, monkeypatch):
    monkeypatch.setitem(app.config, "AI_STREAMS_PER_PROCESS", 8)  # the workspace's bound is tested here
    open_streams = [
        client.post(CHAT, json={"message": f"q{n}"}, headers=owner.headers, buffered=False) for n in range(4)
    ]
    assert all(r.status_code == 200 for r in open_streams)
    fifth = client.post(CHAT, json={"message": "q5"}, headers=owner.headers)
    assert "4 AI streams" in error(fifth, 429, "rate_limit_exceeded")["message"]
    assert fifth.headers["Retry-After"]
    elsewhere = client.post(CHAT, json={"message": "q"}, headers=other.headers, buffered=False)
    assert elsewhere.status_code == 200  # another workspace's streams are counted apart
    elsewhere.close()
    open_streams.pop().close()
    again = client.post(CHAT, json={"message": "q6"}, headers=owner.headers, buffered=False)
    assert again.status_code == 200
    for response in [*open_streams, again]:
        response.close()


def test_a_process_keeps_threads_for_other_requests(client, app, owner, other, stand_in, monkeypatch):
    monkeypatch.setitem(app.config, "AI_STREAMS_PER_PROCESS", 1)
    held = client.post(CHAT, json={"message": "q"}, headers=owner.headers, buffered=False)
    assert held.status_code == 200
    error(client.post(CHAT, json={"message": "q"}, headers=other.headers), 429, "rate_limit_exceeded")
    assert client.get(f"/api/v1/workspaces/{other.workspace_id}", headers=other.headers).status_code == 200
    held.close()
    assert client.post(CHAT, json={"message": "q", "stream": False}, headers=other.headers).status_code == 200
