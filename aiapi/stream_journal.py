"""Where a WebSocket chat stream's frames are kept for a short while, so that a client whose
socket dropped (mobile networks do that) can reconnect, to any server process, and receive
what it missed and then the rest.

A stream is keyed by its owner and the id the client gave it. Each frame is appended with its
sequence number; the last frame (done or error) marks the stream finished, after which it is
kept RESUME_TTL seconds. With Redis, each stream is a Redis Stream written in batches by one
task per process (appending never waits on Redis); a reader replays with XRANGE and follows
with blocking XREAD. Without Redis (embedded mode: one process) the same lives in memory.

A stream whose socket is gone keeps generating only while somebody follows it: readers mark
it attached, and `is_wanted` tells the owner of the stream whether to go on. A cancel sent
from another process is a flag the owner sees the same way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from django.conf import settings

from chukchat.per_loop import PerLoop

logger = logging.getLogger(__name__)

ATTACHED_SECONDS = 15  # a reader renews its mark this often (well within its lifetime)
FOLLOW_BLOCK_MS = 5000
MAX_FRAMES = 20_000


class StreamNotFound(Exception):
    """No stream by that id for this owner (never was, expired, or someone else's)."""


class StreamInUse(Exception):
    """The owner already has an unfinished stream with that id."""


def _stream_name(owner_id: int, stream_id: str) -> str:
    return f"{owner_id}:{stream_id}"


# --- In memory (embedded mode) -------------------------------------------------------------


@dataclass
class _Memory:
    frames: list[tuple[int, str]] = field(default_factory=list)
    finished: bool = False
    expires: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    readers: int = 0
    cancelled: bool = False


class MemoryJournal:
    def __init__(self) -> None:
        self.streams: dict[str, _Memory] = {}

    def _live(self, name: str) -> _Memory | None:
        entry = self.streams.get(name)
        if entry is not None and entry.finished and entry.expires < time.monotonic():
            del self.streams[name]
            return None
        return entry

    async def open(self, owner_id: int, stream_id: str) -> None:
        name = _stream_name(owner_id, stream_id)
        entry = self._live(name)
        if entry is not None and not entry.finished:
            raise StreamInUse(stream_id)
        for key in [
            k for k, v in self.streams.items() if v.finished and v.expires < time.monotonic()
        ]:
            del self.streams[key]
        self.streams[name] = _Memory()

    def append(self, owner_id: int, stream_id: str, seq: int, frame: str, *, last: bool) -> None:
        entry = self.streams.get(_stream_name(owner_id, stream_id))
        if entry is None:
            return
        entry.frames.append((seq, frame))
        if last:
            entry.finished = True
            entry.expires = time.monotonic() + settings.CHAT_RESUME_TTL_SECONDS
        entry.changed.set()
        entry.changed = asyncio.Event()

    async def finish(self, owner_id: int, stream_id: str) -> None:
        entry = self.streams.get(_stream_name(owner_id, stream_id))
        if entry is not None and not entry.finished:
            entry.finished = True
            entry.expires = time.monotonic() + settings.CHAT_RESUME_TTL_SECONDS
            entry.changed.set()

    async def replay(self, owner_id: int, stream_id: str, after: int) -> AsyncIterator[str]:
        entry = self._live(_stream_name(owner_id, stream_id))
        if entry is None:
            raise StreamNotFound(stream_id)
        entry.readers += 1
        try:
            position = 0
            while True:
                frames = entry.frames
                while position < len(frames):
                    seq, frame = frames[position]
                    position += 1
                    if seq > after:
                        yield frame
                if entry.finished and position >= len(entry.frames):
                    return
                changed = entry.changed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), FOLLOW_BLOCK_MS / 1000)
        finally:
            entry.readers -= 1

    async def request_cancel(self, owner_id: int, stream_id: str) -> bool:
        entry = self._live(_stream_name(owner_id, stream_id))
        if entry is None or entry.finished:
            return False
        entry.cancelled = True
        return True

    async def is_wanted(self, owner_id: int, stream_id: str) -> bool:
        entry = self.streams.get(_stream_name(owner_id, stream_id))
        return entry is not None and entry.readers > 0 and not entry.cancelled

    async def is_cancelled(self, owner_id: int, stream_id: str) -> bool:
        entry = self.streams.get(_stream_name(owner_id, stream_id))
        return entry is not None and entry.cancelled


# --- Redis ---------------------------------------------------------------------------------


