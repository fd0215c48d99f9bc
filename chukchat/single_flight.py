"""One load at a time per key: concurrent requests that miss the same cache entry share it.

When a cached entry (a key's principal, a user's entitlements) expires under load, every
request in flight misses it at once; each sent the same query through the worker threads, and
at 500 requests/s those loads were a tenth of the worker's time and queued the threads for
everything else. Here the first miss loads, and the requests that miss meanwhile wait for it.
`forget()` (the entry changed: a key revoked, a plan changed) makes later misses load afresh
rather than join a load that began before the change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from chukchat.per_loop import PerLoop

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._flights: PerLoop[dict[Hashable, tuple[int, asyncio.Future]]] = PerLoop(dict)
        self._generation = 0

    def forget(self) -> None:
        """Loads begun before now are not joined again (callable from any thread)."""
        self._generation += 1

    async def load(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """`make()`'s result, shared with every caller asking for `key` while it runs. A
        caller being cancelled does not cancel the load the others wait for."""
        flights = self._flights.get()
        found = flights.get(key)
        if found is None or found[0] != self._generation:
            future = asyncio.ensure_future(make())
            found = flights[key] = (self._generation, future)

            def landed(done: asyncio.Future, key: Hashable = key) -> None:
                if flights.get(key, (0, None))[1] is done:
                    del flights[key]

            future.add_done_callback(landed)
        return await asyncio.shield(found[1])
