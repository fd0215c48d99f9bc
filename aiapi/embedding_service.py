"""One metered embeddings call."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import Decimal

from accounts.model_allow_list import require_model_allowed
from aiapi.chat_service import Caller, new_request_id, resolve_model
from aiapi.models import AiModel
from aiapi.providers.base import EmbeddingRequest
from aiapi.routing import route_embeddings
from billing.entitlements import require_model_access
from billing.holds import hold_credit
from billing.models import UsageRecord
from billing.prices import Prices, token_cost
from billing.settlement import settle, usage_record
from chukchat import log_context
from chukchat.errors import ApiError

MAX_INPUTS = 2048


def parse_embedding_input(body: dict) -> tuple[str, EmbeddingRequest]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "invalid_request", "model is required", param="model")
    raw = body.get("input")
    if raw is None or raw == "" or raw == []:
        raise ApiError(400, "missing_input", "input is required", param="input")
    inputs = [raw] if isinstance(raw, str) else raw
    if (
        not isinstance(inputs, list)
        or len(inputs) > MAX_INPUTS
        or not all(isinstance(text, str) and text for text in inputs)
    ):
        raise ApiError(
            400,
            "missing_input",
            f"input must be a non-empty string or up to {MAX_INPUTS} non-empty strings",
            param="input",
        )
    encoding_format = body.get("encoding_format", "float")
    if encoding_format not in ("float", "base64"):
        raise ApiError(
            400,
            "invalid_request",
            "encoding_format must be float or base64",
            param="encoding_format",
        )
    dimensions = body.get("dimensions")
    # No embedding model we serve is wider (text-embedding-3-large: 3072); more would only ask
    # the provider (or the demo) to build a vector nobody can use.
    max_dimensions = 4096
    if dimensions is not None and (
        isinstance(dimensions, bool)
        or not isinstance(dimensions, int)
        or not 1 <= dimensions <= max_dimensions
    ):
        raise ApiError(
            400,
            "invalid_request",
            f"dimensions must be an integer from 1 to {max_dimensions}",
            param="dimensions",
        )
    user = body.get("user") if isinstance(body.get("user"), str) else None
    return model, EmbeddingRequest(
        input=inputs, encoding_format=encoding_format, dimensions=dimensions, user=user
    )


@dataclass
class EmbeddingOutcome:
    model: AiModel
    vectors: list
    prompt_tokens: int
    cost: Decimal
    request_id: str


async def run_embeddings(
    *, caller: Caller, model_id: str, request: EmbeddingRequest
) -> EmbeddingOutcome:
    require_model_allowed(allowed_models=caller.allowed_models, model_id=model_id)
    model = await resolve_model(model_id, kind=AiModel.Kind.EMBEDDING)
    await require_model_access(user_id=caller.user_id, model=model)
    prices = Prices.of(model)
    request_id = new_request_id()
    log_context.adopt_usage_id(request_id)
    cautious = sum(math.ceil(len(text.encode()) / 3) for text in request.input)
    hold = await hold_credit(
        user_id=caller.user_id,
        api_key_id=caller.api_key_id,
        api_key_limit=caller.api_key_limit,
        request_id=request_id,
        amount=token_cost(prices=prices, prompt_tokens=cautious, completion_tokens=0),
    )
    started = time.perf_counter()

    def record_of(**usage) -> UsageRecord:
        return usage_record(
            request_id=request_id,
            user_id=caller.user_id,
            api_key_id=caller.api_key_id,
            endpoint="embeddings",
            model=model.public_id,
            latency_ms=int((time.perf_counter() - started) * 1000),
            **usage,
        )

    try:
        answered_by, result = await route_embeddings(model=model, request=request)
    except BaseException as error:
        # Failed or abandoned before any answer: nothing used, the hold ends now.
        code = error.code if isinstance(error, ApiError) else "cancelled"
        record = record_of(status=UsageRecord.Status.ERROR, error_code=code)
        await settle(record=record, prices=prices, hold=hold)
        raise
    record = await settle(
        record=record_of(
            provider=answered_by.provider.name,
            upstream_model=answered_by.upstream,
            prompt_tokens=result.prompt_tokens,
        ),
        prices=prices,
        hold=hold,
    )
    return EmbeddingOutcome(
        model=model,
        vectors=result.vectors,
        prompt_tokens=result.prompt_tokens,
        cost=record.cost,
        request_id=request_id,
    )
