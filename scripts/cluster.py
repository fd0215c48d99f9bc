"""A local cluster that scales out as production does: HAProxy (deploy/cluster/haproxy.cfg) in
front of three uvicorn server processes on ports of their own, two Celery workers and beat, all
on one PostgreSQL (DATABASE_URL) and one Redis (REDIS_URL).

    make cluster                      # proxy on :8000, nodes on :8001-8003
    python scripts/cluster.py --port 9000 --node-ports 9001,9002,9003

Ctrl-C (or SIGTERM) stops it cleanly: the proxy first, then every node drains (uvicorn's
graceful shutdown), the workers finish their jobs, beat stops. SIGHUP restarts the nodes one
at a time without failing a request: each is drained in HAProxy first, then sent SIGTERM,
started again, and put back once it is ready.

tests/cluster/ starts the same `Cluster` on the test database."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
HAPROXY_CONFIG = REPO / "deploy" / "cluster" / "haproxy.cfg"
NODES = ("node1", "node2", "node3")

# A dead node's holds are swept by another node within DEAD + HEARTBEAT seconds (4 s here
# instead of 35 s), and its settlement outbox is drained as often.
CLUSTER_ENVIRONMENT = {
    "CHUK_PROCESS_HEARTBEAT_SECONDS": "1",
    "CHUK_PROCESS_DEAD_SECONDS": "3",
    "PYTHONUNBUFFERED": "1",
}


class Process:
    """One child process, its output in a log file of the cluster's directory."""

    def __init__(self, name: str, command: list[str], *, env: dict, logs: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child writes it; closed below)
        try:
            self.popen = subprocess.Popen(
                self.command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # A terminal's Ctrl-C is the cluster's to handle, in order, not each child's.
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it is still running after `timeout` seconds."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Cluster:
    """HAProxy on `port`, three nodes on `node_ports`, `workers` Celery workers and beat."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        port: int,
        node_ports: tuple[int, int, int],
        directory: Path,
        workers: int = 2,
        beat: bool = True,
        graceful_timeout: float = 30,
        python: str = sys.executable,
    ) -> None:
        self.env = {**env, **CLUSTER_ENVIRONMENT}
        self.port = port
        self.node_ports = dict(zip(NODES, node_ports, strict=True))
        self.directory = Path(directory)
        self.logs = self.directory / "logs"
        self.workers = workers
        self.beat = beat
        self.graceful_timeout = graceful_timeout
        self.python = python
        self.nodes: dict[str, Process] = {}
        self.others: list[Process] = []
        self.proxy: Process | None = None

    # --- Starting ------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> Cluster:
        for name, value in (("DATABASE_URL", "PostgreSQL"), ("REDIS_URL", "Redis")):
            if not self.env.get(name):
                raise SystemExit(f"cluster: {name} must point at {value}: every node shares it")
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(haproxy).exists():
            raise SystemExit("cluster: no haproxy here (make system-packages installs it)")
        self.logs.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        for name in NODES:
            self.nodes[name] = self._node(name).start()
        for index in range(1, self.workers + 1):
            self.others.append(self._celery(f"worker{index}").start())
        if self.beat:
            self.others.append(self._celery("beat").start())
        proxy_env = {
            **os.environ,
            "CHUK_CLUSTER_DIR": str(self.directory),
            "CHUK_CLUSTER_BIND": f"127.0.0.1:{self.port}",
            **{f"CHUK_NODE{i}_PORT": str(p) for i, p in enumerate(self.node_ports.values(), 1)},
        }
        self.proxy = Process(
            "haproxy", [haproxy, "-db", "-f", str(HAPROXY_CONFIG)], env=proxy_env, logs=self.logs
        ).start()
        for name in NODES:
            self.wait_node_ready(name, timeout=max(1.0, deadline - time.monotonic()))
        for name in NODES:
            self.wait_server_status(name, "UP", timeout=max(1.0, deadline - time.monotonic()))
        return self

    def _node(self, name: str) -> Process:
        command = [
            self.python,
            "-m",
            "uvicorn",
            "chukchat.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.node_ports[name]),
            "--lifespan",
            "on",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "chukchat.draining:WebSocketProtocol",
            "--timeout-graceful-shutdown",
            str(self.graceful_timeout),
            "--no-access-log",
        ]
        return Process(name, command, env=self.env, logs=self.logs)

    def _celery(self, name: str) -> Process:
        celery = [self.python, "-m", "celery", "-A", "chukchat"]
        if name == "beat":
            schedule = self.directory / "celerybeat-schedule"
            command = [*celery, "beat", "--loglevel", "WARNING", "--schedule", str(schedule)]
        else:
            # One job at a time each: two workers are two consumers of the same queues.
            command = [
                *celery,
                "worker",
                "--loglevel",
                "WARNING",
                "--pool",
                "solo",
                "--hostname",
                f"cluster-{name}@%h",
            ]
        return Process(name, command, env=self.env, logs=self.logs)

    # --- What tests and operators use ------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def node_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.node_ports[name]}"

    def wait_node_ready(self, name: str, timeout: float = 60) -> None:
        process = self.nodes[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive:
                raise RuntimeError(f"{name} exited:\n{process.log()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.node_url(name)}/health/ready", timeout=5).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not become ready:\n{process.log()[-4000:]}")

    def admin(self, command: str) -> str:
        """One command on HAProxy's runtime API."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.directory / "haproxy.sock"))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict]:
        """HAProxy's view of each node: its status (UP, DOWN, DRAIN, ...) and sessions."""
        text = self.admin("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {row["svname"]: row for row in rows if row["pxname"] == "nodes"}

    def wait_server_status(self, name: str, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, KeyError):
                seen = self.servers()[name]["status"]
                if seen == status:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"HAProxy still has {name} {seen}, not {status}")

    def restart_node(self, name: str, *, drain_seconds: float = 5) -> float:
        """Restarts one node without failing a request: HAProxy stops sending it new requests
        (drain), what it is serving finishes (SIGTERM: uvicorn drains, readiness is false),
        it starts again, and HAProxy sends it requests once its readiness check passes.
        Returns how long the node was out of the rotation."""
        out_at = time.monotonic()
        self.admin(f"set server nodes/{name} state drain")
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline and int(self.servers()[name]["scur"] or 0) > 0:
            time.sleep(0.05)
        process = self.nodes[name]
        process.signal(signal.SIGTERM)
        if process.wait(self.graceful_timeout + 15) is None:
            process.signal(signal.SIGKILL)
            process.wait(10)
        self.nodes[name] = self._node(name).start()
        self.wait_node_ready(name)
        self.admin(f"set server nodes/{name} state ready")
        self.wait_server_status(name, "UP")
        return time.monotonic() - out_at

    def rolling_restart(self) -> None:
        for name in NODES:
            self.restart_node(name)

    def start_node(self, name: str) -> None:
        """Starts a node that is not running (one a test killed) and waits until it is UP."""
        self.nodes[name] = self._node(name).start()
        self.wait_node_ready(name)
        self.wait_server_status(name, "UP")

    def stop(self, timeout: float | None = None) -> None:
        """The proxy first (no new requests), then everything else drains at once."""
        timeout = self.graceful_timeout + 15 if timeout is None else timeout
        if self.proxy is not None:
            self.proxy.signal(signal.SIGUSR1)  # HAProxy's soft stop: open connections finish
            if self.proxy.wait(5) is None:
                self.proxy.signal(signal.SIGTERM)
        everything = [*self.nodes.values(), *self.others]
        for process in everything:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in [*everything, *([self.proxy] if self.proxy else [])]:
            if process.wait(max(0.1, deadline - time.monotonic())) is None:
                process.signal(signal.SIGKILL)
                process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--node-ports", default=os.environ.get("NODE_PORTS", ""))
    parser.add_argument("--directory", default=str(REPO / "var" / "cluster"))
    args = parser.parse_args()
    node_ports = tuple(int(p) for p in args.node_ports.split(",") if p) or tuple(
        args.port + i for i in (1, 2, 3)
    )
    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(
        env=dict(os.environ), port=args.port, node_ports=node_ports, directory=directory
    )

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    restart = False

    def ask_restart(*_):
        nonlocal restart
        restart = True

    signal.signal(signal.SIGHUP, ask_restart)
    try:
        cluster.start()
        ports = ", ".join(f"{n} :{p}" for n, p in cluster.node_ports.items())
        print(
            f"cluster: HAProxy on {cluster.url} before {ports}; {cluster.workers} Celery workers"
            f" and beat; logs in {cluster.logs}. Ctrl-C stops it, SIGHUP (kill -HUP {os.getpid()})"
            " restarts the nodes one by one.",
            flush=True,
        )
        while not stopping:
            if restart:
                restart = False
                cluster.rolling_restart()
                print("cluster: rolling restart done", flush=True)
            for process in [*cluster.nodes.values(), *cluster.others, cluster.proxy]:
                if not process.alive:
                    print(f"cluster: {process.name} exited; see {process.log_path}", flush=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("cluster: stopping", flush=True)
        cluster.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
    sys.exit(0)
