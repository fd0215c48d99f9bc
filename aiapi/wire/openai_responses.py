"""OpenAI's Responses API on the wire: a `POST /v1/responses` body read into our one internal
chat request, and our internal event stream written back as a `response` object or as its
documented SSE events (`response.created` ... `response.completed`, each with a
`sequence_number`).

The request is translated into the shape of a Chat Completions body and read by
`parse_chat_input`, so a message, a tool or a parameter is checked, and reaches providers, the
same way whichever OpenAI format it came in."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import orjson

from aiapi.chat_input import ChatInput, bad, has_nul, parse_chat_input
from aiapi.events import (
    ContentDelta,
    Done,
    ErrorEvent,
    Event,
    ReasoningDelta,
    ToolCallDelta,
    Usage,
)
from chukchat.errors import ApiError

# Fields we act on.
FIELDS = {
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "max_output_tokens",
    "temperature",
    "top_p",
    "stream",
    "store",
    "previous_response_id",
    "metadata",
    "user",
    "parallel_tool_calls",
}
# Fields clients send that change nothing a caller can observe here: which extra data to
# `include` (we have no encrypted reasoning to give), cache and safety hints, the service tier,
# stream obfuscation, and truncation (we never truncate: a prompt too long is refused).
IGNORED_FIELDS = {
    "include",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "service_tier",
    "stream_options",
    "truncation",
    "background",
    "max_tool_calls",
    "top_logprobs",
}
EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh"}
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Chat Completions names of parameters, as a Responses client knows them (for errors).
PARAM_NAMES = {"max_completion_tokens": "max_output_tokens", "response_format": "text.format"}


def new_item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(slots=True)
class ResponsesInput:
    """A parsed `POST /v1/responses` body: the chat call to make, and what the response
    object echoes back."""

    chat: ChatInput
    items: list[dict]  # this request's input items, each with an id (for input_items)
    messages: list[dict]  # the same as chat messages (before any earlier turn is prepended)
    instructions: str | None
    store: bool
    previous_response_id: str | None
    echo: dict = field(default_factory=dict)  # request fields the response object repeats

    @property
    def stream(self) -> bool:
        return self.chat.stream


def _text_of_parts(parts, *, param: str) -> str:
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        raise bad("must be a string or an array of text parts", param=param)
    texts = []
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise bad("each part needs a string 'text'", param=param)
        texts.append(part["text"])
    return "".join(texts)


def _content_parts(content, *, role: str, param: str):
    """A message's content as Chat Completions content: a string, or text / image_url parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad("content must be a string or an array of content parts", param=param)
    parts = []
    for index, part in enumerate(content):
        where = f"{param}.content[{index}]"
        if not isinstance(part, dict):
            raise bad("each content part must be an object", param=where)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text") or (
            kind == "refusal" and role == "assistant"
        ):
            text = part.get("refusal") if kind == "refusal" else part.get("text")
            if not isinstance(text, str):
                raise bad(f"a {kind} part needs a string text", param=where)
            parts.append({"type": "text", "text": text})
        elif kind == "input_image":
            if part.get("file_id") is not None:
                raise bad(
                    "input_image with a file_id is not supported; send image_url "
                    "(an https URL or a data URI)",
                    param=where,
                    code="unsupported_content",
                )
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise bad("an input_image part needs image_url", param=where)
            image = {"url": url}
            if part.get("detail") in ("auto", "low", "high"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise bad(
                f"content part type {kind!r} is not supported",
                param=where,
                code="unsupported_content",
            )
    return parts


def _item_with_id(item: dict, prefix: str) -> dict:
    return item if isinstance(item.get("id"), str) else {**item, "id": new_item_id(prefix)}


def input_items(value) -> list[dict]:
    """The request's `input` as a list of items, each with an id (a string is one user
    message). Items are checked here; their meaning is in `items_to_messages`."""
    if isinstance(value, str):
        value = [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise bad("input must be a string or a non-empty array of items", param="input")
    items = []
    for index, item in enumerate(value):
        param = f"input[{index}]"
        if not isinstance(item, dict):
            raise bad("each input item must be an object", param=param)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            if item.get("role") not in ("user", "system", "developer", "assistant"):
                raise bad("role must be user, system, developer or assistant", param=param)
            _content_parts(item.get("content"), role=item["role"], param=param)
            items.append(_item_with_id({**item, "type": "message"}, "msg"))
        elif kind == "function_call":
            if not all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
                raise bad("a function_call needs call_id, name and arguments", param=param)
            items.append(_item_with_id(item, "fc"))
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise bad("a function_call_output needs its call_id", param=param)
            _text_of_parts(item.get("output"), param=f"{param}.output")
            items.append(_item_with_id(item, "fco"))
        elif kind == "reasoning":
            items.append(_item_with_id(item, "rs"))
        else:
            raise bad(
                f"input item type {kind!r} is not supported",
                param=param,
                code="unsupported_input_item",
            )
    return items


def items_to_messages(items: list[dict]) -> list[dict]:
    """Responses items as Chat Completions messages: function calls join the assistant turn
    they belong to, their outputs become tool messages. Reasoning items are left out: they are
    our own summaries, which no provider takes back as input."""
    messages: list[dict] = []
    for index, item in enumerate(items):
        kind = item.get("type")
        if kind == "message":
            role = item["role"]
            content = _content_parts(item["content"], role=role, param=f"input[{index}]")
            if role == "assistant" and isinstance(content, list):
                content = "".join(part.get("text", "") for part in content)
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item["call_id"],
                    "content": _text_of_parts(item["output"], param=f"input[{index}].output"),
                }
            )
    return messages


