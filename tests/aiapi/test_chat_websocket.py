"""The chat WebSocket, `/v1/ai/chat/ws`: how a socket authenticates, many answers at once on
one socket, cancel, resume after a dropped connection, and what happens to frames that are
wrong. Driven with Channels' WebsocketCommunicator against the real application (real Redis
journal, the fake upstream over HTTP), and with a real client against a running server."""

import asyncio
import contextlib
import time
from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from aiapi.consumers import _cancel_until_done
from aiapi.models import Conversation
from billing.models import LedgerEntry, UsageRecord
from billing.money import format_usd
from billing.selectors import balance_of, ledger_sum
from chukchat.asgi import application
from tests.aiapi.test_openai_sdk import upstream_text

PATH = "/v1/ai/chat/ws"
HELLO = [{"role": "user", "content": "hello"}]


_opened: list[WebsocketCommunicator] = []


@pytest.fixture(autouse=True)
async def _sockets_end_with_their_test():
    """Every socket a test opened is disconnected the way a client's would be, before the
    test's event loop closes: left to the loop's shutdown, the consumer and its channel-layer
    receive are cancelled at once, mid-way through Redis calls."""
    yield
    while _opened:
        socket = _opened.pop()
        # An app that already ended (with the close the test asserted) re-raises here.
        with contextlib.suppress(Exception):
            await socket.disconnect(timeout=10)


async def open_socket(*, headers=(), path=PATH) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=list(headers))
    _opened.append(socket)
    connected, _ = await socket.connect()
    assert connected
    return socket


def bearer(key: str) -> list:
    return [(b"authorization", f"Bearer {key}".encode())]


async def read_until_done(socket, ids, *, timeout=10.0) -> dict[str, list[dict]]:
    """Frames by request id until each id has had its done or error."""
    frames: dict[str, list[dict]] = {i: [] for i in ids}
    open_ids = set(ids)
    while open_ids:
        frame = await socket.receive_json_from(timeout=timeout)
        frames.setdefault(frame.get("id"), []).append(frame)
        if frame["type"] in ("done", "error"):
            open_ids.discard(frame.get("id"))
    return frames


async def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await sync_to_async(predicate)():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- Authentication -----------------------------------------------------------------------


async def ask_once(socket) -> list[dict]:
    await socket.send_json_to({"type": "chat", "id": "q", "model": "fast", "messages": HELLO})
    return (await read_until_done(socket, ["q"]))["q"]


async def test_an_api_key_in_the_authorization_header_opens_the_socket(carol_key):
    socket = await open_socket(headers=bearer(carol_key))
    frames = await ask_once(socket)
    assert frames[-1]["type"] == "done"
    await socket.disconnect()


async def test_an_api_key_in_the_query_string_opens_the_socket(carol_key):
    socket = await open_socket(path=f"{PATH}?token={carol_key}")
    assert (await ask_once(socket))[-1]["type"] == "done"
    await socket.disconnect()


async def test_an_auth_frame_opens_the_socket(carol_key):
    socket = await open_socket()
    await socket.send_json_to({"type": "auth", "token": carol_key})
    assert await socket.receive_json_from() == {"type": "auth", "ok": True}
    assert (await ask_once(socket))[-1]["type"] == "done"
    await socket.disconnect()


def session_cookie(user) -> bytes:
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


async def test_the_web_apps_session_cookie_opens_the_socket(carol, catalogue):
    cookie = await sync_to_async(session_cookie)(carol)
    socket = await open_socket(headers=[(b"cookie", cookie), (b"origin", b"http://127.0.0.1:8000")])
    frames = await ask_once(socket)
    assert frames[-1]["type"] == "done"
    record = await UsageRecord.objects.aget(request_id=frames[0]["requestId"])
    assert record.user_id == carol.pk and record.api_key_id is None
    await socket.disconnect()


