"""The Chuk chat API over HTTP: `POST /v1/ai/chat` (201 JSON, or SSE with "stream": true) and
`POST /v1/ai/chat/stream` (SSE). Same routing, metering and events as every other way in;
these views only parse and render (aiapi/chuk_chat.py holds the turn).

Authentication is an API key, or the web app's session (which must pass the CSRF check)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aiapi.chuk_chat import ChukTurn, parse_turn, start_turn
from aiapi.openai_api import api_caller
from aiapi.wire import chuk as chuk_wire
from aiapi.wire import sse
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
        chuk_wire.result_payload(
            turn.call, conversation_id=turn.conversation_id, message_id=turn.answer_id
        ),
        status=201,
    )
    response["x-request-id"] = turn.call.request_id
    response["x-chuk-cost"] = chuk_wire.cost_fields(chuk_wire.charged(turn.call))["charged"]
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


async def _stream_response(turn: ChukTurn) -> HttpResponse:
    """Waits (up to one heartbeat) for the provider's first answer, so that a provider that
    fails before answering is a plain 502/504 rather than an error inside a 200 stream."""
    feed, first = await sse.start(turn.events())
    if isinstance(first, tuple) and first[0] == "error":
        await feed.close(abandoned=False)
        return _error_response(turn)
    response = sse.response(feed, first, chuk_wire.sse_line, chuk_wire.is_last)
    response["x-request-id"] = turn.call.request_id
    return response
