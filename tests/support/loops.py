"""Running a coroutine on an event loop of its own thread, for sync tests: in the full suite the
test's thread can already have a loop running (left by a fixture or the async test before it),
and asyncio.run there refuses to start."""

import asyncio
import threading


def run_on_own_loop(coroutine_function):
    """Runs `coroutine_function()` to the end on a new loop in a new thread; its result, or
    its exception raised here."""
    outcome: dict = {}

    def target():
        loop = asyncio.new_event_loop()
        try:
            outcome["result"] = loop.run_until_complete(coroutine_function())
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error
        finally:
            loop.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