async def test_a_session_cookie_from_another_site_does_not_count(carol, catalogue, settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    cookie = await sync_to_async(session_cookie)(carol)
    socket = await open_socket(headers=[(b"cookie", cookie), (b"origin", b"https://evil.example")])
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:9999", "https://127.0.0.1:8000", "http://127.0.0.1", "null"],
    ids=["another-port", "another-scheme", "default-port", "opaque"],
)
async def test_a_session_cookie_counts_only_from_exactly_our_origin(
    carol, catalogue, settings, origin
):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    cookie = await sync_to_async(session_cookie)(carol)
    socket = await open_socket(headers=[(b"cookie", cookie), (b"origin", origin.encode())])
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_a_page_served_from_the_address_the_socket_was_opened_on_counts(carol, catalogue):
    cookie = await sync_to_async(session_cookie)(carol)
    socket = await open_socket(
        headers=[
            (b"cookie", cookie),
            (b"host", b"localhost:8123"),
            (b"origin", b"http://LOCALHOST:8123"),
        ]
    )
    assert (await ask_once(socket))[-1]["type"] == "done"
    await socket.disconnect()


@pytest.mark.parametrize(
    "token", ["", "sk-chuk-short", "sk-chuk-" + "x" * 43], ids=["empty", "malformed", "unknown"]
)
async def test_a_bad_key_is_closed_with_4401(catalogue, token):
    socket = await open_socket(headers=[(b"authorization", f"Bearer {token}".encode())])
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_a_revoked_key_is_closed_with_4401(carol, carol_key):
    from accounts.api_keys import api_key_revoke
    from accounts.models import ApiKey

    await sync_to_async(api_key_revoke)(api_key=await ApiKey.objects.aget(user=carol))
    socket = await open_socket(headers=bearer(carol_key))
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_a_chat_before_authenticating_is_closed_with_4401(catalogue):
    socket = await open_socket()
    await socket.send_json_to({"type": "chat", "id": "1", "messages": HELLO})
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_a_socket_that_never_authenticates_is_closed_with_4401(catalogue, settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    socket = await open_socket()
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_an_idle_socket_stays_open(carol_key):
    """Nothing arrives for longer than the channel layer's blocking read (5 s with Redis)."""
    socket = await open_socket(headers=bearer(carol_key))
    await asyncio.sleep(6)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=2) == {"type": "pong"}
    await socket.disconnect()


# --- Chat ---------------------------------------------------------------------------------


async def test_a_chat_streams_meta_text_usage_and_done_with_its_id(carol, carol_key, upstream):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to(
        {"type": "chat", "id": "a1", "model": "fast", "messages": HELLO, "max_tokens": 100}
    )
    frames = (await read_until_done(socket, ["a1"]))["a1"]

    assert [f["type"] for f in frames] == ["meta"] + ["text"] * 8 + ["usage", "done"]
    assert [f["seq"] for f in frames] == list(range(11))
    assert all(f["id"] == "a1" for f in frames)
    assert frames[0]["model"] == "fast" and frames[0]["provider"] == "fake"
    text = "".join(f["text"] for f in frames if f["type"] == "text")
    assert text == await sync_to_async(upstream_text)(upstream, "fake:tokens=8")
    done = frames[-1]
    assert done["finishReason"] == "stop" and done["usage"] == frames[-2]["usage"]
    record = await UsageRecord.objects.aget(request_id=frames[0]["requestId"])
    assert record.endpoint == "ai.chat" and record.completion_tokens == 8
    assert done["cost"]["charged"] == format_usd(record.cost)
    assert await sync_to_async(balance_of)(user=carol) == Decimal(10) - record.cost
    await socket.disconnect()


async def test_a_reasoning_model_sends_reasoning_frames(carol_key):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to({"type": "chat", "id": "r", "model": "thinker", "messages": HELLO})
    frames = (await read_until_done(socket, ["r"]))["r"]
    kinds = [f["type"] for f in frames]
    assert kinds == ["meta"] + ["reasoning"] * 3 + ["text"] * 4 + ["usage", "done"]
    assert frames[1]["text"] == "first "
    await socket.disconnect()


