"""OpenAI's wire format for model lists and embeddings (chat is aiapi/wire/openai_chat.py)."""

from __future__ import annotations

import base64
import struct
from decimal import Decimal

from aiapi.models import AiModel
from aiapi.wire.openai_chat import cost_number
from billing.money import format_usd


def model_payload(model: AiModel) -> dict:
    payload = _model_payload(model)
    if model.kind == AiModel.Kind.SPEECH:
        # A speech model's input price is per million characters of the text it speaks.
        payload["pricing"]["input_per_million_characters"] = format_usd(model.input_price)
    return payload


def _model_payload(model: AiModel) -> dict:
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
            # Input read from / written to the provider's prompt cache; the input price if unset.
            "cache_read_per_million_tokens": format_usd(
                model.input_price if model.cache_read_price is None else model.cache_read_price
            ),
            "cache_write_per_million_tokens": format_usd(
                model.input_price if model.cache_write_price is None else model.cache_write_price
            ),
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
