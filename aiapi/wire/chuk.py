"""The fields of the Chuk chat wire format (`/v1/ai/chat`, its SSE stream, the WebSocket):
meta, text, reasoning, usage, done and error. SSE wraps them as `{"meta": {...}}`,
`{"text": ...}`, `{"done": true, ...}`; the WebSocket adds `type`, `id` and `seq`."""

from __future__ import annotations

from decimal import Decimal

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