async def test_concurrent_requests_on_one_socket_interleave_and_each_completes(carol_key):
    socket = await open_socket(headers=bearer(carol_key))
    for stream_id, model in [("x", "slow-stream"), ("y", "slow-stream"), ("z", "thinker")]:
        await socket.send_json_to(
            {"type": "chat", "id": stream_id, "model": model, "messages": HELLO, "max_tokens": 12}
        )
    order = []
    frames = {"x": [], "y": [], "z": []}
    while not all(f and f[-1]["type"] == "done" for f in frames.values()):
        frame = await socket.receive_json_from(timeout=10)
        order.append(frame["id"])
        frames[frame["id"]].append(frame)

    for stream_id, got in frames.items():
        assert [f["seq"] for f in got] == list(range(len(got))), stream_id

    def first(i):
        return order.index(i)

    def last(i):
        return len(order) - 1 - order[::-1].index(i)

    # The two slow answers arrive interleaved; the quick one ends while they stream.
    assert first("x") < last("y") and first("y") < last("x")
    assert last("z") < last("x") and last("z") < last("y")
    slow_text = "".join(f["text"] for f in frames["x"] if f["type"] == "text")
    assert len(slow_text.split()) == 12
    await socket.disconnect()


async def test_a_saved_chat_over_the_socket_reports_its_conversation(carol, carol_key):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to(
        {"type": "chat", "id": "c", "model": "fast", "conversation_id": "new", "content": "Hi"}
    )
    frames = (await read_until_done(socket, ["c"]))["c"]
    conversation = await Conversation.objects.aget(owner=carol)
    assert frames[0]["conversationId"] == frames[-1]["conversationId"] == conversation.pk
    assert frames[-1]["messageId"] == (await conversation.messages.alast()).pk
    await socket.disconnect()


async def test_a_refused_chat_is_an_error_frame_and_the_socket_stays_open(carol_key, upstream):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to({"type": "chat", "id": "m", "model": "gpt-9", "messages": HELLO})
    error = await socket.receive_json_from()
    assert error == {
        "type": "error",
        "id": "m",
        "seq": 0,
        "error": "Model 'gpt-9' not found or not active",
        "code": "model_not_found",
        "status": 404,
    }
    await socket.send_json_to({"type": "chat", "id": "n", "model": "fast"})
    error = await socket.receive_json_from()
    assert (error["id"], error["code"], error["status"]) == ("n", "invalid_messages", 400)
    assert (await ask_once(socket))[-1]["type"] == "done"
    await socket.disconnect()


async def test_a_provider_failing_mid_stream_ends_with_an_error_frame(carol, carol_key):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to({"type": "chat", "id": "cut", "model": "cut", "messages": HELLO})
    frames = (await read_until_done(socket, ["cut"]))["cut"]
    assert [f["type"] for f in frames] == ["meta", "text", "text", "text", "error"]
    assert frames[-1]["code"] == "provider_error"
    assert await sync_to_async(balance_of)(user=carol) == Decimal(10)
    await socket.disconnect()


async def test_cancel_stops_the_provider_and_charges_what_was_generated_once(
    carol, carol_key, upstream
):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to(
        {"type": "chat", "id": "long", "model": "slow-stream", "messages": HELLO}
    )
    meta = await socket.receive_json_from()
    for _ in range(4):
        assert (await socket.receive_json_from(timeout=5))["type"] == "text"
    await socket.send_json_to({"type": "cancel", "id": "long"})
    frames = (await read_until_done(socket, ["long"]))["long"]

    done = frames[-1]
    assert done["type"] == "done" and done["cancelled"] is True
    assert 4 <= done["usage"]["outputTokens"] < 400
    await wait_until(lambda: upstream.requests()[-1].get("client_disconnected"), timeout=2)
    record = await UsageRecord.objects.aget(request_id=meta["requestId"])
    assert record.status == "cancelled" and record.cost > 0
    assert done["cost"]["charged"] == format_usd(record.cost)
    entries = [e async for e in LedgerEntry.objects.filter(reference=f"usage:{meta['requestId']}")]
    assert len(entries) == 1
    assert await sync_to_async(balance_of)(user=carol) == await sync_to_async(ledger_sum)(
        user=carol
    )
    await socket.disconnect()


async def test_cancelling_an_unknown_stream_is_an_error_frame(carol_key):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to({"type": "cancel", "id": "ghost"})
    frame = await socket.receive_json_from()
    assert (frame["type"], frame["id"], frame["code"]) == ("error", "ghost", "stream_not_found")
    await socket.disconnect()


# --- Bad frames ---------------------------------------------------------------------------