class RedisJournal:
    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        # Reads block up to FOLLOW_BLOCK_MS: the socket must wait longer than that.
        self.redis = aioredis.from_url(url, socket_timeout=FOLLOW_BLOCK_MS / 1000 + 10)
        self.prefix = f"{prefix}:chatstream"
        self.pending: list[tuple[str, int, str, bool]] = []
        self.writer: asyncio.Task | None = None

    def _key(self, owner_id: int, stream_id: str) -> str:
        return f"{self.prefix}:{_stream_name(owner_id, stream_id)}"

    async def open(self, owner_id: int, stream_id: str) -> None:
        key = self._key(owner_id, stream_id)
        live = settings.PROVIDER_TOTAL_TIMEOUT + settings.CHAT_RESUME_TTL_SECONDS + 60
        # SET NX on the state key claims the id; a finished stream's id can be reused.
        claimed = await self.redis.set(f"{key}:state", "open", nx=True, ex=int(live))
        if not claimed:
            state = await self.redis.get(f"{key}:state")
            if state == b"open":
                raise StreamInUse(stream_id)
            await self.redis.set(f"{key}:state", "open", ex=int(live))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(key, f"{key}:cancel")
            await pipe.execute()

    def append(self, owner_id: int, stream_id: str, seq: int, frame: str, *, last: bool) -> None:
        self.pending.append((self._key(owner_id, stream_id), seq, frame, last))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        """Flushes appended frames in order, as many as have gathered per round trip."""
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, seq, frame, last in batch:
                        pipe.xadd(key, {"s": seq, "f": frame}, maxlen=MAX_FRAMES, approximate=True)
                        if last:
                            ttl = settings.CHAT_RESUME_TTL_SECONDS
                            pipe.expire(key, ttl)
                            pipe.set(f"{key}:state", "done", ex=ttl)
                    await pipe.execute()
            except Exception:
                logger.warning("could not journal %d stream frames", len(batch), exc_info=True)

    async def finish(self, owner_id: int, stream_id: str) -> None:
        """Marks a stream finished even if it ended without a last frame (it always has one,
        unless the process is going down)."""
        if self.writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.writer)
        key = self._key(owner_id, stream_id)
        ttl = settings.CHAT_RESUME_TTL_SECONDS
        with contextlib.suppress(Exception):
            if await self.redis.get(f"{key}:state") == b"open":
                await self.redis.set(f"{key}:state", "done", ex=ttl)
                await self.redis.expire(key, ttl)

    async def replay(self, owner_id: int, stream_id: str, after: int) -> AsyncIterator[str]:
        key = self._key(owner_id, stream_id)
        if await self.redis.get(f"{key}:state") is None:
            raise StreamNotFound(stream_id)
        last_id = b"0-0"
        marked = 0.0
        while True:
            if time.monotonic() - marked > ATTACHED_SECONDS / 3:
                await self.redis.set(f"{key}:attached", "1", ex=ATTACHED_SECONDS)
                marked = time.monotonic()
            reply = await self.redis.xread({key: last_id}, count=1000, block=FOLLOW_BLOCK_MS)
            for _, entries in reply or ():
                for entry_id, values in entries:
                    last_id = entry_id
                    if int(values[b"s"]) > after:
                        yield values[b"f"].decode()
            if await self.redis.get(f"{key}:state") != b"open":
                # Finished or expired: read whatever was written after our last read, stop.
                tail = await self.redis.xrange(key, min=b"(" + last_id, max="+")
                for _, values in tail:
                    if int(values[b"s"]) > after:
                        yield values[b"f"].decode()
                return

    async def request_cancel(self, owner_id: int, stream_id: str) -> bool:
        key = self._key(owner_id, stream_id)
        if await self.redis.get(f"{key}:state") != b"open":
            return False
        await self.redis.set(f"{key}:cancel", "1", ex=settings.CHAT_RESUME_TTL_SECONDS)
        return True

    async def is_wanted(self, owner_id: int, stream_id: str) -> bool:
        key = self._key(owner_id, stream_id)
        attached, cancelled = await self.redis.mget(f"{key}:attached", f"{key}:cancel")
        return attached is not None and cancelled is None

    async def is_cancelled(self, owner_id: int, stream_id: str) -> bool:
        return await self.redis.exists(f"{self._key(owner_id, stream_id)}:cancel") > 0


def _new_journal() -> MemoryJournal | RedisJournal:
    if settings.REDIS_URL:
        return RedisJournal(settings.REDIS_URL, settings.CACHE_KEY_PREFIX)
    return MemoryJournal()


_journals: PerLoop[MemoryJournal | RedisJournal] = PerLoop(_new_journal)


def journal() -> MemoryJournal | RedisJournal:
    """This event loop's journal (Redis clients belong to the loop that made them)."""
    return _journals.get()
