"""One pipelined Redis connection per event loop, for the rate limiter's script call that every
API request makes.

Each caller writes its command at once on the shared connection and waits for its own reply:
Redis answers in the order it was asked, so replies are handed out first in, first out. Replies
are parsed by hiredis's C reader. One connection is enough, as Redis runs one command at a
time. redis-py's asyncio client spent ~190 us of this process's CPU on that call (pool
checkout, a lock per command, reply handling in Python); this ~70-90 us (docs/benchmarks.md).

Failures are redis-py's exception types, so callers treat both clients alike: no connection,
or a lost one, is a ConnectionError for everyone waiting; no reply within `timeout` is a
TimeoutError for everyone waiting and the connection is dropped (a Redis that stalls that long
is taken for down; the next call connects afresh); an error reply is a ResponseError for its
caller only. Plain TCP and unix sockets; TLS (`rediss://`) stays with redis-py."""

from __future__ import annotations

import asyncio
from collections import deque

import hiredis
from redis.connection import parse_url
from redis.exceptions import ConnectionError, ResponseError
from redis.exceptions import TimeoutError as NoAnswer


def supports(url: str) -> bool:
    return url.startswith(("redis://", "unix://"))


def _encode(arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    return repr(arg).encode()  # int, float: as redis-py writes them


def pack(args) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _encode(arg)
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiting: deque[asyncio.Future] = deque()
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._reader.feed(data)
            while (reply := self._reader.gets()) is not False:
                waiter = self._waiting.popleft()
                if not waiter.done():  # else its caller was cancelled or timed out
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError):
            self.fail(ConnectionError("The rate limiter's Redis sent something unreadable."))

    def connection_lost(self, exc) -> None:
        self.fail(ConnectionError("The connection to the rate limiter's Redis was lost."))

    def fail(self, error: Exception) -> None:
        self.closed = True
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if self._transport is not None:
            self._transport.abort()

    def _timed_out(self, waiter: asyncio.Future) -> None:
        if not waiter.done():
            self.fail(NoAnswer("The rate limiter's Redis did not answer in time."))

    async def call(self, args, within: float):
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiting.append(waiter)
        self._transport.write(pack(args))
        timer = loop.call_later(within, self._timed_out, waiter)
        try:
            reply = await waiter
        finally:
            timer.cancel()
        if isinstance(reply, ResponseError):
            raise reply
        return reply


class RedisPipe:
    """Belongs to the event loop it is first used on (keep one per loop: chukchat.per_loop)."""

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        params = parse_url(url)
        self._path = params.get("path")
        self._host = params.get("host", "localhost")
        self._port = params.get("port", 6379)
        password, username = params.get("password"), params.get("username")
        self._login = ("AUTH", username, password) if username else ("AUTH", password)
        if password is None:
            self._login = ()
        self._db = params.get("db", 0)
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future | None = None

    async def execute(self, *args):
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connected()
        return await connection.call(args, self.timeout)

    async def run_script(self, *, sha: str, script: str, keys: list, args: list):
        """EVALSHA, falling back once to EVAL (which caches the script) when Redis does not
        know it yet: a new server, a restart, a SCRIPT FLUSH."""
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        return await self.execute("EVAL", script, len(keys), *keys, *args)

    async def _connected(self) -> _Connection:
        # Callers arriving while a connection is being made wait for that one.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connect_ended)
        return await asyncio.shield(self._connecting)

    def _connect_ended(self, future: asyncio.Future) -> None:
        self._connecting = None
        if not future.cancelled() and future.exception() is None:
            self._connection = future.result()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        where = self._path or f"{self._host}:{self._port}"
        try:
            if self._path:
                opening = loop.create_unix_connection(_Connection, self._path)
            else:
                opening = loop.create_connection(_Connection, self._host, self._port)
            _, connection = await asyncio.wait_for(opening, self.timeout)
        except OSError as error:  # TimeoutError among them
            raise ConnectionError(f"Error connecting to Redis at {where}: {error!r}") from error
        try:
            if self._login:
                await connection.call(self._login, self.timeout)
            if self._db:
                await connection.call(("SELECT", self._db), self.timeout)
        except BaseException:
            connection.fail(ConnectionError(f"Redis at {where} refused the login or database."))
            raise
        return connection