async def expect_error_and_still_open(socket, code):
    frame = await socket.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == code, frame
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "dance"}', "invalid_frame"),
        ('{"type": "chat", "messages": []}', "invalid_frame"),  # no id
        ('{"type": "chat", "id": {"a": 1}}', "invalid_frame"),
        ('{"type": "resume", "id": "r", "after": "last"}', "invalid_frame"),
    ],
)
async def test_an_invalid_frame_gets_an_error_and_the_socket_stays_open(carol_key, raw, code):
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_to(text_data=raw)
    await expect_error_and_still_open(socket, code)
    await socket.disconnect()


async def test_an_oversized_frame_gets_an_error_and_the_socket_stays_open(carol_key, settings):
    settings.WS_MAX_FRAME_BYTES = 1000
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_to(text_data=orjson.dumps({"type": "ping", "pad": "x" * 2000}).decode())
    await expect_error_and_still_open(socket, "payload_too_large")
    await socket.disconnect()


async def test_a_flood_of_frames_gets_rate_limit_exceeded(carol_key, settings):
    settings.WS_FRAMES_PER_SECOND = 5
    settings.WS_FRAME_BURST = 10
    socket = await open_socket(headers=bearer(carol_key))
    for _ in range(30):
        await socket.send_json_to({"type": "ping"})
    replies = [await socket.receive_json_from() for _ in range(30)]
    limited = [r for r in replies if r["type"] == "error"]
    assert [r["type"] for r in replies[:10]] == ["pong"] * 10
    assert len(limited) >= 15 and {r["code"] for r in limited} == {"rate_limit_exceeded"}
    await asyncio.sleep(0.5)  # the bucket refills
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}
    await socket.disconnect()


async def test_too_many_answers_at_once_on_one_socket_is_refused(carol_key, settings):
    settings.WS_MAX_STREAMS = 2
    socket = await open_socket(headers=bearer(carol_key))
    for stream_id in ("1", "2", "3"):
        await socket.send_json_to(
            {"type": "chat", "id": stream_id, "model": "slow-stream", "messages": HELLO}
        )
    frames = []
    while not any(f["id"] == "3" for f in frames):
        frames.append(await socket.receive_json_from(timeout=5))
    refused = next(f for f in frames if f["id"] == "3")
    assert refused["code"] == "too_many_streams"
    for stream_id in ("1", "2"):
        await socket.send_json_to({"type": "cancel", "id": stream_id})
    await read_until_done(socket, ["1", "2"])
    await socket.disconnect()


# --- Resume -------------------------------------------------------------------------------


async def test_a_client_that_reconnects_resumes_where_it_left_off(carol, carol_key, upstream):
    first = await open_socket(headers=bearer(carol_key))
    await first.send_json_to(
        {"type": "chat", "id": "trip", "model": "slow-stream", "messages": HELLO, "max_tokens": 40}
    )
    seen = [await first.receive_json_from(timeout=5) for _ in range(6)]
    await first.disconnect()  # the train enters a tunnel
    await asyncio.sleep(0.3)

    second = await open_socket(headers=bearer(carol_key))
    await second.send_json_to({"type": "resume", "id": "trip", "after": seen[-1]["seq"]})
    rest = (await read_until_done(second, ["trip"]))["trip"]

    frames = seen + rest
    assert [f["seq"] for f in frames] == list(range(len(frames)))
    assert frames[-1]["type"] == "done" and frames[-1]["finishReason"] == "length"
    text = "".join(f["text"] for f in frames if f["type"] == "text")
    assert len(text.split()) == 40
    assert not upstream.requests()[-1].get("client_disconnected")
    await second.disconnect()


async def test_resuming_a_finished_stream_replays_it(carol_key):
    socket = await open_socket(headers=bearer(carol_key))
    frames = await ask_once(socket)
    await socket.send_json_to({"type": "resume", "id": "q", "after": -1})
    replayed = (await read_until_done(socket, ["q"]))["q"]
    assert replayed == frames
    await socket.disconnect()


async def test_nobody_else_can_resume_a_stream(carol_key, catalogue):
    from accounts.api_keys import api_key_create
    from tests.factories import UserFactory

    socket = await open_socket(headers=bearer(carol_key))
    await ask_once(socket)
    mallory = await sync_to_async(UserFactory)(email="mallory@example.com")
    _, key = await sync_to_async(api_key_create)(user=mallory)
    other = await open_socket(headers=bearer(key))
    await other.send_json_to({"type": "resume", "id": "q", "after": -1})
    frame = await other.receive_json_from()
    assert (frame["type"], frame["code"]) == ("error", "stream_not_found")
    await other.disconnect()
    await socket.disconnect()


