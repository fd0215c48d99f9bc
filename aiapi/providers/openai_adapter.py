"""OpenAI, and every server that speaks its API (vLLM, Ollama, llama.cpp, OpenRouter, Google's
OpenAI-compatible endpoint): chat and embeddings, the hot path, over aiohttp directly
(aiapi/providers/openai_http.py); transcription, images and speech through the official `openai`
async client, imported on first use (it costs ~45 MB per process)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator

import orjson

from aiapi.events import ContentDelta, Done, Event, ReasoningDelta, ToolCallDelta, Usage
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
    TranscriptSegment,
    TranscriptWord,
)
from aiapi.providers.openai_http import OpenAIHttp, status_failure
from aiapi.providers.rejections import secrets_of

GOOGLE_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
# A generated image the provider links to rather than inlines is fetched, up to this size.
MAX_PROVIDER_IMAGE_BYTES = 64 * 1024 * 1024


def _real_timeout(error: BaseException) -> bool:
    """The aiohttp transport reports every dropped or refused connection as a timeout; only a
    cause that really is one (a TimeoutError somewhere down the chain) counts as one."""
    seen = error
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# An except clause's class is looked up only when something is raised: these keep the SDK's
# modules unimported until a call that uses them.
def _sdk_error() -> type[Exception]:
    import openai

    return openai.OpenAIError


def _httpx_error() -> type[Exception]:
    import httpx2

    return httpx2.HTTPError


def failure_from(error: Exception, *, secrets: tuple[str, ...] = ()) -> ProviderFailure:
    """Our description of an SDK error. The provider's own message is shown only when it
    rejected the request as invalid, and then sanitised (aiapi/providers/rejections.py)."""
    import openai

    if isinstance(error, openai.APITimeoutError) and _real_timeout(error):
        return ProviderFailure("The provider timed out.", retryable=True, timeout=True)
    if isinstance(error, openai.APIConnectionError):
        return ProviderFailure("The provider could not be reached.", retryable=True)
    if isinstance(error, openai.APIStatusError):
        return status_failure(error.status_code, error.body, secrets=secrets)
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
        self._secrets = secrets_of(api_key=api_key, base_url=base_url)
        self._base_url = base_url
        self._connect_timeout = connect_timeout
        self._total_timeout = total_timeout
        self.raw = OpenAIHttp(
            base_url=base_url,
            api_key=api_key,
            connect_timeout=connect_timeout,
            total_timeout=total_timeout,
            secrets=self._secrets,
        )
        self._client = None
        self._http = None

    @property
    def client(self):
        """The SDK's client, for transcription, images and speech: made on first use."""
        if self._client is None:
            import httpx2
            import openai

            timeout = httpx2.Timeout(self._total_timeout, connect=self._connect_timeout)
            limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=200)
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key or "unset",
                base_url=self._base_url or None,
                max_retries=0,  # routing decides what to try next
                timeout=timeout,
                http_client=openai.DefaultAioHttpClient(limits=limits, timeout=timeout),
            )
        return self._client

    @property
    def http(self):
        """Fetches of generated images the provider links to."""
        if self._http is None:
            import httpx2

            self._http = httpx2.AsyncClient(
                limits=httpx2.Limits(max_connections=100),
                timeout=httpx2.Timeout(self._total_timeout, connect=self._connect_timeout),
            )
        return self._http

    def is_configured(self) -> bool:
        return bool(self._api_key)

    async def aclose(self) -> None:
        await self.raw.aclose()
        if self._client is not None:
            await self._client.close()
        if self._http is not None:
            await self._http.aclose()

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
            "reasoning_effort",
            "parallel_tool_calls",
            "logprobs",
            "top_logprobs",
            "metadata",
        ):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        params.update(request.extra)
        if request.cache_control:
            params["messages"], params["tools"] = _unmarked(request.messages, request.tools)
            if params["tools"] is None:
                del params["tools"]
        if request.top_k is not None and self.kind != "openai":
            params["top_k"] = request.top_k  # not OpenAI's; servers like vLLM take it
        return params

    async def chat(
        self, upstream: str, request: ChatRequest, *, stream: bool
    ) -> AsyncIterator[Event]:
        body = self._params(upstream, request)
        if not stream:
            for event in _completion_events(await self.raw.post_json("/chat/completions", body)):
                yield event
            return
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        lines = self.raw.stream_lines("/chat/completions", body)
        try:
            async for event in _stream_events(lines):
                yield event
        finally:
            await lines.aclose()

    async def embed(self, upstream: str, request: EmbeddingRequest) -> EmbeddingResult:
        params: dict = {"model": upstream, "input": request.input, "encoding_format": "base64"}
        if request.dimensions is not None:
            params["dimensions"] = request.dimensions
        if request.user is not None:
            params["user"] = request.user
        # base64: we re-encode for our own client anyway.
        data = await self.raw.post_json("/embeddings", params)
        try:
            items = sorted(data["data"], key=lambda d: d["index"])
            vectors = [item["embedding"] for item in items]
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderFailure(
                "The provider sent a response we could not read.", retryable=False
            ) from error
        usage = data.get("usage") or {}
        return EmbeddingResult(vectors=vectors, prompt_tokens=usage.get("prompt_tokens") or 0)

    async def transcribe(self, upstream: str, request: TranscriptionRequest) -> TranscriptionResult:
        # verbose_json only when times are wanted: newer transcription models answer json alone.
        params: dict = {
            "model": upstream,
            "file": (request.filename, request.audio, request.content_type),
            "response_format": "verbose_json" if request.timestamps else "json",
        }
        for name in ("language", "prompt", "temperature"):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        try:
            raw = await self.client.audio.transcriptions.with_raw_response.create(**params)
        except _sdk_error() as error:
            raise failure_from(error, secrets=self._secrets) from error
        try:
            data = orjson.loads(raw.http_response.content)
            return TranscriptionResult(
                text=str(data["text"]).strip(),
                language=data.get("language"),
                segments=[
                    TranscriptSegment(
                        start=float(s["start"]), end=float(s["end"]), text=str(s["text"]).strip()
                    )
                    for s in data.get("segments") or ()
                ],
                words=[
                    TranscriptWord(
                        word=str(w["word"]), start=float(w["start"]), end=float(w["end"])
                    )
                    for w in data.get("words") or ()
                ],
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ProviderFailure(
                "The provider sent a response we could not read.", retryable=False
            ) from error

    async def generate_images(self, upstream: str, request: ImageRequest) -> ImageResult:
        # No response_format: older models default to URLs, newer ones only inline; both are read.
        params: dict = {"model": upstream, "prompt": request.prompt, "n": request.n}
        for name in ("size", "quality", "style", "user"):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        try:
            raw = await self.client.images.with_raw_response.generate(**params)
        except _sdk_error() as error:
            raise failure_from(error, secrets=self._secrets) from error
        try:
            items = orjson.loads(raw.http_response.content)["data"]
            images = [await self._image_bytes(item) for item in items]
            revised = [item.get("revised_prompt") for item in items]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as error:
            raise ProviderFailure(
                "The provider sent a response we could not read.", retryable=False
            ) from error
        if not images:
            raise ProviderFailure("The provider sent no image.", retryable=False)
        return ImageResult(images=images, revised_prompts=revised)

    async def speak(self, upstream: str, request: SpeechRequest) -> SpeechResult:
        params: dict = {
            "model": upstream,
            "input": request.input,
            "voice": request.voice,
            "response_format": request.response_format,
            "speed": request.speed,
        }
        if request.instructions is not None:
            params["instructions"] = request.instructions
        try:
            raw = await self.client.audio.speech.with_raw_response.create(**params)
        except _sdk_error() as error:
            raise failure_from(error, secrets=self._secrets) from error
        audio = raw.http_response.content
        content_type = raw.http_response.headers.get("content-type", "").split(";")[0].strip()
        if not audio or content_type.startswith(("application/json", "text/")):
            raise ProviderFailure("The provider sent no audio.", retryable=False)
        if request.response_format == "wav" and audio[:4] != b"RIFF":
            raise ProviderFailure(
                "The provider sent something that is not a WAV file.", retryable=False
            )
        return SpeechResult(audio=audio, content_type=content_type or "application/octet-stream")

    async def _image_bytes(self, item: dict) -> bytes:
        if item.get("b64_json"):
            return base64.b64decode(item["b64_json"], validate=True)
        url = item.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError("an image item has neither b64_json nor an http(s) url")
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ProviderFailure(
                        f"The provider's image link answered HTTP {response.status_code}.",
                        retryable=False,
                    )
                body = bytearray()
                async for piece in response.aiter_bytes():
                    body.extend(piece)
                    if len(body) > MAX_PROVIDER_IMAGE_BYTES:
                        raise ProviderFailure("The provider's image is too large.", retryable=False)
                return bytes(body)
        except _httpx_error() as error:
            raise ProviderFailure(
                "The provider's image could not be fetched.", retryable=True
            ) from error


def _without_mark(item: dict) -> dict:
    return {key: value for key, value in item.items() if key != "cache_control"}


def _unmarked(messages: list[dict], tools: list[dict] | None) -> tuple[list, list | None]:
    """Messages and tools without Anthropic's cache_control marks, which OpenAI-kind servers
    do not know (aiapi/wire/anthropic_messages.py keeps them for Anthropic-kind ones)."""
    cleaned = []
    for message in messages:
        message = _without_mark(message)
        if isinstance(message.get("content"), list):
            message["content"] = [_without_mark(part) for part in message["content"]]
        cleaned.append(message)
    return cleaned, None if tools is None else [_without_mark(tool) for tool in tools]


def _reasoning_of(obj: dict) -> str | None:
    return obj.get("reasoning_content") or obj.get("reasoning")


def _usage_event(usage: dict) -> Usage:
    details = usage.get("completion_tokens_details") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        reasoning_tokens=details.get("reasoning_tokens") or 0,
        cached_tokens=prompt_details.get("cached_tokens") or 0,
    )


