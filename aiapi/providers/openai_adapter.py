"""OpenAI, and every server that speaks its API (vLLM, Ollama, llama.cpp, OpenRouter, Google's
OpenAI-compatible endpoint), through the official `openai` async client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import openai

from aiapi.events import ContentDelta, Done, Event, ReasoningDelta, ToolCallDelta, Usage
from aiapi.providers.base import (
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResult,
    ProviderFailure,
)

GOOGLE_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"


def failure_from(error: Exception) -> ProviderFailure:
    """Our description of an SDK error. The provider's own message stays in our logs only."""
    if isinstance(error, openai.APITimeoutError):
        return ProviderFailure("The provider timed out.", retryable=True, timeout=True)
    if isinstance(error, openai.APIConnectionError):
        return ProviderFailure("The provider could not be reached.", retryable=True)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        # 401/403/404 mean our configuration is wrong for this provider: another may serve.
        retryable = status == 429 or status >= 500 or status in (401, 403, 404)
        return ProviderFailure(
            f"The provider answered HTTP {status}.", status=status, retryable=retryable
        )
    return ProviderFailure("The provider sent a response we could not read.", retryable=False)


class OpenAIAdapter:
    def __init__(
        self,
        *,
        provider_name: str,
        kind: str,
        base_url: str,
        api_key: str,
        connect_timeout: float,
        total_timeout: float,
    ) -> None:
        self.provider_name = provider_name
        self.kind = kind
        self._api_key = api_key
        if not base_url and kind == "google":
            base_url = GOOGLE_OPENAI_BASE_URL
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "unset",
            base_url=base_url or None,
            max_retries=0,  # routing decides what to try next
            timeout=httpx2.Timeout(total_timeout, connect=connect_timeout),
            http_client=httpx2.AsyncClient(
                limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=200),
                timeout=httpx2.Timeout(total_timeout, connect=connect_timeout),
            ),
        )

    def is_configured(self) -> bool:
        return bool(self._api_key)

    async def aclose(self) -> None:
        await self.client.close()

    def _params(self, upstream: str, request: ChatRequest) -> dict:
        params: dict = {"model": upstream, "messages": request.messages}
        if self.kind == "openai":
            params["max_completion_tokens"] = request.max_tokens
        else:
            params["max_tokens"] = request.max_tokens
        for name in (
            "temperature",
            "top_p",
            "stop",
            "seed",
            "presence_penalty",
            "frequency_penalty",
            "response_format",
            "tools",
            "tool_choice",
            "user",
        ):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        extra_body = dict(request.extra)
        if request.top_k is not None and self.kind != "openai":
            extra_body["top_k"] = (
                request.top_k
            )  # not part of OpenAI's API; servers like vLLM take it
        if extra_body:
            params["extra_body"] = extra_body
        return params

    async def chat(
        self, upstream: str, request: ChatRequest, *, stream: bool
    ) -> AsyncIterator[Event]:
        params = self._params(upstream, request)
        try:
            if stream:
                response = await self.client.chat.completions.create(
                    **params, stream=True, stream_options={"include_usage": True}
                )
            else:
                response = await self.client.chat.completions.create(**params)
        except openai.OpenAIError as error:
            raise failure_from(error) from error
        if not stream:
            for event in _completion_events(response):
                yield event
            return
        try:
            async for event in _stream_events(response):
                yield event
        finally:
            await response.close()

    async def embed(self, upstream: str, request: EmbeddingRequest) -> EmbeddingResult:
        params: dict = {"model": upstream, "input": request.input, "encoding_format": "base64"}
        if request.dimensions is not None:
            params["dimensions"] = request.dimensions
        if request.user is not None:
            params["user"] = request.user
        try:
            # Raw response: we re-encode for our own client anyway, so skip the SDK's decode.
            raw = await self.client.embeddings.with_raw_response.create(**params)
        except openai.OpenAIError as error:
            raise failure_from(error) from error
        try:
            data = raw.http_response.json()
            items = sorted(data["data"], key=lambda d: d["index"])
            vectors = [item["embedding"] for item in items]
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderFailure(
                "The provider sent a response we could not read.", retryable=False
            ) from error
        usage = data.get("usage") or {}
        return EmbeddingResult(vectors=vectors, prompt_tokens=usage.get("prompt_tokens") or 0)


def _reasoning_of(obj) -> str | None:
    extra = getattr(obj, "model_extra", None) or {}
    return extra.get("reasoning_content") or extra.get("reasoning")


def _usage_event(usage) -> Usage:
    details = getattr(usage, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        reasoning_tokens=(getattr(details, "reasoning_tokens", None) or 0) if details else 0,
    )


def _completion_events(response) -> list[Event]:
    events: list[Event] = []
    choice = response.choices[0] if response.choices else None
    if choice is not None:
        message = choice.message
        reasoning = _reasoning_of(message)
        if reasoning:
            events.append(ReasoningDelta(reasoning))
        if message.content:
            events.append(ContentDelta(message.content))
        for index, call in enumerate(message.tool_calls or []):
            events.append(
                ToolCallDelta(
                    index=index,
                    id=call.id,
                    name=call.function.name,
                    arguments=call.function.arguments or "",
                )
            )
    if response.usage is not None:
        events.append(_usage_event(response.usage))
    events.append(Done(finish_reason=(choice.finish_reason if choice else None) or "stop"))
    return events


async def _stream_events(stream) -> AsyncIterator[Event]:
    finish_reason = None
    async for chunk in stream:
        if chunk.usage is not None:
            yield _usage_event(chunk.usage)
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        if delta is not None:
            reasoning = _reasoning_of(delta)
            if reasoning:
                yield ReasoningDelta(reasoning)
            if delta.content:
                yield ContentDelta(delta.content)
            for call in delta.tool_calls or ():
                function = call.function
                yield ToolCallDelta(
                    index=call.index,
                    id=call.id,
                    name=function.name if function else None,
                    arguments=(function.arguments or "") if function else "",
                )
        if choice.finish_reason:
            finish_reason = choice.finish_reason
    if finish_reason is None:
        raise ProviderFailure("The provider's stream ended before it finished.", retryable=False)
    yield Done(finish_reason=finish_reason)
