"""Running an ASGI app (ours, or a fake) on 127.0.0.1 in a background thread."""

import asyncio
import socket
import threading
import time

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadedServer:
    def __init__(self, app, *, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="websockets",
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def call(self, coroutine_function, timeout: float = 10.0):
        """Runs `coroutine_function()` on the server's own event loop (where its per-loop state,
        such as credit leases, lives) and returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine_function(), self.loop).result(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no request is being handled: a test must not end (and its data be flushed)
        while the server is still settling the last response."""
        from chukchat.api_handler import after_response_pending

        deadline = time.monotonic() + timeout
        while (self.server.server_state.tasks or after_response_pending()) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
