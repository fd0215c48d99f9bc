"""The one SSE writer under every streamed wire format (OpenAI `chat.completion.chunk`, Chuk).

A `Feed` pulls a stream's items in a task of its own, so that a heartbeat comment can be
written while the provider is quiet without interrupting it. `start` waits for the first item
before the response exists: a provider that fails before answering is then a plain HTTP
error, not an error inside a 200 stream. `body` writes what has arrived; each wire format
only says how one item is rendered.

A source settles its call itself, at its end (or when cancelled, for a client that went
away); the writer waits for that end rather than cutting it short."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from django.conf import settings
from django.http import StreamingHttpResponse

from chukchat import metrics

PING = object()  # a heartbeat's place in the queue
PING_COMMENT = b": ping\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Feed:
    """The source's items, then None, in a queue; a ping among them after every quiet
    `SSE_HEARTBEAT_SECONDS`. The heartbeat is a timer that queues a ping only after a quiet
    interval: reading an item costs a plain queue get."""

    def __init__(self, source: AsyncIterator) -> None:
        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.task = asyncio.create_task(self._pull())
        # A timer, not a task: a task and its frame per open stream cost memory and a wake-up.
        self.interval = settings.SSE_HEARTBEAT_SECONDS
        self.beat = self.loop.call_at(self.last + self.interval, self._heartbeat)

    async def _pull(self) -> None:
        # Counted from here: this task ends however the stream does (done, failed, cancelled).
        metrics.OPEN_STREAMS.inc()
        try:
            async for item in self.source:
                self.last = self.loop.time()
                self.queue.put_nowait(item)
        finally:
            metrics.OPEN_STREAMS.dec()
            self.queue.put_nowait(None)

    def _heartbeat(self) -> None:
        now = self.loop.time()
        if now - self.last >= self.interval:
            self.last = now
            self.queue.put_nowait(PING)
        self.beat = self.loop.call_at(self.last + self.interval, self._heartbeat)

    async def close(self, *, abandoned: bool) -> None:
        """Stops the heartbeat and waits for the source to end, settling what it owes. When
        the client went away (`abandoned`) the source is cancelled first: that stops the
        provider, and the source charges what was generated."""
        self.beat.cancel()
        if abandoned:
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start(source: AsyncIterator) -> tuple[Feed, object]:
    """A feed and its first item: an item of the source, PING when the provider has been
    quiet for a whole heartbeat, or None when the source ended without a word."""
    feed = Feed(source)
    try:
        first = await feed.queue.get()
    except BaseException:
        await feed.close(abandoned=True)
        raise
    return feed, first


async def body(
    feed: Feed, first, render: Callable[[object], bytes], last: Callable[[object], bool]
) -> AsyncIterator[bytes]:
    """The response body: each item as `render` writes it, a comment for each ping, up to the
    `last` item (nothing is written after it, not even a ping, while the source settles).
    Under load several items that arrived together go out in one write (one trip through the
    event loop and the socket instead of one each)."""
    queue = feed.queue
    ended = False
    try:
        item = first
        while item is not None:
            chunk = []
            while True:
                if item is PING:
                    chunk.append(PING_COMMENT)
                else:
                    chunk.append(render(item))
                    if last(item):
                        item = None
                        break
                if queue.empty():
                    break
                item = queue.get_nowait()
                if item is None:
                    break
            data = b"".join(chunk)
            if data:
                yield data
            if item is not None:
                item = await queue.get()
        ended = True
    finally:
        await feed.close(abandoned=not ended)


def response(
    feed: Feed, first, render: Callable[[object], bytes], last: Callable[[object], bool]
) -> StreamingHttpResponse:
    return StreamingHttpResponse(
        body(feed, first, render, last), content_type="text/event-stream", headers=HEADERS
    )
