"""The Anthropic side of the fake provider: the Messages API (streaming and not, thinking,
tool_use, images, cached input tokens). As the real API does, a `tool_choice` of a named
tool (or "any") is answered by a tool_use of that tool, its input made from the tool's
input_schema."""

from __future__ import annotations

import hashlib
import time

import orjson

from fakes.upstream_server import count_prompt_tokens, reasoning_tokens


def example_of(schema: dict):
    """A value that fits a JSON schema (the common shapes): what a model would fill in."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        return {
            name: example_of(sub) for name, sub in (schema.get("properties") or {}).items()
        } or {"answer": "Paris"}
    if kind == "array":
        return [example_of(schema.get("items") or {"type": "string"})]
    return {"integer": 3, "number": 1.5, "boolean": True, "null": None}.get(kind, "Paris")


class AnthropicFake:
    """Anthropic's Messages API: streamed and not, thinking, tool_use (a forced tool_choice
    answered with that tool), cached input tokens."""

    def forced_tool(self, body: dict) -> dict | None:
        """Anthropic: a tool_choice of a named tool, or "any", is answered with that tool."""
        choice = body.get("tool_choice") or {}
        tools = {t.get("name"): t for t in body.get("tools") or ()}
        if choice.get("type") == "tool":
            tool = tools.get(choice.get("name"))
        elif choice.get("type") == "any" and tools:
            tool = next(iter(tools.values()))
        else:
            return None
        if tool is None:
            return None
        return {
            "id": f"toolu_{hashlib.sha256(tool['name'].encode()).hexdigest()[:12]}",
            "name": tool["name"],
            "arguments": orjson.dumps(example_of(tool.get("input_schema") or {})).decode(),
        }

    # --- Anthropic messages ------------------------------------------------------------------
    async def messages(self, request, body, options, record):
        send = request["send"]
        tokens, thoughts, finish = self.plan(body, options, limit_key="max_tokens")
        if body.get("thinking", {}).get("type") == "enabled" and not thoughts:
            thoughts = reasoning_tokens(3)
        call = self.tool_call(body) if options["tools"] else None
        forced = self.forced_tool(body)
        if forced is not None:
            call = forced
        stop_reason = {"stop": "end_turn", "length": "max_tokens"}[finish]
        if call is not None:
            tokens, stop_reason = [], "tool_use"
        prompt = count_prompt_tokens(body.get("messages"), body.get("system"))
        output = len(tokens) + len(thoughts)
        message_id = f"msg_fake{int(time.time())}"
        cached = min(options["cached"], prompt)
        written = min(options["cache_write"], prompt - cached)
        input_usage = {"input_tokens": prompt - cached - written}
        if cached or written:
            input_usage |= {
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": written,
            }
        if not body.get("stream"):
            content = []
            if thoughts:
                content.append(
                    {"type": "thinking", "thinking": "".join(thoughts), "signature": "fake"}
                )
            if tokens:
                content.append({"type": "text", "text": "".join(tokens)})
            if call is not None:
                content.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["name"],
                        "input": orjson.loads(call["arguments"]),
                    }
                )
            return await self.respond(
                send,
                200,
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model"),
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {**input_usage, "output_tokens": output},
                },
            )

        def event(kind: str, data: dict) -> bytes:
            return (
                f"event: {kind}\n".encode()
                + b"data: "
                + orjson.dumps({"type": kind, **data})
                + b"\n\n"
            )

        events = [
            event(
                "message_start",
                {
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model"),
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {**input_usage, "output_tokens": 1},
                    }
                },
            )
        ]
        index = 0
        if thoughts:
            events.append(
                event(
                    "content_block_start",
                    {
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
            )
            events += [
                event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "thinking_delta", "thinking": t}},
                )
                for t in thoughts
            ]
            events.append(
                event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "signature_delta", "signature": "fake"}},
                )
            )
            events.append(event("content_block_stop", {"index": index}))
            index += 1
        if tokens:
            events.append(
                event(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "text", "text": ""}},
                )
            )
            events += [
                (
                    "content",
                    event(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "text_delta", "text": t}},
                    ),
                )
                for t in tokens
            ]
            events.append(event("content_block_stop", {"index": index}))
            index += 1
        if call is not None:
            events.append(
                event(
                    "content_block_start",
                    {
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": call["id"],
                            "name": call["name"],
                            "input": {},
                        },
                    },
                )
            )
            events.append(
                event(
                    "content_block_delta",
                    {
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": call["arguments"]},
                    },
                )
            )
            events.append(event("content_block_stop", {"index": index}))
        usage = {"output_tokens": output} if options["usage"] else {"output_tokens": 0}
        events.append(
            event(
                "message_delta",
                {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage},
            )
        )
        events.append(event("message_stop", {}))
        await self.stream(request, events, options, record)
