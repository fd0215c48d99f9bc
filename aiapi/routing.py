"""Routing a call to a model's provider, and on to its fallbacks when the provider fails before
the first token. Once tokens flow, a failure ends the stream with an error event instead: the
client has already seen part of one answer and must not get the start of another."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

from django.conf import settings

from aiapi.events import ErrorEvent, Event, Meta
from aiapi.models import AiModel
from aiapi.providers import adapter_for
from aiapi.providers.base import (
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResult,
    ImageRequest,
    ImageResult,
    ProviderFailure,
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
)
from aiapi.selectors import Catalogue, aactive_catalogue
from chukchat import log_context, metrics

logger = logging.getLogger(__name__)


def candidates(model: AiModel, catalogue: Catalogue, *, premium: bool = True) -> list[AiModel]:
    """The model, then its fallbacks that are active and of the same kind, in order; without
    `premium`, fallbacks reserved for premium plans are left out (a Free user's call must not
    be answered by a model their plan does not include)."""
    models = catalogue.models
    chain = [model]
    for public_id in model.fallbacks:
        fallback = models.get(public_id)
        if (
            fallback is not None
            and fallback.kind == model.kind
            and fallback not in chain
            and (premium or not fallback.pro_only)
        ):
            chain.append(fallback)
    return chain


def serving_model(model: AiModel, catalogue: Catalogue) -> AiModel | None:
    """The model that would answer a call to `model` now: the first of its chain whose provider
    can be called (the demo and local engines always can; the others once they have a key),
    as route_chat tries them. None when none can."""
    for candidate in candidates(model, catalogue):
        provider = candidate.provider
        if provider.kind in (provider.Kind.DEMO, provider.Kind.LOCAL) or provider.get_api_key():
            return candidate
    return None


def _failure_event(failure: ProviderFailure | None) -> ErrorEvent:
    if failure is not None and failure.rejected:
        # The request itself is bad: the caller's to fix, not an outage to retry.
        return ErrorEvent(400, "provider_rejected_request", failure.message)
    if failure is not None and failure.timeout:
        return ErrorEvent(504, "provider_timeout", "The model's provider did not answer in time.")
    if failure is not None and failure.status is not None and not failure.retryable:
        return ErrorEvent(502, "provider_error", failure.message)
    return ErrorEvent(502, "provider_error", "The model's provider is unavailable. Try again.")


def _timeouts(model: AiModel) -> tuple[float, float]:
    provider = model.provider
    return (
        provider.first_token_timeout or settings.PROVIDER_FIRST_TOKEN_TIMEOUT,
        provider.total_timeout or settings.PROVIDER_TOTAL_TIMEOUT,
    )


async def route_chat(
    *, chain: list[AiModel], request: ChatRequest, stream: bool
) -> AsyncIterator[Event]:
    """Meta, then the answering provider's events; or a single ErrorEvent. `chain` is the
    model and the fallbacks to try (`candidates`)."""
    failure: ProviderFailure | None = None
    loop = asyncio.get_running_loop()
    for candidate in chain:
        adapter = adapter_for(candidate.provider)
        if not adapter.is_configured():
            failure = ProviderFailure("The provider has no credentials.", retryable=True)
            continue
        first_token_timeout, total_timeout = _timeouts(candidate)
        deadline = loop.time() + total_timeout
        call = dataclasses.replace(
            request,
            max_tokens=min(request.max_tokens, candidate.max_output_tokens),
            reasoning=candidate.reasoning,
        )
        events = adapter.chat(candidate.upstream, call, stream=stream)
        try:
            async with asyncio.timeout(min(first_token_timeout, total_timeout)):
                first = await anext(events)
        except (ProviderFailure, TimeoutError, StopAsyncIteration, Exception) as error:
            await events.aclose()
            failure = _as_failure(error)
            metrics.provider_failed(
                provider=candidate.provider.name, model=candidate.public_id, failure=failure
            )
            logger.warning(
                "provider %s failed before answering model %s: %s",
                candidate.provider.name,
                candidate.public_id,
                failure.message,
            )
            if not failure.retryable:
                break
            continue
        if candidate is not chain[0]:
            metrics.fallback_answered(model=chain[0].public_id, fallback=candidate.public_id)
        log_context.bind(provider=candidate.provider.name)
        yield Meta(
            provider=candidate.provider.name,
            upstream_model=candidate.upstream,
            model_id=candidate.public_id,
        )
        yield first
        idle_timeout = settings.PROVIDER_IDLE_TIMEOUT
        try:
            while True:
                # Whichever comes first: the end of the call's time, or a quiet spell too long.
                async with asyncio.timeout_at(min(deadline, loop.time() + idle_timeout)):
                    event = await anext(events)
                yield event
        except StopAsyncIteration:
            return
        except TimeoutError:
            yield ErrorEvent(504, "provider_timeout", "The model's provider stopped answering.")
        except ProviderFailure as error:
            yield ErrorEvent(502, "provider_error", error.message)
        except Exception:
            logger.exception("provider %s broke off a stream", candidate.provider.name)
            yield ErrorEvent(502, "provider_error", "The provider's answer broke off.")
        finally:
            await events.aclose()
        return
    yield _failure_event(failure)


def _as_failure(error: BaseException) -> ProviderFailure:
    if isinstance(error, ProviderFailure):
        return error
    if isinstance(error, TimeoutError):
        return ProviderFailure(
            "The provider timed out before the first token.", retryable=True, timeout=True
        )
    if isinstance(error, StopAsyncIteration):
        return ProviderFailure("The provider sent nothing.", retryable=True)
    return ProviderFailure("The provider sent a response we could not read.", retryable=True)


async def route_embeddings(
    *, model: AiModel, request: EmbeddingRequest
) -> tuple[AiModel, EmbeddingResult]:
    failure: ProviderFailure | None = None
    for candidate in candidates(model, await aactive_catalogue()):
        adapter = adapter_for(candidate.provider)
        if not adapter.is_configured():
            failure = ProviderFailure("The provider has no credentials.", retryable=True)
            continue
        _, total_timeout = _timeouts(candidate)
        try:
            async with asyncio.timeout(total_timeout):
                return candidate, await adapter.embed(candidate.upstream, request)
        except (ProviderFailure, TimeoutError) as error:
            failure = _as_failure(error)
            metrics.provider_failed(
                provider=candidate.provider.name, model=candidate.public_id, failure=failure
            )
            if not failure.retryable:
                break
    event = _failure_event(failure)
    from chukchat.errors import ApiError

    raise ApiError(event.status, event.code, event.message)


async def _route_media(model: AiModel, call) -> tuple[AiModel, object]:
    """`call(adapter, candidate)` on the model's provider, then its fallbacks, as for
    embeddings: the first that answers wins; ApiError 502/504 when none does."""
    failure: ProviderFailure | None = None
    for candidate in candidates(model, await aactive_catalogue()):
        adapter = adapter_for(candidate.provider)
        if not adapter.is_configured():
            failure = ProviderFailure("The provider has no credentials.", retryable=True)
            continue
        _, total_timeout = _timeouts(candidate)
        try:
            async with asyncio.timeout(total_timeout):
                return candidate, await call(adapter, candidate)
        except (ProviderFailure, TimeoutError) as error:
            failure = _as_failure(error)
            metrics.provider_failed(
                provider=candidate.provider.name, model=candidate.public_id, failure=failure
            )
            logger.warning(
                "provider %s failed model %s: %s",
                candidate.provider.name,
                candidate.public_id,
                failure.message,
            )
            if not failure.retryable:
                break
    event = _failure_event(failure)
    from chukchat.errors import ApiError

    raise ApiError(event.status, event.code, event.message)


async def route_transcription(
    *, model: AiModel, request: TranscriptionRequest
) -> tuple[AiModel, TranscriptionResult]:
    return await _route_media(
        model, lambda adapter, candidate: adapter.transcribe(candidate.upstream, request)
    )


async def route_images(*, model: AiModel, request: ImageRequest) -> tuple[AiModel, ImageResult]:
    return await _route_media(
        model, lambda adapter, candidate: adapter.generate_images(candidate.upstream, request)
    )


async def route_speech(*, model: AiModel, request: SpeechRequest) -> tuple[AiModel, SpeechResult]:
    return await _route_media(
        model, lambda adapter, candidate: adapter.speak(candidate.upstream, request)
    )
