"""The AI provider: any OpenAI-compatible Chat Completions server (OpenAI, Azure, vLLM, Ollama,
llama.cpp, OpenRouter…), reached with the `openai` package at AI_BASE_URL. The operator
configures this host, so it is not a tenant URL and does not go through core.outbound."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
from flask import current_app

from ..core.errors import ApiError, validation_failed


@dataclass
class Answer:
    text: str
    usage: dict | None  # {"prompt_tokens", "completion_tokens", "total_tokens"} as reported


def _config(name: str):
    return current_app.config.get(name)


def require_configured() -> None:
    if not _config("AI_BASE_URL"):
        raise ApiError(
            503, "service_unavailable", "AI is not configured on this server: set AI_BASE_URL (and AI_API_KEY)."
        )
    if not _config("AI_MODEL"):
        raise ApiError(503, "service_unavailable", "AI is not configured on this server: set AI_MODEL.")


def model_for(requested: str | None) -> str:
    """The model to ask: the default, or an allowed one the caller names (422 otherwise)."""
    require_configured()
    default = _config("AI_MODEL")
    if requested is None or requested == default:
        return default
    allowed = _config("AI_ALLOWED_MODELS") or []
    if requested not in allowed:
        names = ", ".join([default, *[m for m in allowed if m != default]])
        raise validation_failed({"model": [f"Must be one of: {names}."]})
    return requested


def _client() -> openai.OpenAI:
    clients = current_app.extensions.setdefault("ai.clients", {})
    settings = (_config("AI_BASE_URL"), _config("AI_API_KEY"), _config("AI_TIMEOUT"))
    if settings not in clients:
        clients.clear()
        clients[settings] = openai.OpenAI(
            base_url=settings[0], api_key=settings[1] or "none", timeout=settings[2], max_retries=0
        )
    return clients[settings]


def _upstream(error: openai.OpenAIError) -> ApiError:
    if isinstance(error, openai.APITimeoutError):
        reason = "did not answer in time"
    elif isinstance(error, openai.APIStatusError):
        reason = f"answered {error.status_code}"
    else:
        reason = "could not be reached"
    return ApiError(502, "upstream_error", f"The AI provider {reason}.")


def _usage(usage) -> dict | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def complete(messages: list[dict], model: str, max_tokens: int | None = None) -> Answer:
    """One answer, not streamed. 502 upstream_error when the provider fails."""
    options = {"max_tokens": max_tokens} if max_tokens else {}
    try:
        result = _client().chat.completions.create(model=model, messages=messages, **options)  # type: ignore[call-overload]
    except openai.OpenAIError as error:
        raise _upstream(error) from None
    text = (result.choices[0].message.content or "") if result.choices else ""
    return Answer(text, _usage(result.usage))


class Stream:
    """A streamed answer whose first chunk has arrived: everything that can fail before the
    first byte has failed (as an ApiError) by the time one exists."""

    def __init__(self, messages: list[dict], model: str):
        try:
            self._stream = _client().chat.completions.create(  # type: ignore[call-overload]
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            self._first = next(iter(self._stream), None)
        except openai.OpenAIError as error:
            raise _upstream(error) from None
        self.usage: dict | None = None

    def deltas(self) -> Iterator[str]:
        """The answer's pieces; `usage` is set once the provider reports it. Raises ApiError
        (upstream_error) when the provider fails midway."""
        chunks = self._stream if self._first is None else _chain(self._first, self._stream)
        try:
            for chunk in chunks:
                if chunk.usage is not None:
                    self.usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
        except openai.OpenAIError as error:
            raise _upstream(error) from None

    def close(self) -> None:
        self._stream.close()


def _chain(first, rest):
    yield first
    yield from rest
