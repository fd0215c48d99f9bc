"""The lean ASGI path for requests that carry an API key.

Django runs every `MiddlewareMixin` middleware's hooks through `sync_to_async` under ASGI, and
sends request_started / request_finished through sync receivers the same way: a dozen thread
hops per request, all through one thread per process. API-key requests need none of sessions,
CSRF, messages or the auth middleware, so they get a handler with only async-native middleware
(`API_MIDDLEWARE`) and without those per-request signals. Their database work runs in worker
threads that return their connection to the pool after each call (aiapi.db_calls), which is
what the request_finished receivers would otherwise be for. Browser requests (sessions) keep
the full stack."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io

from asgiref.sync import (
    ThreadSensitiveContext,
    async_to_sync,
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.signals import setting_changed
from django.db import connections
from django.dispatch import receiver
from django.urls import get_resolver, set_script_prefix


@functools.lru_cache(maxsize=2048)
def _resolved(urlconf: str, path: str):
    return get_resolver(urlconf).resolve(path)


@receiver(setting_changed)
def _forget_resolved(*, setting, **kwargs) -> None:
    if setting == "ROOT_URLCONF":
        _resolved.cache_clear()


class ApiASGIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

    def resolve_request(self, request):
        # Resolving walks every include before the one that matches, building the list of
        # patterns tried (measured: 7% of a loaded worker's samples). An API has few paths:
        # the match for each is kept (a bounded cache; an unmatched path is not kept).
        if hasattr(request, "urlconf"):
            return super().resolve_request(request)
        match = _resolved(settings.ROOT_URLCONF, request.path_info)
        request.resolver_match = match
        return match

    async def __call__(self, scope, receive, send):
        task = asyncio.current_task()
        _requests_in_flight.add(task)
        try:
            async with ThreadSensitiveContext():
                await self.handle(scope, receive, send)
        finally:
            _requests_in_flight.discard(task)

    async def read_body(self, receive):
        # An API call's JSON body almost always comes in one message: it is kept as it came,
        # not copied into a SpooledTemporaryFile (measured: 3% of a loaded worker's samples).
        # A body in parts goes the usual way, spilling to disk past the upload memory limit.
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            return io.BytesIO(message.get("body", b""))
        first = [message]

        async def replayed():
            return first.pop() if first else await receive()

        return await super().read_body(replayed)

    async def handle(self, scope, receive, send):
        # Django's ASGIHandler.handle (5.2) without the request_started/finished signals.
        from django.core.exceptions import RequestAborted

        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            return

        async def process_request():
            response = await self.run_get_response(request)
            try:
                with contextlib.suppress(asyncio.CancelledError):  # the client went away
                    await self.send_response(response, send)
            finally:
                await run_after_response(response)
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # This request itself is cancelled: the server's graceful-shutdown bound is over.
            # Its response is cut as for a client that went away, and settled before it ends
            # (without this its tasks would run on, unowned, until the process dies).
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            body_file.close()
            raise
        for task in tasks:
            if task.done():
                with contextlib.suppress(RequestAborted):
                    task.result()
            else:
                task.cancel()  # lets a streaming view settle what it owes, then stop
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        body_file.close()


AFTER_RESPONSE_ATTR = "_chuk_after_response"
_after_response_tasks: set[asyncio.Future] = set()


# This process's API requests being handled (each one's task), for the drain at shutdown.
_requests_in_flight: set[asyncio.Task] = set()


async def run_after_response(response) -> None:
    """Awaits the work `after_response` attached to `response`, if any. Shielded: a client
    hanging up cancels the awaiting task, never the settlement, which is then tracked in
    _after_response_tasks (for the drain at shutdown) until it ends."""
    hook = getattr(response, AFTER_RESPONSE_ATTR, None)
    if hook is None:
        return
    settling = asyncio.ensure_future(hook())
    _after_response_tasks.add(settling)
    settling.add_done_callback(_after_response_tasks.discard)
    await asyncio.shield(settling)


def after_response_pending() -> int:
    """After-response work still running, including work whose request task was cancelled."""
    return len(_after_response_tasks)


async def drain(within: float) -> bool:
    """At shutdown, once the server has stopped taking requests: waits up to `within`
    seconds for the API requests still being handled (a stream cut at the graceful-shutdown
    bound settles in its request's task) and for the after-response work (settlements).
    True when all of it ended."""
    pending = {task for task in _requests_in_flight if task is not asyncio.current_task()}
    pending |= _after_response_tasks
    if not pending:
        return True
    _, still = await asyncio.wait(pending, timeout=within)
    return not still


def after_response(response, callback) -> None:
    """Run `callback` (an async function) once the response has been sent: the lean handler
    awaits it right after the last byte; under Django's own handler it runs when the response
    is closed. Either way exactly once."""
    done = False

    async def run_once() -> None:
        nonlocal done
        if not done:
            done = True
            await callback()

    setattr(response, AFTER_RESPONSE_ATTR, run_once)
    response._resource_closers.append(lambda: async_to_sync(run_once)())


def has_api_key(scope) -> bool:
    """`Authorization: Bearer ...` or a non-empty `x-api-key` (Anthropic's clients send that)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return True
        if name == b"x-api-key" and value.strip():
            return True
    return False


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        connection.close()


class SyncViewConnectionsMiddleware:
    """Hands back the database connection a sync view took. On the lean path there is no
    request_finished signal to do it, and each request runs its sync code on a thread of its
    own (ThreadSensitiveContext), so without this every sync view would strand a pooled
    connection. Async views use `db_call`, which releases its connections itself."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request):
        response = await self.get_response(request)
        match = request.resolver_match
        if match is not None and not iscoroutinefunction(match.func):
            await sync_to_async(_close_connections, thread_sensitive=True)()
        return response
