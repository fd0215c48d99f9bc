"""The fake providers' shared server: ASGI plumbing, routing, auth, injected faults, the
request log, the control API and paced streaming; the wire formats are mixed in
(fakes/openai_fake.py, fakes/anthropic_fake.py, put together in fakes/upstream.py).

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
    fake:cache_write=2        Anthropic: report 2 of the prompt's tokens as written to the
                              cache (cache_creation_input_tokens)

tokens (default 8) is capped by the request's max_tokens / max_completion_tokens, which then
ends with finish_reason "length". The content is deterministic: word i of WORDS, cycled.

Control API for tests: POST /_control/faults {"model", "status", "count"} fails the next
`count` requests for that model ("*" for any); DELETE /_control/faults clears them.
GET /_control/requests returns the last 200 requests (path, model, body with long strings
trimmed, auth headers, and for streams chunks_sent and client_disconnected);
DELETE /_control/requests clears the log."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import deque

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
        "cache_write": 0,
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


class UpstreamServer:
    """The plumbing every fake provider shares: ASGI, routing, auth, faults, the request log,
    the control API and paced streaming. The wire formats are mixed in (fakes/upstream.py)."""

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
            "content_type": request["headers"].get("content-type"),
            "accept": request["headers"].get("accept"),
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
        if path == "/v1/audio/speech":
            return await self.speech(send, body)
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
