"""The Chuk chat wire format (`/v1/ai/chat`, its SSE stream, the WebSocket): the fields of
meta, text, reasoning, usage, done and error, the SSE line of each (`{"meta": {...}}`,
`{"text": ...}`, `{"done": true, ...}`) and the WebSocket's error frame (the WebSocket adds
`type`, `id` and `seq` to the same fields). One error shape: `error` (the message) and `code`."""

from __future__ import annotations

from decimal import Decimal

import orjson

from aiapi.chat_service import ChatCall
from aiapi.events import ErrorEvent
from billing.money import format_usd

FINISH_REASONS = {"stop": "stop", "length": "length"}  # anything else is "unknown"


def finish_reason(call: ChatCall) -> str:
    return FINISH_REASONS.get(call.finish_reason or "", "unknown")


def usage_fields(call: ChatCall) -> dict:
    """What was charged for, once settled: the usage record's tokens."""
    record = call.record
    prompt = record.prompt_tokens if record else 0
    completion = record.completion_tokens if record else 0
    return {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}


def cost_fields(amount: Decimal) -> dict:
    # A decimal string: exact, as money should be on the wire.
    return {"charged": format_usd(amount), "currency": "usd"}


def charged(call: ChatCall) -> Decimal:
    return call.record.cost if call.record is not None else Decimal(0)


def meta_fields(call: ChatCall, *, conversation_id: int | None) -> dict:
    fields = {
        "model": call.model.public_id,
        "provider": call.meta.provider if call.meta else None,
        "requestId": call.request_id,
    }
    if conversation_id is not None:
        fields["conversationId"] = conversation_id
    return fields


def done_fields(
    call: ChatCall, *, conversation_id: int | None, message_id: int | None = None
) -> dict:
    fields = {
        "model": call.model.public_id,
        "provider": call.meta.provider if call.meta else None,
        "usage": usage_fields(call),
        "cost": cost_fields(charged(call)),
        "finishReason": finish_reason(call),
        "latencyMs": call.latency_ms,
    }
    if conversation_id is not None:
        fields["conversationId"] = conversation_id
    if message_id is not None:
        fields["messageId"] = message_id
    return fields


def error_fields(error: ErrorEvent) -> dict:
    return {"error": error.message, "code": error.code}


def result_payload(
    call: ChatCall, *, conversation_id: int | None, message_id: int | None = None
) -> dict:
    """The whole answer, for the non-streaming `POST /v1/ai/chat`."""
    payload = {
        "id": call.request_id,
        "text": call.text,
        **done_fields(call, conversation_id=conversation_id, message_id=message_id),
        "conversationId": conversation_id,
    }
    if call.reasoning:
        payload["reasoning"] = call.reasoning_text
    return payload


def sse_line(item: tuple[str, dict]) -> bytes:
    kind, fields = item
    if kind == "text" or kind == "reasoning" or kind == "error":
        payload = fields
    elif kind == "done":
        payload = {"done": True, **fields}
    else:  # meta, usage
        payload = {kind: fields}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def is_last(item: tuple[str, dict]) -> bool:
    return item[0] == "done" or item[0] == "error"


def error_frame(
    stream_id,
    code: str,
    message: str,
    status: int = 400,
    seq: int | None = None,
    *,
    retry_after: str | None = None,
) -> str:
    """A WebSocket error frame: the SSE error's fields, with the frame's type, id and seq."""
    payload = {"type": "error", "id": stream_id, "error": message, "code": code, "status": status}
    if retry_after is not None and retry_after.isdigit():
        # What HTTP says in Retry-After: the seconds to wait before asking again.
        payload["retryAfter"] = int(retry_after)
    if seq is not None:
        payload["seq"] = seq
    return orjson.dumps(payload).decode()
