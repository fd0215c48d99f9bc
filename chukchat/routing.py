"""WebSocket routes. Each consumer authenticates itself (session cookie or API key)."""

websocket_urlpatterns: list = []
