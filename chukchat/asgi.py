"""HTTP and WebSocket on one ASGI application."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chukchat.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.sessions import SessionMiddlewareStack
from django.core.asgi import get_asgi_application

django_application = get_asgi_application()

from chukchat.api_handler import ApiASGIHandler, has_api_key  # noqa: E402
from chukchat.routing import websocket_urlpatterns  # noqa: E402

api_application = ApiASGIHandler()


async def http_application(scope, receive, send):
    """API-key requests take the lean handler; browser requests the full middleware stack."""
    handler = api_application if has_api_key(scope) else django_application
    await handler(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_application,
        # Sessions are loaded lazily: only a socket without an API key looks one up.
        "websocket": SessionMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
