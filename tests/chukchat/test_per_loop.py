"""Async clients belong to the loop that made them: each loop gets its own, a loop always gets
the same one back, and an ended loop's object is never handed to a new loop."""

import asyncio
import threading

from chukchat.per_loop import PerLoop


def run(coroutine_function):
    """Runs it on a new event loop of its own thread (the test's thread may have one running),
    and returns the loop, closed, with the result."""
    outcome = {}

    def target():
        loop = asyncio.new_event_loop()
        try:
            outcome["result"] = (loop, loop.run_until_complete(coroutine_function()))
        finally:
            loop.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return outcome["result"]


def test_a_loop_gets_the_same_object_every_time():
    made = PerLoop(object)

    async def twice():
        return made.get(), made.get()

    _, (first, second) = run(twice)
    assert first is second


def test_each_loop_gets_its_own_and_current_never_makes_one():
    made = PerLoop(object)

    async def current_then_get():
        return made.current(), made.get()

    _, (before, one) = run(current_then_get)
    _, (_, other) = run(current_then_get)
    assert before is None and one is not other


def test_an_ended_loop_whose_id_comes_back_does_not_hand_over_its_object():
    made = PerLoop(object)

    async def get():
        return made.get()

    ended, old = run(get)

    async def get_after_id_reuse():
        # As if Python had given this loop the ended one's id.
        made._by_loop[id(asyncio.get_running_loop())] = (ended, old)
        return made.get()

    _, fresh = run(get_after_id_reuse)
    assert fresh is not old


def test_ended_loops_are_forgotten_once_there_are_many():
    made = PerLoop(object, keep=3)

    async def get():
        return made.get()

    for _ in range(5):
        run(get)
    assert len(made._by_loop) <= 3
