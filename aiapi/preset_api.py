"""Presets over REST, for their owner (session or API key): list and create at /v1/presets,
get, change and delete at /v1/presets/{preset_id}. Someone else's preset is a 404, exactly
like a missing one. The rules are in aiapi/presets.py; the fields here only check JSON types
and ranges (a number is not a string here, nor a boolean a number)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from aiapi.json_fields import NumberField, TextField, WholeNumberField
from aiapi.preset_render import preset_payload
from aiapi.preset_selectors import preset_get, preset_list
from aiapi.presets import (
    NAME_MAX,
    SYSTEM_PROMPT_MAX,
    TEMPERATURE_MAX,
    TEMPERATURE_MIN,
    preset_create,
    preset_delete,
    preset_update,
)


def _owner_key_models(request) -> frozenset[str] | None:
    """The calling API key's allow-list (None for the web app's session, or a key without one)."""
    return getattr(request.auth, "allowed_models", None)


class PresetFields(serializers.Serializer):
    name = TextField(max_length=NAME_MAX)
    model = TextField(max_length=128)
    system_prompt = TextField(
        required=False, allow_blank=True, max_length=SYSTEM_PROMPT_MAX, trim_whitespace=False
    )
    temperature = NumberField(
        required=False, allow_null=True, min_value=TEMPERATURE_MIN, max_value=TEMPERATURE_MAX
    )
    max_tokens = WholeNumberField(required=False, allow_null=True, min_value=1, max_value=2**31)


class PresetListApi(APIView):
    class InputSerializer(PresetFields):
        pass

    def get(self, request):
        """The caller's presets, by name."""
        presets = preset_list(owner_id=request.user.pk)
        return Response({"object": "list", "data": [preset_payload(p) for p in presets]})

    def post(self, request):
        """A new preset: name and model required; system_prompt, temperature and max_tokens
        optional. 409 `preset_name_taken` when the caller has a preset of that name."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preset = preset_create(
            owner_id=request.user.pk,
            allowed_models=_owner_key_models(request),
            **data.validated_data,
        )
        return Response(preset_payload(preset), status=201)


class PresetDetailApi(APIView):
    class UpdateSerializer(PresetFields):
        pass

    def get(self, request, preset_id: int):
        preset = preset_get(owner_id=request.user.pk, preset_id=preset_id)
        return Response(preset_payload(preset))

    def patch(self, request, preset_id: int):
        """Changes the fields sent; null clears temperature or max_tokens."""
        preset = preset_get(owner_id=request.user.pk, preset_id=preset_id)
        changes = self.UpdateSerializer(data=request.data, partial=True)
        changes.is_valid(raise_exception=True)
        preset = preset_update(
            preset=preset,
            changes=dict(changes.validated_data),
            allowed_models=_owner_key_models(request),
        )
        return Response(preset_payload(preset))

    def delete(self, request, preset_id: int):
        preset = preset_get(owner_id=request.user.pk, preset_id=preset_id)
        preset_delete(preset=preset)
        return Response(status=204)
