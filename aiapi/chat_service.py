"""One metered chat call, whatever endpoint it came through.

`start_chat` resolves the model, checks the input against it, inlines images and reserves the
worst-case cost; `ChatCall.events()` streams the routed provider events while keeping the
tally; `ChatCall.finish()` settles: usage record, charge and release in one transaction.
The OpenAI-compatible API, the Chuk chat API and the WebSocket differ only in how they render.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from accounts.model_allow_list import require_model_allowed
from accounts.rate_limits import RateCheck, arate_check, arate_count_tokens
from aiapi.capabilities import honouring_chain
from aiapi.chat_input import has_images
from aiapi.events import (
    ContentDelta,
    Done,
    ErrorEvent,
    Event,
    Meta,
    ReasoningDelta,
    ToolCallDelta,
    Usage,
)
from aiapi.image_input import inline_images
from aiapi.models import AiModel
from aiapi.providers.base import ChatRequest
from aiapi.routing import candidates, route_chat
from aiapi.selectors import aactive_catalogue, current_catalogue
from aiapi.token_count import (
    LONG_TEXT_BYTES,
    aestimate_prompt_tokens,
    cautious_prompt_tokens,
    encoding_loaded,
    encoding_name_for,
    estimate_prompt_tokens,
    estimate_text_tokens,
)
from billing import process_keeper
from billing.credit_leases import Hold
from billing.entitlements import aentitlements_for, require_model_access
from billing.holds import hold_credit
from billing.models import UsageRecord
from billing.prices import Prices, answer_prices, token_cost
from billing.settlement import settle, usage_record
from chukchat import log_context
from chukchat.errors import ApiError


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is paying: a user, and the API key they used (None for the web app's session)."""

    user_id: int
    api_key_id: int | None = None
    api_key_limit: Decimal | None = None
    rate_overrides: dict[str, int] = field(default_factory=dict)  # the key's own rate limits
    allowed_models: frozenset[str] | None = None  # the key's allow-list; None: every model

    @classmethod
    def of_key(cls, principal) -> Caller:
        return cls(
            user_id=principal.user_id,
            api_key_id=principal.key_id,
            api_key_limit=principal.monthly_spend_limit,
            rate_overrides=principal.rate_overrides,
            allowed_models=principal.allowed_models,
        )


def new_request_id() -> str:
    return secrets.token_hex(12)


async def resolve_model(public_id: str, *, kind: str) -> AiModel:
    model = (await aactive_catalogue()).models.get(public_id)
    if model is None:
        raise ApiError(
            404, "model_not_found", f"Model '{public_id}' not found or not active", param="model"
        )
    if model.kind != kind:
        raise ApiError(
            400,
            "invalid_model_type",
            f"Model '{public_id}' is a {model.kind} model, not a {kind} model.",
            param="model",
        )
    return model


@dataclass
class ToolCallTally:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


