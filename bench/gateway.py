"""Gateway overhead and capacity, in one run on this machine: the same load sent straight to
the fake upstream ("direct"), through our gateway (one worker) and, with --litellm, through
LiteLLM's proxy (one worker), with the issue's goals printed as PASS/FAIL lines.

    .venv/bin/python bench/gateway.py [--litellm] [--seconds 10] [--server uvicorn|granian]
        [--scenarios closed,bifrost,streams,sockets] [--profile] [--out FILE]

Starts the fake upstream (uvicorn, one process), prepares a PostgreSQL database of its own
(`chukchat_bench`) and Redis db 9, and serves the gateway as `make serve` does (uvicorn, uvloop,
httptools, lifespan on; `--server granian` for the A/B). Scenarios:

- closed: wrk (C, one thread) sends the same 16-token chat request: p50 at 1 connection,
  requests/s and p50/p99 at 16, 16-token streams/s at 16; with the serving processes' CPU per
  request, resident memory and PostgreSQL transactions per request (pg_stat_database).
- bifrost: Bifrost's published test: the upstream answers after 1.5 s, 500 requests/s offered
  open-loop for 30 s (latency counted from each request's scheduled moment).
- streams: 1,000 concurrent streams of 50 tokens at 10 tokens/s; every chunk must arrive; the
  worker's peak memory while it holds them.
- sockets: 10,000 WebSockets (API key) opened and held idle; each must still be open after.

"Added" is the target's p50 minus direct's. LiteLLM is installed once into var/bench-litellm
(its proxy extra is not a dependency of ours) and run with one worker and no database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import orjson

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
        "CHUK_LOG_LEVEL": os.environ.get("CHUK_LOG_LEVEL", "WARNING"),
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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def raise_open_files() -> None:
    """Ten thousand sockets need as many descriptors, in this process and the servers."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_gateway(
    env: dict, port: int, workers: int, server: str = "uvicorn", root: Path = ROOT
) -> subprocess.Popen:
    """The gateway as `make serve` runs it: uvicorn (or granian, for the A/B), uvloop,
    httptools, `workers` processes, lifespan on (the process keeper renews leases). `root`:
    the checkout it runs from (bench/ab_paired.py runs another beside this one)."""
    if server == "granian":
        command = [
            str(Path(PYTHON).parent / "granian"),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "1",
            "--log-level",
            "warning",
            "chukchat.asgi:application",
        ]
    else:
        command = [
            str(Path(PYTHON).parent / "uvicorn"),
            "chukchat.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--lifespan",
            "on",
            "--timeout-graceful-shutdown",
            "30",
            "--timeout-worker-healthcheck",
            "60",
            "--ws",
            "chukchat.draining:WebSocketProtocol",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--backlog",
            "4096",
        ]
    log = open(ROOT / "var" / f"bench-{server}.log", "ab")  # noqa: SIM115 (the child keeps it)
    return subprocess.Popen(
        command,
        cwd=root,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
        preexec_fn=raise_open_files,
    )


