"""The Chuk chat WebSocket, `/v1/ai/chat/ws`.

One socket carries many requests at once. Client frames: `chat` (a turn, see
aiapi/chuk_chat.py), `cancel`, `resume`, `ping`, `job` (watch a media job's progress), and
`auth` when the socket was opened without credentials. Server frames carry the request's `id` and a `seq` (the event's index): `meta`,
`text`, `reasoning`, `usage`, then `done` or `error`; and `pong`. A bad frame gets an `error`
frame and the socket stays open; a socket that never authenticates is closed with 4401.

A socket whose credentials stop working is closed, its streams stopped and settled as
cancelled: 4401 when its key is revoked or expires, 4403 when its account is deleted or
deactivated. It hears of that through its user's and its key's channel-layer groups
(accounts/revocation.py), and re-checks its credentials on every frame and every
API_KEY_CACHE_SECONDS, through the same cache as the HTTP path, so a message lost is bounded
by that cache's lifetime.

Every frame of a stream is also journalled (aiapi/stream_journal.py) so a client whose socket
dropped can reconnect and `resume` it. A stream whose socket dropped keeps going for a grace
period, and after that only while somebody follows it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

import orjson
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings

from accounts.authentication import aauthenticate_api_key, auser_is_active, request_api_key
from accounts.revocation import ACCOUNT_CLOSED, KEY_REVOKED, acknowledge, key_group, user_group
from aiapi.chat_service import Caller
from aiapi.chuk_chat import ChukTurn, parse_turn, start_turn
from aiapi.stream_journal import StreamInUse, StreamNotFound, journal
from aiapi.wire import chuk as chuk_wire
from aiapi.wire.chuk import error_frame
from chukchat.db_threads import db_call
from chukchat.errors import ApiError
from chukchat.origins import origin_is_ours
from media_tools.events import job_group
from media_tools.payloads import job_payload
from media_tools.selectors import job_for_owner

logger = logging.getLogger(__name__)

UNAUTHORISED = 4401
TERMINAL = ("done", "error")
MAX_ID_LENGTH = 64
# How long a socket whose credentials are gone waits for its stopped streams to settle (and
# send their last frame) before it closes; they settle anyway, detached, after that.
REVOKED_SETTLE_SECONDS = 10.0


class FrameLimiter:
    """A token bucket per socket: `rate` frames a second, bursts up to `burst`."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class StreamRun:
    """A stream generating in this process, and the socket it reports to (None once that
    socket is gone)."""

    owner_id: int
    stream_id: str
    consumer: ChatConsumer | None
    task: asyncio.Task | None = None


# This process's running streams, so a cancel on any of its sockets is immediate.
_running: dict[tuple[int, str], StreamRun] = {}
# Strong references to streams and watchdogs outliving their socket.
_detached: set[asyncio.Task] = set()


def frame(kind: str, stream_id: str, fields: dict, seq: int | None = None) -> str:
    if kind == "text":
        body = {"text": fields["text"]}
    elif kind == "reasoning":
        body = {"text": fields["reasoning"]}
    elif kind == "usage":
        body = {"usage": fields}
    else:
        body = fields
    head = (
        {"type": kind, "id": stream_id}
        if seq is None
        else {"type": kind, "id": stream_id, "seq": seq}
    )
    return orjson.dumps({**head, **body}).decode()


_JOB_STAGES = {"queued": 0, "running": 1}  # then finished: succeeded, failed or cancelled


def _job_reached(job: dict) -> tuple[int, int]:
    """How far a media job had got in a payload: its stage, then its progress."""
    return _JOB_STAGES.get(job["status"], 2), job.get("progress") or 0


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _origin_allowed(scope) -> bool:
    """A session cookie only counts from our own pages (no cross-site WebSocket hijacking);
    clients other than browsers send no Origin."""
    origin = _header(scope, b"origin")
    return origin is None or origin_is_ours(origin, scope=scope)


