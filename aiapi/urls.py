"""The API routes of aiapi; included under both /v1/ and /api/v1/."""

from django.urls import path

from aiapi import (
    anthropic_api,
    chat_api,
    completions_api,
    conversation_api,
    openai_api,
    preset_api,
    responses_api,
)

urlpatterns = [
    # OpenAI-compatible
    path("models", openai_api.models_list),
    path("models/<path:model_id>", openai_api.model_detail),
    path("chat/completions", openai_api.chat_completions),
    path("embeddings", openai_api.embeddings),
    path("responses", responses_api.create_response),
    path("responses/<str:response_id>", responses_api.response_detail),
    path("responses/<str:response_id>/input_items", responses_api.response_input_items),
    path("completions", completions_api.completions),
    # Anthropic's Messages API
    path("messages", anthropic_api.messages),
    path("messages/count_tokens", anthropic_api.count_tokens),
    # The Chuk chat API and saved conversations
    path("ai/chat", chat_api.chat),
    path("ai/chat/stream", chat_api.chat_stream),
    path("conversations", conversation_api.ConversationListApi.as_view()),
    path("conversations/<int:conversation_id>", conversation_api.ConversationDetailApi.as_view()),
    # Generated pictures kept in a conversation's history
    path("conversations/images", conversation_api.ConversationImageListApi.as_view()),
    path("conversations/keep", conversation_api.ConversationKeepApi.as_view()),
    path(
        "conversations/<int:conversation_id>/images/<int:image_id>",
        conversation_api.ConversationImageApi.as_view(),
    ),
    path(
        "conversations/<int:conversation_id>/export",
        conversation_api.ConversationExportApi.as_view(),
    ),
    # Presets: a named model + system prompt + temperature + max tokens to start chats with
    path("presets", preset_api.PresetListApi.as_view()),
    path("presets/<int:preset_id>", preset_api.PresetDetailApi.as_view()),
]
