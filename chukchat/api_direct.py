"""API-key requests for async views, served straight from ASGI.

Under load a fifth of a worker's samples went between uvicorn and an async view: Django's
handler (a middleware chain whose every layer is wrapped for exceptions, two tasks per request
and a wait on both, one of them only listening for a disconnect) and its response writer.
Here the same view gets the same request (Django's ASGIRequest, on the body as it came), and
the rules of the API middlewares are called in their order (`settings.API_MIDDLEWARE`): the
request id, metrics and log line (request_context), the Host check (allowed_hosts), errors as
JSON (errors), the rate-limit headers (rate_limits). A sync view, or a path that resolves to
nothing, still goes through ApiASGIHandler; so do browser requests, through the full stack.

A client that hangs up cancels the request's own task, as Django's handler cancels its view;
the after-response work (settlement) is shielded and tracked as on the other API path."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.urls import Resolver404, set_script_prefix

from accounts.rate_limits import RateLimitHeadersMiddleware
from chukchat import log_context
from chukchat.api_handler import _requests_in_flight, _resolved, run_after_response
from chukchat.errors import ApiErrorMiddleware, error_response, is_api_path
from chukchat.request_context import RequestContextMiddleware

_NO_BODY = frozenset({204, 304})
# Only its process_exception is used, which needs no next layer.
_errors = ApiErrorMiddleware(lambda request: None)


def async_view_for(scope):
    """The URL match when `scope`'s path is an API path that resolves to an async view."""
    path = scope["path"]
    if not is_api_path(path):
        return None
    prefix = get_script_prefix(scope)
    try:
        match = _resolved(settings.ROOT_URLCONF, path.removeprefix(prefix) if prefix else path)
    except Resolver404:
        return None
    return match if iscoroutinefunction(match.func) else None


async def serve(scope, receive, send, match) -> None:
    task = asyncio.current_task()
    _requests_in_flight.add(task)
    try:
        async with ThreadSensitiveContext():
            await _handle(scope, receive, send, match)
    finally:
        _requests_in_flight.discard(task)


async def _read_body(receive) -> bytes | None:
    """The whole body (request_gate has bounded it), or None when the client left first."""
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def _handle(scope, receive, send, match) -> None:
    body = await _read_body(receive)
    if body is None:
        return
    prefix = get_script_prefix(scope)
    if prefix:  # else reverse() keeps its default, "/"
        set_script_prefix(prefix)
    try:
        request = ASGIRequest(scope, io.BytesIO(body))
    except UnicodeDecodeError:
        await _send_response(
            error_response(400, "invalid_request", "The request could not be understood."), send
        )
        return
    request.resolver_match = match

    task = asyncio.current_task()
    client_left = False

    async def listen_for_disconnect() -> None:
        nonlocal client_left
        message = await receive()
        if message["type"] == "http.disconnect":
            client_left = True
            task.cancel()  # lets a streaming view settle what it owes, then stop

    listener = asyncio.create_task(listen_for_disconnect())
    try:
        response = await _respond(request, match)
        try:
            await _send_response(response, send)
        finally:
            await run_after_response(response)
    except asyncio.CancelledError:
        if not client_left:
            raise  # the server's graceful-shutdown bound: the cut goes on up
        task.uncancel()
    finally:
        # No await in here: the listener may only cancel this task inside the block above.
        listener.cancel()


async def _respond(request, match):
    """The API middlewares around the view, outermost first."""
    log, _ = log_context.begin(request.headers.get("X-Request-Id"))
    started = time.perf_counter()
    try:
        request.get_host()
    except DisallowedHost:
        response = error_response(
            400, "invalid_host", "The Host header names a host this service does not serve."
        )
    else:
        try:
            response = await match.func(request, *match.args, **match.kwargs)
        except Exception as error:
            # On an API path it always answers (the error format, 500 for the unforeseen).
            response = _errors.process_exception(request, error)
        RateLimitHeadersMiddleware._add(request, response)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response = ApiErrorMiddleware._rewrite(request, response)
    RequestContextMiddleware._done(request, response, started, log)
    return response


async def _send_response(response, send) -> None:
    """Django's response writer, with a whole body in one message and its length declared."""
    headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
    headers += [
        (b"Set-Cookie", cookie.output(header="").encode("ascii").strip())
        for cookie in response.cookies.values()
    ]
    if response.streaming:
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        async with contextlib.aclosing(aiter(response)) as content:
            async for part in content:
                if part:
                    await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body"})
        return
    content = response.content
    if response.status_code not in _NO_BODY and not response.has_header("Content-Length"):
        headers.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": content})
