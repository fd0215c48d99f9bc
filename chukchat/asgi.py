"""HTTP and WebSocket on one ASGI application, and its lifespan.

The lifespan (uvicorn --lifespan on, as `make serve` and `make run` start it): at startup this
server process's keeper starts (billing/process_keeper.py); at shutdown, once uvicorn has let
the requests in flight finish or cut them at its --timeout-graceful-shutdown bound, what is
still settling gets a few seconds more (the WebSockets' drain, chukchat/draining.py; the API
requests and their after-response work, chukchat/api_handler.py), and then the keeper stops."""

import asyncio
import functools
import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chukchat.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.sessions import SessionMiddlewareStack
from django.core.asgi import get_asgi_application

django_application = get_asgi_application()

from chukchat import (  # noqa: E402
    api_direct,
    api_handler,
    draining,
    gc_tuning,
    log_redaction,
    request_gate,
)
from chukchat.api_handler import ApiASGIHandler, has_api_key  # noqa: E402
from chukchat.cors import CorsMiddleware  # noqa: E402
from chukchat.routing import websocket_urlpatterns  # noqa: E402

logger = logging.getLogger(__name__)
log_redaction.install()

api_application = ApiASGIHandler()


async def http_application(scope, receive, send):
    """API-key requests for async views are served straight from ASGI, the other API-key
    requests by the lean handler; browser requests get the full middleware stack. Either way
    the request's credentials and size are checked before its body is read."""
    if not has_api_key(scope):
        handler = django_application
    elif (match := api_direct.async_view_for(scope)) is not None:
        handler = functools.partial(api_direct.serve, match=match)
    else:
        handler = api_application
    await request_gate.gate(scope, receive, send, handler)


async def lifespan(scope, receive, send):
    from billing import process_keeper

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await process_keeper.start()
            except Exception as error:
                logger.exception("the process keeper did not start")
                await send({"type": "lifespan.startup.failed", "message": repr(error)})
                return
            gc_tuning.tune_for_serving()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await asyncio.gather(
                    draining.finish(), api_handler.drain(within=draining.SETTLE_GRACE_SECONDS)
                )
                await process_keeper.stop()
                from aiapi.providers import close_adapters
                from chukchat import metrics

                await close_adapters()

                metrics.process_exited()
            except Exception as error:
                logger.exception("the shutdown did not complete")
                await send({"type": "lifespan.shutdown.failed", "message": repr(error)})
                return
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        # CORS outside everything: a preflight is answered before the gate (chukchat/cors.py).
        "http": CorsMiddleware(http_application),
        # Sessions are loaded lazily: only a socket without an API key looks one up.
        "websocket": draining.DrainingSockets(
            SessionMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
        "lifespan": lifespan,
    }
)
