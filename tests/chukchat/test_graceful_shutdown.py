"""A server process told to stop (SIGTERM) exits in time. Real uvicorn processes
(tests/support/server_process.py) on the test database, in front of the fake upstream."""

import signal
import time

import pytest

WS_PATH = "/v1/ai/chat/ws"


def sigterm_and_time_exit(server, *, within: float) -> float:
    started = time.monotonic()
    server.kill(signal.SIGTERM)
    server.wait(timeout=within + 30)  # a hang fails here, with the time in the message below
    took = time.monotonic() - started
    assert took < within, f"took {took:.1f} s to exit after SIGTERM\n{server.stderr[-3000:]}"
    # uvicorn re-raises the signal it stopped on once it has stopped cleanly.
    assert server.returncode == -signal.SIGTERM, server.stderr[-3000:]
    return took


# --- WebSocket -----------------------------------------------------------------------------


def ws_connect(server, key: str | None):
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return connect(server.ws_url + WS_PATH, additional_headers=headers, open_timeout=10)


def test_a_socket_refused_with_4401_does_not_hold_up_the_exit(server_process, catalogue):
    from websockets.exceptions import ConnectionClosed

    server = server_process(graceful_timeout=30)
    for _ in range(5):
        with ws_connect(server, "sk-not-a-key") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 4401

    # It used to wait for the refused socket's channel-layer receive ("Waiting for background
    # tasks to complete") until it was killed.
    sigterm_and_time_exit(server, within=5)
    assert "Waiting for background tasks" not in server.stderr
