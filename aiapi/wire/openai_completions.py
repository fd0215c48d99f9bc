"""OpenAI's legacy completions on the wire: a `POST /v1/completions` body read as one chat
request per prompt (the prompt is the user's message), and the answers written back as
`text_completion` objects, streamed (`data: {...}` lines, then `[DONE]`) or not.

Both shapes are the one `CreateCompletionResponse` of OpenAI's spec; as OpenAI sends them,
the chunks before a choice's last carry `finish_reason: null`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

import orjson

from aiapi.chat_input import ChatInput, bad, parse_chat_input
from aiapi.events import Usage

MAX_PROMPTS = 16
FIELDS = {
    "model",
    "prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "stream",
    "stream_options",
    "user",
    "echo",
    "n",
    "best_of",
    "suffix",
    "logprobs",
    "logit_bias",
}
FINISH_REASONS = {"stop", "length", "content_filter"}


@dataclass(slots=True)
class CompletionsInput:
    prompts: list[str]
    chats: list[ChatInput]  # one chat call per prompt, in order
    stream: bool
    include_usage: bool
    echo: bool


def _prompts(prompt) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if (
        isinstance(prompt, list)
        and prompt
        and len(prompt) <= MAX_PROMPTS
        and all(isinstance(p, str) for p in prompt)
    ):
        return prompt
    raise bad(
        f"prompt must be a string or an array of 1 to {MAX_PROMPTS} strings "
        "(token arrays are not supported)",
        param="prompt",
    )


def parse_completions_request(body: dict) -> CompletionsInput:
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise bad(
            f"unsupported parameter {unknown[0]!r}", param=unknown[0], code="unsupported_parameter"
        )
    prompts = _prompts(body.get("prompt"))
    for name, allowed in (("best_of", (None, 1)), ("suffix", (None, "")), ("logprobs", (None,))):
        if body.get(name) not in allowed:
            raise bad(f"{name} is not supported", param=name, code="unsupported_parameter")
    if body.get("logit_bias") not in (None, {}):
        raise bad("logit_bias is not supported", param="logit_bias", code="unsupported_parameter")
    echo = body.get("echo", False)
    if not isinstance(echo, bool):
        raise bad("echo must be true or false", param="echo")
    passed = {k: v for k, v in body.items() if k not in ("prompt", "echo", "best_of", "suffix")}
    passed.pop("logprobs", None)
    passed.pop("logit_bias", None)
    chats = [
        parse_chat_input({**passed, "messages": [{"role": "user", "content": prompt}]})
        for prompt in prompts
    ]
    return CompletionsInput(
        prompts=prompts,
        chats=chats,
        stream=chats[0].stream,
        include_usage=chats[0].include_usage,
        echo=echo,
    )


def finish_reason(reason: str | None) -> str:
    # tool_calls cannot happen here (no tools on this wire); anything else unknown is a stop.
    return reason if reason in FINISH_REASONS else "stop"


def usage_payload(usages: list[Usage], cost: Decimal) -> dict:
    prompt = sum(u.prompt_tokens for u in usages)
    completion = sum(u.completion_tokens for u in usages)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": sum(u.reasoning_tokens for u in usages)},
        "cost": float(cost),  # the exact figure is the x-chuk-cost header
    }


def _base(completion_id: str, model: str, created: int) -> dict:
    return {"id": completion_id, "object": "text_completion", "created": created, "model": model}


def completion_payload(
    *, completion_id: str, model: str, texts: list[str], reasons: list[str | None], usage: dict
) -> dict:
    return {
        **_base(completion_id, model, int(time.time())),
        "choices": [
            {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason(r)}
            for index, (text, r) in enumerate(zip(texts, reasons, strict=True))
        ],
        "usage": usage,
    }


class ChunkWriter:
    """`data: {...}` lines of one streamed completion, every prompt's choice in turn."""

    def __init__(self, *, completion_id: str, model: str) -> None:
        self.base = _base(completion_id, model, int(time.time()))

    def _line(self, payload: dict) -> bytes:
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def text(self, index: int, text: str, reason: str | None = None) -> bytes:
        choice = {"text": text, "index": index, "logprobs": None, "finish_reason": reason}
        return self._line({**self.base, "choices": [choice]})

    def finish(self, index: int, reason: str | None) -> bytes:
        return self.text(index, "", finish_reason(reason))

    def end(self, usage: dict | None) -> bytes:
        """After the last choice: usage in a chunk of its own when asked for, then [DONE]."""
        tail = self._line({**self.base, "choices": [], "usage": usage}) if usage else b""
        return tail + b"data: [DONE]\n\n"

    def error(self, payload: dict) -> bytes:
        return self._line(payload)
