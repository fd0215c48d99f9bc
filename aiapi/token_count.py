"""Counting tokens without a tokenizer download.

tiktoken's encodings are fetched from the network on first use, which this platform must not
need. When a provider reports no usage we estimate instead: about 4 bytes of UTF-8 per token
(OpenAI's own rule of thumb for English), 4 tokens of framing per message, and a flat cost per
image. Reservations use the cautious variant (3 bytes per token) so an estimate that runs low
never lets a request spend past the balance.
"""

import math

MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3
IMAGE_TOKENS = 765  # OpenAI's cost of a high-detail 512x512 tile set; a fair flat figure


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


def _message_tokens(messages: list[dict], bytes_per_token: float) -> int:
    total = REPLY_PRIMING
    for message in messages:
        text, images = _content_text_and_images(message.get("content"))
        for call in message.get("tool_calls") or ():
            text += call.get("function", {}).get("name", "")
            text += call.get("function", {}).get("arguments", "")
        total += MESSAGE_OVERHEAD + math.ceil(len(text.encode()) / bytes_per_token)
        total += images * IMAGE_TOKENS
    return total


def estimate_prompt_tokens(messages: list[dict]) -> int:
    return _message_tokens(messages, 4)


def cautious_prompt_tokens(messages: list[dict]) -> int:
    return _message_tokens(messages, 3)


def estimate_text_tokens(text: str) -> int:
    return math.ceil(len(text.encode()) / 4) if text else 0
