"""A fake AI provider that speaks the real wire protocols: OpenAI's chat completions (streaming
and not, tools, reasoning_content), embeddings, models, audio transcriptions and image
generations, and Anthropic's Messages API (streaming and not, thinking, tool_use, images).

The official `openai` and `anthropic` SDKs work against it unchanged (base_url). It is a plain
ASGI app, so it is also the "direct" side of the gateway benchmark.

Behaviour is chosen by directives in the requested model name:

    fake-model
    fake:tokens=20,tps=200,reasoning=5,usage=0,tools=1,latency_ms=50
    fake:fault=503            answer every request with this HTTP status
    fake:fault=400,leak=1     ...with an error message that gives away what a careless server
                              would: the URL it was called at, the key it was sent, its own
                              address, a control character and a long tail
    fake:timeout=1            accept the request and never answer
    fake:cut_after=3          stream: drop the connection after 3 content chunks
    fake:stall_after=2        stream: after 2 content chunks send nothing more, holding the
                              connection open until the client hangs up
    fake:tokens=50,stamp=1    stream: each token is the time.time() it was sent (benchmarks)
    fake:malformed_after=2    stream: send a line that is not JSON after 2 chunks
    fake:report_completion=5000   report 5000 completion tokens whatever was generated
    fake:nul=1                the first content token and the first reasoning token each
                              carry a NUL character ("a\x00lpha"), which PostgreSQL text
                              cannot store
    fake:cached=6             report 6 of the prompt's tokens as read from the prompt cache
                              (OpenAI's prompt_tokens_details.cached_tokens, Anthropic's
                              cache_read_input_tokens)

As the real APIs do: with `logprobs: true` each OpenAI content token carries its log
probability (and `top_logprobs` alternatives); an Anthropic `tool_choice` of a named tool (or
"any") is answered by a tool_use of that tool, its input made from the tool's input_schema.

tokens (default 8) is capped by the request's max_tokens / max_completion_tokens, which then
ends with finish_reason "length". The content is deterministic: word i of WORDS, cycled.

Control API for tests: POST /_control/faults {"model", "status", "count"} fails the next
`count` requests for that model ("*" for any); DELETE /_control/faults clears them.
GET /_control/requests returns the last 200 requests (path, model, body with long strings
trimmed, auth headers, and for streams chunks_sent and client_disconnected);
DELETE /_control/requests clears the log.

    python -m aiapi.testing.fake_upstream --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import math
import socket
import struct
import threading
import time
import zlib
from collections import deque
from email.parser import BytesParser
from email.policy import HTTP

import orjson

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
THOUGHTS = [
    "first",
    "consider",
    "the",
    "question",
    "then",
    "weigh",
    "the",
    "options",
    "and",
    "answer",
]
DEFAULT_TOKENS = 8


def content_tokens(count: int) -> list[str]:
    return [WORDS[i % len(WORDS)] + (" " if i < count - 1 else "") for i in range(count)]


def reasoning_tokens(count: int) -> list[str]:
    return [THOUGHTS[i % len(THOUGHTS)] + (" " if i < count - 1 else "") for i in range(count)]


def _with_nul(tokens: list[str]) -> list[str]:
    """The same tokens, the first with a NUL after its first character."""
    if not tokens:
        return tokens
    return [tokens[0][:1] + "\x00" + tokens[0][1:], *tokens[1:]]


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


def token_logprobs(tokens: list[str], top: int) -> list[dict]:
    return [
        {
            "token": token,
            "logprob": -0.25,
            "bytes": list(token.encode()),
            "top_logprobs": [
                {"token": alt, "logprob": -0.25 - i, "bytes": list(alt.encode())}
                for i, alt in enumerate(
                    [token, *[w for w in WORDS if w != token.strip()][: top - 1]]
                )
            ][:top],
        }
        for token in tokens
    ]


def parse_directives(model: str) -> dict[str, int]:
    options = {
        "tokens": DEFAULT_TOKENS,
        "tps": 0,
        "reasoning": 0,
        "usage": 1,
        "fault": 0,
        "timeout": 0,
        "cut_after": -1,
        "stall_after": -1,
        "malformed_after": -1,
        "report_completion": -1,
        "tools": 0,
        "latency_ms": 0,
        "stamp": 0,
        "nul": 0,
        "leak": 0,
        "cached": 0,
    }
    _, _, spec = model.partition(":")
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key.strip() in options and value.strip().lstrip("-").isdigit():
            options[key.strip()] = int(value)
    return options


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def count_prompt_tokens(messages: list, system=None) -> int:
    total = len(_text_of(system).split()) + 3 if system else 0
    for message in messages or ():
        total += len(_text_of(message.get("content")).split()) + 3
    return total


def tiny_png(seed: str, size: int = 8) -> bytes:
    digest = hashlib.sha256(seed.encode()).digest()
    rows = b"".join(
        b"\x00" + bytes(digest[(x + y) % 32] for x in range(size * 3)) for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _trim(value, limit: int = 200):
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "..."
    if isinstance(value, list):
        return [_trim(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _trim(v, limit) for k, v in value.items()}
    return value


def _leaky_message(status: int, request: dict) -> str:
    headers = request["headers"]
    key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    host = headers.get("host", "")
    return (
        f"injected fault {status}: messages[0].content is not valid.\x00 Request to "
        f"http://{host}{request['path']} with key {key} (Authorization: Bearer {key}) "
        f"refused by worker {host} in org-a1b2c3d4e5f6, trace 9f86d081884c7d659a2feaa0c55ad015. "
        + "See the documentation. "
        * 40
    )


class Disconnected(Exception):
    pass


class FakeUpstreamApp:
    def __init__(self, expected_key: str | None = None) -> None:
        self.expected_key = expected_key
        self.faults: dict[str, list[int]] = {}  # model -> [status, remaining]
        self.log: deque[dict] = deque(maxlen=200)
        self.files: dict[str, bytes] = {}

    # --- ASGI plumbing -----------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request = {
            "method": scope["method"],
            "path": scope["path"],
            "headers": headers,
            "body": bytes(body),
            "receive": receive,
            "send": send,
        }
        with contextlib.suppress(Disconnected):
            await self.route(request)

    async def respond(self, send, status: int, payload, content_type=b"application/json"):
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    # --- routing -----------------------------------------------------------------------------
    async def route(self, request):
        method, path, send = request["method"], request["path"], request["send"]
        if path.startswith("/_control/"):
            return await self.control(request)
        if method == "GET" and path.startswith("/files/"):
            data = self.files.get(path.removeprefix("/files/"))
            if data is None:
                return await self.respond(send, 404, {"error": "no such file"})
            return await self.respond(send, 200, data, b"image/png")
        anthropic = path == "/v1/messages"
        if not self.authorised(request["headers"], anthropic=anthropic):
            return await self.error(
                send, 401, "invalid api key", anthropic=anthropic, kind="authentication_error"
            )
        if method == "GET" and path == "/v1/models":
            return await self.respond(
                send,
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}
                    ],
                },
            )
        if method != "POST":
            return await self.respond(send, 404, {"error": {"message": "not found"}})
        if path == "/v1/audio/transcriptions":
            return await self.transcription(request)
        try:
            body = orjson.loads(request["body"] or b"{}")
        except orjson.JSONDecodeError:
            return await self.error(send, 400, "invalid json", anthropic=anthropic)
        model = str(body.get("model", ""))
        record = {
            "path": path,
            "model": model,
            "body": _trim(body),
            "authorization": request["headers"].get("authorization"),
            "x_api_key": request["headers"].get("x-api-key"),
            "chunks_sent": 0,
            "client_disconnected": False,
            "time": time.time(),
        }
        self.log.append(record)
        options = parse_directives(model)
        status = self.take_fault(model) or options["fault"]
        if options["latency_ms"]:
            await asyncio.sleep(options["latency_ms"] / 1000)
        if status:
            message = f"injected fault {status}"
            if options["leak"]:
                message = _leaky_message(status, request)
            return await self.error(send, status, message, anthropic=anthropic)
        if options["timeout"]:
            await self.wait_for_disconnect(request["receive"], record)
            return None
        if path == "/v1/chat/completions":
            return await self.chat(request, body, options, record)
        if path == "/v1/messages":
            return await self.messages(request, body, options, record)
        if path == "/v1/embeddings":
            return await self.embeddings(send, body)
        if path == "/v1/images/generations":
            return await self.images(send, body)
        return await self.respond(send, 404, {"error": {"message": "not found"}})

    def authorised(self, headers: dict, *, anthropic: bool) -> bool:
        auth = headers.get("authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        if anthropic:
            # Anthropic takes x-api-key; its newer SDKs send a bearer token instead.
            key = headers.get("x-api-key", "") or key
            if "anthropic-version" not in headers:
                return False
        if not key:
            return False
        return self.expected_key is None or key == self.expected_key

    def take_fault(self, model: str) -> int:
        for name in (model, "*"):
            fault = self.faults.get(name)
            if fault and fault[1] > 0:
                fault[1] -= 1
                return fault[0]
        return 0

    async def error(
        self, send, status: int, message: str, *, anthropic: bool, kind: str | None = None
    ):
        if anthropic:
            kinds = {
                400: "invalid_request_error",
                401: "authentication_error",
                429: "rate_limit_error",
                529: "overloaded_error",
            }
            payload = {
                "type": "error",
                "error": {"type": kind or kinds.get(status, "api_error"), "message": message},
            }
        else:
            payload = {
                "error": {
                    "message": message,
                    "type": kind or "server_error",
                    "param": None,
                    "code": str(status),
                }
            }
        await self.respond(send, status, payload)

    async def control(self, request):
        send, method, path = request["send"], request["method"], request["path"]
        if path == "/_control/faults":
            if method == "POST":
                spec = orjson.loads(request["body"])
                self.faults[spec.get("model", "*")] = [
                    int(spec["status"]),
                    int(spec.get("count", 1)),
                ]
            elif method == "DELETE":
                self.faults.clear()
            return await self.respond(send, 200, {"faults": self.faults})
        if path == "/_control/requests":
            if method == "DELETE":
                self.log.clear()
            return await self.respond(send, 200, list(self.log))
        return await self.respond(send, 404, {"error": "unknown control"})

    async def wait_for_disconnect(self, receive, record) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                record["client_disconnected"] = True
                return

    # --- OpenAI chat -------------------------------------------------------------------------
    def plan(self, body: dict, options: dict, *, limit_key: str) -> tuple[list, list, str]:
        limit = body.get(limit_key) or body.get("max_tokens")
        count = options["tokens"]
        finish = "stop"
        if isinstance(limit, int) and limit < count:
            count, finish = limit, "length"
        tokens, thoughts = content_tokens(count), reasoning_tokens(options["reasoning"])
        if options["nul"]:
            tokens, thoughts = _with_nul(tokens), _with_nul(thoughts)
        return tokens, thoughts, finish

    def tool_call(self, body: dict) -> dict | None:
        tools = body.get("tools") or []
        if not tools:
            return None
        first = tools[0]
        name = first.get("function", {}).get("name") or first.get("name") or "tool"
        return {
            "id": f"call_{hashlib.sha256(name.encode()).hexdigest()[:12]}",
            "name": name,
            "arguments": orjson.dumps({"city": "Paris"}).decode(),
        }

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

    async def chat(self, request, body, options, record):
        send = request["send"]
        tokens, thoughts, finish = self.plan(body, options, limit_key="max_completion_tokens")
        call = self.tool_call(body) if options["tools"] else None
        if call is not None:
            tokens, finish = [], "tool_calls"
        prompt = count_prompt_tokens(body.get("messages"))
        generated = len(tokens) + len(thoughts)
        if options["report_completion"] >= 0:  # a provider that lies about its usage
            generated = options["report_completion"]
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": generated,
            "total_tokens": prompt + generated,
            "completion_tokens_details": {"reasoning_tokens": len(thoughts)},
        }
        if options["cached"]:
            usage["prompt_tokens_details"] = {"cached_tokens": min(options["cached"], prompt)}
        top = body.get("top_logprobs") or 0
        logprobs = (
            (lambda ts: {"content": token_logprobs(ts, top)}) if body.get("logprobs") else None
        )
        created = int(time.time())
        completion_id = f"chatcmpl-fake{created}"
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(tokens) or None, "refusal": None}
            if thoughts:
                message["reasoning_content"] = "".join(thoughts)
            if call is not None:
                message["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ]
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": finish,
                        "logprobs": logprobs(tokens) if logprobs and tokens else None,
                    }
                ],
            }
            if options["usage"]:
                payload["usage"] = usage
            return await self.respond(send, 200, payload)

        base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model"),
        }

        def chunk(delta: dict, finish_reason=None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            if logprobs and delta.get("content"):
                choice["logprobs"] = logprobs([delta["content"]])
            data = {**base, "choices": [choice]}
            return b"data: " + orjson.dumps(data) + b"\n\n"

        deltas = [chunk({"role": "assistant", "content": ""})]
        deltas += [chunk({"reasoning_content": t}) for t in thoughts]
        if options["stamp"]:
            # Each token is the wall-clock time it was sent: lets a benchmark measure how long
            # every chunk took to reach the client.
            deltas += [
                ("content", lambda: chunk({"content": f"{time.time():.6f} "})) for _ in tokens
            ]
        else:
            deltas += [("content", chunk({"content": t})) for t in tokens]
        if call is not None:
            deltas.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            )
            for piece in (call["arguments"][:6], call["arguments"][6:]):
                deltas.append(
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                )
        deltas.append(chunk({}, finish))
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if options["usage"] and include_usage:
            deltas.append(
                b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
            )
        deltas.append(b"data: [DONE]\n\n")
        await self.stream(request, deltas, options, record)

    async def stream(self, request, deltas: list, options: dict, record: dict):
        send, receive = request["send"], request["receive"]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        disconnected = asyncio.Event()

        async def watch():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    return

        watcher = asyncio.create_task(watch())
        delay = 1 / options["tps"] if options["tps"] else 0
        content_sent = 0
        try:
            for item in deltas:
                is_content = isinstance(item, tuple)
                data = item[1] if is_content else item
                if disconnected.is_set():
                    record["client_disconnected"] = True
                    return
                if is_content:
                    if content_sent == options["cut_after"]:
                        return  # ends the response without the rest: a cut stream
                    if content_sent == options["stall_after"]:
                        await disconnected.wait()  # a provider gone quiet mid-answer
                        record["client_disconnected"] = True
                        return
                    if content_sent == options["malformed_after"]:
                        await send(
                            {
                                "type": "http.response.body",
                                "body": b"data: {this is not json\n\n",
                                "more_body": True,
                            }
                        )
                    if delay:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(disconnected.wait(), delay)
                        if disconnected.is_set():
                            record["client_disconnected"] = True
                            return
                    content_sent += 1
                if callable(data):
                    data = data()
                try:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                except OSError:
                    record["client_disconnected"] = True
                    return
                record["chunks_sent"] += 1
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            if options["cut_after"] >= 0 and content_sent == options["cut_after"]:
                # Abrupt end: close without the terminating chunk.
                raise Disconnected

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
        input_usage = {"input_tokens": prompt - cached}
        if cached:
            input_usage |= {"cache_read_input_tokens": cached, "cache_creation_input_tokens": 0}
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

    # --- embeddings, audio, images -----------------------------------------------------------
    async def embeddings(self, send, body):
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else list(raw or [])
        dimensions = int(body.get("dimensions") or 16)
        data = []
        for index, text in enumerate(inputs):
            vector = fake_embedding(str(text), dimensions)
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(str(t).split()) for t in inputs)
        await self.respond(
            send,
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    async def transcription(self, request):
        send = request["send"]
        content_type = request["headers"].get("content-type", "")
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request["body"]
        )
        fields, audio = {}, b""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                audio = part.get_payload(decode=True) or b""
            elif name:
                fields[name] = (part.get_payload(decode=True) or b"").decode()
        self.log.append(
            {
                "path": request["path"],
                "model": fields.get("model", ""),
                "body": {**fields, "file_bytes": len(audio)},
                "chunks_sent": 0,
                "client_disconnected": False,
                "time": time.time(),
            }
        )
        status = (
            self.take_fault(fields.get("model", ""))
            or parse_directives(fields.get("model", ""))["fault"]
        )
        if status:
            return await self.error(send, status, f"injected fault {status}", anthropic=False)
        text = f"fake transcript of {len(audio)} bytes"
        fmt = fields.get("response_format", "json")
        if fmt == "text":
            return await self.respond(send, 200, text.encode(), b"text/plain")
        if fmt in ("srt", "vtt"):
            cue = (
                "00:00:00,000 --> 00:00:01,000" if fmt == "srt" else "00:00:00.000 --> 00:00:01.000"
            )
            body = f"1\n{cue}\n{text}\n" if fmt == "srt" else f"WEBVTT\n\n{cue}\n{text}\n"
            return await self.respond(send, 200, body.encode(), b"text/plain")
        payload = {"text": text}
        if fmt == "verbose_json":
            payload.update(
                {
                    "task": "transcribe",
                    "language": fields.get("language", "english"),
                    "duration": 1.0,
                    "segments": [
                        {
                            "id": 0,
                            "seek": 0,
                            "start": 0.0,
                            "end": 1.0,
                            "text": text,
                            "tokens": [],
                            "temperature": 0.0,
                            "avg_logprob": 0.0,
                            "compression_ratio": 1.0,
                            "no_speech_prob": 0.0,
                        }
                    ],
                }
            )
        payload["usage"] = {"type": "duration", "seconds": 1}
        await self.respond(send, 200, payload)

    async def images(self, send, body):
        count = int(body.get("n") or 1)
        data = []
        for index in range(count):
            png = tiny_png(f"{body.get('prompt')}:{index}")
            if body.get("response_format") == "b64_json":
                data.append(
                    {
                        "b64_json": base64.b64encode(png).decode(),
                        "revised_prompt": body.get("prompt"),
                    }
                )
            else:
                name = f"{hashlib.sha256(png).hexdigest()[:16]}.png"
                self.files[name] = png
                data.append(
                    {
                        "url": f"{self.public_root}/files/{name}",
                        "revised_prompt": body.get("prompt"),
                    }
                )
        await self.respond(send, 200, {"created": int(time.time()), "data": data})

    public_root = "http://127.0.0.1"


def fake_embedding(text: str, dimensions: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def make_app(expected_key: str | None = None) -> FakeUpstreamApp:
    return FakeUpstreamApp(expected_key)


class FakeUpstream:
    """Runs the fake on 127.0.0.1 in a background thread, for tests."""

    def __init__(self, expected_key: str | None = None, port: int | None = None) -> None:
        import uvicorn

        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port
        self.app = make_app(expected_key)
        self.app.public_root = self.root_url
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            loop="asyncio",
            http="h11",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/_control"

    def start(self) -> FakeUpstream:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # In-process, so the control API's state is read directly.
    def set_fault(self, model: str, status: int, count: int = 1) -> None:
        self.app.faults[model] = [status, count]

    def clear(self) -> None:
        self.app.faults.clear()
        self.app.log.clear()

    def requests(self) -> list[dict]:
        return list(self.app.log)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--expected-key", default=None)
    args = parser.parse_args()
    app = make_app(args.expected_key)
    app.public_root = f"http://{args.host}:{args.port}"
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
