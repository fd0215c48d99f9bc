"""The OpenAI-compatible API (served under /v1/ and /api/v1/): models, chat completions and
embeddings. Async views: they parse, call the services, and render; nothing else."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.authentication import aauthenticate_api_key, has_key_header, request_api_key
from accounts.model_allow_list import allowed_subset, require_model_allowed
from accounts.rate_limits import arate_limit_request
from aiapi.chat_input import parse_chat_input
from aiapi.chat_service import Caller, ChatCall, start_chat
from aiapi.embedding_service import parse_embedding_input, run_embeddings
from aiapi.events import ContentDelta, Done, ErrorEvent, Event, ReasoningDelta, ToolCallDelta
from aiapi.openai_render import (
    ChunkWriter,
    completion_payload,
    embeddings_payload,
    error_payload,
    model_payload,
)
from aiapi.selectors import aactive_catalogue, model_list
from aiapi.wire import sse
from billing.money import format_usd
from chukchat.api_handler import after_response
from chukchat.errors import ApiError, json_response
from chukchat.json_body import parse_json_body


async def api_caller(request: HttpRequest, *, allow_session: bool = False) -> Caller:
    """An API key; or, where `allow_session`, the web app's session, which must then pass
    Django's CSRF check on unsafe methods (these views are exempt from the middleware so that
    a request with no credentials at all gets 401, not 403)."""
    authorization = request.headers.get("Authorization")
    x_api_key = request.headers.get("x-api-key")
    offered = has_key_header(authorization=authorization, x_api_key=x_api_key)
    if not offered and allow_session and hasattr(request, "auser"):
        user = await request.auser()
        if user.is_authenticated:
            if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
                rejected = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
                if rejected is not None:
                    raise ApiError(403, "csrf_failed", "CSRF check failed; reload the page.")
            return Caller(user_id=user.pk)
    key = request_api_key(authorization=authorization, x_api_key=x_api_key)
    return Caller.of_key(await aauthenticate_api_key(key))


def _headers(response: HttpResponse, call_or_id, cost=None) -> HttpResponse:
    request_id = call_or_id if isinstance(call_or_id, str) else call_or_id.request_id
    response["x-request-id"] = request_id
    if cost is not None:
        response["x-chuk-cost"] = format_usd(cost)
    return response


@require_GET
async def models_list(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    await arate_limit_request(request, caller=caller)
    models = allowed_subset(
        allowed_models=caller.allowed_models, models=model_list(await aactive_catalogue())
    )
    return json_response({"object": "list", "data": [model_payload(m) for m in models]})


@require_GET
async def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    caller = await api_caller(request, allow_session=True)
    await arate_limit_request(request, caller=caller)
    require_model_allowed(allowed_models=caller.allowed_models, model_id=model_id)
    model = (await aactive_catalogue()).models.get(model_id)
    if model is None:
        raise ApiError(
            404, "model_not_found", f"Model '{model_id}' not found or not active", param="model"
        )
    return json_response(model_payload(model))


@csrf_exempt
@require_POST
async def chat_completions(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request)
    chat_input = parse_chat_input(parse_json_body(request))
    call = await start_chat(
        caller=caller,
        model_id=chat_input.model,
        request=chat_input.request,
        endpoint="chat.completions",
        stream=chat_input.stream,
    )
    request.rate_limit_headers = call.rate.headers
    if chat_input.stream:
        feed, first = await sse.start(call.settled_events())
        if isinstance(first, ErrorEvent):
            # The provider failed before answering: a plain HTTP error, as without stream
            # (the feed has ended, and with it the call is settled).
            await feed.close(abandoned=False)
            return _headers(json_response(error_payload(first), status=first.status), call)
        response = sse.response(feed, first, _chunk_renderer(call), _is_last)
        return _headers(response, call)
    await call.run()
    if call.error is not None:
        response = json_response(error_payload(call.error), status=call.error.status)
    else:
        response = _headers(json_response(completion_payload(call)), call, call.cost())
    # The usage write happens once the answer is on its way: it settles exactly the cost
    # computed above, and the client does not wait for the ledger's commit.
    after_response(response, call.finish)
    return _headers(response, call)


def _is_last(event: Event) -> bool:
    return isinstance(event, (Done, ErrorEvent))


def _chunk_renderer(call: ChatCall) -> Callable[[Event], bytes]:
    """Each event as its `chat.completion.chunk` line; meta and usage are not on this wire
    (usage goes out on the final chunk)."""
    writer = ChunkWriter(call)

    def render(event: Event) -> bytes:
        if isinstance(event, ContentDelta):
            return writer.delta({"content": event.text})
        if isinstance(event, ReasoningDelta):
            return writer.delta({"reasoning_content": event.text})
        if isinstance(event, ToolCallDelta):
            tool_call: dict = {"index": event.index, "function": {"arguments": event.arguments}}
            if event.id is not None:
                tool_call["id"] = event.id
                tool_call["type"] = "function"
            if event.name is not None:
                tool_call["function"]["name"] = event.name
            return writer.delta({"tool_calls": [tool_call]})
        if isinstance(event, Done):
            return writer.finish(event.finish_reason)
        if isinstance(event, ErrorEvent):
            return writer.error(event)
        return b""

    return render


@csrf_exempt
@require_POST
async def embeddings(request: HttpRequest) -> HttpResponse:
    caller = await api_caller(request)
    model_id, embedding_request = parse_embedding_input(parse_json_body(request))
    await arate_limit_request(request, caller=caller)
    outcome = await run_embeddings(caller=caller, model_id=model_id, request=embedding_request)
    payload = embeddings_payload(
        model=outcome.model,
        vectors=outcome.vectors,
        prompt_tokens=outcome.prompt_tokens,
        encoding_format=embedding_request.encoding_format,
        cost=outcome.cost,
    )
    return _headers(json_response(payload), outcome.request_id, outcome.cost)
