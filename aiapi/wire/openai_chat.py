"""The internal event stream in OpenAI's Chat Completions wire format: a `chat.completion`
object, or `chat.completion.chunk` SSE lines.

Usage rides on the finish chunk (as the CHUNGUS reference shows it), except when the client
asks for `stream_options.include_usage`: then, as OpenAI sends it, the finish chunk carries
none and the usage comes in a chunk of its own with `choices: []`, right before [DONE]."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import orjson

from aiapi.chat_service import ChatCall
from aiapi.events import (
    ContentDelta,
    Done,
    ErrorEvent,
    Event,
    ReasoningDelta,
    ToolCallDelta,
    Usage,
)

DONE_LINE = b"data: [DONE]\n\n"


def cost_number(cost: Decimal) -> float:
    # JSON numbers carry the cost for clients that sum it; the exact figure is the
    # x-chuk-cost header's decimal string.
    return float(cost)


def usage_payload(usage: Usage, cost: Decimal) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "cost": cost_number(cost),
    }


def error_payload(error: ErrorEvent) -> dict:
    kind = "api_error" if error.status >= 500 else "invalid_request_error"
    # `param` always (null here), as OpenAI's Error object requires it.
    return {"error": {"message": error.message, "type": kind, "param": None, "code": error.code}}


def tool_calls_payload(call: ChatCall) -> list[dict]:
    return [
        {
            "id": tally.id or f"call_{call.request_id}_{index}",
            "type": "function",
            "function": {"name": tally.name or "", "arguments": "".join(tally.arguments)},
        }
        for index, tally in sorted(call.tool_calls.items())
    ]


def _logprobs(call: ChatCall, entries: list[dict] | None) -> dict | None:
    if not call.request.logprobs:
        return None
    return {"content": entries or [], "refusal": None}


def completion_payload(call: ChatCall) -> dict:
    usage, _ = call.final_usage()
    message: dict = {"role": "assistant", "content": call.text or None, "refusal": None}
    if call.reasoning:
        message["reasoning_content"] = call.reasoning_text
    if call.tool_calls:
        message["tool_calls"] = tool_calls_payload(call)
    return {
        "id": f"chatcmpl-{call.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model.public_id,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": call.finish_reason or "stop",
                "logprobs": _logprobs(call, call.content_logprobs),
            }
        ],
        "usage": usage_payload(usage, call.cost()),
    }


class ChunkWriter:
    """Builds `data: {...}` lines for one streamed completion."""

    def __init__(self, call: ChatCall, *, include_usage: bool = False) -> None:
        self.call = call
        self.include_usage = include_usage
        self.base = {
            "id": f"chatcmpl-{call.request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": call.model.public_id,
        }
        self.role_sent = False

    def _line(self, chunk: dict) -> bytes:
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def delta(self, delta: dict, *, logprobs: list[dict] | None = None) -> bytes:
        if not self.role_sent:
            delta["role"] = "assistant"
            self.role_sent = True
        choice = {
            "index": 0,
            "delta": delta,
            "finish_reason": None,
            "logprobs": _logprobs(self.call, logprobs) if "content" in delta else None,
        }
        return self._line({**self.base, "choices": [choice]})

    def finish(self, finish_reason: str) -> bytes:
        usage, _ = self.call.final_usage()
        usage = usage_payload(usage, self.call.cost())
        choice = {"index": 0, "delta": {}, "finish_reason": finish_reason, "logprobs": None}
        if self.include_usage:
            return (
                self._line({**self.base, "choices": [choice], "usage": None})
                + self._line({**self.base, "choices": [], "usage": usage})
                + DONE_LINE
            )
        return self._line({**self.base, "choices": [choice], "usage": usage}) + DONE_LINE

    @staticmethod
    def error(error: ErrorEvent) -> bytes:
        return b"data: " + orjson.dumps(error_payload(error)) + b"\n\n"


def chunk_renderer(call: ChatCall, *, include_usage: bool) -> Callable[[Event], bytes]:
    """Each event as its `chat.completion.chunk` line; meta and usage events are not on this
    wire (usage goes out with the finish)."""
    writer = ChunkWriter(call, include_usage=include_usage)

    def render(event: Event) -> bytes:
        if isinstance(event, ContentDelta):
            return writer.delta({"content": event.text}, logprobs=event.logprobs)
        if isinstance(event, ReasoningDelta):
            return writer.delta({"reasoning_content": event.text})
        if isinstance(event, ToolCallDelta):
            tool_call: dict = {"index": event.index, "function": {"arguments": event.arguments}}
            if event.id is not None:
                tool_call["id"] = event.id
                tool_call["type"] = "function"
            if event.name is not None:
                tool_call["function"]["name"] = event.name
            return writer.delta({"tool_calls": [tool_call]})
        if isinstance(event, Done):
            return writer.finish(event.finish_reason)
        if isinstance(event, ErrorEvent):
            return writer.error(event)
        return b""

    return render


def is_last(event: Event) -> bool:
    return isinstance(event, (Done, ErrorEvent))
