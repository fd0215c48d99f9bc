"""OpenAI-compatible routes; included under both /v1/ and /api/v1/."""

from django.urls import path

from aiapi import openai_api

urlpatterns = [
    path("models", openai_api.models_list),
    path("models/<path:model_id>", openai_api.model_detail),
    path("chat/completions", openai_api.chat_completions),
    path("embeddings", openai_api.embeddings),
]
