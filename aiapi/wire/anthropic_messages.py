"""Anthropic's Messages API as a wire format: a request (`POST /v1/messages`, `.../count_tokens`)
becomes our one internal ChatRequest, and the one internal event stream becomes a `message`
object or Anthropic's SSE sequence (`message_start`, `ping`, `content_block_start` /
`_delta` / `_stop`, `message_delta`, `message_stop`; `error` mid-stream).

Served for every chat model whatever its provider kind: Anthropic blocks map to OpenAI-shaped
messages (text and image parts, `tool_calls`, `tool` messages), which every adapter speaks.
Unknown request fields are refused with 400, never silently dropped. Knowingly not carried:
thinking blocks sent back in assistant turns (their signatures only mean something to the
provider that made them). `disable_parallel_tool_use` is the internal parallel_tool_calls=False;
a base64 PDF document is a `file` part (a document again for Anthropic-kind providers, a file
for OpenAI-kind ones)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from aiapi.chat_input import _number, bad
from aiapi.chat_service import ChatCall
from aiapi.events import (
    ContentDelta,
    Done,
    ErrorEvent,
    Event,
    ReasoningDelta,
    ToolCallDelta,
)
from aiapi.providers.base import ChatRequest
from aiapi.token_count import estimate_prompt_tokens, estimate_text_tokens
from chukchat.errors import ApiError, json_response

MESSAGE_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_k",
    "top_p",
    "thinking",
    "tools",
    "tool_choice",
    "service_tier",  # accepted; there is one tier here
}
COUNT_TOKENS_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking"}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
MAX_STOP_SEQUENCES = 4  # what OpenAI-kind providers take; the request goes to either kind
MIN_THINKING_BUDGET = 1024

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

# Anthropic's error types by status (docs.anthropic.com, "Errors"). Our 402 (the balance cannot
# cover the worst case) is their billing_error; a provider that failed (502) is an api_error,
# a provider that timed out (504) a timeout_error.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def is_messages_path(path: str) -> bool:
    return path.rstrip("/").endswith(("/v1/messages", "/v1/messages/count_tokens"))


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_payload(status: int, message: str, *, request_id: str | None = None) -> dict:
    payload: dict = {"type": "error", "error": {"type": error_type(status), "message": message}}
    if request_id is not None:
        payload["request_id"] = request_id
    return payload


def error_response(error: ApiError | ErrorEvent, *, request_id: str | None = None):
    response = json_response(
        error_payload(error.status, error.message, request_id=request_id), status=error.status
    )
    for name, value in getattr(error, "headers", {}).items():
        response[name] = value  # Retry-After on a 429
    return response


# --- the request --------------------------------------------------------------------------


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise bad(f"{where} must be a string", param=where)
    if "\x00" in value:
        raise bad(f"{where} must not contain NUL (\\u0000) characters", param=where)
    return value


def _mark(part: dict, block: dict, where: str) -> dict:
    """`part` with the block's cache_control mark, checked (Anthropic-kind providers are sent
    it; aiapi/providers/openai_adapter.py takes it off for the others)."""
    mark = block.get("cache_control")
    if mark is None:
        return part
    if (
        not isinstance(mark, dict)
        or mark.get("type") != "ephemeral"
        or set(mark) - {"type", "ttl"}
        or mark.get("ttl", "5m") not in ("5m", "1h")
    ):
        raise bad(
            f'{where}.cache_control must be {{"type": "ephemeral"}} with an optional ttl of 5m or 1h',
            param=where,
        )
    return {**part, "cache_control": mark}


def _marked(items) -> bool:
    return any("cache_control" in item for item in items)


def _blocks(content, where: str) -> list[dict]:
    """A message's content as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise bad(f"{where} must be a string or an array of content blocks", param=where)
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise bad(f"{where}[{index}] must be a content block with a type", param=where)
    return content


