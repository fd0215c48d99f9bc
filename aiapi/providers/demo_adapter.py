"""The built-in demo provider: no network, no AI. It answers with a fixed explanation (and
says plainly that it is a demo) so a fresh `make run` can chat out of the box."""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import re
import textwrap
from collections.abc import AsyncIterator

from aiapi.events import ContentDelta, Done, Event, ReasoningDelta, Usage
from aiapi.providers.base import (
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResult,
    ImageRequest,
    ImageResult,
    SpeechRequest,
    SpeechResult,
    TranscriptionRequest,
    TranscriptionResult,
    not_offered,
)
from aiapi.token_count import estimate_prompt_tokens, estimate_text_tokens

EMBEDDING_DIMENSIONS = 256
DEMO_IMAGE_SIZE = 512
DEMO_IMAGE_MAX_SIDE = 1024
_WORDS = re.compile(r"\S+\s*")


def _last_user_text(messages: list[dict]) -> tuple[str, int]:
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content, 0
        texts = [p.get("text", "") for p in content or () if p.get("type") == "text"]
        images = sum(1 for p in content or () if p.get("type") == "image_url")
        return " ".join(texts), images
    return "", 0


def demo_reply(messages: list[dict]) -> str:
    text, images = _last_user_text(messages)
    quoted = " ".join(text.split())
    if len(quoted) > 160:
        quoted = quoted[:157] + "..."
    parts = [
        "This is the Chuk Chat demo model: no AI provider is configured, so this reply is "
        "generated locally and does not come from a real AI."
    ]
    if quoted:
        parts.append(f'You wrote: "{quoted}".')
    if images:
        parts.append(f"You attached {images} image{'s' if images != 1 else ''}.")
    parts.append(
        "Set ANTHROPIC_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY, or load a catalogue with "
        "`manage.py loadmodels`, to chat with real models."
    )
    return " ".join(parts)


def demo_reasoning(messages: list[dict]) -> str:
    return (
        "The user sent a message. I am the offline demo model, so the honest answer is to say "
        "so and explain how to connect a real provider."
    )


def demo_embedding(text: str, dimensions: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _demo_image_size(size: str | None) -> tuple[int, int]:
    width, _, height = (size or "").partition("x")
    if width.isdigit() and height.isdigit():
        return (
            max(64, min(int(width), DEMO_IMAGE_MAX_SIDE)),
            max(64, min(int(height), DEMO_IMAGE_MAX_SIDE)),
        )
    return DEMO_IMAGE_SIZE, DEMO_IMAGE_SIZE


def demo_image(prompt: str, index: int, size: str | None) -> bytes:
    """A placeholder PNG that says, on the picture itself, that it is a demo and not AI art:
    a colour derived from the prompt, hatched, with the words DEMO IMAGE and the prompt."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = _demo_image_size(size)
    digest = hashlib.sha256(f"{prompt}:{index}".encode()).digest()
    background = (64 + digest[0] // 2, 64 + digest[1] // 2, 64 + digest[2] // 2)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    for offset in range(-height, width, 24):
        draw.line([(offset, height), (offset + height, 0)], fill=(255, 255, 255), width=2)
    banner = max(48, height // 4)
    top = (height - banner) // 2
    draw.rectangle([0, top, width, top + banner], fill=(20, 20, 20))
    title = ImageFont.load_default(size=max(14, banner // 3))
    small = ImageFont.load_default(size=max(10, banner // 8))
    draw.text((width // 2, top + banner // 3), "DEMO IMAGE", font=title, anchor="mm", fill="white")
    caption = textwrap.shorten(f"not AI-generated. Prompt: {prompt}", width=max(20, width // 9))
    draw.text((width // 2, top + 3 * banner // 4), caption, font=small, anchor="mm", fill="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class DemoAdapter:
    def __init__(self, *, provider_name: str, token_delay: float) -> None:
        self.provider_name = provider_name
        self.token_delay = token_delay

    def is_configured(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    async def chat(
        self, upstream: str, request: ChatRequest, *, stream: bool
    ) -> AsyncIterator[Event]:
        reasoning = demo_reasoning(request.messages) if "reasoning" in upstream else ""
        words = _WORDS.findall(demo_reply(request.messages))
        finish = "stop"
        if len(words) > request.max_tokens:
            words, finish = words[: request.max_tokens], "length"
        if reasoning:
            for word in _WORDS.findall(reasoning) if stream else [reasoning]:
                if stream and self.token_delay:
                    await asyncio.sleep(self.token_delay)
                yield ReasoningDelta(word)
        for word in words if stream else ["".join(words)]:
            if stream and self.token_delay:
                await asyncio.sleep(self.token_delay)
            yield ContentDelta(word)
        yield Usage(
            prompt_tokens=estimate_prompt_tokens(request.messages),
            completion_tokens=len(words),
            reasoning_tokens=estimate_text_tokens(reasoning),
        )
        yield Done(finish_reason=finish)

    async def embed(self, upstream: str, request: EmbeddingRequest) -> EmbeddingResult:
        dimensions = request.dimensions or EMBEDDING_DIMENSIONS
        return EmbeddingResult(
            vectors=[demo_embedding(text, dimensions) for text in request.input],
            prompt_tokens=sum(estimate_text_tokens(text) for text in request.input),
        )

    async def transcribe(self, upstream: str, request: TranscriptionRequest) -> TranscriptionResult:
        raise not_offered("transcription")

    async def generate_images(self, upstream: str, request: ImageRequest) -> ImageResult:
        images = await asyncio.to_thread(
            lambda: [demo_image(request.prompt, i, request.size) for i in range(request.n)]
        )
        return ImageResult(images=images, revised_prompts=[None] * request.n)

    async def speak(self, upstream: str, request: SpeechRequest) -> SpeechResult:
        raise not_offered("speech")
