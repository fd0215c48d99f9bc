"""Streaming through the gateway, chunk by chunk: how long each chunk takes to reach the client
straight from the fake upstream and through one gateway worker process (OpenAI SSE, Chuk SSE,
WebSocket), with many streams held at once.

    .venv/bin/python bench/chat_streams.py [--streams 1,64,256] [--tokens 50] [--tps 10]

The fake upstream stamps every token with the wall-clock time it sent it (`stamp=1`), so the
client knows each chunk's one-way latency; "added" is the gateway's latency minus the direct
one at the same percentile and the same number of concurrent streams. Every stream runs at
`--tps` tokens a second, as a real model does, so N streams mean N x tps chunks a second.
The gateway runs as `make serve` runs it (uvicorn, uvloop, httptools, PostgreSQL, Redis) but
with ONE worker, to show what a single process holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import (
    cpu_seconds,
    free_port,
    gateway_env,
    pct,
    prepare_database,
    process_tree,
    rss_mb,
    start_gateway,
    start_upstream,
    stop,
    wait_for,
)

QUESTION = [{"role": "user", "content": "Tell me the time, many times."}]


def stamps_in(text: str, received: float, into: list[float]) -> None:
    for word in text.split():
        with contextlib.suppress(ValueError):
            into.append(received - float(word))


async def sse_stream(client, url: str, body: dict, field: str, into: list[float]) -> bool:
    """One SSE stream; the latency of each stamped chunk goes `into`. True if it finished."""
    finished = False
    async with client.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            received = time.time()
            data = line[6:]
            if data == "[DONE]":
                finished = True
                continue
            event = orjson.loads(data)
            if field == "openai":
                choices = event.get("choices") or [{}]
                stamps_in(choices[0].get("delta", {}).get("content") or "", received, into)
            elif "text" in event:
                stamps_in(event["text"], received, into)
            elif event.get("done"):
                finished = True
    return finished


async def ws_stream(url: str, key: str, body: dict, into: list[float]) -> bool:
    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        # Stream ids are the client's, unique per user (they are how a stream is resumed).
        await ws.send(orjson.dumps({"type": "chat", "id": uuid.uuid4().hex, **body}))
        while True:
            frame = orjson.loads(await ws.recv())
            received = time.time()
            if frame["type"] == "text":
                stamps_in(frame["text"], received, into)
            elif frame["type"] in ("done", "error"):
                if frame["type"] == "error":
                    print("websocket error frame:", frame, flush=True)
                return frame["type"] == "done"


async def run_many(count: int, make_stream, pids: list[int]) -> dict:
    latencies: list[float] = []
    peak = 0.0
    cpu_before = cpu_seconds(pids)
    started = time.perf_counter()
    tasks = [asyncio.create_task(make_stream(latencies)) for _ in range(count)]
    while not all(t.done() for t in tasks):
        peak = max(peak, rss_mb(pids))
        await asyncio.sleep(0.2)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            print("stream failed:", repr(result), flush=True)
            break
    elapsed = time.perf_counter() - started
    return {
        "finished": sum(1 for r in results if r is True),
        "latencies": latencies,
        "peak_mb": peak,
        "cpu": (cpu_seconds(pids) - cpu_before) / elapsed if pids else 0.0,
        "elapsed": elapsed,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", default="1,64,256")
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--tps", type=int, default=10)
    parser.add_argument("--out", default=None, help="append the results table to this file")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    upstream_model = f"fake:tokens={args.tokens},tps={args.tps},stamp=1"

    upstream_port, gateway_port = free_port(), free_port()
    upstream = start_upstream(upstream_port)
    env = {**gateway_env(upstream_port), "CHUK_WS_FRAMES_PER_SECOND": "1000"}
    key = prepare_database(env, upstream_port, extra_models={"bench-stamp": upstream_model})
    gateway = start_gateway(env, gateway_port, workers=1)
    rows = [
        "| streams at once | path | finished | chunk p50 ms | chunk p99 ms | added p50 ms "
        "| added p99 ms | worker CPU | worker peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    try:
        wait_for(f"http://127.0.0.1:{upstream_port}/v1/models")
        wait_for(f"http://127.0.0.1:{gateway_port}/health")
        time.sleep(1)
        pids = process_tree(gateway.pid)
        base = f"http://127.0.0.1:{gateway_port}"
        ws_url = f"ws://127.0.0.1:{gateway_port}/v1/ai/chat/ws"
        body = {"messages": QUESTION, "max_tokens": args.tokens * 2}
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
        upstream_client = httpx.AsyncClient(
            timeout=120, limits=limits, headers={"Authorization": "Bearer sk-bench"}
        )
        gateway_client = httpx.AsyncClient(
            timeout=120, limits=limits, headers={"Authorization": f"Bearer {key}"}
        )
        paths = {
            "direct (upstream SSE)": lambda into: sse_stream(
                upstream_client,
                f"http://127.0.0.1:{upstream_port}/v1/chat/completions",
                {**body, "model": upstream_model, "stream": True},
                "openai",
                into,
            ),
            "gateway, OpenAI SSE": lambda into: sse_stream(
                gateway_client,
                f"{base}/v1/chat/completions",
                {**body, "model": "bench-stamp", "stream": True},
                "openai",
                into,
            ),
            "gateway, Chuk SSE": lambda into: sse_stream(
                gateway_client,
                f"{base}/v1/ai/chat/stream",
                {**body, "model": "bench-stamp"},
                "chuk",
                into,
            ),
            "gateway, WebSocket": lambda into: ws_stream(
                ws_url, key, {**body, "model": "bench-stamp"}, into
            ),
        }
        for count in counts:
            direct = None
            for label, make in paths.items():
                result = await run_many(count, make, [] if label.startswith("direct") else pids)
                lat = result["latencies"]
                if direct is None:
                    direct = lat
                row = (
                    f"| {count} | {label} | {result['finished']}/{count} | {pct(lat, 0.5):.2f} "
                    f"| {pct(lat, 0.99):.2f} | "
                    + (
                        "- | - | - | - |"
                        if lat is direct
                        else f"{pct(lat, 0.5) - pct(direct, 0.5):.2f} | "
                        f"{pct(lat, 0.99) - pct(direct, 0.99):.2f} | {result['cpu'] * 100:.0f}% "
                        f"| {result['peak_mb']:.0f} |"
                    )
                )
                rows.append(row)
                print(row, flush=True)
        await upstream_client.aclose()
        await gateway_client.aclose()
    finally:
        stop(gateway)
        upstream.terminate()
        upstream.wait(timeout=10)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
