"""The platform served by real uvicorn processes, as `make serve` runs it, for tests that need a
process of their own: one to send SIGTERM or SIGKILL to, to time its shutdown, or to read its
logs.

Each `ServerProcess` is one uvicorn process (no `--workers` supervisor in between) on a port of
its own, so a signal reaches exactly the server it is meant for; start several for several
processes. It runs against the test database pytest-django created (so tests that use it need
`transactional_db`: what they write is committed and the process can see it), the same Redis
and cache prefix as the test run, and the fake upstream the `catalogue` fixture points models
at, since the process reads that catalogue from the database.

    def test_it_answers(server_process, carol_key):
        server = server_process()
        httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {carol_key}"})
        server.kill(signal.SIGTERM)
        assert server.wait(timeout=10) == -signal.SIGTERM  # uvicorn re-raises it once stopped
        assert "Finished server process" in server.stderr

Every process a test started is killed (SIGKILL) at its teardown, whatever the test did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def database_environment() -> dict[str, str]:
    """What points a process at the database this test process uses (the test database, once
    pytest-django has set it up): DATABASE_URL on PostgreSQL, the file in embedded mode."""
    from django.db import connection

    conf = connection.settings_dict
    if conf["ENGINE"] == "django.db.backends.sqlite3":
        return {"DATABASE_URL": "", "CHUK_SQLITE_PATH": str(conf["NAME"])}
    return {"DATABASE_URL": database_url()}


def database_url() -> str:
    from django.db import connection

    conf = connection.settings_dict
    user = quote(conf.get("USER") or "", safe="")
    password = quote(conf.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = conf.get("HOST") or "127.0.0.1"
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(conf['NAME'], safe='')}"


def server_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env.update(database_environment())
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chukchat.settings",
            "REDIS_URL": settings.REDIS_URL,
            "CHUK_CACHE_PREFIX": settings.CACHE_KEY_PREFIX,
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # As the tests in-process run (tests/conftest.py): limits only where a test is
            # about them, and then under keys of that test.
            "CHUK_RATE_LIMITS_ENABLED": "1" if settings.RATE_LIMITS_ENABLED else "0",
            "CHUK_RATE_LIMIT_KEY_PREFIX": settings.RATE_LIMIT_KEY_PREFIX,
            "PYTHONUNBUFFERED": "1",
        }
    )
    # The test process's own database name for tests is not the server's business.
    env.pop("CHUK_TEST_DATABASE_NAME", None)
    env.update(extra or {})
    return env


class ServerProcess:
    """One uvicorn process serving chukchat.asgi:application on 127.0.0.1:`port`."""

    def __init__(
        self,
        *,
        env: dict[str, str] | None = None,
        lifespan: str = "on",
        graceful_timeout: float | None = 30,
        ws: str = "chukchat.draining:WebSocketProtocol",
        args: tuple[str, ...] = (),
    ) -> None:
        self.extra_env = env or {}
        self.lifespan = lifespan
        self.graceful_timeout = graceful_timeout
        self.ws = ws
        self.args = tuple(args)
        self.port = 0
        self.process: subprocess.Popen | None = None
        # Files, not pipes: a chatty server never blocks on a full pipe. Closed in close().
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115

    # --- Starting ----------------------------------------------------------------------------

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "chukchat.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            self.lifespan,
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            self.ws,
            "--no-access-log",
        ]
        if self.graceful_timeout is not None:
            command += ["--timeout-graceful-shutdown", str(self.graceful_timeout)]
        return command + list(self.args)

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Starts the process and returns once GET /health answers 200. A port taken between
        choosing it and binding it is retried on another. The bound is for a loaded machine
        (30 s once ran out with the server up and a benchmark on the other core)."""
        for _attempt in range(3):
            self.port = free_port()
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=server_environment(self.extra_env),
                stdin=subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=self._stderr,
                start_new_session=True,  # a terminal's Ctrl-C is the test's, not the server's
            )
            if self._wait_healthy(timeout):
                return self
            if "address already in use" not in self.stderr.lower():
                break
        output = self.stderr[-4000:]
        self.kill(signal.SIGKILL)
        raise RuntimeError(f"the server process did not become healthy:\n{output}")

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    # --- What a test uses --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pids(self) -> list[int]:
        return [self.process.pid]

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def kill(self, sig: int = signal.SIGTERM) -> None:
        """Sends `sig` to the process (nothing, if it has already exited)."""
        if self.process is not None and self.process.poll() is None:
            with _suppress_gone():
                os.kill(self.process.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        """The exit status, once the process has exited; subprocess.TimeoutExpired if it has
        not within `timeout` seconds. After a clean shutdown on a signal it is minus that
        signal: uvicorn re-raises the signal it stopped on once it has stopped."""
        return self.process.wait(timeout)

    def wait_exit(self, timeout: float) -> float:
        """Seconds until the process exited (TimeoutExpired after `timeout`)."""
        started = time.monotonic()
        self.wait(timeout)
        return time.monotonic() - started

    @property
    def stdout(self) -> str:
        return _read(self._stdout)

    @property
    def stderr(self) -> str:
        return _read(self._stderr)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill(signal.SIGKILL)
            self.process.wait(10)
        self._stdout.close()
        self._stderr.close()


def _read(file) -> str:
    file.flush()
    file.seek(0)
    return file.read().decode(errors="replace")


class _suppress_gone:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        return kind is ProcessLookupError


@pytest.fixture
def server_process(transactional_db):
    """A factory: `server_process(env=..., lifespan=..., graceful_timeout=...)` starts one more
    uvicorn process and returns its ServerProcess, which is killed at teardown."""
    started: list[ServerProcess] = []

    def start(**options) -> ServerProcess:
        server = ServerProcess(**options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.close()
