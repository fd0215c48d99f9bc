"""Gateway overhead: the same load sent straight to the fake upstream, through our gateway (one
and two worker processes) and, with --litellm, through LiteLLM's proxy, in one run, on this
machine.

    .venv/bin/python bench/gateway.py [--seconds 5] [--workers 1,2] [--litellm] [--out FILE]

Starts the fake upstream (uvicorn, one process), prepares a PostgreSQL database of its own
(`chukchat_bench`) and Redis db 9, serves the gateway the way `make serve` does (uvicorn with
uvloop + httptools), and for each target measures with a closed-loop client (httpx, one
process): non-streaming chat (16 tokens) requests/s and p50/p99 latency at 1 and 16 clients;
16-token streams/s at 16 clients; CPU per request and resident memory of the serving
processes. "Added" is the target's p50 minus the direct p50. LiteLLM is installed once into
var/bench-litellm (it is not a dependency of ours) and run with one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
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
upstream = "fake:tokens=16"
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


async def post_once(client: httpx.AsyncClient, url: str, body: dict) -> tuple[bool, float]:
    started = time.perf_counter()
    response = await client.post(url, json=body)
    return response.status_code == 200, time.perf_counter() - started


async def closed_loop(
    send, url: str, headers: dict, body: dict, concurrency: int, seconds: float, timeout: float
) -> tuple[float, list[float], int]:
    """Closed-loop load: `concurrency` clients each calling `send` (which answers whether it
    succeeded and how long it took) back to back for `seconds`. Rate, times, failures."""
    times: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers) as client:
        for _ in range(min(concurrency, 8)):  # warm the connections and caches
            await send(client, url, body)
        stop_at = time.perf_counter() + seconds

        async def worker():
            nonlocal errors
            while time.perf_counter() < stop_at:
                ok, elapsed = await send(client, url, body)
                errors += not ok
                times.append(elapsed)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(times) / elapsed, times, errors


async def stream_once(client: httpx.AsyncClient, url: str, body: dict) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    async with client.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if first is None and '"content"' in line:
                first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def start_gateway(env: dict, port: int, workers: int) -> subprocess.Popen:
    """The gateway as `make serve` runs it: uvicorn, uvloop, httptools, `workers` processes."""
    return subprocess.Popen(
        [
            str(Path(PYTHON).parent / "uvicorn"),
            "chukchat.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
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


def start_upstream(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "fakes.upstream", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 20 s: uvicorn waits for open connections, and a run that
    held hundreds of streams can leave some it never finishes closing."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


LITELLM_VERSION = "1.100.0"
LITELLM_VENV = ROOT / "var" / "bench-litellm"


def litellm_binary() -> Path:
    """LiteLLM's proxy in a virtualenv of its own (it is not a dependency of ours)."""
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run(
            [
                str(LITELLM_VENV / "bin" / "pip"),
                "install",
                "-q",
                f"litellm[proxy]=={LITELLM_VERSION}",
            ],
            check=True,
        )
    return binary


