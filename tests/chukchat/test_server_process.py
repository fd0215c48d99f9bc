"""The server-process helper (tests/support/server_process.py): a real uvicorn process on the
test database answers a request made with a key this test created."""

import signal

import httpx


def test_a_server_process_serves_a_key_created_in_the_test(server_process, carol_key):
    server = server_process()

    answer = httpx.get(
        f"{server.url}/v1/models", headers={"Authorization": f"Bearer {carol_key}"}, timeout=10
    )

    assert answer.status_code == 200
    assert "slow-stream" in {model["id"] for model in answer.json()["data"]}
    server.kill(signal.SIGTERM)
    # uvicorn re-raises the signal it shut down on, once it has: a clean stop exits by SIGTERM.
    assert server.wait(timeout=30) == -signal.SIGTERM
    # The ASGI lifespan ran: the process keeper started and stopped (chukchat/asgi.py).
    assert "Application startup complete" in server.stderr
    assert "Application shutdown complete" in server.stderr
    assert "Finished server process" in server.stderr


def test_a_server_process_refuses_an_unknown_key(server_process, catalogue):
    server = server_process()

    answer = httpx.get(
        f"{server.url}/v1/models", headers={"Authorization": "Bearer sk-nobody"}, timeout=10
    )

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
