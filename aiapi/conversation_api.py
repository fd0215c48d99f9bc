"""Saved conversations over REST, for their owner (API key or session): list, get, rename,
archive, delete, export. Someone else's conversation is a 404, exactly like a missing one."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from aiapi.chat_compare import candidate_keep
from aiapi.conversation_images import conversation_image_get, conversation_image_save
from aiapi.conversation_render import (
    conversation_markdown,
    conversation_payload,
    image_payload,
    summary_payload,
)
from aiapi.conversation_selectors import (
    conversation_get,
    conversation_list,
    conversation_messages,
)
from aiapi.conversations import conversation_delete, conversation_update
from aiapi.json_fields import NumberField, TextField, WholeNumberField
from aiapi.presets import SYSTEM_PROMPT_MAX, TEMPERATURE_MAX, TEMPERATURE_MIN
from chukchat.errors import ApiError
from chukchat.pagination import PageSerializer, page_payload

MAX_PAGE = 100


class ConversationListApi(APIView):
    class FilterSerializer(PageSerializer):
        q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
        archived = serializers.ChoiceField(
            choices=["true", "false", "all"], required=False, default="false"
        )
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_PAGE, default=20
        )

    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        archived = {"true": True, "false": False, "all": None}[params["archived"]]
        conversations = conversation_list(
            owner_id=request.user.pk, search=params["q"].strip(), archived=archived
        )
        return Response(
            page_payload(
                conversations,
                offset=params["offset"],
                limit=params["limit"],
                render=summary_payload,
            )
        )


class ConversationImageListApi(APIView):
    """POST: save a finished image job's picture into a conversation (a new one without
    conversation_id), so it stays in the chat's history."""

    class InputSerializer(serializers.Serializer):
        job_id = serializers.CharField(max_length=64)
        conversation_id = serializers.IntegerField(required=False, allow_null=True, default=None)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = conversation_image_save(owner_id=request.user.pk, **data.validated_data)
        return Response(image_payload(image), status=201)


class ConversationKeepApi(APIView):
    """POST: keep one answer of a comparison as the chat's continuation: its question and
    answer are appended to the conversation, with the tokens and cost it was charged."""

    class InputSerializer(serializers.Serializer):
        request_id = serializers.CharField(max_length=64)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = candidate_keep(owner_id=request.user.pk, **data.validated_data)
        return Response(
            conversation_payload(conversation, conversation_messages(conversation=conversation)),
            status=201,
        )


class ConversationImageApi(APIView):
    """GET: the bytes of a picture saved in one of the caller's conversations."""

    def get(self, request, conversation_id: int, image_id: int):
        image = conversation_image_get(
            owner_id=request.user.pk, conversation_id=conversation_id, image_id=image_id
        )
        response = HttpResponse(bytes(image.data), content_type=image.content_type)
        response["Cache-Control"] = "private, max-age=86400"
        return response


class ConversationDetailApi(APIView):
    class UpdateSerializer(serializers.Serializer):
        title = serializers.CharField(required=False, allow_blank=False, max_length=200)
        archived = serializers.BooleanField(required=False)
        # The chat's own instructions and settings (aiapi/chat_settings.py), as a preset has them.
        system_prompt = TextField(
            required=False, allow_blank=True, max_length=SYSTEM_PROMPT_MAX, trim_whitespace=False
        )
        temperature = NumberField(
            required=False, allow_null=True, min_value=TEMPERATURE_MIN, max_value=TEMPERATURE_MAX
        )
        max_tokens = WholeNumberField(required=False, allow_null=True, min_value=1, max_value=2**31)

    def get(self, request, conversation_id: int):
        conversation = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
        return Response(
            conversation_payload(conversation, conversation_messages(conversation=conversation))
        )

    def patch(self, request, conversation_id: int):
        conversation = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
        changes = self.UpdateSerializer(data=request.data)
        changes.is_valid(raise_exception=True)
        if not changes.validated_data:
            raise ApiError(
                400,
                "invalid_request",
                "Send a title, archived, system_prompt, temperature or max_tokens to change.",
            )
        conversation = conversation_update(conversation=conversation, **changes.validated_data)
        return Response(summary_payload(conversation))

    def delete(self, request, conversation_id: int):
        conversation = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
        conversation_delete(conversation=conversation)
        return Response(status=204)


class ConversationExportApi(APIView):
    def get(self, request, conversation_id: int):
        conversation = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
        kind = request.query_params.get("format", "json")
        messages = list(conversation_messages(conversation=conversation))
        filename = f"conversation-{conversation.pk}"
        if kind == "json":
            response = Response(conversation_payload(conversation, messages))
            response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
            return response
        if kind in ("markdown", "md"):
            response = HttpResponse(
                conversation_markdown(conversation, messages),
                content_type="text/markdown; charset=utf-8",
            )
            response["Content-Disposition"] = f'attachment; filename="{filename}.md"'
            return response
        raise ApiError(400, "invalid_request", "format must be json or markdown", param="format")
