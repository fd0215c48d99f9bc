"""OpenAI's Responses API (served under /v1/ and /api/v1/): `POST /responses`, and for stored
responses `GET` / `DELETE /responses/{id}` and `GET /responses/{id}/input_items`. Views parse,
call the chat service and the store, and render (aiapi/wire/openai_responses.py)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.rate_limits import arate_limit_request
from aiapi.chat_input import bad
from aiapi.chat_service import ChatCall, start_chat
from aiapi.events import Done, ErrorEvent
from aiapi.openai_api import api_caller
from aiapi.stored_responses import (
    continued_context,
    stored_response_delete,
    stored_response_get,
    stored_response_save,
)
from aiapi.wire import sse
from aiapi.wire.openai_chat import error_payload
from aiapi.wire.openai_responses import (
    ResponsesInput,
    ResponseWriter,
    deleted_payload,
    input_items_payload,
    parse_responses_request,
    sse_event,
)
from billing.money import format_usd
from chukchat.api_handler import after_response
from chukchat.db_threads import db_call
from chukchat.errors import json_response
from chukchat.json_body import parse_json_body

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
async def create_response(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request)
    parsed = parse_responses_request(parse_json_body(request))
    context: list[dict] = []
    if parsed.previous_response_id is not None:
        context = await db_call(
            continued_context, user_id=caller.user_id, response_id=parsed.previous_response_id
        )
        messages = parsed.chat.request.messages
        at = 1 if parsed.instructions else 0  # after this request's own instructions
        messages[at:at] = context
    call = await start_chat(
        caller=caller,
        model_id=parsed.chat.model,
        request=parsed.chat.request,
        endpoint="responses",
        stream=parsed.stream,
    )
    request.rate_limit_headers = call.rate.headers
    writer = ResponseWriter(
        response_id=f"resp_{call.request_id}",
        model=call.model.public_id,
        echo=parsed.echo,
        call=call,
    )
    keep = _keeper(caller.user_id, parsed, context) if parsed.store else None
    if parsed.stream:
        feed, first = await sse.start(_streamed(call, writer, keep))
        if isinstance(first, tuple) and isinstance(first[0], ErrorEvent):
            # The provider failed before answering: a plain HTTP error (the call is settled).
            await feed.close(abandoned=False)
            return _error(call, first[0])
        response = sse.response(feed, first, _rendered, _is_last)
        response["x-request-id"] = call.request_id
        return response
    try:
        async for event in call.events():
            writer.feed(event)
        if call.error is not None:
            response = _error(call, call.error)
        else:
            payload = writer.response()
            if keep is not None:
                await keep(payload)
            response = json_response(payload)
            response["x-request-id"] = call.request_id
            response["x-chuk-cost"] = format_usd(call.cost())
    except BaseException:
        await call.finish(cancelled=True)
        raise
    # Settled once the answer is on its way, for exactly the cost it shows.
    after_response(response, call.finish)
    return response


def _keeper(user_id: int, parsed: ResponsesInput, context: list[dict]):
    async def keep(payload: dict) -> None:
        try:
            await db_call(
                stored_response_save,
                user_id=user_id,
                response=payload,
                context=[*context, *parsed.messages],
                input_items=parsed.items,
                previous_response_id=parsed.previous_response_id,
            )
        except Exception:
            # The answer is still given (and charged); it just cannot be fetched later.
            logger.exception("could not store response %s", payload["id"])

    return keep


async def _streamed(call: ChatCall, writer: ResponseWriter, keep) -> AsyncIterator[tuple]:
    """(internal event, its SSE bytes) pairs; the response is stored before its final event
    goes out, so a client may fetch it as soon as it has read `response.completed`. Settled
    by the call's own settled_events (closed with this, should the client go away)."""
    async with contextlib.aclosing(call.settled_events()) as events:
        async for event in events:
            rendered = b"".join(sse_event(e) for e in writer.feed(event))
            if isinstance(event, Done) and keep is not None:
                await keep(writer.response())
            yield event, rendered


def _rendered(item: tuple) -> bytes:
    return item[1]


def _is_last(item: tuple) -> bool:
    return isinstance(item[0], (Done, ErrorEvent))


def _error(call: ChatCall, error: ErrorEvent) -> HttpResponse:
    response = json_response(error_payload(error), status=error.status)
    response["x-request-id"] = call.request_id
    return response


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
async def response_detail(request: HttpRequest, response_id: str) -> HttpResponse:
    caller = await api_caller(request)
    await arate_limit_request(request, caller=caller)
    if request.method == "DELETE":
        await db_call(stored_response_delete, user_id=caller.user_id, response_id=response_id)
        return json_response(deleted_payload(response_id))
    stored = await db_call(stored_response_get, user_id=caller.user_id, response_id=response_id)
    return json_response(stored.response)


@require_GET
async def response_input_items(request: HttpRequest, response_id: str) -> HttpResponse:
    caller = await api_caller(request)
    await arate_limit_request(request, caller=caller)
    order = request.GET.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad("order must be asc or desc", param="order")
    limit = request.GET.get("limit", "20")
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= 100):
        raise bad("limit must be an integer from 1 to 100", param="limit")
    stored = await db_call(stored_response_get, user_id=caller.user_id, response_id=response_id)
    return json_response(
        input_items_payload(
            stored.input_items, order=order, after=request.GET.get("after"), limit=int(limit)
        )
    )
