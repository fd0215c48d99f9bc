"""Engines that run on our own Celery workers, no network: offline transcription (PocketSphinx).
The engine itself lives with the media tools; this adapter only hands it the decoded audio."""

from __future__ import annotations

import asyncio

from aiapi.providers.base import (
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResult,
    ImageRequest,
    ImageResult,
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