def _image_part(block: dict, where: str) -> dict:
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{where}.source is required", param=where)
    if source.get("type") == "base64":
        media_type = source.get("media_type")
        if media_type not in IMAGE_TYPES:
            raise bad(
                f"{where}.source.media_type must be one of {', '.join(sorted(IMAGE_TYPES))}",
                param=where,
            )
        data = _text(source.get("data"), f"{where}.source.data")
        url = f"data:{media_type};base64,{data}"
    elif source.get("type") == "url":
        url = _text(source.get("url"), f"{where}.source.url")
    else:
        raise bad(f"{where}.source.type must be base64 or url", param=where)
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: dict, where: str) -> dict:
    """Plain-text documents (source text, or content of text blocks) as text; PDFs are not
    carried to every provider kind, so they are refused rather than dropped."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad(f"{where}.source is required", param=where)
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        data = _text(source.get("data"), f"{where}.source.data")
        file: dict = {"file_data": f"data:application/pdf;base64,{data}"}
        if isinstance(block.get("title"), str):
            file["filename"] = _text(block["title"], f"{where}.title")
        return {"type": "file", "file": file}
    if source.get("type") == "text":
        text = _text(source.get("data"), f"{where}.source.data")
    elif source.get("type") == "content":
        inner = _blocks(source.get("content"), f"{where}.source.content")
        if any(b["type"] != "text" for b in inner):
            raise bad(f"{where}.source.content may hold text blocks only", param=where)
        text = "\n".join(_text(b.get("text"), f"{where}.source.content") for b in inner)
    else:
        raise bad(
            f"{where}: documents must be text, content or a base64 PDF",
            param=where,
        )
    title = block.get("title")
    if title is not None:
        text = f"{_text(title, f'{where}.title')}\n\n{text}"
    return {"type": "text", "text": text}


def _tool_result_text(block: dict, where: str) -> str:
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = _text(content, f"{where}.content")
    else:
        parts = _blocks(content, f"{where}.content")
        if any(part["type"] != "text" for part in parts):
            raise bad(f"{where}.content may hold text blocks only", param=where)
        text = "\n".join(_text(p.get("text"), f"{where}.content") for p in parts)
    if block.get("is_error") is True:
        text = f"Error: {text}"
    return text


def _user_messages(content, where: str) -> list[dict]:
    """One user turn: its tool results first (each a `tool` message), then its text and
    images as one user message."""
    tool_messages, parts = [], []
    for index, block in enumerate(_blocks(content, where)):
        here = f"{where}[{index}]"
        kind = block["type"]
        if kind == "text":
            part = {"type": "text", "text": _text(block.get("text"), f"{here}.text")}
            parts.append(_mark(part, block, here))
        elif kind == "image":
            parts.append(_mark(_image_part(block, here), block, here))
        elif kind == "document":
            parts.append(_mark(_document_part(block, here), block, here))
        elif kind == "tool_result":
            result = {
                "role": "tool",
                "tool_call_id": _text(block.get("tool_use_id"), f"{here}.tool_use_id"),
                "content": _tool_result_text(block, here),
            }
            tool_messages.append(_mark(result, block, here))
        else:
            raise bad(f"{here}: content block type {kind!r} is not supported here", param=here)
    messages = tool_messages
    if parts:
        if all(p["type"] == "text" for p in parts) and not _marked(parts):
            messages.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts)})
        else:
            messages.append({"role": "user", "content": parts})
    return messages


def _assistant_message(content, where: str) -> dict | None:
    texts, calls = [], []
    for index, block in enumerate(_blocks(content, where)):
        here = f"{where}[{index}]"
        kind = block["type"]
        if kind == "text":
            texts.append(_text(block.get("text"), f"{here}.text"))
        elif kind == "tool_use":
            arguments = block.get("input", {})
            if not isinstance(arguments, dict):
                raise bad(f"{here}.input must be an object", param=here)
            calls.append(
                {
                    "id": _text(block.get("id"), f"{here}.id"),
                    "type": "function",
                    "function": {
                        "name": _text(block.get("name"), f"{here}.name"),
                        "arguments": orjson.dumps(arguments).decode(),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # see the module's docstring
        else:
            raise bad(f"{here}: content block type {kind!r} is not supported here", param=here)
    if not texts and not calls:
        return None
    message: dict = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _system(system) -> str | list[dict] | None:
    """The system prompt as text, or as text parts when some carry cache_control marks."""
    if system is None:
        return None
    if isinstance(system, str):
        return _text(system, "system") or None
    if not isinstance(system, list):
        raise bad("system must be a string or an array of text blocks", param="system")
    parts = []
    for index, block in enumerate(system):
        where = f"system[{index}]"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad("system blocks must be text blocks", param=where)
        part = {"type": "text", "text": _text(block.get("text"), f"{where}.text")}
        parts.append(_mark(part, block, where))
    if _marked(parts):
        return parts
    return "\n\n".join(p["text"] for p in parts) or None


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages must be a non-empty array", param="messages")
    converted = []
    system = _system(body.get("system"))
    if system is not None:
        converted.append({"role": "system", "content": system})
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad(f"{where} must be an object", param=where)
        role = message.get("role")
        if role == "user":
            converted += _user_messages(message.get("content"), f"{where}.content")
        elif role == "assistant":
            assistant = _assistant_message(message.get("content"), f"{where}.content")
            if assistant is not None:
                converted.append(assistant)
        else:
            raise bad(f"{where}.role must be user or assistant", param=where)
    if not any(m["role"] != "system" for m in converted):
        raise bad("messages must say something", param="messages")
    return converted


def _tools(tools) -> list[dict] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise bad("tools must be an array", param="tools")
    converted = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise bad(f"{where} must be an object", param=where)
        if tool.get("type") not in (None, "custom"):
            raise bad(
                f"{where}: server tools ({tool.get('type')!r}) are not supported; "
                "only custom tools with an input_schema",
                param=where,
            )
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise bad(f"{where}.input_schema must be a JSON schema object", param=where)
        function: dict = {"name": _text(tool.get("name"), f"{where}.name"), "parameters": schema}
        if tool.get("description") is not None:
            function["description"] = _text(tool["description"], f"{where}.description")
        converted.append(_mark({"type": "function", "function": function}, tool, where))
    return converted or None


def _tool_choice(choice) -> str | dict | None:
    if choice is None:
        return None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool":
        name = _text(choice.get("name"), "tool_choice.name")
        return {"type": "function", "function": {"name": name}}
    raise bad("tool_choice.type must be auto, any, tool or none", param="tool_choice")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(f"{name} must be a positive integer", param=name)
    return value


def _thinking(body: dict, max_tokens: int | None) -> int | None:
    """The client's thinking budget: 0 when off (Anthropic's default), None when on with the
    provider's default budget ("adaptive")."""
    thinking = body.get("thinking")
    if thinking is None:
        return 0
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return 0
    if kind == "adaptive":
        return None
    if kind != "enabled":
        raise bad("thinking.type must be enabled, adaptive or disabled", param="thinking")
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        raise bad(
            f"thinking.budget_tokens must be an integer of at least {MIN_THINKING_BUDGET}",
            param="thinking.budget_tokens",
        )
    if max_tokens is not None and budget >= max_tokens:
        raise bad("thinking.budget_tokens must be less than max_tokens", param="thinking")
    return budget


