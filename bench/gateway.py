"""Gateway overhead: the same load sent straight to the fake upstream and through the gateway,
in one run, on this machine.

    .venv/bin/python bench/gateway.py [--workers 2] [--seconds 5] [--out docs/benchmarks.md]

Starts the fake upstream (uvicorn, one process), prepares a PostgreSQL database of its own
(`chukchat_bench`) and Redis db 9, serves the gateway the way `make serve` does (uvicorn with
uvloop + httptools, N worker processes), and measures:
- non-streaming chat: requests/s and p50/p99 latency at 1, 16 and 64 concurrent clients,
  direct versus through the gateway (the difference is what the gateway adds);
- 256-token streams: time to first token and total time, direct versus gateway;
- memory: the gateway's resident set (all workers) idle and while holding 100 open streams.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chukchat_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
CHAT_BODY = {
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "max_tokens": 64,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def gateway_env(upstream_port: int) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DJANGO_SECRET_KEY": "bench-only",
        "CHUK_CACHE_PREFIX": "bench",
        "CHUK_LOG_LEVEL": "WARNING",
        "CHUK_PLAIN_STATIC": "1",
    }


def prepare_database(env: dict, upstream_port: int, extra_models: dict | None = None) -> str:
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-q",
            "-c",
            "DROP DATABASE IF EXISTS chukchat_bench",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", "CREATE DATABASE chukchat_bench"],
        check=True,
        capture_output=True,
    )
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    catalogue = ROOT / "var" / "bench_models.toml"
    catalogue.parent.mkdir(exist_ok=True)
    catalogue.write_text(
        f"""
[[providers]]
name = "fake"
kind = "openai_compatible"
base_url = "http://127.0.0.1:{upstream_port}/v1"
api_key = "sk-bench"

[[models]]
id = "bench"
provider = "fake"
upstream = "fake:tokens=16"
input_price = 1.0
output_price = 2.0

[[models]]
id = "bench-stream"
provider = "fake"
upstream = "fake:tokens=256"
max_output_tokens = 4096
input_price = 1.0
output_price = 2.0

[[models]]
id = "bench-held"
provider = "fake"
upstream = "fake:tokens=100,tps=20"
input_price = 1.0
output_price = 2.0
"""
        + "".join(
            f'''
[[models]]
id = "{public_id}"
provider = "fake"
upstream = "{upstream}"
input_price = 1.0
output_price = 2.0
'''
            for public_id, upstream in (extra_models or {}).items()
        )
    )
    subprocess.run(
        [PYTHON, "manage.py", "loadmodels", str(catalogue)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    # Limits stay on (their Redis check is part of every request) but never bind.
    subprocess.run(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-c",
            "from billing.models import Plan; Plan.objects.filter(slug='free').update("
            "chat_requests_per_minute=10**9, chat_tokens_per_minute=10**9, "
            "api_requests_per_minute=10**9)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "createapikey", "bench@example.com", "--credits", "1000000"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def process_tree(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    children = [int(p) for p in out.split()]
    return [pid] + [q for c in children for q in process_tree(c)]


async def load(
    url: str, headers: dict, body: dict, concurrency: int, seconds: float
) -> tuple[float, list[float], int]:
    """Closed-loop load: `concurrency` clients each sending back to back for `seconds`."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:
        for _ in range(min(concurrency, 8)):  # warm the connections and caches
            await client.post(url, json=body)
        stop_at = time.perf_counter() + seconds

        async def worker():
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await client.post(url, json=body)
                if response.status_code != 200:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


async def stream_once(client: httpx.AsyncClient, url: str, body: dict) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    async with client.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if first is None and '"content"' in line:
                first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


async def streams(url: str, headers: dict, body: dict, count: int) -> tuple[list, list]:
    ttft, total = [], []
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        await stream_once(client, url, body)
        for _ in range(count):
            first, whole = await stream_once(client, url, body)
            ttft.append(first)
            total.append(whole)
    return ttft, total


