"""Anthropic's Messages API through the official `anthropic` async client: OpenAI-shaped messages
become Messages blocks (images as image blocks, tools as tool_use / tool_result), and extended
thinking comes back as reasoning."""

from __future__ import annotations

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
        else:
            continue
        blocks.append(_marked(block, part))
    return blocks


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


def _thinking_budget(request: ChatRequest) -> int | None:
    """The thinking budget to ask for, or None for no extended thinking: the client's own
    (kept below max_tokens, as the API requires), else half of max_tokens up to 16000."""
    if not request.reasoning or request.thinking_budget == 0:
        return None
    if request.thinking_budget is not None:
        budget = min(request.thinking_budget, request.max_tokens - 1)
        return budget if budget >= MIN_THINKING_BUDGET else None
    if request.max_tokens <= 2 * MIN_THINKING_BUDGET:
        return None
    return max(MIN_THINKING_BUDGET, min(request.max_tokens // 2, 16000))


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
        if request.tools:
            params["tools"] = _tools(request.tools)
            choice = _tool_choice(request.tool_choice)
            if choice is not None:
                params["tool_choice"] = choice
        if request.user:
            params["metadata"] = {"user_id": request.user}
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


def _message_events(message) -> list[Event]:
    events: list[Event] = []
    tool_index = 0
    for block in message.content:
        if block.type == "thinking":
            events.append(ReasoningDelta(block.thinking))
        elif block.type == "text":
            events.append(ContentDelta(block.text))
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
    events.append(
        Usage(
            prompt_tokens=message.usage.input_tokens, completion_tokens=message.usage.output_tokens
        )
    )
    events.append(Done(finish_reason=STOP_REASONS.get(message.stop_reason or "", "stop")))
    return events


async def _stream_events(stream) -> AsyncIterator[Event]:
    prompt_tokens = completion_tokens = 0
    stop_reason = None
    tool_indexes: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
    finished = False
    async for event in stream:
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                yield ContentDelta(delta.text)
            elif delta.type == "thinking_delta":
                yield ReasoningDelta(delta.thinking)
            elif delta.type == "input_json_delta" and event.index in tool_indexes:
                yield ToolCallDelta(index=tool_indexes[event.index], arguments=delta.partial_json)
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                tool_indexes[event.index] = len(tool_indexes)
                yield ToolCallDelta(index=tool_indexes[event.index], id=block.id, name=block.name)
        elif kind == "message_start":
            prompt_tokens = event.message.usage.input_tokens or 0
        elif kind == "message_delta":
            stop_reason = event.delta.stop_reason or stop_reason
            if event.usage is not None:
                completion_tokens = event.usage.output_tokens or completion_tokens
        elif kind == "message_stop":
            finished = True
    if not finished:
        raise ProviderFailure("The provider's stream ended before it finished.", retryable=False)
    yield Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    yield Done(finish_reason=STOP_REASONS.get(stop_reason or "", "stop"))
