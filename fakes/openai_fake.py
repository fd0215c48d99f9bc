"""The OpenAI side of the fake provider: chat completions (streaming and not, tools,
reasoning_content, logprobs, cached tokens), embeddings, audio transcriptions, speech (a tone
as WAV or raw PCM), image generations.

As the real APIs do: with `logprobs: true` each OpenAI content token carries its log
probability (and `top_logprobs` alternatives)."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
import zlib
from email.parser import BytesParser
from email.policy import HTTP

import orjson

from fakes.upstream_server import WORDS, count_prompt_tokens, parse_directives


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


SPEECH_RATE = 24_000  # as OpenAI's speech: 24 kHz mono 16-bit


def tone_pcm(text: str) -> bytes:
    """A 440 Hz tone, 60 ms a character (at least half a second): audio whose length says
    how much text it stands for."""
    samples = max(SPEECH_RATE // 2, len(text) * SPEECH_RATE * 6 // 100)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / SPEECH_RATE)))
        for i in range(samples)
    )


def tone_wav(text: str) -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SPEECH_RATE)
        writer.writeframes(tone_pcm(text))
    return out.getvalue()


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


class OpenAIFake:
    """OpenAI's wire protocol: chat completions (streamed and not, tools, reasoning_content,
    logprobs, cached tokens), embeddings, transcriptions, image generations."""

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

    async def speech(self, send, body):
        """wav and pcm, as OpenAI makes them; the fake makes no compressed formats."""
        text = body.get("input")
        if not isinstance(text, str) or not text or body.get("voice") is None:
            return await self.error(send, 400, "input and voice are required", anthropic=False)
        fmt = body.get("response_format", "mp3")
        if fmt == "wav":
            return await self.respond(send, 200, tone_wav(text), b"audio/wav")
        if fmt == "pcm":
            return await self.respond(send, 200, tone_pcm(text), b"audio/pcm")
        return await self.error(
            send, 400, f"the fake makes wav and pcm, not {fmt}", anthropic=False
        )

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