def _function_tools(tools) -> tuple[list[dict] | None, list[dict]]:
    """(Chat Completions tools, the tools as the response object shows them)."""
    if tools is None:
        return None, []
    if not isinstance(tools, list):
        raise bad("tools must be an array", param="tools")
    chat, shown = [], []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise bad(
                f"tool type {kind!r} is not supported: only function tools are",
                param=param,
                code="unsupported_tool",
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise bad("a function tool needs a name", param=param)
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise bad("parameters must be a JSON schema object", param=param)
        if tool.get("description") is not None and not isinstance(tool["description"], str):
            raise bad("description must be a string", param=param)
        if tool.get("strict") is not None and not isinstance(tool["strict"], bool):
            raise bad("strict must be true or false", param=param)
        function = {"name": tool["name"]}
        for name in ("description", "parameters", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        chat.append({"type": "function", "function": function})
        shown.append(
            {
                "type": "function",
                "name": tool["name"],
                "description": tool.get("description"),
                "parameters": parameters,
                "strict": tool.get("strict") if isinstance(tool.get("strict"), bool) else True,
            }
        )
    return chat or None, shown


def _tool_choice(choice):
    if choice is None or choice in ("none", "auto", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        if not isinstance(choice.get("name"), str):
            raise bad("a function tool_choice needs the function's name", param="tool_choice")
        return {"type": "function", "function": {"name": choice["name"]}}
    raise bad("tool_choice must be none, auto, required or a function", param="tool_choice")


def _response_format(text) -> dict | None:
    """`text.format` as a Chat Completions response_format."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise bad("text must be an object", param="text")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise bad("text.format.type must be text, json_object or json_schema", param="text.format")
    if fmt["type"] == "text":
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict):
        raise bad("a json_schema format needs a name and a schema", param="text.format")
    schema = {"name": fmt["name"], "schema": fmt["schema"]}
    for name in ("description", "strict"):
        if fmt.get(name) is not None:
            schema[name] = fmt[name]
    return {"type": "json_schema", "json_schema": schema}


def _effort(reasoning) -> str | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise bad("reasoning must be an object", param="reasoning")
    effort = reasoning.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise bad(
            f"reasoning.effort must be one of {', '.join(sorted(EFFORTS))}", param="reasoning"
        )
    return effort


def _nul_at(value, path: str) -> str | None:
    """Where a NUL character is, if anywhere: PostgreSQL cannot store one, and a stored
    response keeps every field of its request."""
    if isinstance(value, str):
        return path if has_nul(value) else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and has_nul(key):
            return path
        where = f"{path}{key}" if key.startswith("[") else f"{path}.{key}" if path else key
        found = _nul_at(item, where)
        if found is not None:
            return found
    return None


def parse_responses_request(body: dict) -> ResponsesInput:
    nul = _nul_at(body, "")
    if nul is not None:
        raise bad(
            f"{nul or 'the body'} must not contain NUL (\\u0000) characters", param=nul or None
        )
    unknown = sorted(set(body) - FIELDS - IGNORED_FIELDS)
    if unknown:
        raise bad(
            f"unsupported parameter {unknown[0]!r}", param=unknown[0], code="unsupported_parameter"
        )
    if body.get("background"):
        raise bad("background responses are not supported", param="background")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad("instructions must be a string", param="instructions")
    store = body.get("store", True)
    if not isinstance(store, bool):
        raise bad("store must be true or false", param="store")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise bad("previous_response_id must be a response id", param="previous_response_id")
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and len(metadata) <= 16
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise bad("metadata must be an object of up to 16 string values", param="metadata")
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise bad("parallel_tool_calls must be true or false", param="parallel_tool_calls")

    items = input_items(body.get("input"))
    messages = items_to_messages(items)
    tools, shown_tools = _function_tools(body.get("tools"))
    effort = _effort(body.get("reasoning"))
    chat_body = {
        "model": body.get("model"),
        "messages": ([{"role": "system", "content": instructions}] if instructions else [])
        + messages,
        "stream": body.get("stream", False),
        "max_completion_tokens": body.get("max_output_tokens"),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "tools": tools,
        "tool_choice": _tool_choice(body.get("tool_choice")),
        "response_format": _response_format(body.get("text")),
        "user": body.get("user"),
        "reasoning_effort": effort,
        "parallel_tool_calls": parallel,
        "metadata": metadata,
    }
    try:
        chat = parse_chat_input({k: v for k, v in chat_body.items() if v is not None})
    except ApiError as error:
        param = error.param or ""
        error.param = "input" if param.startswith("messages") else PARAM_NAMES.get(param, param)
        raise
    text = body.get("text") if isinstance(body.get("text"), dict) else {}
    echo = {
        "instructions": instructions,
        "tools": shown_tools,
        "tool_choice": body.get("tool_choice") or "auto",
        "temperature": chat.request.temperature,
        "top_p": chat.request.top_p,
        "metadata": metadata or {},
        "parallel_tool_calls": parallel if parallel is not None else True,
        "text": {"format": text.get("format") or {"type": "text"}},
        "reasoning": {"effort": effort, "summary": None},
        "max_output_tokens": chat.requested_max_tokens,
        "store": store,
        "previous_response_id": previous,
    }
    if chat.request.user is not None:
        echo["user"] = chat.request.user
    return ResponsesInput(
        chat=chat,
        items=items,
        messages=messages,
        instructions=instructions,
        store=store,
        previous_response_id=previous,
        echo=echo,
    )


def output_to_messages(output: list[dict]) -> list[dict]:
    """A stored response's output, as the assistant turn that continues it."""
    return items_to_messages(
        [item for item in output if item.get("type") in ("message", "function_call")]
    )


def usage_payload(usage: Usage, cost) -> dict:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        # As on Chat Completions: the figure for clients that sum it; the exact decimal is
        # the x-chuk-cost header.
        "cost": float(cost),
    }


class ResponseWriter:
    """Our internal events as one response: `feed` returns the SSE events each internal
    event causes (opening and closing output items as the kind of delta changes), and
    `response` is the response object as it stands. Streaming and non-streaming answers
    are both built by it, so they say the same thing."""

    def __init__(self, *, response_id: str, model: str, echo: dict, call) -> None:
        self.id = response_id
        self.model = model
        self.echo = echo
        self.call = call  # the ChatCall: usage and cost at the end
        self.created_at = int(time.time())
        self.completed_at: int | None = None
        self.status = "in_progress"
        self.error: dict | None = None
        self.incomplete: dict | None = None
        self.output: list[dict] = []
        self.sequence = 0
        self.started = False
        self._open: dict | None = None  # the item deltas are going into
        self._buffer: list[str] = []  # the open item's text so far
        self._tool_items: dict[int, dict] = {}

    # -- the response object ---------------------------------------------------------------
    def response(self) -> dict:
        payload = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "completed_at": self.completed_at,
            "error": self.error,
            "incomplete_details": self.incomplete,
            "model": self.model,
            "output": self.output,
            "truncation": "disabled",
            **self.echo,
        }
        if self.status in ("completed", "incomplete"):  # usage is known at the end
            usage, _ = self.call.final_usage()
            payload["usage"] = usage_payload(usage, self.call.cost())
        return payload

    # -- events ----------------------------------------------------------------------------
    def _event(self, kind: str, **fields) -> dict:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _snapshot(self) -> dict:
        return orjson.loads(orjson.dumps(self.response()))

    def feed(self, event: Event) -> list[dict]:
        out: list[dict] = []
        if not self.started:
            self.started = True
            out.append(self._event("response.created", response=self._snapshot()))
            out.append(self._event("response.in_progress", response=self._snapshot()))
        match event:
            case ReasoningDelta(text=text):
                out += self._delta_reasoning(text)
            case ContentDelta(text=text):
                out += self._delta_text(text)
            case ToolCallDelta():
                out += self._delta_tool(event)
            case Done(finish_reason=reason):
                out += self._close("completed")
                self.completed_at = int(time.time())
                incomplete = INCOMPLETE_REASONS.get(reason)
                if incomplete is None:
                    self.status = "completed"
                    out.append(self._event("response.completed", response=self._snapshot()))
                else:
                    self.status = "incomplete"
                    self.incomplete = {"reason": incomplete}
                    out.append(self._event("response.incomplete", response=self._snapshot()))
            case ErrorEvent(code=code, message=message):
                out += self._close("incomplete")
                self.status = "failed"
                self.error = {
                    "code": "rate_limit_exceeded"
                    if code == "rate_limit_exceeded"
                    else "server_error",
                    "message": message,
                }
                out.append(self._event("error", code=code, message=message, param=None))
                out.append(self._event("response.failed", response=self._snapshot()))
        return out

    def _add(self, item: dict) -> dict:
        self._open = item
        self.output.append(item)
        return self._event(
            "response.output_item.added",
            output_index=len(self.output) - 1,
            item=orjson.loads(orjson.dumps(item)),
        )

    def _delta_reasoning(self, text: str) -> list[dict]:
        out = []
        if self._open is None or self._open["type"] != "reasoning":
            out += self._close("completed")
            out.append(self._add({"type": "reasoning", "id": new_item_id("rs"), "summary": []}))
            out.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    item_id=self._open["id"],
                    output_index=len(self.output) - 1,
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
            self._buffer = []
        self._buffer.append(text)
        out.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=self._open["id"],
                output_index=len(self.output) - 1,
                summary_index=0,
                delta=text,
            )
        )
        return out

    def _delta_text(self, text: str) -> list[dict]:
        out = []
        if self._open is None or self._open["type"] != "message":
            out += self._close("completed")
            item = {
                "type": "message",
                "id": new_item_id("msg"),
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            out.append(self._add(item))
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=len(self.output) - 1,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                )
            )
            self._buffer = []
        self._buffer.append(text)
        out.append(
            self._event(
                "response.output_text.delta",
                item_id=self._open["id"],
                output_index=len(self.output) - 1,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return out

    def _delta_tool(self, event: ToolCallDelta) -> list[dict]:
        out = []
        item = self._tool_items.get(event.index)
        if item is None or item is not self._open:
            out += self._close("completed")
            item = {
                "type": "function_call",
                "id": new_item_id("fc"),
                "call_id": event.id or f"call_{secrets.token_hex(12)}",
                "name": event.name or "",
                "arguments": "",
                "status": "in_progress",
            }
            self._tool_items[event.index] = item
            out.append(self._add(item))
        elif event.name and not item["name"]:
            item["name"] = event.name
        if event.arguments:
            item["arguments"] += event.arguments
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self.output.index(item),
                    delta=event.arguments,
                )
            )
        return out

    def _close(self, status: str) -> list[dict]:
        """Ends the open item: its `.done` events, then output_item.done."""
        item, self._open = self._open, None
        if item is None:
            return []
        index = self.output.index(item)
        out = []
        if item["type"] == "reasoning":
            text = "".join(self._buffer)
            part = {"type": "summary_text", "text": text}
            out.append(
                self._event(
                    "response.reasoning_summary_text.done",
                    item_id=item["id"],
                    output_index=index,
                    summary_index=0,
                    text=text,
                )
            )
            out.append(
                self._event(
                    "response.reasoning_summary_part.done",
                    item_id=item["id"],
                    output_index=index,
                    summary_index=0,
                    part=part,
                )
            )
            item["summary"] = [part]
        elif item["type"] == "message":
            text = "".join(self._buffer)
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out.append(
                self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=text,
                    logprobs=[],
                )
            )
            out.append(
                self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            )
            item["content"] = [part]
            item["status"] = status
        else:
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
            item["status"] = status
        out.append(
            self._event(
                "response.output_item.done",
                output_index=index,
                item=orjson.loads(orjson.dumps(item)),
            )
        )
        return out


