"""Async clients belong to the loop that made them: each loop gets its own, a loop always gets
the same one back, and an ended loop's object is never handed to a new loop."""

import asyncio

from chukchat.per_loop import PerLoop


def run(coroutine_function):
    loop = asyncio.new_event_loop()
    try:
        return loop, loop.run_until_complete(coroutine_function())
    finally:
        loop.close()


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
    ended, old = run(lambda: _get(made))
    loop = asyncio.new_event_loop()
    try:
        # As if Python had given the new loop the ended one's id.
        made._by_loop[id(loop)] = (ended, old)
        fresh = loop.run_until_complete(_get(made))
    finally:
        loop.close()
    assert fresh is not old


async def _get(made):
    return made.get()


def test_ended_loops_are_forgotten_once_there_are_many():
    made = PerLoop(object, keep=3)
    for _ in range(5):
        run(lambda: _get(made))
    assert len(made._by_loop) <= 3