async def hold_streams(url: str, headers: dict, body: dict, count: int, pids: list[int]) -> float:
    peak = 0.0
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=60, headers=headers, limits=limits) as client:
        tasks = [asyncio.create_task(stream_once(client, url, body)) for _ in range(count)]
        while not all(t.done() for t in tasks):
            peak = max(peak, rss_mb(pids))
            await asyncio.sleep(0.2)
        await asyncio.gather(*tasks)
    return peak


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--out", default=None, help="append a results table to this file")
    args = parser.parse_args()

    upstream_port, gateway_port = free_port(), free_port()
    upstream = subprocess.Popen(
        [PYTHON, "-m", "aiapi.testing.fake_upstream", "--port", str(upstream_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = gateway_env(upstream_port)
    key = prepare_database(env, upstream_port)
    gateway = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "uvicorn"),
            "chukchat.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(gateway_port),
            "--workers",
            str(args.workers),
            "--lifespan",
            "off",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    rows: list[str] = []
    try:
        direct = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
        through = f"http://127.0.0.1:{gateway_port}/v1/chat/completions"
        wait_for(f"http://127.0.0.1:{upstream_port}/v1/models")
        wait_for(f"http://127.0.0.1:{gateway_port}/health")
        time.sleep(1)
        pids = process_tree(gateway.pid)
        idle_mb = rss_mb(pids)
        up_headers = {"Authorization": "Bearer sk-bench"}
        gw_headers = {"Authorization": f"Bearer {key}"}

        print("non-streaming chat (16 tokens)")
        rows.append(
            "| clients | direct req/s | gateway req/s | direct p50 ms | gateway p50 ms "
            "| added p50 ms | direct p99 ms | gateway p99 ms | added p99 ms | errors |"
        )
        rows.append("|---|---|---|---|---|---|---|---|---|---|")
        for clients in (1, 16, 64):
            d_rps, d_lat, d_err = await load(
                direct, up_headers, {**CHAT_BODY, "model": "fake:tokens=16"}, clients, args.seconds
            )
            g_rps, g_lat, g_err = await load(
                through, gw_headers, {**CHAT_BODY, "model": "bench"}, clients, args.seconds
            )
            row = (
                f"| {clients} | {d_rps:.0f} | {g_rps:.0f} | {pct(d_lat, 0.5):.2f} | "
                f"{pct(g_lat, 0.5):.2f} | {pct(g_lat, 0.5) - pct(d_lat, 0.5):.2f} | "
                f"{pct(d_lat, 0.99):.2f} | {pct(g_lat, 0.99):.2f} | "
                f"{pct(g_lat, 0.99) - pct(d_lat, 0.99):.2f} | {d_err + g_err} |"
            )
            rows.append(row)
            print(row, flush=True)

        print("256-token streams, one at a time")
        stream_body = {**CHAT_BODY, "stream": True, "max_tokens": 1024}
        d_ttft, d_total = await streams(
            direct, up_headers, {**stream_body, "model": "fake:tokens=256"}, 30
        )
        g_ttft, g_total = await streams(
            through, gw_headers, {**stream_body, "model": "bench-stream"}, 30
        )
        rows.append("")
        rows.append("| 256-token stream | direct ms | gateway ms | added |")
        rows.append("|---|---|---|---|")
        for label, d, g in (
            ("time to first token (p50)", d_ttft, g_ttft),
            ("total (p50)", d_total, g_total),
        ):
            d50, g50 = statistics.median(d) * 1000, statistics.median(g) * 1000
            rows.append(
                f"| {label} | {d50:.2f} | {g50:.2f} | {g50 - d50:.2f} ms "
                f"({(g50 - d50) / d50 * 100:.0f}%) |"
            )
            print(rows[-1], flush=True)

        peak = await hold_streams(
            through, gw_headers, {**stream_body, "model": "bench-held"}, 100, pids
        )
        rows.append("")
        rows.append(f"| memory (all {args.workers} workers) | MB |")
        rows.append("|---|---|")
        rows.append(f"| idle after warm-up | {idle_mb:.0f} |")
        rows.append(f"| peak holding 100 concurrent streams | {peak:.0f} |")
        print("\n".join(rows[-4:]), flush=True)
    finally:
        os.killpg(gateway.pid, signal.SIGTERM)
        upstream.terminate()
        gateway.wait(timeout=10)
        upstream.wait(timeout=10)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
