"""Validating chat input (OpenAI's request shape) into a provider-neutral ChatRequest.

Shared by the OpenAI-compatible API, the Chuk chat API and the WebSocket, so a message list
means the same thing, and is refused for the same reasons, everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from aiapi.providers.base import ChatRequest
from chukchat.errors import ApiError

ROLES = {"system", "developer", "user", "assistant", "tool"}
RESPONSE_FORMATS = {"text", "json_object", "json_schema"}
MAX_STOP_SEQUENCES = 4
AUDIO_FORMATS = {"wav", "mp3"}
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

# Chat Completions fields every provider kind honours, in our own terms (ChatRequest).
NEUTRAL_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "n", "max_tokens",
        "max_completion_tokens", "stop", "seed", "response_format", "tools", "tool_choice",
        "user", "temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty",
        "reasoning_effort", "parallel_tool_calls", "logprobs", "top_logprobs", "metadata",
    }
)  # fmt: skip
# OpenAI's own fields with no neutral meaning: passed to OpenAI-kind providers as sent, and
# refused by a model of another kind (aiapi/capabilities.py) rather than silently dropped.
OPENAI_ONLY_FIELDS = frozenset(
    {
        "audio", "modalities", "logit_bias", "prediction", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "safety_identifier", "service_tier",
        "store", "verbosity", "web_search_options", "moderation", "functions", "function_call",
    }
)  # fmt: skip


def bad(message: str, *, param: str | None = None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, param=param)


def _messages_error(message: str, index: int | None = None) -> ApiError:
    param = "messages" if index is None else f"messages[{index}]"
    return bad(message, param=param, code="invalid_messages")


def has_nul(text: str) -> bool:
    """PostgreSQL text (and jsonb) cannot hold a NUL character: text carrying one is refused
    where it comes in, rather than failing when it is stored."""
    return "\x00" in text


def _text(text: str, index: int) -> str:
    if has_nul(text):
        raise _messages_error("content must not contain NUL (\\u0000) characters", index)
    return text


def validate_content(content, index: int, *, role: str):
    if content is None:
        return None
    if isinstance(content, str):
        return _text(content, index)
    if not isinstance(content, list):
        raise _messages_error("content must be a string or an array of content parts", index)
    parts = []
    for part in content:
        if not isinstance(part, dict):
            raise _messages_error("each content part must be an object", index)
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _messages_error("a text part needs a string 'text'", index)
            parts.append({"type": "text", "text": _text(part["text"], index)})
        elif kind == "image_url":
            if role != "user":
                raise _messages_error("only user messages can carry images", index)
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise _messages_error("an image_url part needs image_url.url", index)
            _text(url, index)
            detail = image.get("detail") if isinstance(image, dict) else None
            entry = {"type": "image_url", "image_url": {"url": url}}
            if detail in ("auto", "low", "high"):
                entry["image_url"]["detail"] = detail
            parts.append(entry)
        elif kind == "input_audio":
            if role != "user":
                raise _messages_error("only user messages can carry audio", index)
            audio = part.get("input_audio")
            if (
                not isinstance(audio, dict)
                or not isinstance(audio.get("data"), str)
                or not audio["data"]
                or audio.get("format") not in AUDIO_FORMATS
            ):
                raise _messages_error(
                    "an input_audio part needs input_audio.data (base64) and a format of "
                    + " or ".join(sorted(AUDIO_FORMATS)),
                    index,
                )
            parts.append(
                {
                    "type": "input_audio",
                    "input_audio": {"data": audio["data"], "format": audio["format"]},
                }
            )
        elif kind == "file":
            parts.append(_file_part(part.get("file"), index, role=role))
        else:
            raise _messages_error(f"unsupported content part type {kind!r}", index)
    return parts


def _file_part(file, index: int, *, role: str) -> dict:
    """A document: inline as a data URI (file_data), or an id of the provider's own files."""
    if role != "user":
        raise _messages_error("only user messages can carry files", index)
    if not isinstance(file, dict):
        raise _messages_error("a file part needs file.file_data or file.file_id", index)
    entry: dict = {}
    if isinstance(file.get("file_data"), str) and file["file_data"]:
        media_type, _, data = file["file_data"].partition(";base64,")
        if not media_type.startswith("data:") or not data:
            raise _messages_error(
                "file.file_data must be a base64 data URI (data:application/pdf;base64,...)",
                index,
            )
        entry["file_data"] = _text(file["file_data"], index)
    elif isinstance(file.get("file_id"), str) and file["file_id"]:
        entry["file_id"] = _text(file["file_id"], index)
    else:
        raise _messages_error("a file part needs file.file_data or file.file_id", index)
    if isinstance(file.get("filename"), str):
        entry["filename"] = _text(file["filename"], index)
    return {"type": "file", "file": entry}


