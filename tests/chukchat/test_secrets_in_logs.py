"""What a production process writes to its logs holds no working credentials: an API key sent
in a WebSocket's query string or a signed download token is redacted in the access log, and
with DEBUG off and no mail server, a password-reset mail is announced without its link."""

import asyncio
import re

import httpx
import websockets

from chukchat.log_redaction import redact


def test_a_production_process_logs_no_key_no_signed_token_and_no_reset_link(
    server_process, carol, carol_key
):
    # Plain static storage (no collectstatic manifest in tests) and cookies over plain http.
    server = server_process(
        args=("--access-log",), env={"CHUK_PLAIN_STATIC": "1", "CHUK_SECURE_COOKIES": "0"}
    )

    async def open_with_query_token():
        url = f"{server.ws_url}/v1/ai/chat/ws?token={carol_key}"
        async with websockets.connect(url) as socket:
            await socket.send('{"type": "ping"}')
            await socket.recv()

    asyncio.run(open_with_query_token())
    httpx.get(f"{server.url}/v1/media/files/secret-signed-token-123", timeout=10)
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        browser.get("/accounts/password/reset/")
        browser.post(
            "/accounts/password/reset/",
            data={"email": carol.email, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": f"{server.url}/accounts/password/reset/"},
        )

    server.kill()
    server.wait(timeout=30)
    log = server.output
    assert "/v1/ai/chat/ws?token=[redacted]" in log
    assert carol_key not in log
    assert "secret-signed-token-123" not in log
    assert "mail not sent (no EMAIL_HOST is configured): to c***@example.com" in log
    assert not re.search(r"/accounts/password/reset/key/", log)


def test_redaction_keeps_the_rest_of_the_line():
    line = 'GET /v1/x?model=fast&api_key=sk-chuk-abcdefghij&page=2 HTTP/1.1" 200'
    assert redact(line) == 'GET /v1/x?model=fast&api_key=[redacted]&page=2 HTTP/1.1" 200'
