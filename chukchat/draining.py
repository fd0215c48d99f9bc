"""What a server process does between SIGTERM and its exit, for its WebSockets.

uvicorn, on SIGTERM, stops accepting connections, lets the HTTP responses in flight (SSE
streams among them) finish for `--timeout-graceful-shutdown` seconds and then cancels them,
and then runs the ASGI lifespan shutdown (chukchat/asgi.py). Left to itself it would close
every WebSocket at once with 1012, in the middle of the answers it is streaming. Instead, with
`--ws chukchat.draining:WebSocketProtocol` (as `make serve` and `make run` start it):

- an open socket stays open, and a `chat` frame on it is refused with a `server_shutting_down`
  error frame (503): it should be sent again on a new connection, to another process;
- a socket is closed with 1001 (going away) as soon as it has no answer running, at once for
  an idle one;
- one second before uvicorn's bound, the answers still running (also those whose socket has
  gone) are cancelled: each settles as cancelled and its last frame is the `done` frame with
  `"cancelled": true`; then their sockets are closed with 1001;
- the lifespan shutdown waits for that (`finish`), at most SETTLE_GRACE_SECONDS past the bound.

This module is imported by uvicorn before Django is set up (for the protocol class): Django
and the app are only imported inside the functions."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

SCOPE_KEY = "chuk.socket"
GOING_AWAY = 1001
# Without a bound given to uvicorn, WebSockets get this long.
DEFAULT_BOUND_SECONDS = 30.0
# Cancelled answers settle in the last second before the bound ...
BOUND_MARGIN_SECONDS = 1.0
# ... and whatever is still settling then gets this much longer before the process stops.
SETTLE_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1


class Socket:
    """One open WebSocket of this process, as the drain sees it."""

    __slots__ = ("send",)

    def __init__(self, send) -> None:
        self.send = send

    async def close(self) -> None:
        # The app may have closed it itself a moment ago: uvicorn then refuses a second close.
        with contextlib.suppress(Exception):
            await self.send({"type": "websocket.close", "code": GOING_AWAY, "reason": "restart"})


_sockets: set[Socket] = set()
_drain: asyncio.Task | None = None
_deadline: float = 0.0


def draining() -> bool:
    return _drain is not None


class DrainingSockets:
    """ASGI middleware on the WebSocket route: knows this process's open sockets, and refuses
    new answers on them once the drain has begun."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        from chukchat.metrics import OPEN_WEBSOCKETS

        socket = Socket(send)
        # Shared by every copy of the scope the routers make, and read by the protocol.
        scope[SCOPE_KEY] = socket
        _sockets.add(socket)
        OPEN_WEBSOCKETS.inc()

        async def receive_unless_new_work():
            while True:
                message = await receive()
                if _drain is None or not await _refused(message, send):
                    return message

        try:
            await self.app(scope, receive_unless_new_work, send)
        finally:
            _sockets.discard(socket)
            OPEN_WEBSOCKETS.dec()


async def _refused(message: dict, send) -> bool:
    """A `chat` frame that arrived during the drain is answered here, and not passed on."""
    if message["type"] != "websocket.receive" or message.get("text") is None:
        return False
    try:
        frame = orjson.loads(message["text"])
    except orjson.JSONDecodeError:
        return False
    if not isinstance(frame, dict) or frame.get("type") != "chat":
        return False
    from aiapi.consumers import error_frame

    stream_id = frame.get("id") if isinstance(frame.get("id"), str | int) else None
    with contextlib.suppress(Exception):
        await send(
            {
                "type": "websocket.send",
                "text": error_frame(
                    stream_id,
                    "server_shutting_down",
                    "This server is shutting down: send it again on a new connection.",
                    503,
                ),
            }
        )
    return True


def _answers(socket: Socket | None = None) -> list[asyncio.Task]:
    """The answers running in this process: all of them, or those streaming to `socket`."""
    from aiapi.consumers import _running

    tasks = []
    for run in list(_running.values()):
        if run.task is None or run.task.done():
            continue
        if socket is None or (
            run.consumer is not None and run.consumer.scope.get(SCOPE_KEY) is socket
        ):
            tasks.append(run.task)
    return tasks


def begin(bound: float | None) -> None:
    """Starts the drain (once): called by the protocol when uvicorn shuts a socket down."""
    global _drain, _deadline
    if _drain is not None:
        return
    loop = asyncio.get_running_loop()
    bound = DEFAULT_BOUND_SECONDS if bound is None else bound
    _deadline = loop.time() + max(0.0, bound - BOUND_MARGIN_SECONDS)
    _drain = loop.create_task(_drain_sockets())


async def _drain_sockets() -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < _deadline:
        for socket in list(_sockets):
            if not _answers(socket):
                await socket.close()
        if not _sockets and not _answers():
            return
        await asyncio.sleep(POLL_SECONDS)
    await _cancel_answers(within=BOUND_MARGIN_SECONDS + SETTLE_GRACE_SECONDS)
    for socket in list(_sockets):
        await socket.close()


async def _cancel_answers(*, within: float) -> None:
    """Cancels the answers still running; each settles what it generated, as cancelled, and
    says so in its last frame. Waits for that up to `within` seconds."""
    answers = _answers()
    for task in answers:
        task.cancel()
    if answers:
        await asyncio.wait(answers, timeout=within)


async def finish() -> None:
    """At the lifespan shutdown (uvicorn has drained or cut its connections): waits for the
    drain to end, at most SETTLE_GRACE_SECONDS past its bound. Without a drain (no socket was
    open, or another WebSocket protocol closed them at once) the answers still running, whose
    sockets are gone, are cancelled and settled now."""
    if _drain is None:
        await _cancel_answers(within=SETTLE_GRACE_SECONDS)
        return
    loop = asyncio.get_running_loop()
    await asyncio.wait([_drain], timeout=max(0.0, _deadline - loop.time()) + SETTLE_GRACE_SECONDS)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets' Sans-I/O one, its default), except that at
    shutdown an open socket of ours is drained, not closed at once."""

    def shutdown(self) -> None:
        scope = getattr(self, "scope", None)  # set once the handshake request has arrived
        ours = scope is not None and SCOPE_KEY in scope
        if not ours or not self.handshake_complete or self.close_sent or self.disconnected:
            super().shutdown()
            return
        begin(self.config.timeout_graceful_shutdown)