def validate_messages(messages, *, allow_empty: bool = False) -> list[dict]:
    if not isinstance(messages, list) or not (messages or allow_empty):
        raise _messages_error("messages must be a non-empty array")
    cleaned = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _messages_error("each message must be an object", index)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _messages_error(f"role must be one of {', '.join(sorted(ROLES))}", index)
        content = validate_content(message.get("content"), index, role=role)
        entry: dict = {"role": role, "content": content}
        if role == "assistant" and message.get("tool_calls") is not None:
            calls = message["tool_calls"]
            if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls
            ):
                raise _messages_error("tool_calls must be an array of function calls", index)
            entry["tool_calls"] = calls
        if role == "tool":
            if not isinstance(message.get("tool_call_id"), str):
                raise _messages_error("a tool message needs its tool_call_id", index)
            entry["tool_call_id"] = message["tool_call_id"]
        if content is None and not entry.get("tool_calls"):
            raise _messages_error("content is required", index)
        if isinstance(message.get("name"), str):
            entry["name"] = message["name"]
        cleaned.append(entry)
    return cleaned


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"{name} must be a number from {low:g} to {high:g}", param=name)
    return float(value)


def _integer(body: dict, name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad(f"{name} must be an integer of at least {low}", param=name)
    return value


@dataclass(slots=True)
class ChatInput:
    model: str
    request: ChatRequest
    requested_max_tokens: int | None
    stream: bool
    include_usage: bool


def _metadata(value) -> dict[str, str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > 16
        or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
            for k, v in value.items()
        )
    ):
        raise bad(
            "metadata must be an object of up to 16 string values (keys up to 64 characters, "
            "values up to 512)",
            param="metadata",
        )
    if any(has_nul(k) or has_nul(v) for k, v in value.items()):
        raise bad("metadata must not contain NUL (\\u0000) characters", param="metadata")
    return value


def _openai_only(body: dict, *, refuse_unknown: bool) -> dict:
    """The OpenAI-only fields, to pass on; with `refuse_unknown`, a field that is neither
    ours nor OpenAI's is a 400, as OpenAI answers it (nothing is silently dropped)."""
    if refuse_unknown:
        unknown = sorted(set(body) - NEUTRAL_FIELDS - OPENAI_ONLY_FIELDS)
        if unknown:
            raise bad(
                f"Unrecognized request argument supplied: {unknown[0]}",
                param=unknown[0],
                code="unknown_parameter",
            )
    return {name: body[name] for name in OPENAI_ONLY_FIELDS & set(body) if body[name] is not None}


def parse_chat_input(
    body: dict,
    *,
    default_model: str | None = None,
    default_max_tokens: int | None = None,
    allow_empty_messages: bool = False,
    refuse_unknown: bool = False,
) -> ChatInput:
    extra = _openai_only(body, refuse_unknown=refuse_unknown)
    model = body.get("model", default_model)
    if not isinstance(model, str) or not model:
        raise bad("model is required", param="model")
    messages = validate_messages(body.get("messages"), allow_empty=allow_empty_messages)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream must be true or false", param="stream")
    if body.get("n") not in (None, 1):
        raise bad("only n=1 is supported", param="n")

    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (
        not isinstance(stop, list)
        or len(stop) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in stop)
    ):
        raise bad("stop must be a string or up to 4 strings", param="stop")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad("seed must be an integer", param="seed")

    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict)
        or not isinstance(response_format.get("type"), str)
        or response_format["type"] not in RESPONSE_FORMATS
    ):
        raise bad(
            "response_format.type must be text, json_object or json_schema", param="response_format"
        )
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(
            isinstance(t, dict)
            and t.get("type") == "function"
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
            for t in tools
        ):
            raise bad("tools must be an array of function tools with names", param="tools")
        tools = tools or None
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and not (
        tool_choice in ("none", "auto", "required")
        or (isinstance(tool_choice, dict) and tool_choice.get("type") == "function")
    ):
        raise bad("tool_choice must be none, auto, required or a function", param="tool_choice")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise bad("stream_options must be an object", param="stream_options")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise bad("user must be a string", param="user")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise bad(
            f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}",
            param="reasoning_effort",
        )
    for name in ("parallel_tool_calls", "logprobs"):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise bad(f"{name} must be true or false", param=name)
    top_logprobs = body.get("top_logprobs")
    if top_logprobs is not None:
        if isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int):
            raise bad("top_logprobs must be an integer from 0 to 20", param="top_logprobs")
        if not 0 <= top_logprobs <= 20:
            raise bad("top_logprobs must be an integer from 0 to 20", param="top_logprobs")
        if not body.get("logprobs"):
            raise bad("top_logprobs needs logprobs set to true", param="top_logprobs")

    request = ChatRequest(
        messages=messages,
        max_tokens=max_tokens or default_max_tokens or 0,
        temperature=_number(body, "temperature", 0, 2),
        top_p=_number(body, "top_p", 0, 1),
        top_k=_integer(body, "top_k", 1),
        stop=stop,
        seed=seed,
        presence_penalty=_number(body, "presence_penalty", -2, 2),
        frequency_penalty=_number(body, "frequency_penalty", -2, 2),
        response_format=response_format,
        tools=tools,
        tool_choice=tool_choice if tools else None,
        user=user,
        reasoning_effort=effort,
        parallel_tool_calls=body.get("parallel_tool_calls") if tools else None,
        logprobs=body.get("logprobs") or None,
        top_logprobs=top_logprobs,
        metadata=_metadata(body.get("metadata")),
        extra=extra,
    )
    return ChatInput(
        model=model,
        request=request,
        requested_max_tokens=max_tokens,
        stream=stream,
        include_usage=bool((stream_options or {}).get("include_usage")),
    )


def has_images(messages: list[dict]) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p["type"] == "image_url" for p in m["content"])
        for m in messages
    )