async def _cancel_until_done(task: asyncio.Task) -> None:
    """Cancels `task` and waits until it has ended, cancelling it again while it runs on.

    On Python 3.11 `asyncio.wait_for` swallows a cancellation that arrives in the loop turn
    its inner awaitable finishes in (CPython gh-86296, fixed in 3.12), and redis-py wraps
    every command it writes in `wait_for(drain(), socket_timeout)`. A channel-layer receive
    cancelled while it writes (its connection handshake, the clean-up script, the BZPOPMIN)
    then carries on, and channels_redis retries its 5 s BZPOPMIN until a message comes: for
    ever on a socket's own channel. Cancelled again, it is cancelled while it waits for
    Redis's answer, which is not wrapped so.

    A cancel of our own while we wait (channels' dispatcher cancels its sources, and whoever
    awaits the consumer may cancel it too) does not stop the loop: left there, the receive
    ran on unowned, polling Redis every 5 s for as long as the process lived, and a test's
    event loop waited for it at close for ever. It is raised once the task has ended."""
    cancelled = False
    while not task.done():
        task.cancel()
        try:
            await asyncio.wait([task], timeout=0.05)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


class ChatConsumer(AsyncWebsocketConsumer):
    caller: Caller | None = None
    token: str | None = None  # the API key the socket authenticated with (None: the session)

    async def __call__(self, scope, receive, send) -> None:
        """Channels' AsyncConsumer.__call__, but the socket reads its channel-layer channel only
        once it has joined the layer, to watch a media job (`_join_channel_layer`). Channels
        would start a Redis receive for every socket, also for one refused with 4401 a
        millisecond later, whose receive is then cancelled in the middle of opening its Redis
        connection; and that receive's cancellation is made to stick (`_cancel_until_done`).
        Without both, such a socket's task never ended and uvicorn waited for it at shutdown
        ("Waiting for background tasks to complete") until it was killed."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = None
        self.channel_joined = asyncio.Event()
        self.base_send = send
        sources = [receive] if self.channel_layer is None else [receive, self._channel_receive]
        with contextlib.suppress(StopConsumer):
            await await_many_dispatch(sources, self.dispatch)

    async def _join_channel_layer(self) -> None:
        if self.channel_name is None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_joined.set()

    async def _channel_receive(self) -> dict:
        """The next message on this socket's channel, once it has one; until then a wait that
        involves no Redis at all. Cancelled (the socket is done), it ends for certain."""
        await self.channel_joined.wait()
        receiving = asyncio.ensure_future(self.channel_layer.receive(self.channel_name))
        try:
            return await asyncio.shield(receiving)
        except asyncio.CancelledError:
            await _cancel_until_done(receiving)
            raise

    async def connect(self) -> None:
        self.caller = None
        self.is_open = True
        self.limiter = FrameLimiter(
            rate=settings.WS_FRAMES_PER_SECOND, burst=settings.WS_FRAME_BURST
        )
        self.streams: set[str] = set()  # ids of streams this socket started and still runs
        self.followers: dict[str, asyncio.Task] = {}  # resumed streams being replayed here
        self.auth_timer: asyncio.Task | None = None
        self.job_groups: set[str] = set()  # media jobs this socket watches
        self.job_sent: dict[str, tuple[int, int]] = {}  # job id -> how far the frames went
        self.credential_groups: list[str] = []  # the user's and the key's groups, once joined
        self.credential_watch: asyncio.Task | None = None
        self.ending = False  # closing because the credentials are gone
        await self.accept()
        token = request_api_key(
            authorization=_header(self.scope, b"authorization"),
            x_api_key=_header(self.scope, b"x-api-key"),
        )
        if token is None:
            query = parse_qs(self.scope.get("query_string", b"").decode())
            token = (query.get("token") or [None])[0]
        if token is not None:
            await self._authenticate(token)
            return
        if "session" in self.scope and _origin_allowed(self.scope):
            from channels.auth import get_user

            user = await get_user(self.scope)
            if user.is_authenticated:
                self.caller = Caller(user_id=user.pk)
                await self._watch_credentials()
                return
        self.auth_timer = asyncio.create_task(self._close_unless_authenticated())

    async def _authenticate(self, token: str) -> bool:
        try:
            principal = await aauthenticate_api_key(token)
        except ApiError:
            await self.close(code=UNAUTHORISED)
            return False
        self.caller = Caller.of_key(principal)
        self.token = token
        await self._watch_credentials()
        return True

    # --- Credentials that stop working -----------------------------------------------------

    async def _watch_credentials(self) -> None:
        """Joins the groups revocations are sent to, and re-checks now and then besides."""
        groups = [user_group(self.caller.user_id)]
        if self.caller.api_key_id is not None:
            groups.append(key_group(self.caller.api_key_id))
        if self.channel_layer is not None:
            await self._join_channel_layer()
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
            self.credential_groups = groups
        self.credential_watch = asyncio.create_task(self._recheck_periodically())

    async def _recheck_periodically(self) -> None:
        while self.is_open and not self.ending:
            await asyncio.sleep(max(settings.API_KEY_CACHE_SECONDS, 0.5))
            code = await self._credentials_gone()
            if code is not None:
                await self._end_for_credentials(code)
                return

    async def _credentials_gone(self) -> int | None:
        """None while the socket's key (or session's account) still works, else the close code.
        Read through the same cache as the HTTP path; a database that is away closes nothing."""
        try:
            if self.token is not None:
                try:
                    principal = await aauthenticate_api_key(self.token)
                except ApiError:
                    active = await auser_is_active(self.caller.user_id)
                    return KEY_REVOKED if active else ACCOUNT_CLOSED
                # The key's limits and model allow-list may have changed meanwhile.
                self.caller = Caller.of_key(principal)
                return None
            return None if await auser_is_active(self.caller.user_id) else ACCOUNT_CLOSED
        except Exception:
            logger.warning("could not re-check a socket's credentials", exc_info=True)
            return None

    async def credentials_revoked(self, event: dict) -> None:
        """From accounts/revocation.py: this socket's key was revoked or its account closed."""
        ack = event.get("ack")  # accounts.revocation.close_sockets_and_wait waits on it
        streaming = 0 if self.ending else len(self._streams_running())
        await acknowledge(ack, "streaming", streaming)
        await acknowledge(ack, "heard")
        await self._end_for_credentials(event.get("code", KEY_REVOKED))
        await acknowledge(ack, "settled", streaming)

    def _streams_running(self) -> list[asyncio.Task]:
        running = []
        for stream_id in list(self.streams):
            run = _running.get((self.caller.user_id, stream_id))
            if run is not None and run.task is not None and not run.task.done():
                running.append(run.task)
        return running

    async def _end_for_credentials(self, code: int) -> None:
        """Stops the socket's streams (each is cancelled and settled as cancelled, and sends
        its last frame), then closes with `code`."""
        if not self.is_open or self.ending:
            return
        self.ending = True
        stopped = self._streams_running()
        for task in stopped:
            task.cancel()
        if stopped:
            await asyncio.wait(stopped, timeout=REVOKED_SETTLE_SECONDS)
        logger.info("socket of user %s closed (%s): credentials gone", self.caller.user_id, code)
        await self.close(code=code)
        self.is_open = False

    async def _close_unless_authenticated(self) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.caller is None and self.is_open:
            await self.close(code=UNAUTHORISED)

    async def disconnect(self, code) -> None:
        self.is_open = False
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        if (
            self.credential_watch is not None
            and self.credential_watch is not asyncio.current_task()
        ):
            self.credential_watch.cancel()
        for group in self.credential_groups:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)
        for task in self.followers.values():
            task.cancel()
        for group in self.job_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.caller is None:
            return
        for stream_id in self.streams:
            run = _running.get((self.caller.user_id, stream_id))
            if run is not None and run.task is not None:
                run.consumer = None
                _detached.add(run.task)
                run.task.add_done_callback(_detached.discard)
                watchdog = asyncio.create_task(_watch_detached(run))
                _detached.add(watchdog)
                watchdog.add_done_callback(_detached.discard)

    async def send_frame(self, text: str) -> None:
        if not self.is_open:
            return
        try:
            await self.send(text_data=text)
        except Exception:  # the socket closed under us; disconnect() follows
            self.is_open = False

    # --- Client frames ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not self.is_open or self.ending:
            return  # closed, or closing because its credentials are gone
        raw = text_data if text_data is not None else bytes_data
        if len(raw) > settings.WS_MAX_FRAME_BYTES:
            await self.send_frame(
                error_frame(None, "payload_too_large", "The frame is too large.", 413)
            )
            return
        if not self.limiter.allow():
            await self.send_frame(
                error_frame(None, "rate_limit_exceeded", "Too many frames; slow down.", 429)
            )
            return
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await self.send_frame(error_frame(None, "invalid_json", "The frame is not JSON."))
            return
        if not isinstance(message, dict):
            await self.send_frame(error_frame(None, "invalid_frame", "A frame is a JSON object."))
            return
        kind = message.get("type")
        if self.caller is None:
            if kind == "auth" and isinstance(message.get("token"), str):
                if await self._authenticate(message["token"]):
                    if self.auth_timer is not None:
                        self.auth_timer.cancel()
                    await self.send_frame('{"type":"auth","ok":true}')
            else:
                await self.close(code=UNAUTHORISED)
            return
        code = await self._credentials_gone()
        if code is not None:
            await self._end_for_credentials(code)
            return
        if kind == "ping":
            await self.send_frame('{"type":"pong"}')
            return
        if kind == "auth":
            await self.send_frame('{"type":"auth","ok":true}')
            return
        if kind == "job":
            await self._watch_job(message.get("id"))
            return
        if kind not in ("chat", "cancel", "resume"):
            await self.send_frame(
                error_frame(message.get("id"), "invalid_frame", f"Unknown frame type {kind!r}.")
            )
            return
        stream_id = message.get("id")
        if isinstance(stream_id, int) and not isinstance(stream_id, bool):
            stream_id = str(stream_id)
        if not isinstance(stream_id, str) or not stream_id or len(stream_id) > MAX_ID_LENGTH:
            await self.send_frame(
                error_frame(None, "invalid_frame", f"A {kind} frame needs an id (a short string).")
            )
            return
        if kind == "chat":
            await self._chat(stream_id, message)
        elif kind == "cancel":
            await self._cancel(stream_id)
        else:
            await self._resume(stream_id, message.get("after", -1))

    async def _chat(self, stream_id: str, message: dict) -> None:
        caller = self.caller
        if len(self.streams) >= settings.WS_MAX_STREAMS:
            await self.send_frame(
                error_frame(
                    stream_id,
                    "too_many_streams",
                    f"At most {settings.WS_MAX_STREAMS} answers at once on one socket.",
                    429,
                )
            )
            return
        try:
            await journal().open(caller.user_id, stream_id)
        except StreamInUse:
            await self.send_frame(
                error_frame(stream_id, "duplicate_id", "A stream with this id is still running.")
            )
            return
        run = StreamRun(owner_id=caller.user_id, stream_id=stream_id, consumer=self)
        _running[(caller.user_id, stream_id)] = run
        self.streams.add(stream_id)
        run.task = asyncio.create_task(self._start_and_stream(run, message))
        run.task.add_done_callback(lambda _: self._forget(run))

    def _forget(self, run: StreamRun) -> None:
        if _running.get((run.owner_id, run.stream_id)) is run:
            del _running[(run.owner_id, run.stream_id)]
        self.streams.discard(run.stream_id)

    async def _start_and_stream(self, run: StreamRun, message: dict) -> None:
        stream_id = run.stream_id
        seq = 0

        async def emit(text: str, *, last: bool = False) -> None:
            journal().append(run.owner_id, stream_id, seq, text, last=last)
            await _deliver(run, text)

        turn: ChukTurn | None = None
        starting: asyncio.Future | None = None
        try:
            try:
                turn_input = parse_turn(message)
                starting = asyncio.ensure_future(
                    start_turn(caller=self.caller, turn=turn_input, stream=True)
                )
                # Shielded: a cancel while the call is being set up waits for the set-up,
                # then settles it, so no credit hold is left behind.
                turn = await asyncio.shield(starting)
            except ApiError as error:
                await emit(
                    error_frame(
                        stream_id,
                        error.code,
                        error.message,
                        error.status,
                        seq,
                        retry_after=error.headers.get("Retry-After"),
                    ),
                    last=True,
                )
                return
            try:
                async for kind, fields in turn.events():
                    text = frame(kind, stream_id, fields, seq)
                    await emit(text, last=kind in TERMINAL)
                    seq += 1
            except asyncio.CancelledError:
                asyncio.current_task().uncancel()  # our own cancel, handled here
                await turn.settle(cancelled=True)
                await self._say_cancelled(emit, turn, stream_id, seq)
        except asyncio.CancelledError:
            # Cancelled while the call was being set up.
            asyncio.current_task().uncancel()
            if starting is not None:
                with contextlib.suppress(Exception):
                    turn = await starting
            if turn is not None:
                await turn.settle(cancelled=True)
                await self._say_cancelled(emit, turn, stream_id, seq)
        except Exception:
            logger.exception("chat stream %s failed", stream_id)
            await emit(
                error_frame(
                    stream_id, "internal_error", "Something went wrong on our side.", 500, seq
                ),
                last=True,
            )
        finally:
            await journal().finish(run.owner_id, stream_id)

    @staticmethod
    async def _say_cancelled(emit, turn: ChukTurn, stream_id: str, seq: int) -> None:
        """The last frame of a stopped stream: what was generated, and what it cost."""
        fields = chuk_wire.done_fields(
            turn.call, conversation_id=turn.conversation_id, message_id=turn.answer_id
        )
        await emit(frame("done", stream_id, {**fields, "cancelled": True}, seq), last=True)

    async def _watch_job(self, job_id) -> None:
        """Subscribes the socket to a media job's status and progress. Joined before the job is
        read, so no change can fall between the first frame and the pushes."""
        if not isinstance(job_id, str) or not job_id:
            await self.send_frame(
                error_frame(None, "invalid_frame", "A job frame needs the job's id.")
            )
            return
        try:
            group = job_group(job_id)
        except ValueError:
            await self.send_frame(
                error_frame(job_id, "job_not_found", f"No media job '{job_id}'.", 404)
            )
            return
        await self._join_channel_layer()
        await self.channel_layer.group_add(group, self.channel_name)
        try:
            job = await db_call(job_for_owner, owner_id=self.caller.user_id, job_id=job_id)
        except ApiError as error:
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.send_frame(error_frame(job_id, error.code, error.message, error.status))
            return
        self.job_groups.add(group)
        await self.media_job({"job": job_payload(job)})

    async def media_job(self, event: dict) -> None:
        """A media job's change, pushed by the worker through the channel layer. A change made
        between joining the job's group and reading the job arrives after the job as read,
        which is newer: it is not sent, so the frames never go back."""
        job = event["job"]
        reached = _job_reached(job)
        if reached < self.job_sent.get(job["id"], (-1, -1)):
            return
        self.job_sent[job["id"]] = reached
        await self.send_frame(orjson.dumps({"type": "job", "id": job["id"], "job": job}).decode())
        if job["status"] in ("succeeded", "failed", "cancelled"):
            group = job_group(job["id"])
            if group in self.job_groups:
                self.job_groups.discard(group)
                await self.channel_layer.group_discard(group, self.channel_name)

    async def _cancel(self, stream_id: str) -> None:
        run = _running.get((self.caller.user_id, stream_id))
        if run is not None and run.task is not None:
            run.task.cancel()
            return
        if not await journal().request_cancel(self.caller.user_id, stream_id):
            await self.send_frame(
                error_frame(stream_id, "stream_not_found", "No running stream with this id.", 404)
            )

    async def _resume(self, stream_id: str, after) -> None:
        if isinstance(after, bool) or not isinstance(after, int):
            await self.send_frame(
                error_frame(stream_id, "invalid_frame", "after must be an event index (integer).")
            )
            return
        previous = self.followers.pop(stream_id, None)
        if previous is not None:
            previous.cancel()
        self.followers[stream_id] = asyncio.create_task(self._follow(stream_id, after))

    async def _follow(self, stream_id: str, after: int) -> None:
        try:
            async for text in journal().replay(self.caller.user_id, stream_id, after):
                await self.send_frame(text)
        except StreamNotFound:
            await self.send_frame(
                error_frame(stream_id, "stream_not_found", "No stream with this id to resume.", 404)
            )
        finally:
            if self.followers.get(stream_id) is asyncio.current_task():
                del self.followers[stream_id]


async def _deliver(run: StreamRun, text: str) -> None:
    consumer = run.consumer
    if consumer is not None:
        await consumer.send_frame(text)


async def _watch_detached(run: StreamRun) -> None:
    """A stream whose socket is gone: stopped when cancelled from elsewhere, or when the grace
    period is over and nobody has resumed it."""
    loop = asyncio.get_running_loop()
    detached_at = loop.time()
    store = journal()
    task = run.task
    while not task.done():
        await asyncio.sleep(1)
        if task.done():
            return
        with contextlib.suppress(Exception):
            if await store.is_cancelled(run.owner_id, run.stream_id):
                task.cancel()
                return
            grace_over = loop.time() - detached_at > settings.CHAT_DETACHED_GRACE_SECONDS
            if grace_over and not await store.is_wanted(run.owner_id, run.stream_id):
                task.cancel()
                return
