"""A server process told to stop (SIGTERM) stops taking new work, lets the answers it is
streaming finish or cuts them at its bound, settles every one of them, and exits in time.

The bound: uvicorn's --timeout-graceful-shutdown (30 s under `make serve`; WebSocket answers
are cut a second before it), then at most chukchat.draining.SETTLE_GRACE_SECONDS (5 s) for
what is still settling, then the process keeper's stop (leases given back). Real uvicorn processes (tests/support/server_process.py) on the test database,
in front of the fake upstream; `slow-stream` streams 400 tokens at 40 a second (10 s)."""

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

from billing.models import Reservation, UsageRecord
from chukchat.draining import SETTLE_GRACE_SECONDS

WS_PATH = "/v1/ai/chat/ws"
HELLO = [{"role": "user", "content": "hello"}]
# Time for the interpreter to wind down and for this test to see that it has.
EXIT_SLACK_SECONDS = 3.0


def sigterm_and_time_exit(server, *, within: float) -> float:
    started = time.monotonic()
    server.kill(signal.SIGTERM)
    server.wait(timeout=within + 30)  # a hang fails here, with the time in the message below
    took = time.monotonic() - started
    assert took < within, f"took {took:.1f} s to exit after SIGTERM\n{server.stderr[-3000:]}"
    # uvicorn re-raises the signal it stopped on once it has stopped cleanly.
    assert server.returncode == -signal.SIGTERM, server.stderr[-3000:]
    return took


def assert_no_hold_left():
    # Requests settle before the process ends, and process_keeper.stop() gives the process's
    # credit leases back ("lease:..." rows) and releases its holds: nothing is left to sweep.
    assert list(Reservation.objects.values_list("request_id", flat=True)) == []


# --- SSE -----------------------------------------------------------------------------------


def stream_sse(url: str, key: str, started: threading.Barrier) -> dict:
    """One streamed chat completion on slow-stream: its request id, whether it completed
    (`[DONE]`), and how many chunks came."""
    chunks, completed, request_id = 0, False, None
    try:
        with httpx.stream(
            "POST",
            f"{url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "slow-stream", "messages": HELLO, "stream": True},
            timeout=60,
        ) as response:
            assert response.status_code == 200, response.read()
            request_id = response.headers["x-request-id"]
            for line in response.iter_lines():
                if line == "data: [DONE]":
                    completed = True
                elif line.startswith("data: "):
                    chunks += 1
                    if chunks == 1:
                        started.wait(timeout=20)
    except httpx.HTTPError:
        pass  # cut by the server: the stream ended
    return {"request_id": request_id, "completed": completed, "chunks": chunks}


def run_sse_streams_through_sigterm(server, key: str, *, bound: float) -> tuple[list, float]:
    streams = 5
    started = threading.Barrier(streams + 1)
    with ThreadPoolExecutor(streams) as pool:
        futures = [pool.submit(stream_sse, server.url, key, started) for _ in range(streams)]
        started.wait(timeout=20)  # every stream has had its first chunk
        took = sigterm_and_time_exit(
            server, within=bound + SETTLE_GRACE_SECONDS + EXIT_SLACK_SECONDS
        )
        results = [future.result(timeout=30) for future in futures]
    return results, took


def test_sigterm_lets_streams_in_flight_finish_and_settles_them(server_process, carol_key):
    server = server_process(graceful_timeout=30)

    results, took = run_sse_streams_through_sigterm(server, carol_key, bound=30)

    assert all(result["completed"] for result in results), results
    records = UsageRecord.objects.filter(request_id__in=[r["request_id"] for r in results])
    assert sorted(records.values_list("status", flat=True)) == ["ok"] * 5
    assert took < 25, f"the streams take 10 s; the process took {took:.1f} s to exit"
    assert_no_hold_left()