@dataclass
class ChatCall:
    request_id: str
    caller: Caller
    model: AiModel
    request: ChatRequest
    endpoint: str
    stream: bool
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    meta: Meta | None = None
    content: list[str] = field(default_factory=list)
    content_logprobs: list[dict] = field(default_factory=list)  # when asked for, and given
    reasoning: list[str] = field(default_factory=list)
    tool_calls: dict[int, ToolCallTally] = field(default_factory=dict)
    usage: Usage | None = None
    finish_reason: str | None = None
    error: ErrorEvent | None = None
    record: UsageRecord | None = None
    answered_by: AiModel | None = None  # the model whose provider answered (maybe a fallback)
    chain: list[AiModel] = field(default_factory=list)  # the model, then fallbacks to try
    hold: Hold = field(default_factory=lambda: Hold(amount=Decimal(0)))  # credit held for it
    rate: RateCheck = field(default_factory=lambda: RateCheck(headers={}))
    rate_category: str | None = None
    _settling: asyncio.Future | None = None
    _counted: tuple[int, Usage] | None = None  # (length of the generated text, its count)

    async def events(self) -> AsyncIterator[Event]:
        async for event in route_chat(chain=self.chain, request=self.request, stream=self.stream):
            match event:
                case ContentDelta(text=text):
                    self._first_token()
                    self.content.append(text)
                    if event.logprobs:
                        self.content_logprobs.extend(event.logprobs)
                case ReasoningDelta(text=text):
                    self._first_token()
                    self.reasoning.append(text)
                case ToolCallDelta():
                    self._first_token()
                    tally = self.tool_calls.setdefault(event.index, ToolCallTally())
                    tally.id = tally.id or event.id
                    tally.name = tally.name or event.name
                    tally.arguments.append(event.arguments)
                case Usage():
                    self.usage = event
                case Done(finish_reason=reason):
                    self.finish_reason = reason
                case Meta():
                    self.meta = event
                    self.answered_by = next(
                        (m for m in self.chain if m.public_id == event.model_id),
                        self.model,
                    )
                case ErrorEvent():
                    self.error = event
            yield event

    async def run(self) -> None:
        """Consumes the events of a call answered in one piece (the tally keeps them). A
        client that goes away meanwhile cancels this: the call is settled for what was
        generated; otherwise the caller settles it with `finish` once the answer is out."""
        try:
            async for _ in self.events():
                pass
        except asyncio.CancelledError:
            await self.finish(cancelled=True)
            raise

    async def settled_events(self) -> AsyncIterator[Event]:
        """The events, settled once they end; when the consumer went away (a streaming
        response's feed cancels this), settled for what was generated: the upstream call is
        already closed by routing. What every streamed wire format renders."""
        try:
            async for event in self.events():
                yield event
        except BaseException:
            await self.finish(cancelled=True)
            raise
        await self.finish()

    def _first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    @property
    def text(self) -> str:
        return "".join(self.content)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    @property
    def latency_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def final_usage(self) -> tuple[Usage, bool]:
        """The provider's usage, or our count when it reported none (second value True)."""
        if self.usage is not None:
            return self.usage, False
        generated = self._generated_text()
        if self._counted is not None and self._counted[0] == len(generated):
            return self._counted[1], True
        model = (self.answered_by or self.model).upstream
        usage = Usage(
            prompt_tokens=estimate_prompt_tokens(self.request.messages, model=model),
            completion_tokens=estimate_text_tokens(generated, model=model),
            reasoning_tokens=estimate_text_tokens(self.reasoning_text, model=model),
        )
        # Renderers, the cost and the settlement all ask: tokenize once per text.
        self._counted = (len(generated), usage)
        return usage, True

    def _generated_text(self) -> str:
        return (
            self.text
            + self.reasoning_text
            + "".join("".join(t.arguments) for t in self.tool_calls.values())
        )

    async def acount_usage(self) -> None:
        """Count the tokens off the event loop when that is slow (a long text, or the first use
        of an encoding); final_usage then answers from the count."""
        if self.usage is not None:
            return
        model = (self.answered_by or self.model).upstream
        size = len(self._generated_text()) + sum(
            len(str(m.get("content") or "")) for m in self.request.messages
        )
        if size >= LONG_TEXT_BYTES or not encoding_loaded(encoding_name_for(model)):
            await asyncio.to_thread(self.final_usage)

    @property
    def prices(self) -> Prices:
        """Calls are charged at the prices of the model that answered."""
        return answer_prices(self.answered_by or self.model)

    def _charges_usage(self) -> bool:
        """A failed provider call is not charged; but a stream the provider left idle past
        PROVIDER_IDLE_TIMEOUT after tokens flowed pays for what it delivered."""
        if self.error is None:
            return True
        return self.error.code == "provider_timeout" and self.first_token_at is not None

    def cost(self) -> Decimal:
        """What `finish` will charge when the call ends normally: the usage at the answering
        model's prices, at most what was held (nothing if the provider failed)."""
        if not self._charges_usage():
            return Decimal(0)
        usage, _ = self.final_usage()
        return min(
            token_cost(
                prices=self.prices,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                cache_write_tokens=usage.cache_write_tokens,
            ),
            self.hold.amount,
        )

    async def finish(self, *, cancelled: bool = False) -> UsageRecord:
        """Settle once, whoever asks first: record, charge what was used (at most the hold),
        release the hold. Shielded: a cancel arriving meanwhile (the client hung up) cannot
        interrupt it; the caller is cancelled, the settlement goes on."""
        if self._settling is None:
            self._settling = asyncio.ensure_future(self._finish(cancelled=cancelled))
        return await asyncio.shield(self._settling)

    async def _finish(self, *, cancelled: bool) -> UsageRecord:
        await self.acount_usage()
        usage, estimated = self.final_usage()
        generated_anything = bool(self.content or self.reasoning or self.tool_calls)
        if self.error is not None and not cancelled:
            status = UsageRecord.Status.ERROR
        elif cancelled:
            status = UsageRecord.Status.CANCELLED
        else:
            status = UsageRecord.Status.OK
        if (cancelled and not generated_anything and self.meta is None) or (
            status == UsageRecord.Status.ERROR and not self._charges_usage()
        ):
            # Nothing reached the client, or the provider failed: nothing to charge.
            usage = Usage(prompt_tokens=0, completion_tokens=0)
        record = usage_record(
            request_id=self.request_id,
            user_id=self.caller.user_id,
            api_key_id=self.caller.api_key_id,
            endpoint=self.endpoint,
            model=self.model.public_id,
            provider=self.meta.provider if self.meta else "",
            upstream_model=self.meta.upstream_model if self.meta else "",
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            tokens_estimated=estimated,
            latency_ms=self.latency_ms,
            time_to_first_token_ms=(
                int((self.first_token_at - self.started) * 1000) if self.first_token_at else None
            ),
            status=status,
            error_code=self.error.code if self.error else "",
        )
        try:
            self.record = await settle(record=record, prices=self.prices, hold=self.hold)
        finally:
            process_keeper.untrack(self.request_id)
        if self.rate_category is not None:
            # The prompt was counted when the call started; now what it generated.
            await arate_count_tokens(
                caller=self.caller, tokens=record.completion_tokens, category=self.rate_category
            )
        return self.record

    def progress(self) -> dict:
        """What the process keeper writes with each heartbeat, so that a sweep can charge this
        call for what it generated should the process die (billing/process_keeper.py)."""
        usage, _ = self.final_usage()
        prices = self.prices
        return {
            "user_id": self.caller.user_id,
            "api_key_id": self.caller.api_key_id,
            "endpoint": self.endpoint,
            "model": self.model.public_id,
            "provider": self.meta.provider if self.meta else "",
            "upstream_model": self.meta.upstream_model if self.meta else "",
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens if self.first_token_at else 0,
            "input_price": str(prices.input),
            "output_price": str(prices.output),
            "held": str(self.hold.amount),
            "lease": self.hold.lease_id,
        }


