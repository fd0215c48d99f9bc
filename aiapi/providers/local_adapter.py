"""Engines that run on our own machines, no network: offline transcription (PocketSphinx, on
the Celery workers) and speech (eSpeak NG, a child process of the web server). The engines
live with the media tools; this adapter only hands them their input."""

from __future__ import annotations

import asyncio

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
    not_offered,
)


class LocalAdapter:
    def __init__(self, *, provider_name: str) -> None:
        self.provider_name = provider_name

    def is_configured(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    def chat(self, upstream: str, request: ChatRequest, *, stream: bool):
        raise not_offered("chat")

    async def embed(self, upstream: str, request: EmbeddingRequest) -> EmbeddingResult:
        raise not_offered("embeddings")

    async def transcribe(self, upstream: str, request: TranscriptionRequest) -> TranscriptionResult:
        from media_tools.engines.transcribe_local import transcribe_pcm16k

        # CPU-bound: off the event loop. The progress callback runs in that thread too.
        return await asyncio.to_thread(transcribe_pcm16k, request.pcm16k, progress=request.progress)

    async def generate_images(self, upstream: str, request: ImageRequest) -> ImageResult:
        raise not_offered("image generation")

    async def speak(self, upstream: str, request: SpeechRequest) -> SpeechResult:
        from media_tools.engines.audio_encode import FORMATS, encode, in_audio_threads
        from media_tools.engines.speech_local import RATE, speak_pcm

        if not isinstance(request.voice, str):
            raise ProviderFailure(
                "Custom voices are not available on the offline engine.", retryable=False
            )
        pcm = await speak_pcm(request.input, voice=request.voice, speed=request.speed)
        # Encoding is CPU work too: off the event loop, in the audio threads.
        audio = await in_audio_threads(encode, pcm, rate=RATE, fmt=request.response_format)
        return SpeechResult(audio=audio, content_type=FORMATS[request.response_format].content_type)
