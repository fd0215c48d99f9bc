"""A preset as the API shows it."""

from __future__ import annotations

from aiapi.models import Preset


def preset_payload(preset: Preset) -> dict:
    return {
        "id": preset.pk,
        "object": "preset",
        "name": preset.name,
        "model": preset.model,
        "systemPrompt": preset.system_prompt,
        "temperature": preset.temperature,
        "maxTokens": preset.max_tokens,
        "createdAt": preset.created_at.isoformat(),
        "updatedAt": preset.updated_at.isoformat(),
    }
