"""The API routes of sharing, under /v1/."""

from django.urls import path

from sharing import api

urlpatterns = [
    path("conversations/import", api.ConversationImportApi.as_view()),
    path("conversations/<int:conversation_id>/share", api.ConversationShareApi.as_view()),
]
