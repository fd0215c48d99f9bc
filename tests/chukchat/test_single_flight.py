"""Requests that miss the same cache entry at once share one load (chukchat/single_flight.py):
the entitlements and API-key caches use it so that an entry expiring under load costs one
query, not one per request in flight."""

import asyncio

import pytest

from chukchat.single_flight import SingleFlight
from tests.support.loops import run_on_own_loop


class Loader:
    """Counts its loads; each waits until `release` is set."""

    def __init__(self) -> None:
        self.loads = 0
        self.release = asyncio.Event()

    async def __call__(self, answer="loaded"):
        self.loads += 1
        number = self.loads
        await self.release.wait()
        if isinstance(answer, Exception):
            raise answer
        return f"{answer} #{number}"


def test_callers_missing_the_same_key_at_once_share_one_load():
    async def run():
        flight, loader = SingleFlight(), Loader()
        waiting = [asyncio.ensure_future(flight.load("carol", loader)) for _ in range(50)]
        other = asyncio.ensure_future(flight.load("dave", loader))
        await asyncio.sleep(0)
        loader.release.set()
        return await asyncio.gather(*waiting), await other, loader.loads

    carols, daves, loads = run_on_own_loop(run)

    assert carols == ["loaded #1"] * 50
    assert daves == "loaded #2"
    assert loads == 2


def test_a_caller_that_gives_up_does_not_cancel_the_load_the_others_wait_for():
    async def run():
        flight, loader = SingleFlight(), Loader()
        impatient = asyncio.ensure_future(flight.load("carol", loader))
        patient = asyncio.ensure_future(flight.load("carol", loader))
        await asyncio.sleep(0)
        impatient.cancel()
        await asyncio.gather(impatient, return_exceptions=True)
        loader.release.set()
        return impatient.cancelled(), await patient

    assert run_on_own_loop(run) == (True, "loaded #1")


def test_after_forget_a_caller_loads_afresh_instead_of_joining_an_older_load():
    """A key revoked while its principal was being loaded: whoever asks after the revocation
    must not get the answer read before it."""

    async def run():
        flight, loader = SingleFlight(), Loader()
        before = asyncio.ensure_future(flight.load("key", loader))
        await asyncio.sleep(0)
        flight.forget()
        after = asyncio.ensure_future(flight.load("key", loader))
        await asyncio.sleep(0)
        loader.release.set()
        return await before, await after

    assert run_on_own_loop(run) == ("loaded #1", "loaded #2")


def test_a_failed_load_fails_everyone_waiting_and_the_next_caller_tries_again():
    async def run():
        flight, loader = SingleFlight(), Loader()
        failing = [
            asyncio.ensure_future(flight.load("carol", lambda: loader(ConnectionError("away"))))
            for _ in range(3)
        ]
        await asyncio.sleep(0)
        loader.release.set()
        outcomes = await asyncio.gather(*failing, return_exceptions=True)
        again = await flight.load("carol", loader)
        return outcomes, again

    outcomes, again = run_on_own_loop(run)

    assert [type(o) for o in outcomes] == [ConnectionError] * 3
    assert again == "loaded #2"


@pytest.mark.django_db(transaction=True)
def test_fifty_requests_missing_a_users_entitlements_at_once_read_them_once():
    from billing import entitlements
    from tests.factories import UserFactory

    carol = UserFactory(email="carol@example.com")
    entitlements.entitlements_changed()
    loads = []
    original = entitlements._load

    def counted(user_id):
        loads.append(user_id)
        return original(user_id)

    entitlements._load = counted
    try:

        async def run():
            return await asyncio.gather(
                *(entitlements.aentitlements_for(user_id=carol.pk) for _ in range(50))
            )

        answers = run_on_own_loop(run)
    finally:
        entitlements._load = original

    assert loads == [carol.pk]
    assert {a.plan_slug for a in answers} == {answers[0].plan_slug}
