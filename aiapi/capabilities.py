"""What each provider kind can honour of a chat request, so that a parameter a model cannot
honour is refused with a 400 naming it, never dropped on the way.

OpenAI-kind providers (openai, openai_compatible, google's OpenAI endpoint) are sent OpenAI's
fields as the client sent them; a server that does not know one rejects it, and that comes back
as 400 provider_rejected_request. Anthropic-kind providers are sent what Anthropic's API has a
counterpart for (aiapi/providers/anthropic_adapter.py). The demo answers canned text whatever
is asked, and says so."""

from __future__ import annotations

from aiapi.models import AiModel, Provider
from aiapi.providers.base import ChatRequest
from chukchat.errors import ApiError

_OPENAI_KINDS = {Provider.Kind.OPENAI, Provider.Kind.OPENAI_COMPATIBLE, Provider.Kind.GOOGLE}


def _has_part(request: ChatRequest, kind: str) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p["type"] == kind for p in m["content"])
        for m in request.messages
    )


def not_honoured(kind: str, request: ChatRequest) -> list[str]:
    """The parameters of `request` a provider of `kind` cannot honour."""
    if kind in _OPENAI_KINDS or kind == Provider.Kind.DEMO:
        return []
    missing = sorted(request.extra)
    if request.logprobs or request.top_logprobs is not None:
        missing.append("logprobs")
    if request.metadata and set(request.metadata) - {"user_id"}:
        missing.append("metadata (only user_id has an Anthropic counterpart)")
    if _has_part(request, "input_audio"):
        missing.append("input_audio content parts")
    if any(
        p["type"] == "file" and "file_id" in p["file"]
        for m in request.messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
    ):
        missing.append("file_id content parts (send the file as file_data)")
    return missing


def honouring_chain(chain: list[AiModel], request: ChatRequest) -> list[AiModel]:
    """The model and those of its fallbacks that can honour `request`: a 400 when the model
    itself cannot (a fallback that cannot is skipped, not sent a thinner request)."""
    missing = not_honoured(chain[0].provider.kind, request)
    if missing:
        model = chain[0]
        raise ApiError(
            400,
            "unsupported_parameter",
            f"Model '{model.public_id}' ({model.provider.kind} provider) does not support: "
            f"{', '.join(missing)}.",
            param=missing[0].split(" ")[0],
        )
    return [chain[0]] + [m for m in chain[1:] if not not_honoured(m.provider.kind, request)]