def _stop_sequences(value) -> list[str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s and "\x00" not in s for s in value)
    ):
        raise bad(
            f"stop_sequences must be up to {MAX_STOP_SEQUENCES} non-empty strings",
            param="stop_sequences",
        )
    return value or None


def _user_id(metadata) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
        raise bad("metadata may hold user_id only", param="metadata")
    user_id = metadata.get("user_id")
    return None if user_id is None else _text(user_id, "metadata.user_id")


@dataclass(slots=True)
class MessagesInput:
    model: str
    request: ChatRequest
    stream: bool
    show_thinking: bool  # the client asked for thinking: reasoning comes back as thinking blocks


def parse_messages_request(body: dict, *, counting: bool = False) -> MessagesInput:
    """A Messages (or, `counting`, a count_tokens) request body, checked and translated."""
    allowed = COUNT_TOKENS_FIELDS if counting else MESSAGE_FIELDS
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad(f"{unknown[0]}: Extra inputs are not permitted", param=unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model is required", param="model")
    max_tokens = None
    if not counting:
        if body.get("max_tokens") is None:
            raise bad("max_tokens: Field required", param="max_tokens")
        max_tokens = _positive_int(body["max_tokens"], "max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream must be true or false", param="stream")
    if body.get("service_tier") not in (None, "auto", "standard_only"):
        raise bad("service_tier must be auto or standard_only", param="service_tier")
    top_k = body.get("top_k")
    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"))
    thinking_budget = _thinking(body, max_tokens)
    messages = _messages(body)
    request = ChatRequest(
        messages=messages,
        max_tokens=max_tokens or 0,
        temperature=_number(body, "temperature", 0, 1),
        top_p=_number(body, "top_p", 0, 1),
        top_k=None if top_k is None else _positive_int(top_k, "top_k"),
        stop=_stop_sequences(body.get("stop_sequences")),
        tools=tools,
        tool_choice=tool_choice if tools else None,
        parallel_tool_calls=False
        if tools and (body.get("tool_choice") or {}).get("disable_parallel_tool_use") is True
        else None,
        user=_user_id(body.get("metadata")),
        thinking_budget=thinking_budget,
        cache_control=_marked(tools or ())
        or any(
            "cache_control" in m or (isinstance(m["content"], list) and _marked(m["content"]))
            for m in messages
        ),
    )
    return MessagesInput(
        model=model, request=request, stream=stream, show_thinking=thinking_budget != 0
    )


def count_input_tokens(request: ChatRequest) -> int:
    """Our estimate of the prompt (aiapi/token_count.py), tools' definitions included."""
    tools = estimate_text_tokens(orjson.dumps(request.tools).decode()) if request.tools else 0
    return estimate_prompt_tokens(request.messages) + tools


# --- the response -------------------------------------------------------------------------


def message_id(call: ChatCall) -> str:
    return f"msg_{call.request_id}"


def _tool_id(call: ChatCall, index: int, given: str | None) -> str:
    return given or f"toolu_{call.request_id}_{index}"


def _tool_input(arguments: str) -> dict:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _usage(call: ChatCall) -> dict:
    usage, _ = call.final_usage()
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def message_payload(call: ChatCall, *, show_thinking: bool) -> dict:
    content: list[dict] = []
    if show_thinking and call.reasoning:
        content.append({"type": "thinking", "thinking": call.reasoning_text, "signature": ""})
    if call.content or not call.tool_calls:
        content.append({"type": "text", "text": call.text})
    for index, tally in sorted(call.tool_calls.items()):
        content.append(
            {
                "type": "tool_use",
                "id": _tool_id(call, index, tally.id),
                "name": tally.name or "",
                "input": _tool_input("".join(tally.arguments)),
            }
        )
    return {
        "id": message_id(call),
        "type": "message",
        "role": "assistant",
        "model": call.model.public_id,
        "content": content,
        "stop_reason": STOP_REASONS.get(call.finish_reason or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": _usage(call),
    }


def _event(kind: str, data: dict) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


class MessageStream:
    """Renders one call's events as Anthropic's SSE sequence. Blocks are opened as content of
    a new kind arrives and closed when the next one starts or the message ends."""

    def __init__(self, call: ChatCall, *, show_thinking: bool) -> None:
        self.call = call
        self.show_thinking = show_thinking
        self.started = False
        self.index = -1  # the open block's index
        self.open: tuple | None = None  # ("text",) | ("thinking",) | ("tool", tool index)
        self.tool_blocks: dict[int, int] = {}  # tool call index -> block index

    def render(self, event: Event) -> bytes:
        out = [] if self.started else [self._start()]
        match event:
            case ContentDelta(text=text) if text:
                out.append(self._ensure(("text",), {"type": "text", "text": ""}))
                out.append(self._delta(self.index, {"type": "text_delta", "text": text}))
            case ReasoningDelta(text=text) if text and self.show_thinking:
                block = {"type": "thinking", "thinking": "", "signature": ""}
                out.append(self._ensure(("thinking",), block))
                out.append(self._delta(self.index, {"type": "thinking_delta", "thinking": text}))
            case ToolCallDelta():
                out.append(self._tool(event))
            case Done(finish_reason=reason):
                out.append(self._close())
                out.append(
                    _event(
                        "message_delta",
                        {
                            "delta": {
                                "stop_reason": STOP_REASONS.get(reason, "end_turn"),
                                "stop_sequence": None,
                            },
                            "usage": _usage(self.call),
                        },
                    )
                )
                out.append(_event("message_stop", {}))
            case ErrorEvent(status=status, message=message):
                out.append(_event("error", {"error": error_payload(status, message)["error"]}))
        return b"".join(out)

    def _start(self) -> bytes:
        self.started = True
        message = {
            "id": message_id(self.call),
            "type": "message",
            "role": "assistant",
            "model": self.call.model.public_id,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # The provider's count arrives at the end (message_delta); this is our estimate.
            "usage": {
                "input_tokens": estimate_prompt_tokens(self.call.request.messages),
                "output_tokens": 0,
            },
        }
        return _event("message_start", {"message": message}) + _event("ping", {})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return _event("content_block_stop", {"index": self.index})

    def _ensure(self, kind: tuple, block: dict) -> bytes:
        if self.open == kind:
            return b""
        closed = self._close()
        self.index += 1
        self.open = kind
        return closed + _event("content_block_start", {"index": self.index, "content_block": block})

    @staticmethod
    def _delta(index: int, delta: dict) -> bytes:
        return _event("content_block_delta", {"index": index, "delta": delta})

    def _tool(self, event: ToolCallDelta) -> bytes:
        out = b""
        if event.index not in self.tool_blocks:
            block = {
                "type": "tool_use",
                "id": _tool_id(self.call, event.index, event.id),
                "name": event.name or "",
                "input": {},
            }
            out = self._ensure(("tool", event.index), block)
            self.tool_blocks[event.index] = self.index
        if event.arguments:
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            out += self._delta(self.tool_blocks[event.index], delta)
        return out


def is_last(event: Event) -> bool:
    return isinstance(event, (Done, ErrorEvent))
