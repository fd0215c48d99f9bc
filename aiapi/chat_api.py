"""The Chuk chat API over HTTP: `POST /v1/ai/chat` (201 JSON, or SSE with "stream": true) and
`POST /v1/ai/chat/stream` (SSE). Same routing, metering and events as every other way in;
these views only parse and render (aiapi/chuk_chat.py holds the turn).

Authentication is an API key, or the web app's session (which must pass the CSRF check)."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aiapi import chuk_render
from aiapi.chuk_chat import ChukTurn, parse_turn, start_turn
from aiapi.openai_api import SSE_HEADERS, api_caller
from chukchat.errors import ApiError, json_response
from chukchat.json_body import parse_json_body


@csrf_exempt  # checked in api_caller, for sessions only
@require_POST
async def chat(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    body = parse_json_body(request)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "invalid_request", "stream must be true or false", param="stream")
    turn = await start_turn(caller=caller, turn=parse_turn(body), stream=stream)
    request.rate_limit_headers = turn.call.rate.headers
    if stream:
        return await _stream_response(turn)
    async for kind, _ in turn.events():
        if kind == "error":
            return _error_response(turn)
    response = json_response(
        chuk_render.result_payload(
            turn.call, conversation_id=turn.conversation_id, message_id=turn.answer_id
        ),
        status=201,
    )
    response["x-request-id"] = turn.call.request_id
    response["x-chuk-cost"] = chuk_render.cost_fields(chuk_render.charged(turn.call))["charged"]
    return response


@csrf_exempt  # checked in api_caller, for sessions only
@require_POST
async def chat_stream(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    turn = await start_turn(caller=caller, turn=parse_turn(parse_json_body(request)), stream=True)
    request.rate_limit_headers = turn.call.rate.headers
    return await _stream_response(turn)


def _error_response(turn: ChukTurn) -> HttpResponse:
    error = turn.call.error
    response = ApiError(error.status, error.code, error.message).response()
    response["x-request-id"] = turn.call.request_id
    return response


PING = ("ping", None)


class _Feed:
    """The turn's events pulled by a task of their own, so a heartbeat can be written while
    the provider is quiet without interrupting it. The heartbeat is a timer that queues a
    ping only after a quiet interval: reading an event costs a plain queue get."""

    def __init__(self, turn: ChukTurn) -> None:
        self.turn = turn
        self.queue: asyncio.Queue = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.task = asyncio.create_task(self._pull())
        self.beat = asyncio.create_task(self._heartbeat(settings.SSE_HEARTBEAT_SECONDS))

    async def _pull(self) -> None:
        try:
            async for item in self.turn.events():
                self.last = self.loop.time()
                self.queue.put_nowait(item)
        finally:
            self.queue.put_nowait(None)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(max(0.0, self.last + interval - self.loop.time()))
            if self.loop.time() - self.last >= interval:
                self.last = self.loop.time()
                self.queue.put_nowait(PING)

    async def close(self) -> None:
        # When the client went away this stops the provider; the turn settles what it owes.
        self.beat.cancel()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _sse_line(kind: str, fields: dict) -> bytes:
    if kind == "text" or kind == "reasoning" or kind == "error":
        payload = fields
    elif kind == "done":
        payload = {"done": True, **fields}
    else:  # meta, usage
        payload = {kind: fields}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def _stream_response(turn: ChukTurn) -> HttpResponse:
    """Waits (up to one heartbeat) for the provider's first answer, so that a provider that
    fails before answering is a plain 502/504 rather than an error inside a 200 stream."""
    feed = _Feed(turn)
    try:
        first = await feed.queue.get()
    except BaseException:
        await feed.close()
        raise
    if first is not None and first[0] == "error":
        await feed.close()
        return _error_response(turn)
    response = StreamingHttpResponse(
        _sse(feed, first), content_type="text/event-stream", headers=SSE_HEADERS
    )
    response["x-request-id"] = turn.call.request_id
    return response


async def _sse(feed: _Feed, first):
    """Writes what has arrived; under load several events that arrived together go out in one
    write (one trip through the event loop and the socket instead of one each)."""
    queue = feed.queue
    try:
        item = first
        while item is not None:
            chunk = []
            while True:
                if item is PING:
                    chunk.append(b": ping\n\n")
                else:
                    chunk.append(_sse_line(*item))
                    if item[0] in ("done", "error"):
                        yield b"".join(chunk)
                        return
                if queue.empty():
                    break
                item = queue.get_nowait()
                if item is None:
                    yield b"".join(chunk)
                    return
            yield b"".join(chunk)
            item = await queue.get()
    finally:
        await feed.close()
