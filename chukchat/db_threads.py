"""Running ORM work from async code without funnelling it through one thread.

`sync_to_async` defaults to thread_sensitive=True: every call in a process queues for the same
single thread. The gateway's short, independent queries (reserve, settle, key lookup) instead
run in the executor's pool, and each hands its connection back to the pool when done, since no
request_finished signal will close it in that thread."""

from collections.abc import Callable
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

T = TypeVar("T")


def _run_and_release(fn: Callable[..., T], kwargs: dict) -> T:
    try:
        return fn(**kwargs)
    finally:
        for connection in connections.all(initialized_only=True):
            connection.close()


async def db_call(fn: Callable[..., T], /, **kwargs) -> T:
    return await sync_to_async(_run_and_release, thread_sensitive=False)(fn, kwargs)
