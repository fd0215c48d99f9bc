"""Sharing a conversation and importing one, over REST, for the conversation's owner (API key
or session): GET/POST/DELETE /v1/conversations/{id}/share and POST /v1/conversations/import.
Someone else's conversation is a 404, exactly like a missing one."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from aiapi.conversation_render import conversation_payload
from aiapi.conversation_selectors import conversation_get, conversation_messages
from chukchat.errors import ApiError
from sharing.imports import MAX_BYTES, MAX_MESSAGES, ROLES, conversation_import
from sharing.models import ShareLink
from sharing.selectors import share_link_active
from sharing.services import share_link_create, share_link_revoke


def share_payload(link: ShareLink, request) -> dict:
    path = f"/s/{link.token}"
    return {
        "conversationId": link.conversation_id,
        "token": link.token,
        "path": path,
        "url": request.build_absolute_uri(path),
        # The page shows the conversation as it is when opened, not a copy of it now.
        "shows": "current",
        "createdAt": link.created_at.isoformat(),
    }


class ConversationShareApi(APIView):
    def get(self, request, conversation_id: int):
        """The conversation's working share link; 404 `share_not_found` when it is not shared."""
        conversation = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
        return Response(share_payload(share_link_active(conversation=conversation), request))

    def post(self, request, conversation_id: int):
        """Shares the conversation: its working link, made now (201) unless it has one (200).
        Anyone with the link reads the conversation as it is when they open it."""
        conversation = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
        link, created = share_link_create(conversation=conversation)
        return Response(share_payload(link, request), status=201 if created else 200)

    def delete(self, request, conversation_id: int):
        """Stops sharing: the link answers 404 from now on."""
        conversation = conversation_get(owner_id=request.user.pk, conversation_id=conversation_id)
        share_link_revoke(conversation=conversation)
        return Response(status=204)


def _text(max_length: int | None = None) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=False,
        max_length=max_length,
        default="",
    )


class ImportedMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=ROLES,
        error_messages={"invalid_choice": "role must be one of assistant, system, user."},
    )
    content = serializers.JSONField()
    reasoning = _text()
    model = _text(128)
    provider = _text(64)
    finishReason = _text(32)  # the export's key
    error = _text(300)


class ConversationImportApi(APIView):
    class InputSerializer(serializers.Serializer):
        title = _text(200)
        model = _text(128)
        messages = serializers.ListField(
            child=ImportedMessageSerializer(),
            allow_empty=False,
            max_length=MAX_MESSAGES,
            error_messages={
                "empty": "The file has no messages to import.",
                "max_length": f"A chat can be imported with at most {MAX_MESSAGES} messages.",
            },
        )

    def post(self, request):
        """Imports a chat exported as JSON (`GET /v1/conversations/{id}/export`) as a new
        conversation of the caller's, with the same title and messages. Nothing is charged;
        costs, token counts and generated pictures are not carried over."""
        if len(request.body) > MAX_BYTES:
            raise ApiError(
                413,
                "payload_too_large",
                f"The file is too large to import (at most {MAX_BYTES // (1024 * 1024)} MB).",
            )
        if not isinstance(request.data, dict):
            raise ApiError(
                400,
                "invalid_import",
                "This is not an exported chat: expected a JSON object with its messages.",
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        conversation = conversation_import(
            owner_id=request.user.pk,
            title=fields["title"] or "",
            model=fields["model"] or "",
            messages=fields["messages"],
        )
        messages = conversation_messages(conversation=conversation)
        return Response(conversation_payload(conversation, messages), status=201)
