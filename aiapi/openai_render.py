"""Our internal events in OpenAI's wire format: `chat.completion`, `chat.completion.chunk` SSE
(as the CHUNGUS reference shows it: usage on the final chunk with finish_reason, then [DONE]),
embeddings and model lists."""

from __future__ import annotations

import base64
import struct
import time
from decimal import Decimal

import orjson

from aiapi.chat_service import ChatCall
from aiapi.events import ErrorEvent, Usage
from aiapi.models import AiModel
from billing.money import format_usd


def cost_number(cost: Decimal) -> float:
    # JSON numbers carry the cost for clients that sum it; the exact figure is the
    # x-chuk-cost header's decimal string.
    return float(cost)


def usage_payload(usage: Usage, cost: Decimal) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "cost": cost_number(cost),
    }


def error_payload(error: ErrorEvent) -> dict:
    kind = "api_error" if error.status >= 500 else "invalid_request_error"
    return {"error": {"message": error.message, "type": kind, "code": error.code}}


def tool_calls_payload(call: ChatCall) -> list[dict]:
    return [
        {
            "id": tally.id or f"call_{call.request_id}_{index}",
            "type": "function",
            "function": {"name": tally.name or "", "arguments": "".join(tally.arguments)},
        }
        for index, tally in sorted(call.tool_calls.items())
    ]


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
                "logprobs": None,
            }
        ],
        "usage": usage_payload(usage, call.cost()),
    }


class ChunkWriter:
    """Builds `data: {...}` lines for one streamed completion."""

    def __init__(self, call: ChatCall) -> None:
        self.call = call
        self.base = {
            "id": f"chatcmpl-{call.request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": call.model.public_id,
        }
        self.role_sent = False

    def delta(self, delta: dict) -> bytes:
        if not self.role_sent:
            delta["role"] = "assistant"
            self.role_sent = True
        chunk = {
            **self.base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def finish(self, finish_reason: str) -> bytes:
        usage, _ = self.call.final_usage()
        chunk = {
            **self.base,
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": finish_reason, "logprobs": None}
            ],
            "usage": usage_payload(usage, self.call.cost()),
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"

    @staticmethod
    def error(error: ErrorEvent) -> bytes:
        return b"data: " + orjson.dumps(error_payload(error)) + b"\n\n"


def model_payload(model: AiModel) -> dict:
    return {
        "id": model.public_id,
        "object": "model",
        "created": int(model.created_at.timestamp()),
        "owned_by": model.provider.name,
        "permission": [],
        "root": model.public_id,
        "parent": None,
        "display_name": model.display_name or model.public_id,
        "kind": model.kind,
        "vision": model.vision,
        "reasoning": model.reasoning,
        "context_window": model.context_window,
        "max_output_tokens": model.max_output_tokens,
        "pricing": {
            "currency": "usd",
            "input_per_million_tokens": format_usd(model.input_price),
            "output_per_million_tokens": format_usd(model.output_price),
            "per_image": format_usd(model.image_price),
            "per_audio_minute": format_usd(model.audio_minute_price),
        },
        "pro_only": model.pro_only,
    }


def _as_floats(vector: list[float] | str) -> list[float]:
    if isinstance(vector, str):
        raw = base64.b64decode(vector)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return vector


def _as_base64(vector: list[float] | str) -> str:
    if isinstance(vector, str):
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings_payload(
    *, model: AiModel, vectors: list, prompt_tokens: int, encoding_format: str, cost: Decimal
) -> dict:
    encode = _as_base64 if encoding_format == "base64" else _as_floats
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": encode(vector)}
            for index, vector in enumerate(vectors)
        ],
        "model": model.public_id,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens,
            "cost": cost_number(cost),
        },
    }
