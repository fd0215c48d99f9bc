"""OpenAI's legacy `POST /completions` (served under /v1/ and /api/v1/): each prompt is one
metered chat call, rendered as a `text_completion` (aiapi/wire/openai_completions.py).

Every call is started, and so every refusal (402, 404, 429...) happens, before any provider
is asked; the calls then run in prompt order, each settled once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aiapi.chat_service import ChatCall, start_chat
from aiapi.events import ContentDelta, Done, ErrorEvent
from aiapi.openai_api import api_caller
from aiapi.wire import sse
from aiapi.wire.openai_chat import error_payload
from aiapi.wire.openai_completions import (
    ChunkWriter,
    CompletionsInput,
    completion_payload,
    parse_completions_request,
    usage_payload,
)
from billing.money import format_usd
from chukchat.api_handler import after_response
from chukchat.errors import json_response
from chukchat.json_body import parse_json_body


@csrf_exempt
@require_POST
async def completions(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request)
    parsed = parse_completions_request(parse_json_body(request))
    calls: list[ChatCall] = []
    try:
        for chat in parsed.chats:
            calls.append(
                await start_chat(
                    caller=caller,
                    model_id=chat.model,
                    request=chat.request,
                    endpoint="completions",
                    stream=parsed.stream,
                    request_id=f"{calls[0].request_id}-{len(calls)}" if calls else None,
                )
            )
    except BaseException:
        await _settle(calls, cancelled=True)  # their holds go back: nothing was asked
        raise
    first = calls[0]
    request.rate_limit_headers = calls[-1].rate.headers
    completion_id = f"cmpl-{first.request_id}"
    if parsed.stream:
        feed, item = await sse.start(_streamed(calls))
        if isinstance(item, tuple) and isinstance(item[1], ErrorEvent):
            await feed.close(abandoned=False)
            return _error(first, item[1])
        writer = ChunkWriter(completion_id=completion_id, model=first.model.public_id)
        response = sse.response(feed, item, _renderer(writer, calls, parsed), _last_of(len(calls)))
        response["x-request-id"] = first.request_id
        return response
    try:
        for call in calls:
            await call.run()
            if call.error is not None:
                break
    except BaseException:
        await _settle(calls, cancelled=True)
        raise
    failed = next((call for call in calls if call.error is not None), None)
    if failed is not None:
        response = _error(first, failed.error)
    else:
        payload = completion_payload(
            completion_id=completion_id,
            model=first.model.public_id,
            texts=[
                (prompt if parsed.echo else "") + call.text
                for prompt, call in zip(parsed.prompts, calls, strict=True)
            ],
            reasons=[call.finish_reason for call in calls],
            usage=usage_payload([call.final_usage()[0] for call in calls], _cost(calls)),
        )
        response = json_response(payload)
        response["x-request-id"] = first.request_id
        response["x-chuk-cost"] = format_usd(_cost(calls))

    async def settle() -> None:
        await _settle(calls)

    after_response(response, settle)
    return response


def _cost(calls: list[ChatCall]) -> Decimal:
    return sum((call.cost() for call in calls), Decimal(0))


async def _settle(calls: list[ChatCall], *, cancelled: bool = False) -> None:
    """Each call once. A call that never ran (an earlier one failed) is settled as cancelled:
    it generated nothing, so it charges nothing."""
    for call in calls:
        ran = call.meta is not None or call.error is not None
        await call.finish(cancelled=cancelled or not ran)


async def _streamed(calls: list[ChatCall]) -> AsyncIterator[tuple[int, object]]:
    try:
        for index, call in enumerate(calls):
            async with contextlib.aclosing(call.settled_events()) as events:
                async for event in events:
                    yield index, event
            if call.error is not None:
                break
    except BaseException:
        await _settle(calls, cancelled=True)
        raise
    await _settle(calls)


def _renderer(
    writer: ChunkWriter, calls: list[ChatCall], parsed: CompletionsInput
) -> Callable[[tuple], bytes]:
    echoed: set[int] = set()

    def render(item: tuple) -> bytes:
        index, event = item
        head = b""
        if parsed.echo and index not in echoed:
            echoed.add(index)
            head = writer.text(index, parsed.prompts[index])
        if isinstance(event, ContentDelta):
            return head + writer.text(index, event.text)
        if isinstance(event, Done):
            chunk = head + writer.finish(index, event.finish_reason)
            if index == len(calls) - 1:
                usage = None
                if parsed.include_usage:
                    usage = usage_payload([c.final_usage()[0] for c in calls], _cost(calls))
                chunk += writer.end(usage)
            return chunk
        if isinstance(event, ErrorEvent):
            return head + writer.error(error_payload(event))
        return head  # meta, reasoning and usage are not on this wire

    return render


def _last_of(count: int) -> Callable[[tuple], bool]:
    def last(item: tuple) -> bool:
        index, event = item
        return isinstance(event, ErrorEvent) or (isinstance(event, Done) and index == count - 1)

    return last


def _error(call: ChatCall, error: ErrorEvent) -> HttpResponse:
    response = json_response(error_payload(error), status=error.status)
    response["x-request-id"] = call.request_id
    return response
