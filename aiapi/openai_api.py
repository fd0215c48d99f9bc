"""The OpenAI-compatible API (served under /v1/ and /api/v1/): models, chat completions and
embeddings. Async views: they parse, call the services, and render; nothing else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.authentication import aauthenticate_api_key, has_key_header, request_api_key
from accounts.model_allow_list import allowed_subset, require_model_allowed
from accounts.rate_limits import arate_limit_request
from aiapi.chat_input import parse_chat_input
from aiapi.chat_service import Caller, start_chat
from aiapi.embedding_service import parse_embedding_input, run_embeddings
from aiapi.events import ErrorEvent
from aiapi.openai_render import embeddings_payload, model_payload
from aiapi.selectors import aactive_catalogue, model_list
from aiapi.wire import openai_chat, sse
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
    chat_input = parse_chat_input(parse_json_body(request), refuse_unknown=True)
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
            return _headers(
                json_response(openai_chat.error_payload(first), status=first.status), call
            )
        response = sse.response(
            feed,
            first,
            openai_chat.chunk_renderer(call, include_usage=chat_input.include_usage),
            openai_chat.is_last,
        )
        return _headers(response, call)
    await call.run()
    if call.error is not None:
        response = json_response(openai_chat.error_payload(call.error), status=call.error.status)
    else:
        response = _headers(json_response(openai_chat.completion_payload(call)), call, call.cost())
    # The usage write happens once the answer is on its way: it settles exactly the cost
    # computed above, and the client does not wait for the ledger's commit.
    after_response(response, call.finish)
    return _headers(response, call)


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
