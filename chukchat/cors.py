"""CORS for browser clients of the API (`/v1/*`, `/api/v1/*`), at the ASGI level.

One wrapper in front of both request paths (the lean API handler and Django's full stack), so
every response of the API carries the headers, streamed ones included (they are added to the
response's start message), and so does a refusal by the request gate. A preflight carries no
credentials: it is answered here, 204, before the gate or any view could call it a 401 or 405.

CORS_ALLOWED_ORIGINS lists exact origins, or "*"; empty (the default) sends no CORS headers and
changes nothing. Access-Control-Allow-Credentials is never sent: browser clients authenticate
with a key in a header, and a cross-site page must not ride on the web app's session cookie.
"""

from __future__ import annotations

from django.conf import settings

API_PREFIXES = ("/v1/", "/api/v1/")
ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
# Headers a browser client may send: ours, OpenAI's and Anthropic's SDKs' (the x-stainless-*
# ones are sent by both official JavaScript SDKs on every request).
ALLOWED_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "x-api-key",
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "x-request-id",
        "idempotency-key",
    }
)
ALLOWED_HEADER_PREFIXES = ("openai-", "x-stainless-")
# Response headers a page may read: our request and usage ids, the cost, the rate limits.
EXPOSED_PREFIXES = (b"x-request-id", b"x-chuk-", b"x-ratelimit-", b"retry-after")
MAX_AGE_SECONDS = "7200"  # Chromium's own cap


def _is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def allowed_origin(origin: str) -> str | None:
    """What Access-Control-Allow-Origin says for a request from `origin`, or None."""
    allowed = settings.CORS_ALLOWED_ORIGINS
    if "*" in allowed:
        return "*"
    return origin if origin.lower() in allowed else None


def _header_allowed(name: str) -> bool:
    return name in ALLOWED_HEADERS or name.startswith(ALLOWED_HEADER_PREFIXES)


def preflight_headers(*, origin: str | None, requested: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"vary", b"Origin, Access-Control-Request-Headers")]
    if origin is None:
        return headers  # a refused origin: the browser stops here
    asked = [h.strip().lower() for h in requested.split(",") if h.strip()]
    granted = [h for h in asked if _header_allowed(h)] if asked else sorted(ALLOWED_HEADERS)
    headers += [
        (b"access-control-allow-origin", origin.encode()),
        (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
        (b"access-control-max-age", MAX_AGE_SECONDS.encode()),
    ]
    if granted:
        headers.append((b"access-control-allow-headers", ", ".join(granted).encode()))
    return headers


def response_headers(headers: list, *, origin: str) -> list:
    """The response's headers plus Allow-Origin, Expose-Headers and Vary."""
    headers = list(headers)
    exposed = sorted(
        {name.lower().decode() for name, _ in headers if name.lower().startswith(EXPOSED_PREFIXES)}
    )
    headers.append((b"access-control-allow-origin", origin.encode()))
    if exposed:
        headers.append((b"access-control-expose-headers", ", ".join(exposed).encode()))
    if origin != "*":
        headers.append((b"vary", b"Origin"))
    return headers


class CorsMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or not settings.CORS_ALLOWED_ORIGINS
            or not _is_api(scope["path"])
        ):
            return await self.app(scope, receive, send)
        origin = requested_method = None
        requested_headers = ""
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                requested_method = value
            elif name == b"access-control-request-headers":
                requested_headers = value.decode("latin-1")
        if origin is None:
            return await self.app(scope, receive, send)  # not a cross-origin browser request
        grant = allowed_origin(origin)
        if scope["method"] == "OPTIONS" and requested_method is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": preflight_headers(origin=grant, requested=requested_headers),
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if grant is None:
            return await self.app(scope, receive, send)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": response_headers(message.get("headers", []), origin=grant),
                }
            await send(message)

        await self.app(scope, receive, send_with_cors)