def _logprobs_of(choice: dict) -> list[dict] | None:
    logprobs = choice.get("logprobs")
    return (logprobs.get("content") or None) if isinstance(logprobs, dict) else None


def _completion_events(response: dict) -> list[Event]:
    if "error" in response:
        raise ProviderFailure("The provider answered with an error.", retryable=True)
    events: list[Event] = []
    choices = response.get("choices") or []
    choice = choices[0] if choices else None
    if choice is not None:
        message = choice.get("message") or {}
        reasoning = _reasoning_of(message)
        if reasoning:
            events.append(ReasoningDelta(reasoning))
        if message.get("content"):
            events.append(ContentDelta(message["content"], logprobs=_logprobs_of(choice)))
        for index, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            events.append(
                ToolCallDelta(
                    index=index,
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
    if response.get("usage"):
        events.append(_usage_event(response["usage"]))
    events.append(Done(finish_reason=(choice or {}).get("finish_reason") or "stop"))
    return events


async def _stream_events(lines) -> AsyncIterator[Event]:
    finish_reason = None
    async for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments, event names
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ProviderFailure(
                "The provider sent a chunk we could not read.", retryable=False
            ) from error
        if "error" in chunk:
            raise ProviderFailure("The provider reported an error mid-stream.", retryable=False)
        if chunk.get("usage"):
            yield _usage_event(chunk["usage"])
        choices = chunk.get("choices")
        if not choices:
            continue
        choice = choices[0]
        delta = choice.get("delta")
        if delta:
            reasoning = _reasoning_of(delta)
            if reasoning:
                yield ReasoningDelta(reasoning)
            content = delta.get("content")
            if content:
                yield ContentDelta(content, logprobs=_logprobs_of(choice))
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                yield ToolCallDelta(
                    index=call.get("index", 0),
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
        if choice.get("finish_reason"):
            finish_reason = choice["finish_reason"]
    if finish_reason is None:
        raise ProviderFailure("The provider's stream ended before it finished.", retryable=False)
    yield Done(finish_reason=finish_reason)
