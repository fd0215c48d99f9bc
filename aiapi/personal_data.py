"""What aiapi holds about a person, for their data export and for erasing it when they delete
their account: saved conversations, presets, stored Responses API responses and the usage records of
their requests."""

from __future__ import annotations

from accounts.models import User
from aiapi.chat_compare import candidates_forget
from aiapi.conversation_render import conversation_payload
from aiapi.models import Conversation, Preset, StoredResponse
from aiapi.preset_render import preset_payload
from billing.models import UsageRecord
from billing.money import format_usd


def export_for(*, user: User) -> dict:
    conversations = Conversation.objects.filter(owner=user).prefetch_related("messages")
    return {
        "conversations": [
            conversation_payload(c, c.messages.order_by("created_at", "id")) for c in conversations
        ],
        "presets": [
            preset_payload(p) for p in Preset.objects.filter(owner=user).order_by("name", "id")
        ],
        "responses": [
            {
                "id": r.id,
                "createdAt": r.created_at.isoformat(),
                "previousResponseId": r.previous_response_id or None,
                "inputItems": r.input_items,
                "response": r.response,
            }
            for r in StoredResponse.objects.filter(owner=user).order_by("created_at", "id")
        ],
        "usage": [
            {
                "requestId": r.request_id,
                "createdAt": r.created_at.isoformat(),
                "endpoint": r.endpoint,
                "model": r.model,
                "provider": r.provider,
                "apiKeyId": r.api_key_id,
                "inputTokens": r.prompt_tokens,
                "outputTokens": r.completion_tokens,
                "units": format_usd(r.units),
                "cost": format_usd(r.cost),
                "status": r.status,
            }
            for r in UsageRecord.objects.filter(user=user).order_by("created_at", "id")
        ],
    }


def erase_for(*, user: User) -> dict[str, int]:
    conversations, _ = Conversation.objects.filter(owner=user).delete()
    presets, _ = Preset.objects.filter(owner=user).delete()
    responses, _ = StoredResponse.objects.filter(owner=user).delete()
    candidates_forget(owner_id=user.pk)  # compared answers not kept (in the cache for a day)
    usage, _ = UsageRecord.objects.filter(user=user).delete()
    return {
        "conversations and messages": conversations,
        "presets": presets,
        "stored responses": responses,
        "usage records": usage,
    }
