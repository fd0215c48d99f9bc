"""An open WebSocket does not outlive its credentials: revoking its key closes it with 4401,
deleting or deactivating its account with 4403, in whichever server process it is open, and
the answer it was streaming is stopped and settled as cancelled.

Real uvicorn processes (tests/support/server_process.py) on the test database and Redis, in
front of the fake upstream; `slow-stream` streams 400 tokens at 40 a second (10 s), so an
answer is in flight when the credentials go."""

import secrets
import time

import httpx
import orjson
from django.conf import settings
from django.test import Client

from accounts.models import ApiKey
from billing.models import LedgerEntry, Reservation, UsageRecord
from billing.selectors import balance_of
from tests.support import server_process as server_processes

server_process = server_processes.server_process  # the fixture

WS_PATH = "/v1/ai/chat/ws"
HELLO = [{"role": "user", "content": "hello"}]
PASSWORD = "correct horse battery staple"
# A lost group message is bounded by the cache; the message itself is much quicker.
CLOSE_WITHIN = settings.API_KEY_CACHE_SECONDS + 3


def ws_connect(server, *, key: str | None = None, session: str | None = None):
    from websockets.sync.client import connect

    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if session is not None:
        headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session}"
    return connect(server.ws_url + WS_PATH, additional_headers=headers, open_timeout=10)


def start_answer(ws, stream_id: str = "a") -> None:
    """Starts a slow answer and returns once its first words have come."""
    ws.send(
        orjson.dumps(
            {"type": "chat", "id": stream_id, "model": "slow-stream", "messages": HELLO}
        ).decode()
    )
    kinds = []
    while "text" not in kinds:
        kinds.append(orjson.loads(ws.recv(timeout=10))["type"])
    assert kinds[0] == "meta"


