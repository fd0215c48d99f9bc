"""A fake AI provider that speaks the real wire protocols: OpenAI's chat completions (streaming
and not, tools, reasoning_content), embeddings, models, audio transcriptions and image
generations, and Anthropic's Messages API (streaming and not, thinking, tool_use, images).

The official `openai` and `anthropic` SDKs work against it unchanged (base_url). It is a plain
ASGI app, so it is also the "direct" side of the gateway benchmark.

The behaviour each request gets is chosen by directives in its model name (see
fakes/upstream_server.py).

    python -m fakes.upstream --port 9100
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

from fakes.anthropic_fake import AnthropicFake
from fakes.openai_fake import OpenAIFake
from fakes.upstream_server import UpstreamServer


class FakeUpstreamApp(OpenAIFake, AnthropicFake, UpstreamServer):
    """One server that speaks both providers' protocols, as the gateway's tests and benchmark
    point several provider kinds at one address."""


def make_app(expected_key: str | None = None) -> FakeUpstreamApp:
    return FakeUpstreamApp(expected_key)


class FakeUpstream:
    """Runs the fake on 127.0.0.1 in a background thread, for tests."""

    def __init__(self, expected_key: str | None = None, port: int | None = None) -> None:
        import uvicorn

        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port
        self.app = make_app(expected_key)
        self.app.public_root = self.root_url
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            loop="asyncio",
            http="h11",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/_control"

    def start(self) -> FakeUpstream:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # In-process, so the control API's state is read directly.
    def set_fault(self, model: str, status: int, count: int = 1) -> None:
        self.app.faults[model] = [status, count]

    def clear(self) -> None:
        self.app.faults.clear()
        self.app.log.clear()

    def requests(self) -> list[dict]:
        return list(self.app.log)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--expected-key", default=None)
    args = parser.parse_args()
    app = make_app(args.expected_key)
    app.public_root = f"http://{args.host}:{args.port}"
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