def start_upstream(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "fakes.upstream", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=raise_open_files,
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


LITELLM_VERSION = "1.108.5"
LITELLM_VENV = ROOT / "var" / "bench-litellm"
LITELLM_KEY = "sk-bench-litellm-master"


def litellm_binary() -> Path:
    """LiteLLM's proxy in a virtualenv of its own (its proxy extra is not a dependency of ours)."""
    binary = LITELLM_VENV / "bin" / "litellm"
    marker = LITELLM_VENV / f".litellm-{LITELLM_VERSION}"
    if not marker.exists():
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
        marker.touch()
    return binary


def start_litellm(port: int, upstream_port: int) -> subprocess.Popen:
    config = ROOT / "var" / "bench_litellm.yaml"
    config.write_text(
        "model_list:\n"
        + "".join(
            f"  - model_name: {name}\n    litellm_params:\n      model: openai/{upstream}\n"
            f"      api_base: http://127.0.0.1:{upstream_port}/v1\n      api_key: sk-bench\n"
            for name, upstream in UPSTREAMS.items()
        )
    )
    return subprocess.Popen(
        [str(litellm_binary()), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        cwd=ROOT,
        # 1.108 refuses to start without a master key; requests carry it, as ours carry a key.
        env={
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_MASTER_KEY": LITELLM_KEY,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=raise_open_files,
    )


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


# The model names each target is asked for, and what the fake upstream does for each.
UPSTREAMS = {
    "bench": "fake:tokens=16",
    "bench-stream": "fake:tokens=16",
    # Bifrost's published test: the provider answers after 1.5 s.
    "bench-slow": "fake:tokens=16,latency_ms=1500",
    # A real model's pace: 50 tokens at 10 a second.
    "bench-paced": "fake:tokens=50,tps=10",
}
PACED_TOKENS = 50


def wrk(url: str, auth: str, body: dict, connections: int, seconds: float) -> dict:
    """Closed-loop load from wrk (C, one thread): requests/s, p50/p99 in ms, failures."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(ROOT / "bench" / "wrk_post.lua"),
            url,
        ],
        env={**os.environ, "WRK_BODY": orjson.dumps(body).decode(), "WRK_AUTH": auth},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
    raw = orjson.loads(line.removeprefix("WRK_JSON "))
    failures = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50": raw["p50_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "failures": failures,
    }


def transactions(database: str) -> int:
    """Committed and rolled-back transactions PostgreSQL has counted for `database`."""
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-tAc",
            "SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback "
            f"FROM pg_stat_database WHERE datname = '{database}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[-1])


async def measure(
    label: str, base: str, auth: str, pids: list[int], args, *, database: bool = True
) -> dict:
    """One target's closed-loop figures (wrk): p50 at 1 connection, requests/s at 16, 16-token
    streams/s at 16; CPU per request, resident memory, database transactions per request."""
    chat = f"{base}/v1/chat/completions"
    body = {**CHAT_BODY, "model": "bench"}
    figures: dict = {"label": label, "idle_mb": rss_mb(pids)}
    warm_up(base, auth)
    one = wrk(chat, auth, body, 1, args.seconds)
    figures.update(p50_1=one["p50"], rps1=one["rps"], failures1=one["failures"])
    before_cpu = cpu_seconds(pids)
    before_tx = transactions("chukchat_bench") if database else 0
    spy = (
        start_profile(pids[-1], args.seconds, label, whole_stacks=args.profile_whole_stacks)
        if (args.profile or args.profile_whole_stacks) and pids
        else None
    )
    sixteen = wrk(chat, auth, body, 16, args.seconds)
    if spy is not None:
        spy.wait(timeout=60)
        print("\n".join(profile_summary(Path(spy.args[spy.args.index("-o") + 1]))), flush=True)
    figures.update(
        rps16=sixteen["rps"],
        p50_16=sixteen["p50"],
        p99_16=sixteen["p99"],
        failures16=sixteen["failures"],
    )
    if pids:
        figures["cpu16"] = (cpu_seconds(pids) - before_cpu) / max(1, sixteen["requests"]) * 1000
    if database:
        # PostgreSQL publishes a backend's counts when it has been idle a while (at most 10 s).
        await asyncio.sleep(11)
        figures["tx_per_request"] = (transactions("chukchat_bench") - before_tx) / max(
            1, sixteen["requests"]
        )
    streams = wrk(chat, auth, {**body, "model": "bench-stream", "stream": True}, 16, args.seconds)
    figures.update(sps16=streams["rps"], stream_failures=streams["failures"])
    figures["loaded_mb"] = rss_mb(pids)
    print(figures, flush=True)
    return figures


def start_profile(pid: int, seconds: float, label: str, *, whole_stacks: bool) -> subprocess.Popen:
    """py-spy on the serving process for the 16-connection run, raw (collapsed) stacks.
    Without pausing the worker a sample's stack is often cut short (only its innermost frames);
    `whole_stacks` pauses it for each sample: every stack whole, the worker slower meanwhile."""
    name = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
    out = ROOT / "var" / f"profile-{name}.raw"
    return subprocess.Popen(
        [
            str(Path(PYTHON).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            *([] if whole_stacks else ["--nonblocking"]),
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile_summary(path: Path, top: int = 25) -> list[str]:
    """Where the samples went: by function (self), and by our own modules (inclusive)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a line broken by an undecodable byte
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + samples
        for frame in set(frames):
            if any(f"({app}/" in frame for app in ("aiapi", "billing", "accounts", "chukchat")):
                name = frame.split(":")[0] + ")"
                inclusive[name] = inclusive.get(name, 0) + samples
    lines = [f"profile {path.name}: {total} samples; self time by function:"]
    for frame, samples in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {samples / total:6.1%}  {frame[:140]}")
    lines.append("our functions, inclusive:")
    for frame, samples in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {samples / total:6.1%}  {frame[:140]}")
    return lines


async def open_loop(url: str, auth: str, body: dict, rate: int, seconds: float) -> dict:
    """Bifrost's scenario: `rate` requests a second for `seconds`, each sent on schedule
    whatever the others are doing (open loop); latency counts from the scheduled moment, so a
    server that falls behind is charged for the queue it builds."""
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    payload = orjson.dumps(body)
    latencies: list[float] = []
    by_window: dict[int, list[float]] = {}  # 5-second windows of the schedule
    failures = 0
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(scheduled: float) -> None:
            nonlocal failures
            try:
                async with session.post(url, data=payload, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                        return
            except (TimeoutError, aiohttp.ClientError):
                failures += 1
                return
            latency = time.perf_counter() - scheduled
            latencies.append(latency)
            by_window.setdefault(int((scheduled - started) // 5), []).append(latency)

        total = int(rate * seconds)
        pending: set[asyncio.Task] = set()
        # The load generator's own collector must not pause the schedule (wrk, in C, has
        # none): with it on, and every task kept, the fake alone had slow windows every ~25 s
        # (p99 1.549 s; 1.503 without). What a run allocates is bounded; it is collected after.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            started = time.perf_counter()
            for index in range(total):
                scheduled = started + index / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one(scheduled))
                pending.add(task)  # held only while it runs
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
        finally:
            gc.enable()
            gc.unfreeze()
    # Served: answers that succeeded per second of the schedule (all of them, when the target
    # keeps up); whether it kept up shows in the latencies, counted from the schedule.
    return {
        "offered": total / seconds,
        "served": len(latencies) / seconds,
        "success": len(latencies) / total,
        "p50": pct(latencies, 0.5) if latencies else 0.0,
        "p99": pct(latencies, 0.99) if latencies else 0.0,
        "failures": failures,
        # Whether the tail is a start-up transient or the steady state.
        "p99_by_5s": [round(pct(by_window[w], 0.99)) for w in sorted(by_window)],
    }


async def many_streams(url: str, auth: str, count: int, pids: list[int]) -> dict:
    """`count` streams at once, each 50 tokens at 10 a second; every chunk must arrive. The
    worker's resident memory is sampled while it holds them."""
    headers = {"Content-Type": "application/json", "Authorization": auth}
    payload = orjson.dumps({**CHAT_BODY, "model": "bench-paced", "stream": True, "max_tokens": 256})
    complete = 0
    chunks = 0
    peak = 0.0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pids))
            await asyncio.sleep(0.2)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def one() -> None:
            nonlocal complete, chunks
            content = 0
            finished = False
            try:
                async with session.post(url, data=payload, headers=headers) as response:
                    async for line in response.content:
                        if line.startswith(b"data: [DONE]"):
                            finished = True
                        elif b'"content":"' in line:
                            content += 1
            except (TimeoutError, aiohttp.ClientError):
                pass
            chunks += content
            complete += finished and content >= PACED_TOKENS

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - started
        done.set()
        await sampler
    return {
        "streams": count,
        "complete": complete,
        "chunks": chunks,
        "expected_chunks": count * PACED_TOKENS,
        "seconds": elapsed,
        "peak_mb": peak,
    }


async def idle_sockets(url: str, auth: str, count: int, pids: list[int], hold: float) -> dict:
    """`count` WebSockets opened (authenticated by API key) and held idle for `hold` seconds;
    then each must still answer a ping. Memory is the worker's while it holds them all."""
    connector = aiohttp.TCPConnector(limit=0)
    opened: list = []
    refused = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        semaphore = asyncio.Semaphore(64)  # handshakes in flight, not sockets held

        async def one() -> None:
            nonlocal refused
            async with semaphore:
                try:
                    socket_ = await session.ws_connect(
                        url,
                        headers={"Authorization": auth},
                        heartbeat=None,
                        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10),
                    )
                    opened.append(socket_)
                except (TimeoutError, aiohttp.ClientError):
                    refused += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        open_seconds = time.perf_counter() - started
        await asyncio.sleep(hold)
        held_mb = rss_mb(pids)
        alive = sum(not socket_.closed for socket_ in opened)
        await asyncio.gather(*(socket_.close() for socket_ in opened), return_exceptions=True)
    return {
        "sockets": count,
        "opened": len(opened),
        "alive_after_hold": alive,
        "refused": refused,
        "open_seconds": open_seconds,
        "held_mb": held_mb,
    }


def goal(text: str, met: bool) -> str:
    return f"{'PASS' if met else 'FAIL'}  {text}"


def goal_lines(results: dict) -> list[str]:
    """The issue's goals, each with its figure from this run."""
    direct, us = results["direct"], results["us"]
    lines = []
    litellm = results.get("litellm")
    us_added = us["p50_1"] - direct["p50_1"]
    if litellm:
        lite_added = litellm["p50_1"] - direct["p50_1"]
        ratio = us_added / lite_added if lite_added > 0 else float("inf")
        lines.append(
            goal(
                f"added p50 at 1 connection: us +{us_added:.2f} ms, LiteLLM +{lite_added:.2f} ms"
                f" = {ratio:.2f} of LiteLLM's (goal <= 0.10)",
                ratio <= 0.10,
            )
        )
        ratio = us["rps16"] / litellm["rps16"]
        lines.append(
            goal(
                f"req/s at 16 connections: us {us['rps16']:.0f}, LiteLLM {litellm['rps16']:.0f}"
                f" = {ratio:.1f}x (goal >= 8x)",
                ratio >= 8,
            )
        )
        ratio = us["sps16"] / litellm["sps16"]
        lines.append(
            goal(
                f"16-token streams/s at 16: us {us['sps16']:.0f}, LiteLLM {litellm['sps16']:.0f}"
                f" = {ratio:.1f}x (goal >= 12x)",
                ratio >= 12,
            )
        )
    share = us["rps16"] / direct["rps16"]
    lines.append(
        goal(
            f"req/s at 16 connections: us {us['rps16']:.0f}, direct {direct['rps16']:.0f}"
            f" = {share:.0%} of direct (goal >= 25%)",
            share >= 0.25,
        )
    )
    if "bifrost" in results:
        b = results["bifrost"]
        lines.append(
            goal(
                f"Bifrost (1.5 s upstream, {b['offered']:.0f} req/s offered open-loop): "
                f"{b['served']:.0f} req/s served, {b['success']:.2%} success, "
                f"p99 {b['p99'] / 1000:.3f} s (goal >= 480 req/s, 100%, p99 < 1.6 s)",
                b["served"] >= 480 and b["success"] == 1 and b["p99"] < 1600,
            )
        )
        lines.append(
            "      p99 by 5 s of the schedule: "
            + ", ".join(f"{ms / 1000:.2f}" for ms in b.get("p99_by_5s", []))
            + " s"
        )
        if "bifrost_direct" in results:
            db = results["bifrost_direct"]
            lines.append(
                f"      straight to the fake on the same test: p50 {db['p50'] / 1000:.3f} s, "
                f"p99 {db['p99'] / 1000:.3f} s"
            )
        if "bifrost_litellm" in results:
            lb = results["bifrost_litellm"]
            lines.append(
                f"      LiteLLM on the same test: {lb['served']:.0f} req/s served, "
                f"{lb['success']:.2%} success, p99 {lb['p99'] / 1000:.3f} s"
            )
    if "streams" in results:
        s = results["streams"]
        lines.append(
            goal(
                f"{s['streams']} concurrent streams on one worker: {s['complete']} complete, "
                f"{s['chunks']} of {s['expected_chunks']} chunks delivered",
                s["complete"] == s["streams"] and s["chunks"] >= s["expected_chunks"],
            )
        )
        lines.append(
            goal(
                f"worker RSS holding {s['streams']} streams: {s['peak_mb']:.0f} MB (goal <= 200)",
                s["peak_mb"] <= 200,
            )
        )
    if "sockets" in results:
        w = results["sockets"]
        lines.append(
            goal(
                f"{w['sockets']} idle WebSockets on one worker: {w['opened']} opened, "
                f"{w['alive_after_hold']} alive after the hold, worker RSS {w['held_mb']:.0f} MB",
                w["alive_after_hold"] == w["sockets"],
            )
        )
    lines.append(
        goal(f"worker RSS idle: {us['idle_mb']:.0f} MB (goal <= 120)", us["idle_mb"] <= 120)
    )
    lines.append(
        goal(
            f"database transactions per request after the provider call: "
            f"{us['tx_per_request']:.2f} (goal <= 1, amortised)",
            us["tx_per_request"] <= 1.0,
        )
    )
    return lines


def table(rows: list[dict]) -> list[str]:
    direct = rows[0]
    out = [
        "| target | p50 at 1 ms (added) | req/s at 1 | req/s at 16 | p50 / p99 at 16 ms "
        "| 16-token streams/s at 16 | CPU per request | DB transactions per request "
        "| memory idle / loaded |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        added = "" if r is direct else f" (+{r['p50_1'] - direct['p50_1']:.2f})"
        out.append(
            f"| {r['label']} | {r['p50_1']:.2f}{added} | {r['rps1']:.0f} | {r['rps16']:.0f} "
            f"| {r['p50_16']:.1f} / {r['p99_16']:.1f} | {r['sps16']:.0f} "
            + (f"| {r['cpu16']:.2f} ms " if "cpu16" in r else "| - ")
            + (f"| {r['tx_per_request']:.2f} " if "tx_per_request" in r else "| - ")
            + (f"| {r['idle_mb']:.0f} / {r['loaded_mb']:.0f} MB |" if r["idle_mb"] else "| - |")
        )
        failures = r["failures1"] + r["failures16"] + r["stream_failures"]
        if failures:
            out[-1] += f" ({failures} failures)"
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--server", default="uvicorn", choices=("uvicorn", "granian"))
    parser.add_argument("--litellm", action="store_true", help="measure LiteLLM's proxy too")
    parser.add_argument(
        "--scenarios",
        default="closed,bifrost,streams,sockets",
        help="closed (wrk), bifrost (open loop, 1.5 s upstream), streams (1,000), sockets (10,000)",
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--sockets", type=int, default=10000)
    parser.add_argument("--bifrost-rate", type=int, default=500)
    parser.add_argument("--bifrost-seconds", type=float, default=30)
    parser.add_argument("--out", default=None, help="append the results to this file")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the 16-connection run of each target"
    )
    parser.add_argument(
        "--profile-whole-stacks",
        action="store_true",
        help="as --profile, pausing the worker for each sample (whole stacks, slower run)",
    )
    args = parser.parse_args()
    scenarios = set(args.scenarios.split(","))
    raise_open_files()

    upstream_port = free_port()
    upstream = start_upstream(upstream_port)
    env = gateway_env(upstream_port)
    key = prepare_database(
        env, upstream_port, extra_models={m: UPSTREAMS[m] for m in ("bench-slow", "bench-paced")}
    )
    wait_for(f"http://127.0.0.1:{upstream_port}/v1/models")
    auth = f"Bearer {key}"
    results: dict = {}
    rows = []
    try:
        direct_base = f"http://127.0.0.1:{upstream_port}"
        # The direct side asks the fake for the behaviour by name, as the targets' configs do.
        results["direct"] = await measure_direct(direct_base, args)
        rows.append(results["direct"])
        if "bifrost" in scenarios:
            # The floor of Bifrost's test: this client and the fake, nobody between them.
            results["bifrost_direct"] = await open_loop(
                f"{direct_base}/v1/chat/completions",
                "Bearer sk-bench",
                {**CHAT_BODY, "model": UPSTREAMS["bench-slow"]},
                args.bifrost_rate,
                args.bifrost_seconds,
            )
            print("bifrost direct", results["bifrost_direct"], flush=True)

        # Each scenario on a fresh worker: requests a scenario's client gave up on (Bifrost's,
        # when the target falls behind) must not weigh on the next one's figures.
        for scenario in ("closed", "bifrost", "streams", "sockets"):
            if scenario not in scenarios:
                continue
            port = free_port()
            gateway = start_gateway(env, port, 1, args.server)
            base = f"http://127.0.0.1:{port}"
            try:
                wait_for(f"{base}/health/ready")
                time.sleep(1)
                pids = process_tree(gateway.pid)
                if scenario == "closed":
                    label = f"Chuk, 1 worker ({args.server})"
                    results["us"] = await measure(label, base, auth, pids, args)
                    rows.append(results["us"])
                elif scenario == "bifrost":
                    warm_up(base, auth)
                    results["bifrost"] = await open_loop(
                        f"{base}/v1/chat/completions",
                        auth,
                        {**CHAT_BODY, "model": "bench-slow"},
                        args.bifrost_rate,
                        args.bifrost_seconds,
                    )
                    print("bifrost", results["bifrost"], flush=True)
                elif scenario == "streams":
                    results["streams"] = await many_streams(
                        f"{base}/v1/chat/completions", auth, args.streams, pids
                    )
                    print("streams", results["streams"], flush=True)
                else:
                    results["sockets"] = await idle_sockets(
                        f"ws://127.0.0.1:{port}/v1/ai/chat/ws", auth, args.sockets, pids, hold=5
                    )
                    print("sockets", results["sockets"], flush=True)
            finally:
                stop(gateway)

        if args.litellm:
            port = free_port()
            proxy = start_litellm(port, upstream_port)
            base = f"http://127.0.0.1:{port}"
            try:
                wait_for(f"{base}/health/liveliness", timeout=180)
                time.sleep(2)
                pids = process_tree(proxy.pid)
                if "closed" in scenarios:
                    results["litellm"] = await measure(
                        f"LiteLLM proxy {LITELLM_VERSION}, 1 worker",
                        base,
                        f"Bearer {LITELLM_KEY}",
                        pids,
                        args,
                        database=False,
                    )
                    rows.append(results["litellm"])
                if "bifrost" in scenarios:
                    warm_up(base, f"Bearer {LITELLM_KEY}")
                    results["bifrost_litellm"] = await open_loop(
                        f"{base}/v1/chat/completions",
                        f"Bearer {LITELLM_KEY}",
                        {**CHAT_BODY, "model": "bench-slow"},
                        args.bifrost_rate,
                        args.bifrost_seconds,
                    )
                    print("bifrost litellm", results["bifrost_litellm"], flush=True)
            finally:
                stop(proxy)
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
    report = table(rows) if "us" in results else []
    if "us" in results:
        report += ["", *goal_lines(results)]
    print("\n".join(report))
    if args.out:
        with open(args.out, "a") as handle:
            handle.write("\n".join(report) + "\n")


def warm_up(base: str, auth: str) -> None:
    """2 s of wrk at 4 connections before a scenario measures: the first requests of a fresh
    process load what it loads lazily (the tokenizer, the caches, the database pool and its
    prepared statements), which would otherwise weigh on the first figures."""
    wrk(f"{base}/v1/chat/completions", auth, {**CHAT_BODY, "model": "bench"}, 4, 2)


async def measure_direct(base: str, args) -> dict:
    """The floor: the same load straight to the fake upstream, naming its behaviour."""
    chat = f"{base}/v1/chat/completions"
    auth = "Bearer sk-bench"
    body = {**CHAT_BODY, "model": UPSTREAMS["bench"]}
    wrk(chat, auth, body, 4, 2)
    one = wrk(chat, auth, body, 1, args.seconds)
    sixteen = wrk(chat, auth, body, 16, args.seconds)
    streams = wrk(
        chat, auth, {**body, "model": UPSTREAMS["bench-stream"], "stream": True}, 16, args.seconds
    )
    figures = {
        "label": "direct to the upstream",
        "idle_mb": 0,
        "p50_1": one["p50"],
        "rps1": one["rps"],
        "failures1": one["failures"],
        "rps16": sixteen["rps"],
        "p50_16": sixteen["p50"],
        "p99_16": sixteen["p99"],
        "failures16": sixteen["failures"],
        "sps16": streams["rps"],
        "stream_failures": streams["failures"],
    }
    print(figures, flush=True)
    return figures


if __name__ == "__main__":
    asyncio.run(main())
