"""One object per event loop: async clients (Redis, aiohttp, psycopg) belong to the loop that
made them. A server process has one loop; the test suite has one per test, and a new loop can
be given the id of one that has ended, so the loop itself is kept and compared, never just its
id (a reused id once handed a test the previous test's closed clients, and it hung)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, make: Callable[[], T], *, keep: int = 64) -> None:
        self._make = make
        self._keep = keep  # loops of finished tests are forgotten past this many
        self._by_loop: dict[int, tuple[asyncio.AbstractEventLoop, T]] = {}

    def get(self) -> T:
        """The running loop's object, made on first use."""
        loop = asyncio.get_running_loop()
        found = self._by_loop.get(id(loop))
        if found is not None and found[0] is loop:
            return found[1]
        if len(self._by_loop) >= self._keep:
            self._by_loop = {k: v for k, v in self._by_loop.items() if not v[0].is_closed()}
        made = self._make()
        self._by_loop[id(loop)] = (loop, made)
        return made

    def current(self) -> T | None:
        """The running loop's object if it has one; never makes one."""
        loop = asyncio.get_running_loop()
        found = self._by_loop.get(id(loop))
        return found[1] if found is not None and found[0] is loop else None
