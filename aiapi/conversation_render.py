"""Saved conversations as the API shows them: JSON (a list entry, or whole with its messages)
and Markdown for export."""

from __future__ import annotations

from aiapi.conversations import text_of
from aiapi.models import Conversation, ConversationImage, Message
from billing.money import format_usd


def summary_payload(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model,
        "archived": conversation.archived,
        "systemPrompt": conversation.system_prompt,
        "temperature": conversation.temperature,
        "maxTokens": conversation.max_tokens,
        "createdAt": conversation.created_at.isoformat(),
        "updatedAt": conversation.updated_at.isoformat(),
    }


def message_payload(message: Message) -> dict:
    return {
        "id": message.pk,
        "role": message.role,
        "content": message.content,
        "reasoning": message.reasoning or None,
        "model": message.model or None,
        "provider": message.provider or None,
        "requestId": message.request_id or None,
        "usage": {
            "inputTokens": message.prompt_tokens,
            "outputTokens": message.completion_tokens,
            "totalTokens": message.prompt_tokens + message.completion_tokens,
        },
        "cost": {"charged": format_usd(message.cost), "currency": "usd"},
        "finishReason": message.finish_reason or None,
        "error": message.error or None,
        "createdAt": message.created_at.isoformat(),
    }


def image_payload(image: ConversationImage) -> dict:
    """A picture saved in a conversation; its bytes are at `url` (for the owner)."""
    return {
        "id": image.pk,
        "conversationId": image.conversation_id,
        "jobId": str(image.job_id),
        "prompt": image.prompt,
        "model": image.model or None,
        "cost": {"charged": format_usd(image.cost), "currency": "usd"},
        "contentType": image.content_type,
        "url": f"/v1/conversations/{image.conversation_id}/images/{image.pk}",
        "createdAt": image.created_at.isoformat(),
    }


def conversation_payload(conversation: Conversation, messages) -> dict:
    return {
        **summary_payload(conversation),
        "messages": [message_payload(m) for m in messages],
        # Generated pictures, in the order they were made; the page places each after the
        # messages written before it.
        "images": [image_payload(i) for i in conversation.images.defer("data")],
    }


_SPEAKERS = {"user": "You", "system": "System"}


def conversation_markdown(conversation: Conversation, messages) -> str:
    lines = [f"# {conversation.title or 'Conversation'}", ""]
    for message in messages:
        speaker = _SPEAKERS.get(message.role) or f"Assistant ({message.model or 'unknown'})"
        lines += [f"## {speaker}", ""]
        if message.reasoning:
            quoted = "\n".join(f"> {line}" for line in message.reasoning.splitlines())
            lines += ["<details><summary>Reasoning</summary>", "", quoted, "", "</details>", ""]
        images = (
            sum(1 for p in message.content if isinstance(p, dict) and p.get("type") == "image_url")
            if isinstance(message.content, list)
            else 0
        )
        text = text_of(message.content)
        if images:
            text = f"{text}\n\n*({images} image{'s' if images != 1 else ''} attached)*".strip()
        if message.error:
            text = f"{text}\n\n*Error: {message.error}*".strip()
        lines += [text or "*(no answer)*", ""]
    return "\n".join(lines)
