"""Counting tokens when a provider reports no usage, with no download at run time.

tiktoken fetches its encodings from the network on first use, which this platform must not
need. litellm ships cl100k_base and o200k_base inside its wheel (the files named as tiktoken's
own cache names them), so we load those: the file's SHA-256 is checked against the hash tiktoken
expects, and only then is tiktoken pointed at that folder, so it never reaches for the network.
OpenAI models count with their own encoding (o200k for the 4o/o-series/4.1/5 families); every
other model with cl100k, a close stand-in for the tokenizers their providers do not publish.

When no encoding can be loaded we fall back to the old estimate: about 4 bytes of UTF-8 per
token. Either way each message costs 4 tokens of framing, the reply 3 of priming, and an image
a flat figure. Reservations use the cautious variant (3 bytes per token, no tokenizer) so a
count that runs low never lets a request spend past the balance.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import logging
import math
import os
import threading
from pathlib import Path

MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3
IMAGE_TOKENS = 765  # OpenAI's cost of a high-detail 512x512 tile set; a fair flat figure
# Past this many bytes a count is worth moving off the event loop (see acount_text_tokens).
LONG_TEXT_BYTES = 32_768

# tiktoken's cache file name (sha1 of the encoding's URL) and the SHA-256 it expects.
_BUNDLED = {
    "cl100k_base": (
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "fb374d419588a4632f3f557e76b4b70aebbca790",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
DEFAULT_ENCODING = "cl100k_base"

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_encodings: dict[str, object | None] = {}  # name -> tiktoken.Encoding, or None: unavailable


def bundled_encodings_dir() -> Path | None:
    """litellm's folder of tiktoken files, found without importing litellm (slow to import)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils/tokenizers"
    return folder if folder.is_dir() else None


def _load(name: str):
    import tiktoken
    from tiktoken_ext import openai_public

    cache_name, sha256 = _BUNDLED[name]
    folder = bundled_encodings_dir()
    if folder is None:
        raise FileNotFoundError("no bundled tiktoken encodings (is litellm installed?)")
    data = (folder / cache_name).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        # tiktoken would delete a mismatching cache file and download a fresh one.
        raise ValueError(f"bundled {name} does not match tiktoken's hash")
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    try:
        loaded = tiktoken.Encoding(**getattr(openai_public, name)())
        # The Python copy of the ranks is kept only to pickle the encoding, which we never
        # do; the Rust encoder has its own. Dropped: 15 of cl100k's 42 MB in every worker.
        loaded._mergeable_ranks = None
        return loaded
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def encoding(name: str = DEFAULT_ENCODING):
    """The named tiktoken encoding, loaded once per process; None when it cannot be loaded."""
    if name in _encodings:
        return _encodings[name]
    with _lock:
        if name not in _encodings:
            try:
                _encodings[name] = _load(name)
            except Exception:
                logger.warning("tiktoken %s unavailable; estimating tokens", name, exc_info=True)
                _encodings[name] = None
    return _encodings[name]


def encoding_loaded(name: str) -> bool:
    """Whether `encoding(name)` answers at once (loaded, or known to be unavailable)."""
    return name in _encodings


@functools.lru_cache(maxsize=4096)
def encoding_name_for(model: str | None) -> str:
    """The bundled encoding that counts `model`'s tokens (cached: tiktoken's lookup raises for
    every name it does not know, which measured 3.6% of a loaded worker's CPU)."""
    if not model:
        return DEFAULT_ENCODING
    try:
        from tiktoken.model import encoding_name_for_model

        name = encoding_name_for_model(model)
    except Exception:
        return DEFAULT_ENCODING
    return name if name in _BUNDLED else DEFAULT_ENCODING


def count_text_tokens(text: str, *, model: str | None = None) -> int:
    if not text:
        return 0
    enc = encoding(encoding_name_for(model))
    if enc is None:
        return math.ceil(len(text.encode()) / 4)
    # Text that merely looks like a special token is counted as text, never refused.
    return len(enc.encode(text, disallowed_special=()))


def _needs_thread(total_chars: int, model: str | None) -> bool:
    """Loading an encoding (0.3 s for cl100k, 1.2 s for o200k) or counting a long text would
    stall the event loop: those go to a worker thread."""
    return total_chars >= LONG_TEXT_BYTES or not encoding_loaded(encoding_name_for(model))


async def acount_text_tokens(text: str, *, model: str | None = None) -> int:
    if not text or not _needs_thread(len(text), model):
        return count_text_tokens(text, model=model)
    return await asyncio.to_thread(count_text_tokens, text, model=model)


async def aestimate_prompt_tokens(messages: list[dict], *, model: str | None = None) -> int:
    texts, _ = _message_texts(messages)
    if not _needs_thread(sum(map(len, texts)), model):
        return estimate_prompt_tokens(messages, model=model)
    return await asyncio.to_thread(estimate_prompt_tokens, messages, model=model)


def _content_text_and_images(content) -> tuple[str, int]:
    if isinstance(content, str):
        return content, 0
    texts, images = [], 0
    for part in content or ():
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "image_url":
            images += 1
    return " ".join(texts), images


def _message_texts(messages: list[dict]) -> tuple[list[str], int]:
    texts, images = [], 0
    for message in messages:
        text, count = _content_text_and_images(message.get("content"))
        for call in message.get("tool_calls") or ():
            text += call.get("function", {}).get("name", "")
            text += call.get("function", {}).get("arguments", "")
        texts.append(text)
        images += count
    return texts, images


def estimate_prompt_tokens(messages: list[dict], *, model: str | None = None) -> int:
    """The prompt's tokens: the encoding's count of each message plus its framing."""
    texts, images = _message_texts(messages)
    return (
        REPLY_PRIMING
        + sum(MESSAGE_OVERHEAD + count_text_tokens(text, model=model) for text in texts)
        + images * IMAGE_TOKENS
    )


def cautious_prompt_tokens(messages: list[dict]) -> int:
    """An upper bound for reservations that needs no tokenizer: 3 bytes per token. Cheap on
    the hot path; real encodings average about 4 bytes per token on prose."""
    texts, images = _message_texts(messages)
    return (
        REPLY_PRIMING
        + sum(MESSAGE_OVERHEAD + math.ceil(len(text.encode()) / 3) for text in texts)
        + images * IMAGE_TOKENS
    )


def estimate_text_tokens(text: str, *, model: str | None = None) -> int:
    return count_text_tokens(text, model=model)
