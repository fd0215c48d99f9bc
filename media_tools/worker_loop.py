"""One long-lived event loop per worker thread for the provider calls of media jobs, so each
provider's SDK client (one per loop) is reused and its connections pooled across jobs, rather
than a loop and a client made and dropped per job."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import TypeVar

T = TypeVar("T")
_local = threading.local()


def run_async(coroutine: Coroutine[object, object, T]) -> T:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coroutine)