def sse_event(event: dict) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _input_item_resource(item: dict) -> dict:
    """An input item as `GET .../input_items` lists it."""
    kind = item.get("type")
    if kind == "message":
        content = item["content"]
        if item["role"] == "assistant":
            text = content if isinstance(content, str) else _text_of_parts(content, param="input")
            return {
                "type": "message",
                "id": item["id"],
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        if isinstance(content, str):
            content = [{"type": "input_text", "text": content}]
        return {
            "type": "message",
            "id": item["id"],
            "role": item["role"],
            "status": "completed",
            "content": content,
        }
    if kind == "function_call":
        return {
            "type": "function_call",
            "id": item["id"],
            "call_id": item["call_id"],
            "name": item["name"],
            "arguments": item["arguments"],
            "status": "completed",
        }
    if kind == "function_call_output":
        return {
            "type": "function_call_output",
            "id": item["id"],
            "call_id": item["call_id"],
            "output": item["output"],
            "status": "completed",
        }
    return {"type": "reasoning", "id": item["id"], "summary": item.get("summary") or []}


def input_items_payload(items: list[dict], *, order: str, after: str | None, limit: int) -> dict:
    listed = [_input_item_resource(item) for item in items]
    if order == "desc":
        listed.reverse()
    if after is not None:
        ids = [item["id"] for item in listed]
        if after not in ids:
            raise bad(f"No input item with id '{after}' in this response", param="after")
        listed = listed[ids.index(after) + 1 :]
    page = listed[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else "",
        "last_id": page[-1]["id"] if page else "",
        "has_more": len(listed) > limit,
    }


def deleted_payload(response_id: str) -> dict:
    return {"id": response_id, "object": "response.deleted", "deleted": True}
