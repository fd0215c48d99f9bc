"""What an API request must show before its body is read, and how much body it may send.

Django reads (and spools to disk) the whole body before any view runs, so without this gate a
200 MiB chunked POST with no key is written out before it gets its 401. Here, from the headers
alone: a request that writes to the API without an API key or a live session is refused, an
API key that does not authenticate is refused, a declared length over the route's limit is a
413; then the body is counted while it is read and the read stops at the limit (413)."""

from __future__ import annotations

import orjson
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

from chukchat.db_errors import DATABASE_UNAVAILABLE
from chukchat.db_threads import db_call
from chukchat.errors import ApiError, database_unavailable

_API_PREFIXES = ("/v1/", "/api/v1/")
_WRITES = frozenset({"POST", "PUT", "PATCH"})
# Routes that take file uploads: they may be as large as the most generous plan allows (the
# plan of the caller is checked exactly by the media app once the form is parsed).
_UPLOAD_SUFFIXES = ("audio/transcriptions", "media/transcriptions", "media/convert")


def body_limit(path: str) -> int:
    if path.endswith(_UPLOAD_SUFFIXES):
        from media_tools.inputs import MULTIPART_OVERHEAD_BYTES

        largest = max(plan["max_upload_bytes"] for plan in settings.MEDIA_PLAN_LIMITS.values())
        return max(largest + MULTIPART_OVERHEAD_BYTES, settings.API_MAX_BODY_BYTES)
    return settings.API_MAX_BODY_BYTES


def too_large() -> ApiError:
    return ApiError(413, "payload_too_large", "The request body is too large.")


def api_key_from_headers(headers: dict[bytes, bytes]) -> str | None:
    from accounts.authentication import bearer_token

    authorization = headers.get(b"authorization")
    if authorization is not None:
        return bearer_token(authorization.decode("latin-1")) or ""
    api_key = headers.get(b"x-api-key")
    if api_key is not None:
        return api_key.decode("latin-1").strip()
    return None


async def _check_credentials(headers: dict[bytes, bytes]) -> None:
    from accounts.authentication import aauthenticate_api_key, invalid_key

    key = api_key_from_headers(headers)
    if key is not None:
        await aauthenticate_api_key(key or None)  # raises the usual 401 for a bad key
        return
    if not await _has_live_session(headers):
        raise invalid_key("Missing API key. Send it as 'Authorization: Bearer <key>'.")


async def _has_live_session(headers: dict[bytes, bytes]) -> bool:
    from http.cookies import CookieError, SimpleCookie

    raw = headers.get(b"cookie")
    if not raw:
        return False
    try:
        cookie = SimpleCookie(raw.decode("latin-1"))
    except CookieError:
        return False
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None or not morsel.value:
        return False
    # In a worker thread that hands its connection back: this runs before Django's request
    # signals, which would otherwise close a connection the database dropped.
    return await db_call(_names_a_user, session_key=morsel.value)


def _names_a_user(*, session_key: str) -> bool:
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    return store.get("_auth_user_id") is not None


def _error_body(error: ApiError, path: str) -> bytes:
    from aiapi.wire import anthropic_messages

    if anthropic_messages.is_messages_path(path):  # Anthropic's clients read their own shape
        return orjson.dumps(anthropic_messages.error_payload(error.status, error.message))
    return orjson.dumps(error.payload())


async def _send_error(send, error: ApiError, path: str = "") -> None:
    body = _error_body(error, path)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body was not read: the connection cannot carry another request.
        (b"connection", b"close"),
    ]
    headers += [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def gate(scope, receive, send, handler) -> None:
    """Runs `handler` for the request once its headers pass, with its body bounded."""
    path = scope.get("path", "")
    if scope.get("method") not in _WRITES or not path.startswith(_API_PREFIXES):
        await handler(scope, receive, send)
        return
    headers = dict(scope.get("headers", ()))
    limit = body_limit(path)
    try:
        await _check_credentials(headers)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large()
    except ApiError as error:
        await _send_error(send, error, path)
        return
    except DATABASE_UNAVAILABLE:
        await _send_error(send, database_unavailable(), path)
        return

    received = 0
    cut = False
    started = False

    async def bounded_receive():
        nonlocal received, cut
        if cut:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # Django treats a disconnect while reading as an aborted request and answers
                # nothing; the 413 is sent below.
                cut = True
                return {"type": "http.disconnect"}
        return message

    async def watched_send(message):
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    await handler(scope, bounded_receive, watched_send)
    if cut and not started:
        await _send_error(send, too_large(), path)
