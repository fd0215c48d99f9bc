"""The one internal event stream every provider adapter produces and every endpoint renders.

Adapters only translate their provider's wire format into these; routing, metering and the
wire formats of our own endpoints are written once, against these types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Meta:
    """Who is answering: sent once, before the first delta."""

    provider: str
    upstream_model: str
    model_id: str  # public id of the model that answered: the requested one or a fallback


@dataclass(slots=True)
class ContentDelta:
    text: str
    # OpenAI's per-token log probabilities for this text (`logprobs.content` entries), when
    # the client asked for them and the provider gave them.
    logprobs: list[dict] | None = None


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Usage:
    prompt_tokens: int  # every input token, cached or not
    completion_tokens: int
    reasoning_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to it (Anthropic prices these)


@dataclass(slots=True)
class Done:
    finish_reason: str  # stop | length | tool_calls | content_filter


@dataclass(slots=True)
class ErrorEvent:
    status: int
    code: str  # provider_error | provider_timeout | ...
    message: str


Event = Meta | ContentDelta | ReasoningDelta | ToolCallDelta | Usage | Done | ErrorEvent
DELTA_TYPES = (ContentDelta, ReasoningDelta, ToolCallDelta)
