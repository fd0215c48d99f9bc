"""Two checkouts of the gateway under the same load at the same moment: a paired A/B.

This machine's speed moves by a third between runs a minute apart, more than most changes are
worth, so runs one after the other cannot tell a 10 % change from noise. Here A (this checkout)
and B (`--b-root`, e.g. a `git worktree` of the commit before) each run one worker against the
same fake upstream, database and key, and wrk drives both at once, round after round: whatever
the machine does, it does to both. Reported per round and as medians: requests/s, p50, and
each worker's CPU per request.

    .venv/bin/python bench/ab_paired.py --b-root /tmp/before [--rounds 6] [--seconds 8]

A setting is compared the same way on one checkout: `--a-env` / `--b-env NAME=VALUE` (each
repeatable) add to one side's environment, e.g. `--b-env CHUK_GC_THRESHOLDS=20000,20,20`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway as bench


def _round(targets: list[dict], auth: str, connections: int, seconds: float) -> list[dict]:
    body = {**bench.CHAT_BODY, "model": "bench"}
    before = [bench.cpu_seconds(t["pids"]) for t in targets]
    with ThreadPoolExecutor(len(targets)) as pool:
        runs = list(
            pool.map(
                lambda t: bench.wrk(t["url"], auth, body, connections, seconds),
                targets,
            )
        )
    return [
        {
            "rps": run["rps"],
            "p50": run["p50"],
            "failures": run["failures"],
            "cpu_ms": (bench.cpu_seconds(t["pids"]) - cpu) / max(1, run["requests"]) * 1000,
        }
        for t, run, cpu in zip(targets, runs, before, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--b-root", type=Path, default=bench.ROOT, help="the other checkout (default: this one)"
    )
    for side in ("a", "b"):
        parser.add_argument(
            f"--{side}-env",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=f"an environment variable for {side.upper()}'s worker only",
        )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", default="1,8", help="per target, one figure per round")
    args = parser.parse_args()
    bench.raise_open_files()

    upstream_port = bench.free_port()
    upstream = bench.start_upstream(upstream_port)
    env = bench.gateway_env(upstream_port)
    key = bench.prepare_database(env, upstream_port)
    bench.wait_for(f"http://127.0.0.1:{upstream_port}/v1/models")
    auth = f"Bearer {key}"
    targets = []
    try:
        sides = (("A", bench.ROOT, args.a_env), ("B", args.b_root.resolve(), args.b_env))
        for label, root, extra in sides:
            port = bench.free_port()
            side_env = {**env, **dict(item.split("=", 1) for item in extra)}
            process = bench.start_gateway(side_env, port, 1, root=root)
            targets.append(
                {
                    "label": f"{label} ({' '.join([str(root), *extra])})",
                    "process": process,
                    "port": port,
                    "pids": [],
                }
            )
        for target in targets:
            base = f"http://127.0.0.1:{target['port']}"
            bench.wait_for(f"{base}/health/ready")
            target["url"] = f"{base}/v1/chat/completions"
            target["pids"] = bench.process_tree(target["process"].pid)
        time.sleep(1)
        _round(targets, auth, 4, 2)  # warm both: connections, caches, prepared statements
        for connections in (int(c) for c in args.connections.split(",")):
            rounds = []
            for number in range(args.rounds):
                a, b = _round(targets, auth, connections, args.seconds)
                rounds.append((a, b))
                print(
                    f"{connections} conn, round {number + 1}: "
                    f"A {a['rps']:.0f} req/s p50 {a['p50']:.2f} ms CPU {a['cpu_ms']:.2f} ms | "
                    f"B {b['rps']:.0f} req/s p50 {b['p50']:.2f} ms CPU {b['cpu_ms']:.2f} ms"
                    + (" FAILURES" if a["failures"] or b["failures"] else ""),
                    flush=True,
                )
            for figure in ("rps", "p50", "cpu_ms"):
                ratios = [a[figure] / b[figure] for a, b in rounds]
                print(
                    f"{connections} conn, {figure}: median A/B {statistics.median(ratios):.3f} "
                    f"(rounds {min(ratios):.3f}-{max(ratios):.3f}); "
                    f"A {statistics.median(a[figure] for a, _ in rounds):.2f}, "
                    f"B {statistics.median(b[figure] for _, b in rounds):.2f}",
                    flush=True,
                )
    finally:
        for target in targets:
            bench.stop(target["process"])
        upstream.terminate()
        upstream.wait(timeout=10)


if __name__ == "__main__":
    main()