async def test_a_stream_nobody_comes_back_for_is_stopped_after_the_grace_period(
    carol, carol_key, upstream, settings
):
    settings.CHAT_DETACHED_GRACE_SECONDS = 0.2
    socket = await open_socket(headers=bearer(carol_key))
    await socket.send_json_to(
        {"type": "chat", "id": "gone", "model": "slow-stream", "messages": HELLO}
    )
    meta = await socket.receive_json_from(timeout=5)
    await socket.disconnect()

    await wait_until(lambda: upstream.requests()[-1].get("client_disconnected"), timeout=4)
    settled = UsageRecord.objects.filter(request_id=meta["requestId"])
    await wait_until(settled.exists, timeout=4)  # settling follows the provider's close
    record = await settled.aget()
    assert record.status == "cancelled" and 0 < record.completion_tokens < 400


async def test_a_stream_can_be_cancelled_from_the_socket_that_resumed_it(carol_key, upstream):
    first = await open_socket(headers=bearer(carol_key))
    await first.send_json_to({"type": "chat", "id": "s", "model": "slow-stream", "messages": HELLO})
    await first.receive_json_from(timeout=5)
    await first.disconnect()
    second = await open_socket(headers=bearer(carol_key))
    await second.send_json_to({"type": "resume", "id": "s", "after": 0})
    await second.receive_json_from(timeout=5)
    await second.send_json_to({"type": "cancel", "id": "s"})
    frames = (await read_until_done(second, ["s"]))["s"]
    assert frames[-1]["type"] == "done" and frames[-1]["cancelled"] is True
    await wait_until(lambda: upstream.requests()[-1].get("client_disconnected"), timeout=2)
    await second.disconnect()


# --- Ending a socket ----------------------------------------------------------------------


async def test_a_channel_receive_that_ignores_a_cancel_still_ends_when_its_socket_is_cancelled_twice():
    """redis-py on 3.11 can swallow a cancel (aiapi/consumers.py: `_cancel_until_done`); the
    socket's own task cancelled again meanwhile (channels' dispatcher, then whoever awaits the
    consumer) must not leave that receive running on its own, polling Redis for ever."""
    cancels_seen = 0

    async def receive_that_swallows_two_cancels():
        nonlocal cancels_seen
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancels_seen += 1
                if cancels_seen == 3:
                    raise

    receiving = asyncio.ensure_future(receive_that_swallows_two_cancels())
    ending = asyncio.ensure_future(_cancel_until_done(receiving))
    await asyncio.sleep(0.01)
    ending.cancel()  # the second cancel, while the first is being made to stick
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(ending, timeout=2)
    assert receiving.cancelled()
    assert cancels_seen == 3


# --- A real client against a running server ------------------------------------------------


async def test_a_real_websocket_client_chats_drops_and_resumes(gateway_url, carol_key):
    from websockets.asyncio.client import connect

    url = gateway_url.replace("http://", "ws://") + PATH
    headers = {"Authorization": f"Bearer {carol_key}"}
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(orjson.dumps({"type": "chat", "id": "1", "model": "fast", "messages": HELLO}))
        frames = []
        while not frames or frames[-1]["type"] != "done":
            frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert frames[0]["type"] == "meta" and frames[-1]["finishReason"] == "stop"
        await ws.send(
            orjson.dumps(
                {
                    "type": "chat",
                    "id": "2",
                    "model": "slow-stream",
                    "messages": HELLO,
                    "max_tokens": 30,
                }
            )
        )
        seen = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(orjson.dumps({"type": "resume", "id": "2", "after": seen[-1]["seq"]}))
        rest = []
        while not rest or rest[-1]["type"] != "done":
            rest.append(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))
    assert [f["seq"] for f in seen + rest] == list(range(len(seen) + len(rest)))
    text = "".join(f["text"] for f in seen + rest if f["type"] == "text")
    assert len(text.split()) == 30


async def test_a_real_client_with_a_bad_key_is_closed_with_4401(gateway_url, catalogue):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = gateway_url.replace("http://", "ws://") + PATH
    async with connect(url, additional_headers={"Authorization": "Bearer nope"}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4401