def test_sigterm_cuts_streams_at_the_bound_and_settles_them_as_cancelled(server_process, carol_key):
    server = server_process(graceful_timeout=2)

    results, took = run_sse_streams_through_sigterm(server, carol_key, bound=2)

    assert not any(result["completed"] for result in results), results
    records = UsageRecord.objects.filter(request_id__in=[r["request_id"] for r in results])
    assert records.count() == 5
    assert set(records.values_list("status", flat=True)) == {"cancelled"}
    # What was generated before the cut is charged.
    assert all(record.completion_tokens > 0 and record.cost > 0 for record in records)
    assert "timeout graceful shutdown exceeded" in server.stderr
    assert took >= 2
    assert_no_hold_left()


def test_a_stopping_server_takes_no_new_connection(server_process, carol_key):
    server = server_process(graceful_timeout=30)
    started = threading.Barrier(2)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(stream_sse, server.url, carol_key, started)
        started.wait(timeout=20)
        server.kill(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=5)
        assert future.result(timeout=30)["completed"]
    server.wait(timeout=30)


# --- WebSocket -----------------------------------------------------------------------------


def ws_connect(server, key: str | None):
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return connect(server.ws_url + WS_PATH, additional_headers=headers, open_timeout=10)


def read_until_closed(ws) -> tuple[list[dict], int | None]:
    from websockets.exceptions import ConnectionClosed

    frames = []
    try:
        while True:
            frames.append(orjson.loads(ws.recv(timeout=40)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


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


def test_an_idle_socket_is_closed_with_1001_at_once(server_process, carol_key):
    server = server_process(graceful_timeout=30)
    with ws_connect(server, carol_key) as ws:
        ws.send(orjson.dumps({"type": "ping"}).decode())
        assert orjson.loads(ws.recv(timeout=5)) == {"type": "pong"}
        server.kill(signal.SIGTERM)
        frames, code = read_until_closed(ws)
    assert (frames, code) == ([], 1001)
    server.wait(timeout=5)


def chat(stream_id: str) -> str:
    return orjson.dumps(
        {"type": "chat", "id": stream_id, "model": "slow-stream", "messages": HELLO}
    ).decode()


def test_a_socket_streaming_an_answer_gets_its_end_then_1001(server_process, carol, carol_key):
    server = server_process(graceful_timeout=30)
    with ws_connect(server, carol_key) as ws:
        ws.send(chat("a"))
        assert orjson.loads(ws.recv(timeout=10))["type"] == "meta"
        started = time.monotonic()
        server.kill(signal.SIGTERM)
        time.sleep(0.3)
        ws.send(chat("b"))  # new work on a stopping server
        frames, code = read_until_closed(ws)
    server.wait(timeout=30)
    took = time.monotonic() - started

    refused = [f for f in frames if f.get("id") == "b"]
    assert refused == [
        {
            "type": "error",
            "id": "b",
            "error": "This server is shutting down: send it again on a new connection.",
            "code": "server_shutting_down",
            "status": 503,
        }
    ]
    answer = [f for f in frames if f.get("id") == "a"]
    assert answer[-1]["type"] == "done" and not answer[-1].get("cancelled"), answer[-1]
    assert code == 1001
    assert took < 25
    assert list(UsageRecord.objects.filter(user=carol).values_list("status", flat=True)) == ["ok"]
    assert_no_hold_left()


def test_an_answer_still_streaming_at_the_bound_is_cancelled_and_settled(
    server_process, carol, carol_key
):
    server = server_process(graceful_timeout=3)
    with ws_connect(server, carol_key) as ws:
        ws.send(chat("a"))
        assert orjson.loads(ws.recv(timeout=10))["type"] == "meta"
        started = time.monotonic()
        server.kill(signal.SIGTERM)
        frames, code = read_until_closed(ws)
    server.wait(timeout=3 + SETTLE_GRACE_SECONDS + EXIT_SLACK_SECONDS)
    took = time.monotonic() - started

    assert frames[-1]["type"] == "done" and frames[-1]["cancelled"] is True, frames[-1]
    assert code == 1001
    assert took < 3 + SETTLE_GRACE_SECONDS + EXIT_SLACK_SECONDS
    record = UsageRecord.objects.get(user=carol)
    assert record.status == "cancelled" and record.completion_tokens > 0
    assert_no_hold_left()