def start_litellm(port: int, upstream_port: int) -> subprocess.Popen:
    config = ROOT / "var" / "bench_litellm.yaml"
    config.write_text(
        "model_list:\n"
        + "".join(
            f"  - model_name: {name}\n    litellm_params:\n      model: openai/{upstream}\n"
            f"      api_base: http://127.0.0.1:{upstream_port}/v1\n      api_key: sk-bench\n"
            for name, upstream in (("bench", BENCH_UPSTREAM), ("bench-stream", STREAM_UPSTREAM))
        )
    )
    return subprocess.Popen(
        [str(litellm_binary()), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        cwd=ROOT,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


async def stream_whole(client: httpx.AsyncClient, url: str, body: dict) -> tuple[bool, float]:
    """A whole stream: failed when no content arrived."""
    first, whole = await stream_once(client, url, body)
    return first != 0.0, whole


BENCH_UPSTREAM = "fake:tokens=16"
STREAM_UPSTREAM = "fake:tokens=16"


async def measure(label: str, base: str, headers: dict, models: dict, pids: list[int], args):
    """One target's figures: non-streaming at 1 and 16 clients, streams at 16, memory, CPU."""
    chat = f"{base}/v1/chat/completions"
    figures: dict = {"label": label}
    idle = rss_mb(pids)
    for clients in (1, 16):
        before = cpu_seconds(pids)
        rps, latencies, errors = await closed_loop(
            post_once,
            chat,
            headers,
            {**CHAT_BODY, "model": models["chat"]},
            clients,
            args.seconds,
            timeout=30,
        )
        figures[f"rps{clients}"] = rps
        figures[f"p50_{clients}"] = pct(latencies, 0.5)
        figures[f"p99_{clients}"] = pct(latencies, 0.99)
        figures[f"errors{clients}"] = errors
        if pids:
            figures[f"cpu{clients}"] = (cpu_seconds(pids) - before) / len(latencies) * 1000
    sps, totals, errors = await closed_loop(
        stream_whole,
        chat,
        headers,
        {**CHAT_BODY, "model": models["stream"], "stream": True},
        16,
        args.seconds,
        timeout=60,
    )
    figures.update(sps16=sps, stream_p50=pct(totals, 0.5), stream_errors=errors)
    figures["idle_mb"] = idle
    figures["loaded_mb"] = rss_mb(pids)
    print(figures, flush=True)
    return figures


def table(results: list[dict]) -> list[str]:
    direct = results[0]
    rows = [
        "| target | req/s at 1 | req/s at 16 | p50 at 1 ms (added) | p50 at 16 ms (added) "
        "| p99 at 16 ms | streams/s at 16 | CPU per request | memory idle / loaded |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        added = r is not direct
        rows.append(
            f"| {r['label']} | {r['rps1']:.0f} | {r['rps16']:.0f} "
            f"| {r['p50_1']:.2f}"
            + (f" (+{r['p50_1'] - direct['p50_1']:.2f})" if added else "")
            + f" | {r['p50_16']:.2f}"
            + (f" (+{r['p50_16'] - direct['p50_16']:.2f})" if added else "")
            + f" | {r['p99_16']:.2f} | {r['sps16']:.0f} "
            + (f"| {r['cpu16']:.2f} ms " if "cpu16" in r else "| - ")
            + (f"| {r['idle_mb']:.0f} / {r['loaded_mb']:.0f} MB |" if r["idle_mb"] else "| - |")
        )
        errors = r["errors1"] + r["errors16"] + r["stream_errors"]
        if errors:
            rows[-1] += f" ({errors} errors)"
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--workers", default="1,2", help="gateway worker counts to measure")
    parser.add_argument("--litellm", action="store_true", help="measure LiteLLM's proxy too")
    parser.add_argument("--out", default=None, help="append the results table to this file")
    args = parser.parse_args()

    upstream_port = free_port()
    upstream = start_upstream(upstream_port)
    env = gateway_env(upstream_port)
    key = prepare_database(env, upstream_port)
    wait_for(f"http://127.0.0.1:{upstream_port}/v1/models")
    results = []
    try:
        results.append(
            await measure(
                "direct to the upstream",
                f"http://127.0.0.1:{upstream_port}",
                {"Authorization": "Bearer sk-bench"},
                {"chat": BENCH_UPSTREAM, "stream": STREAM_UPSTREAM},
                [],
                args,
            )
        )
        for workers in [int(n) for n in args.workers.split(",")]:
            port = free_port()
            gateway = start_gateway(env, port, workers)
            try:
                wait_for(f"http://127.0.0.1:{port}/health")
                time.sleep(1)
                results.append(
                    await measure(
                        f"Chuk gateway, {workers} worker{'s' if workers > 1 else ''}",
                        f"http://127.0.0.1:{port}",
                        {"Authorization": f"Bearer {key}"},
                        {"chat": "bench", "stream": "bench-stream"},
                        process_tree(gateway.pid),
                        args,
                    )
                )
            finally:
                stop(gateway)
        if args.litellm:
            port = free_port()
            proxy = start_litellm(port, upstream_port)
            try:
                wait_for(f"http://127.0.0.1:{port}/health/liveliness", timeout=120)
                time.sleep(2)
                results.append(
                    await measure(
                        "LiteLLM proxy 1.100.0, 1 worker",
                        f"http://127.0.0.1:{port}",
                        {},
                        {"chat": "bench", "stream": "bench-stream"},
                        process_tree(proxy.pid),
                        args,
                    )
                )
            finally:
                stop(proxy)
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
    rows = table(results)
    print("\n".join(rows))
    if args.out:
        with open(args.out, "a") as handle:
            handle.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
