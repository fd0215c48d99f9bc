"""Anthropic's Messages API through the official `anthropic` async client: OpenAI-shaped messages
become Messages blocks (images as image blocks, tools as tool_use / tool_result), and extended
thinking comes back as reasoning."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import anthropic
import httpx2
import orjson

from aiapi.events import ContentDelta, Done, Event, ReasoningDelta, ToolCallDelta, Usage
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
from aiapi.providers.rejections import is_rejection, rejection, secrets_of

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}
MIN_THINKING_BUDGET = 1024


def failure_from(error: Exception, *, secrets: tuple[str, ...] = ()) -> ProviderFailure:
    """Our description of an SDK error. The provider's own message is shown only when it
    rejected the request as invalid, and then sanitised (aiapi/providers/rejections.py)."""
    if isinstance(error, anthropic.APITimeoutError):
        return ProviderFailure("The provider timed out.", retryable=True, timeout=True)
    if isinstance(error, anthropic.APIConnectionError):
        return ProviderFailure("The provider could not be reached.", retryable=True)
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        if is_rejection(status):
            return rejection(status, error.body, secrets=secrets)
        retryable = status == 429 or status >= 500 or status in (401, 403, 404)
        return ProviderFailure(
            f"The provider answered HTTP {status}.", status=status, retryable=retryable
        )
    return ProviderFailure("The provider sent a response we could not read.", retryable=False)


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or () if part.get("type") == "text")


def _blocks(content) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content or ():
        if part["type"] == "text":
            block = {"type": "text", "text": part["text"]}
        elif part["type"] == "image_url":
            # Image URLs were fetched and inlined as data URIs before reaching any adapter.
            header, _, data = part["image_url"]["url"].partition(",")
            media_type = header.removeprefix("data:").split(";", 1)[0]
            block = {
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            }
        elif part["type"] == "file" and "file_data" in part["file"]:
            block = _document(part["file"])
        else:
            # Only parts aiapi/capabilities.py lets through reach here; none is dropped.
            raise ProviderFailure(
                f"Anthropic takes no {part['type']} content parts.", retryable=False
            )
        blocks.append(_marked(block, part))
    return blocks


def _document(file: dict) -> dict:
    header, _, data = file["file_data"].partition(";base64,")
    media_type = header.removeprefix("data:")
    if media_type.startswith("text/"):
        text = base64.b64decode(data).decode("utf-8", errors="replace")
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        source = {"type": "base64", "media_type": media_type, "data": data}
    block: dict = {"type": "document", "source": source}
    if file.get("filename"):
        block["title"] = file["filename"]
    return block


def _marked(block: dict, source: dict) -> dict:
    """`block` with the prompt-caching mark its source carries, if any."""
    if "cache_control" in source:
        block["cache_control"] = source["cache_control"]
    return block


def to_messages(messages: list[dict]) -> tuple[str | list[dict] | None, list[dict]]:
    """The system prompt (text; blocks when some carry cache_control marks) and the turns."""
    system: list[str] = []
    system_blocks: list[dict] = []
    converted: list[dict] = []
    for message in messages:
        role = message["role"]
        if role in ("system", "developer"):
            system.append(_text_of(message["content"]))
            system_blocks += _blocks(message["content"])
            continue
        if role == "tool":
            role = "user"
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _text_of(message["content"]),
            }
            blocks = [_marked(result, message)]
        else:
            blocks = _blocks(message.get("content"))
            for call in message.get("tool_calls") or ():
                arguments = call["function"].get("arguments") or "{}"
                try:
                    tool_input = orjson.loads(arguments)
                except orjson.JSONDecodeError:
                    tool_input = {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["function"]["name"],
                        "input": tool_input,
                    }
                )
        if converted and converted[-1]["role"] == role:
            converted[-1]["content"].extend(blocks)  # the API wants alternating turns
        else:
            converted.append({"role": role, "content": blocks})
    if any("cache_control" in block for block in system_blocks):
        return system_blocks, converted
    return ("\n\n".join(system) or None), converted


def _tools(tools: list[dict]) -> list[dict]:
    converted = []
    for tool in tools:
        function = tool.get("function", {})
        converted.append(
            _marked(
                {
                    "name": function["name"],
                    "description": function.get("description", ""),
                    "input_schema": function.get("parameters")
                    or {"type": "object", "properties": {}},
                },
                tool,
            )
        )
    return converted


def _tool_choice(choice) -> dict | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": choice["function"]["name"]}
    return None


# OpenAI's reasoning_effort as a share of max_tokens for thinking (capped by EFFORT_CEILINGS);
# "none" and "minimal" turn extended thinking off.
EFFORT_SHARES = {"low": 0.25, "medium": 0.5, "high": 0.8, "xhigh": 0.9, "max": 0.95}
EFFORT_CEILINGS = {"low": 4000, "medium": 16000, "high": 32000, "xhigh": 64000, "max": 128000}


def _thinking_budget(request: ChatRequest) -> int | None:
    """The thinking budget to ask for, or None for no extended thinking: the client's own
    (kept below max_tokens, as the API requires), else one for its reasoning_effort, else
    half of max_tokens up to 16000."""
    if not request.reasoning or request.thinking_budget == 0:
        return None
    if request.thinking_budget is None and request.reasoning_effort is not None:
        effort = request.reasoning_effort
        if effort not in EFFORT_SHARES:
            return None
        budget = min(
            max(int(request.max_tokens * EFFORT_SHARES[effort]), MIN_THINKING_BUDGET),
            EFFORT_CEILINGS[effort],
            request.max_tokens - 1,
        )
        return budget if budget >= MIN_THINKING_BUDGET else None
    if request.thinking_budget is not None:
        budget = min(request.thinking_budget, request.max_tokens - 1)
        return budget if budget >= MIN_THINKING_BUDGET else None
    if request.max_tokens <= 2 * MIN_THINKING_BUDGET:
        return None
    return max(MIN_THINKING_BUDGET, min(request.max_tokens // 2, 16000))


ANSWER_TOOL = "json_answer"


def _answer_tool(response_format: dict | None) -> dict | None:
    if not response_format or response_format.get("type") not in ("json_object", "json_schema"):
        return None
    schema: dict = {"type": "object"}
    description = "Give your whole answer as this tool's input: a JSON object."
    if response_format["type"] == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") or schema
        if spec.get("description"):
            description += f" {spec['description']}"
    return {"name": ANSWER_TOOL, "description": description, "input_schema": schema}


class AnthropicAdapter:
    def __init__(
        self,
        *,
        provider_name: str,
        base_url: str,
        api_key: str,
        connect_timeout: float,
        total_timeout: float,
    ) -> None:
        self.provider_name = provider_name
        self._api_key = api_key
        self._secrets = secrets_of(api_key=api_key, base_url=base_url)
        timeout = httpx2.Timeout(total_timeout, connect=connect_timeout)
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key or "unset",
            base_url=base_url or None,
            max_retries=0,
            timeout=timeout,
            http_client=httpx2.AsyncClient(
                limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=200),
                timeout=timeout,
            ),
        )

    def is_configured(self) -> bool:
        return bool(self._api_key)

    async def aclose(self) -> None:
        await self.client.close()

    def _params(self, upstream: str, request: ChatRequest) -> dict:
        system, messages = to_messages(request.messages)
        params: dict = {"model": upstream, "messages": messages, "max_tokens": request.max_tokens}
        if system:
            params["system"] = system
        budget = _thinking_budget(request)
        thinking = budget is not None
        if thinking:
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            # Extended thinking fixes the sampling parameters; they only apply without it.
            # This SDK release no longer lists them as arguments, so they go in the body as is.
            sampling = {}
            for name in ("temperature", "top_p", "top_k"):
                value = getattr(request, name)
                if value is not None:
                    sampling[name] = min(value, 1.0) if name == "temperature" else value
            if sampling:
                params["extra_body"] = sampling
        if request.stop:
            params["stop_sequences"] = request.stop
        tools = _tools(request.tools) if request.tools else []
        choice = _tool_choice(request.tool_choice) if request.tools else None
        answer_tool = _answer_tool(request.response_format)
        if answer_tool is not None:
            # Structured output as a forced tool: its input is the JSON answer, and comes back
            # as the message's content (_AnswerTool). With tools of the client's own, the
            # model must call one of those or answer through this one.
            tools.append(answer_tool)
            if thinking:
                choice = {"type": "auto"}  # thinking allows no forced tool use
            elif request.tools:
                choice = {"type": "any"}
            else:
                choice = {"type": "tool", "name": ANSWER_TOOL}
        if tools:
            params["tools"] = tools
            if request.parallel_tool_calls is False:
                choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
            if choice is not None:
                params["tool_choice"] = choice
        user_id = (request.metadata or {}).get("user_id") or request.user
        if user_id:
            params["metadata"] = {"user_id": user_id}
        return params

    async def chat(
        self, upstream: str, request: ChatRequest, *, stream: bool
    ) -> AsyncIterator[Event]:
        params = self._params(upstream, request)
        try:
            response = await self.client.messages.create(**params, stream=stream)
        except anthropic.AnthropicError as error:
            raise failure_from(error, secrets=self._secrets) from error
        if not stream:
            for event in _message_events(response):
                yield event
            return
        try:
            async for event in _stream_events(response):
                yield event
        finally:
            await response.close()

    async def embed(self, upstream: str, request: EmbeddingRequest) -> EmbeddingResult:
        raise ProviderFailure("Anthropic offers no embeddings.", retryable=False)

    async def transcribe(self, upstream: str, request: TranscriptionRequest) -> TranscriptionResult:
        raise not_offered("transcription")

    async def generate_images(self, upstream: str, request: ImageRequest) -> ImageResult:
        raise not_offered("image generation")

    async def speak(self, upstream: str, request: SpeechRequest) -> SpeechResult:
        raise not_offered("speech")


def _usage(usage, *, output_tokens: int | None = None) -> Usage:
    """Anthropic counts cached input apart from `input_tokens`; our prompt_tokens are all of
    the input, with what was read from the cache said separately."""
    read = getattr(usage, "cache_read_input_tokens", None) or 0
    written = getattr(usage, "cache_creation_input_tokens", None) or 0
    return Usage(
        prompt_tokens=(usage.input_tokens or 0) + read + written,
        completion_tokens=usage.output_tokens if output_tokens is None else output_tokens,
        cached_tokens=read,
        cache_write_tokens=written,
    )


def _finish(stop_reason: str | None, *, answered_by_tool: bool) -> Done:
    if stop_reason == "tool_use" and answered_by_tool:
        return Done(finish_reason="stop")  # the answer tool is how it answered, not a call
    return Done(finish_reason=STOP_REASONS.get(stop_reason or "", "stop"))


def _message_events(message) -> list[Event]:
    events: list[Event] = []
    tool_index = 0
    answered_by_tool = False
    for block in message.content:
        if block.type == "thinking":
            events.append(ReasoningDelta(block.thinking))
        elif block.type == "text":
            events.append(ContentDelta(block.text))
        elif block.type == "tool_use" and block.name == ANSWER_TOOL:
            answered_by_tool = True
            events.append(ContentDelta(orjson.dumps(block.input).decode()))
        elif block.type == "tool_use":
            events.append(
                ToolCallDelta(
                    index=tool_index,
                    id=block.id,
                    name=block.name,
                    arguments=orjson.dumps(block.input).decode(),
                )
            )
            tool_index += 1
    events.append(_usage(message.usage))
    events.append(
        _finish(message.stop_reason, answered_by_tool=answered_by_tool and not tool_index)
    )
    return events


async def _stream_events(stream) -> AsyncIterator[Event]:
    start_usage = None
    completion_tokens = 0
    stop_reason = None
    tool_indexes: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
    answer_blocks: set[int] = set()  # blocks of the answer tool: their JSON is the content
    finished = False
    async for event in stream:
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                yield ContentDelta(delta.text)
            elif delta.type == "thinking_delta":
                yield ReasoningDelta(delta.thinking)
            elif delta.type == "input_json_delta" and event.index in answer_blocks:
                if delta.partial_json:
                    yield ContentDelta(delta.partial_json)
            elif delta.type == "input_json_delta" and event.index in tool_indexes:
                yield ToolCallDelta(index=tool_indexes[event.index], arguments=delta.partial_json)
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use" and block.name == ANSWER_TOOL:
                answer_blocks.add(event.index)
            elif block.type == "tool_use":
                tool_indexes[event.index] = len(tool_indexes)
                yield ToolCallDelta(index=tool_indexes[event.index], id=block.id, name=block.name)
        elif kind == "message_start":
            start_usage = event.message.usage
        elif kind == "message_delta":
            stop_reason = event.delta.stop_reason or stop_reason
            if event.usage is not None:
                completion_tokens = event.usage.output_tokens or completion_tokens
        elif kind == "message_stop":
            finished = True
    if not finished:
        raise ProviderFailure("The provider's stream ended before it finished.", retryable=False)
    if start_usage is not None:
        yield _usage(start_usage, output_tokens=completion_tokens)
    else:
        yield Usage(prompt_tokens=0, completion_tokens=completion_tokens)
    yield _finish(stop_reason, answered_by_tool=bool(answer_blocks) and not tool_indexes)
