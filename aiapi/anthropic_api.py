"""Anthropic's Messages API (served under /v1/ and /api/v1/): `POST messages` and
`POST messages/count_tokens`, for every chat model of every provider kind. Thin views: parse
(aiapi/wire/anthropic_messages.py), call the chat service, render; every error in Anthropic's
shape. The key comes as `x-api-key` or `Authorization: Bearer`; `anthropic-version` and
`anthropic-beta` are accepted and ignored."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.model_allow_list import require_model_allowed
from accounts.rate_limits import arate_limit_request
from aiapi.chat_service import ChatCall, resolve_model, start_chat
from aiapi.events import ErrorEvent
from aiapi.models import AiModel
from aiapi.openai_api import api_caller
from aiapi.wire import anthropic_messages as wire
from aiapi.wire import sse
from billing.money import format_usd
from chukchat.api_handler import after_response
from chukchat.errors import ApiError, json_response
from chukchat.json_body import parse_json_body


def _post_only(request: HttpRequest) -> None:
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "Use POST on this route.")


def _headers(response: HttpResponse, call: ChatCall) -> HttpResponse:
    response["x-request-id"] = call.request_id
    response["request-id"] = call.request_id  # the header Anthropic's clients log
    return response


@csrf_exempt  # API keys only: no session, so nothing for CSRF to protect
async def messages(request: HttpRequest) -> HttpResponse:
    try:
        _post_only(request)
        caller = await api_caller(request)
        parsed = wire.parse_messages_request(parse_json_body(request))
        call = await start_chat(
            caller=caller,
            model_id=parsed.model,
            request=parsed.request,
            endpoint="anthropic.messages",
            stream=parsed.stream,
        )
    except ApiError as error:
        return wire.error_response(error)
    request.rate_limit_headers = call.rate.headers
    if parsed.stream:
        feed, first = await sse.start(call.settled_events())
        if isinstance(first, ErrorEvent):
            # The provider failed before answering: a plain HTTP error, as without stream
            # (the feed has ended, and with it the call is settled).
            await feed.close(abandoned=False)
            return _headers(wire.error_response(first, request_id=call.request_id), call)
        renderer = wire.MessageStream(call, show_thinking=parsed.show_thinking)
        return _headers(sse.response(feed, first, renderer.render, wire.is_last), call)
    await call.run()
    if call.error is not None:
        response = wire.error_response(call.error, request_id=call.request_id)
    else:
        response = json_response(wire.message_payload(call, show_thinking=parsed.show_thinking))
        response["x-chuk-cost"] = format_usd(call.cost())
    # Settled once the answer is on its way, for exactly the cost computed above.
    after_response(response, call.finish)
    return _headers(response, call)


@csrf_exempt
async def count_tokens(request: HttpRequest) -> HttpResponse:
    """Our estimate of the prompt's tokens (no provider is asked, nothing is charged)."""
    try:
        _post_only(request)
        caller = await api_caller(request)
        parsed = wire.parse_messages_request(parse_json_body(request), counting=True)
        await arate_limit_request(request, caller=caller)
        require_model_allowed(allowed_models=caller.allowed_models, model_id=parsed.model)
        await resolve_model(parsed.model, kind=AiModel.Kind.CHAT)
    except ApiError as error:
        return wire.error_response(error)
    return json_response({"input_tokens": wire.count_input_tokens(parsed.request)})