def worst_case_cost(chain: list[AiModel], request: ChatRequest) -> Decimal:
    """The most the call can cost, whichever of the model and its fallbacks answers."""
    prompt_tokens = cautious_prompt_tokens(request.messages)
    return max(
        max(
            # The prompt at its dearest: all of it written to the prompt cache, where a
            # provider charges more for that than for plain input.
            token_cost(
                prices=answer_prices(candidate),
                prompt_tokens=prompt_tokens,
                completion_tokens=min(request.max_tokens, candidate.max_output_tokens),
                cache_write_tokens=written,
            )
            for written in (0, prompt_tokens)
        )
        for candidate in chain
    )


async def start_chat(
    *,
    caller: Caller,
    model_id: str,
    request: ChatRequest,
    endpoint: str,
    stream: bool,
    request_id: str | None = None,
    rate_category: str | None = "chat",
) -> ChatCall:
    """Everything that can refuse a call happens here, before any provider is asked.
    `rate_category` None is for calls the platform makes on the user's behalf (titles)."""
    # First: a model the key may not use costs the caller nothing, not even a request's rate.
    require_model_allowed(allowed_models=caller.allowed_models, model_id=model_id)
    rate = RateCheck(headers={})
    if rate_category is not None:
        rate = await arate_check(
            caller=caller,
            category=rate_category,
            tokens=await aestimate_prompt_tokens(request.messages, model=model_id),
        )
    model = await resolve_model(model_id, kind=AiModel.Kind.CHAT)
    await require_model_access(user_id=caller.user_id, model=model)
    chain = candidates(model, current_catalogue())
    if any(fallback.pro_only for fallback in chain[1:]):
        premium = (await aentitlements_for(user_id=caller.user_id)).premium_models
        chain = candidates(model, current_catalogue(), premium=premium)
    chain = honouring_chain(chain, request)
    if has_images(request.messages):
        if not model.vision:
            raise ApiError(
                400,
                "model_not_vision",
                f"Model '{model.public_id}' does not accept images; choose a vision model.",
                param="model",
            )
        await inline_images(request.messages)
    # Capped at the model's limit; unset means the platform default (the cost reserved up
    # front is for max_tokens, so "as much as the model allows" would lock up a lot of credit).
    request.max_tokens = min(
        request.max_tokens or settings.DEFAULT_MAX_TOKENS, model.max_output_tokens
    )
    request_id = request_id or new_request_id()
    log_context.adopt_usage_id(request_id)
    log_context.bind(model=model.public_id)
    hold = await hold_credit(
        user_id=caller.user_id,
        api_key_id=caller.api_key_id,
        api_key_limit=caller.api_key_limit,
        request_id=request_id,
        amount=worst_case_cost(chain, request),
    )
    call = ChatCall(
        request_id=request_id,
        caller=caller,
        model=model,
        request=request,
        endpoint=endpoint,
        stream=stream,
        chain=chain,
        hold=hold,
        rate=rate,
        rate_category=rate_category,
    )
    if hold.amount:
        process_keeper.track(request_id, call.progress)
    return call
