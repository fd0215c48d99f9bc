"""WebSocket routes. Each consumer authenticates itself (session cookie or API key)."""

from django.urls import path

from aiapi.consumers import ChatConsumer

websocket_urlpatterns = [
    path("v1/ai/chat/ws", ChatConsumer.as_asgi()),
]