def read_until_closed(ws) -> tuple[list[dict], int | None]:
    from websockets.exceptions import ConnectionClosed

    frames = []
    try:
        while True:
            frames.append(orjson.loads(ws.recv(timeout=30)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


def session_of(user) -> str:
    browser = Client()
    browser.force_login(user)
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


def signed_in_http(server, user) -> httpx.Client:
    """The web app's session (and its CSRF token) against a server process."""
    csrf = secrets.token_hex(16)
    return httpx.Client(
        base_url=server.url,
        cookies={settings.SESSION_COOKIE_NAME: session_of(user), settings.CSRF_COOKIE_NAME: csrf},
        headers={"X-CSRFToken": csrf},
        timeout=30,
    )


def assert_books_balance(user) -> None:
    ledger = sum(LedgerEntry.objects.filter(account__user=user).values_list("amount", flat=True))
    assert balance_of(user=user) == ledger
    assert not Reservation.objects.exclude(request_id__startswith="lease:").exists()


def wait_until_no_hold(seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while Reservation.objects.exclude(request_id__startswith="lease:").exists():
        assert time.monotonic() < deadline, "a hold was left behind"
        time.sleep(0.1)


def test_a_key_revoked_in_another_process_closes_its_socket_and_settles_its_answer(
    server_process, carol, carol_key
):
    a, b = server_process(), server_process()
    key = ApiKey.objects.get(user=carol)
    with ws_connect(a, key=carol_key) as ws:
        start_answer(ws)
        with signed_in_http(b, carol) as web:
            revoked_at = time.monotonic()
            answer = web.delete(f"/v1/user/keys/{key.pk}")
            assert answer.status_code == 200, answer.text
        frames, code = read_until_closed(ws)
        took = time.monotonic() - revoked_at
    print(f"revocation to close: {took:.3f} s")

    assert code == 4401
    assert took < CLOSE_WITHIN, took
    assert frames[-1]["type"] == "done" and frames[-1]["cancelled"] is True, frames[-1]
    wait_until_no_hold()
    record = UsageRecord.objects.get(user=carol)
    assert record.status == "cancelled" and record.completion_tokens > 0
    assert record.api_key_id == key.pk
    assert_books_balance(carol)
    # And the key opens no new socket.
    with ws_connect(b, key=carol_key) as ws:
        assert read_until_closed(ws)[1] == 4401


def test_a_socket_re_checks_its_key_on_every_frame(server_process, carol, carol_key):
    """A revocation whose group message never came (the key row revoked behind the service's
    back) still closes the socket once the cache has forgotten the key."""
    from websockets.exceptions import ConnectionClosed

    a = server_process()
    with ws_connect(a, key=carol_key) as ws:
        ws.send('{"type":"ping"}')
        assert orjson.loads(ws.recv(timeout=5)) == {"type": "pong"}
        ApiKey.objects.filter(user=carol).update(revoked=True)
        revoked_at = time.monotonic()
        code = None
        while code is None:
            time.sleep(0.25)
            try:
                ws.send('{"type":"ping"}')
                assert orjson.loads(ws.recv(timeout=5)) == {"type": "pong"}
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else -1
        took = time.monotonic() - revoked_at
    assert code == 4401
    assert took < CLOSE_WITHIN, took


def test_an_expired_key_closes_its_socket(server_process, carol, carol_key):
    from datetime import timedelta

    from django.utils import timezone

    a = server_process()
    ApiKey.objects.filter(user=carol).update(expires_at=timezone.now() + timedelta(seconds=2))
    with ws_connect(a, key=carol_key) as ws:
        start_answer(ws)
        frames, code = read_until_closed(ws)
    assert code == 4401
    assert frames[-1]["type"] == "done" and frames[-1]["cancelled"] is True
    wait_until_no_hold()
    assert UsageRecord.objects.get(user=carol).status == "cancelled"
    assert_books_balance(carol)


def test_deleting_the_account_closes_its_key_and_session_sockets_with_4403(
    server_process, carol, carol_key
):
    a, b = server_process(), server_process()
    with (
        ws_connect(a, key=carol_key) as by_key,
        ws_connect(a, session=session_of(carol)) as by_session,
    ):
        start_answer(by_key, "k")
        start_answer(by_session, "s")
        with signed_in_http(b, carol) as web:
            deleted_at = time.monotonic()
            answer = web.post(
                "/v1/user/delete", json={"confirm": carol.email, "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
        key_frames, key_code = read_until_closed(by_key)
        session_frames, session_code = read_until_closed(by_session)
        took = time.monotonic() - deleted_at
    print(f"deletion to close: {took:.3f} s")

    assert (key_code, session_code) == (4403, 4403)
    assert took < CLOSE_WITHIN, took
    assert key_frames[-1]["type"] == "done" and session_frames[-1]["type"] == "done"
    wait_until_no_hold()
    # Deletion promised no usage row remains; none is written after it either.
    time.sleep(1)
    assert list(UsageRecord.objects.filter(user=carol).values_list("status", flat=True)) == []
    assert_books_balance(carol)


def test_deactivating_the_account_closes_its_session_socket_with_4403(server_process, carol):
    from accounts.services import user_deactivate

    a = server_process()
    with ws_connect(a, session=session_of(carol)) as ws:
        ws.send('{"type":"ping"}')
        assert orjson.loads(ws.recv(timeout=5)) == {"type": "pong"}
        deactivated_at = time.monotonic()
        user_deactivate(user=carol)
        frames, code = read_until_closed(ws)
        took = time.monotonic() - deactivated_at
    assert (frames, code) == ([], 4403)
    assert took < CLOSE_WITHIN, took


def test_an_answer_whose_key_row_was_deleted_meanwhile_still_settles(
    server_process, carol, carol_key
):
    a = server_process()
    key = ApiKey.objects.get(user=carol)
    with ws_connect(a, key=carol_key) as ws:
        start_answer(ws)
        ApiKey.objects.filter(pk=key.pk).delete()
        ws.send('{"type":"cancel","id":"a"}')
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(orjson.loads(ws.recv(timeout=15)))
    assert frames[-1]["type"] == "done" and frames[-1]["cancelled"] is True, frames[-1]
    wait_until_no_hold()
    record = UsageRecord.objects.get(user=carol)
    assert record.status == "cancelled" and record.api_key_id is None
    assert_books_balance(carol)
