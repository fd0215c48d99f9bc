"""What an adapter is, and how a provider's failure is described to routing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiapi.events import Event


@dataclass(slots=True)
class ChatRequest:
    """A chat call in provider-neutral form. Messages are OpenAI-shaped dicts (roles system,
    user, assistant, tool; content a string or a list of text / image_url parts with images
    already inlined as data URIs)."""

    messages: list[dict]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: dict | None = None
    tools: list[dict] | None = None
    tool_choice: str | dict | None = None
    user: str | None = None
    reasoning: bool = False  # the model reasons; ask the provider to show it
    # Tokens the client allows for extended thinking (Anthropic's `thinking.budget_tokens`);
    # 0 when the client turned thinking off, None for the provider's default. Only
    # Anthropic-kind providers take it; the catalogue still decides whether a model reasons.
    thinking_budget: int | None = None
    # Some message parts, tool messages or tools carry Anthropic's `cache_control` marks (from
    # the Messages API): Anthropic-kind providers are sent them, the others never see them.
    cache_control: bool = False
    # How hard a reasoning model thinks (OpenAI's reasoning_effort): OpenAI-kind providers are
    # sent it as is, Anthropic-kind ones a thinking budget for it.
    reasoning_effort: str | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    metadata: dict[str, str] | None = None
    # OpenAI request fields with no neutral meaning (store, service_tier, prediction, ...):
    # sent only to OpenAI-kind providers; a model of another kind refuses them (400).
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class EmbeddingRequest:
    input: list[str]
    encoding_format: str = "float"
    dimensions: int | None = None
    user: str | None = None


@dataclass(slots=True)
class EmbeddingResult:
    # Each vector as floats, or as OpenAI's base64 of little-endian float32 (passed through
    # untouched when the client asked for base64 too).
    vectors: list[list[float] | str]
    prompt_tokens: int


@dataclass(slots=True)
class TranscriptionRequest:
    audio: bytes  # the file as uploaded: what providers are sent
    filename: str
    content_type: str
    pcm16k: bytes  # the same audio decoded to 16 kHz mono signed 16-bit: what local engines read
    duration: float  # seconds
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    timestamps: bool = False  # segments with times wanted (verbose_json, srt, vtt)
    # Called with the fraction done (0..1) by engines that know it; may raise to stop the work.
    progress: Callable[[float], None] | None = None


@dataclass(slots=True)
class TranscriptSegment:
    start: float
    end: float
    text: str


@dataclass(slots=True)
class TranscriptWord:
    word: str
    start: float
    end: float


@dataclass(slots=True)
class TranscriptionResult:
    text: str
    language: str | None = None
    segments: list[TranscriptSegment] = field(default_factory=list)
    words: list[TranscriptWord] = field(default_factory=list)


@dataclass(slots=True)
class ImageRequest:
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    user: str | None = None


@dataclass(slots=True)
class ImageResult:
    images: list[bytes]  # encoded image files (PNG, JPEG or WEBP), as the provider made them
    revised_prompts: list[str | None] = field(default_factory=list)


@dataclass(slots=True)
class SpeechRequest:
    input: str
    voice: str | dict  # an OpenAI voice name, or a custom voice ({"id": ...}) for OpenAI itself
    response_format: str = "mp3"  # mp3 | opus | aac | flac | wav | pcm
    speed: float = 1.0
    instructions: str | None = None


@dataclass(slots=True)
class SpeechResult:
    audio: bytes  # the encoded file, in the request's response_format
    content_type: str


class ProviderFailure(Exception):
    """A provider call failed before answering. `retryable` failures (5xx, 429, timeouts,
    refused connections, our own missing credentials) send routing on to the fallbacks.
    `rejected`: the provider refused the request itself as invalid (aiapi/providers/
    rejections.py); the message is then safe to show the caller."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool,
        timeout: bool = False,
        rejected: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.timeout = timeout
        self.rejected = rejected


class Adapter(Protocol):
    provider_name: str

    def is_configured(self) -> bool: ...

    def chat(self, upstream: str, request: ChatRequest, *, stream: bool) -> AsyncIterator[Event]:
        """Events for one call. Raises ProviderFailure before the first event when the call
        fails to start; once events flow, a failure ends the iterator with an exception."""
        ...

    async def embed(self, upstream: str, request: EmbeddingRequest) -> EmbeddingResult: ...

    async def transcribe(
        self, upstream: str, request: TranscriptionRequest
    ) -> TranscriptionResult: ...

    async def generate_images(self, upstream: str, request: ImageRequest) -> ImageResult: ...

    async def speak(self, upstream: str, request: SpeechRequest) -> SpeechResult: ...


def not_offered(what: str) -> ProviderFailure:
    """A provider asked for something it does not do: a catalogue mistake, not an outage."""
    return ProviderFailure(f"This provider offers no {what}.", retryable=False)


class UnconfiguredAdapter:
    """A provider with no credentials: routing skips it and goes on to the fallbacks."""

    def __init__(self, *, provider_name: str) -> None:
        self.provider_name = provider_name

    def is_configured(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None

    def chat(self, upstream: str, request: ChatRequest, *, stream: bool):
        raise ProviderFailure("The provider has no credentials.", retryable=True)

    async def embed(self, upstream: str, request: EmbeddingRequest) -> EmbeddingResult:
        raise ProviderFailure("The provider has no credentials.", retryable=True)

    async def transcribe(self, upstream: str, request: TranscriptionRequest) -> TranscriptionResult:
        raise ProviderFailure("The provider has no credentials.", retryable=True)

    async def generate_images(self, upstream: str, request: ImageRequest) -> ImageResult:
        raise ProviderFailure("The provider has no credentials.", retryable=True)

    async def speak(self, upstream: str, request: SpeechRequest) -> SpeechResult:
        raise ProviderFailure("The provider has no credentials.", retryable=True)
