"""Charges in batches: leased charges that come while one is being written are written together
in one statement, and the books read as if each had been written alone — one usage record and
one ledger row per request, each row with the balance after its own charge, the account, the
key's spend and the lease changed by the sum. Whatever a batch cannot take (a request already
charged, a charge past the balance, a user without a credit account, a lease short of what is
asked) is charged alone, exactly as before batching."""

import asyncio
import os
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from accounts.api_keys import api_key_create
from billing import credit_leases, settlement_outbox
from billing.ledger import credit_grant, ledger_post
from billing.models import CreditAccount, KeySpend, LedgerEntry, Reservation, UsageRecord
from billing.prices import Prices
from billing.selectors import balance_of
from billing.settlement import _NoAccount, settle, settle_sync, usage_record
from tests.billing.test_faults import _reconnect, database_away
from tests.factories import UserFactory
from tests.support.loops import run_on_own_loop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="leased charges are written on the asyncio PostgreSQL pools",
    ),
    pytest.mark.timeout(60),
]

PRICES = Prices(output=Decimal(1000))  # 0.001 USD an output token
HOLD = Decimal("0.1")


def person(email: str, credit: str = "10") -> object:
    user = UserFactory(email=email)
    credit_grant(user=user, amount=Decimal(credit), description="test credit")
    return user


def record(request_id: str, user, *, tokens: int, key=None):
    return usage_record(
        request_id=request_id,
        user_id=user.pk,
        api_key_id=key.pk if key is not None else None,
        endpoint="chat.completions",
        model="fast",
        completion_tokens=tokens,
    )


def batches() -> tuple[float, float]:
    """Statements written so far by the batcher, and the charges they carried."""
    count = REGISTRY.get_sample_value("chuk_settlement_batch_size_count") or 0.0
    total = REGISTRY.get_sample_value("chuk_settlement_batch_size_sum") or 0.0
    return count, total


def batches_of_more_than_one() -> float:
    count = REGISTRY.get_sample_value("chuk_settlement_batch_size_count") or 0.0
    alone = REGISTRY.get_sample_value("chuk_settlement_batch_size_bucket", {"le": "1.0"}) or 0.0
    return count - alone


def settle_together(charges, *, before=None, after=None) -> list:
    """Each (user, request id, tokens, key) charged at once on one loop, each out of a hold of
    HOLD in its user's lease; the outcomes in order (a record, or the error raised)."""

    async def run():
        holds = [await credit_leases.take(user_id=user.pk, amount=HOLD) for user, *_ in charges]
        if before is not None:
            await asyncio.to_thread(before)
        outcomes = await asyncio.gather(
            *(
                settle(record=record(rid, user, tokens=tokens, key=key), prices=PRICES, hold=hold)
                for (user, rid, tokens, key), hold in zip(charges, holds, strict=True)
            ),
            return_exceptions=True,
        )
        if after is not None:
            await asyncio.to_thread(after)
        await credit_leases.give_back_all()
        return outcomes

    together = batches_of_more_than_one()
    outcomes = run_on_own_loop(run)
    assert batches_of_more_than_one() > together  # the case is one a batch met
    return outcomes


def usage_rows(user) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(account__user=user, kind="usage").order_by("id"))


def assert_each_row_follows_the_last(user) -> None:
    """Every ledger row's balance is the one before it plus its amount, to the last, which is
    the account's balance."""
    rows = list(LedgerEntry.objects.filter(account__user=user).order_by("id"))
    balance = Decimal(0)
    for row in rows:
        balance += row.amount
        assert row.balance_after == balance, f"{row.reference}: {row.balance_after} != {balance}"
    assert CreditAccount.objects.get(user=user).balance == balance


def test_concurrent_charges_of_one_user_are_written_together_and_read_as_if_alone():
    carol = person("carol@example.com")
    key, _ = api_key_create(user=carol, name="script")
    written_before, carried_before = batches()

    outcomes = settle_together([(carol, f"r{i}", 1 + i % 7, key) for i in range(40)])

    written, carried = batches()
    assert carried - carried_before == 40
    assert written - written_before < 40  # some were written together
    costs = {o.request_id: o.cost for o in outcomes}
    assert costs == {f"r{i}": Decimal("0.001") * (1 + i % 7) for i in range(40)}
    assert all(o.pk is not None for o in outcomes)
    total = sum(costs.values())
    assert balance_of(user=carol) == Decimal(10) - total
    rows = usage_rows(carol)
    assert sorted(r.reference for r in rows) == sorted(f"usage:r{i}" for i in range(40))
    assert sorted(-r.amount for r in rows) == sorted(costs.values())
    assert_each_row_follows_the_last(carol)
    [spend] = KeySpend.objects.filter(api_key=key)
    assert spend.spent == total
    assert UsageRecord.objects.filter(user=carol, api_key=key).count() == 40
    # Each charge came out of the lease; what was left of it was given back.
    assert not Reservation.objects.filter(account__user=carol).exists()
    assert CreditAccount.objects.get(user=carol).reserved == 0


def test_two_peoples_charges_in_one_batch_each_keep_their_own_books():
    carol, dave = person("carol@example.com"), person("dave@example.com", credit="3")

    settle_together([(carol if i % 2 else dave, f"r{i}", 10 + i, None) for i in range(30)])

    carols = sum(Decimal("0.001") * (10 + i) for i in range(30) if i % 2)
    daves = sum(Decimal("0.001") * (10 + i) for i in range(30) if not i % 2)
    assert balance_of(user=carol) == Decimal(10) - carols
    assert balance_of(user=dave) == Decimal(3) - daves
    assert len(usage_rows(carol)) == len(usage_rows(dave)) == 15
    assert_each_row_follows_the_last(carol)
    assert_each_row_follows_the_last(dave)


def test_a_request_already_charged_is_charged_once_when_its_batch_is_sent_again_alone():
    carol = person("carol@example.com")
    settle_sync(record=record("twice", carol, tokens=5), prices=PRICES, held=HOLD)

    outcomes = settle_together([(carol, rid, 5, None) for rid in ["a", "twice", "b", "c"]])

    assert [o.request_id for o in outcomes] == ["a", "twice", "b", "c"]
    assert [r.reference for r in usage_rows(carol)].count("usage:twice") == 1
    assert balance_of(user=carol) == Decimal(10) - 4 * Decimal("0.005")
    assert_each_row_follows_the_last(carol)


def test_a_charge_for_someone_without_a_credit_account_in_a_batch_changes_nothing_of_theirs():
    carol = person("carol@example.com")
    erin = UserFactory(email="erin@example.com")
    CreditAccount.objects.filter(user=erin).delete()

    async def run():
        holds = [await credit_leases.take(user_id=carol.pk, amount=HOLD) for _ in range(7)]
        # Erin's charge rides on a hold of Carol's lease: the batch must still leave it out.
        charges = [
            settle(record=record(f"c{i}", carol, tokens=3), prices=PRICES, hold=hold)
            for i, hold in enumerate(holds[:6])
        ] + [settle(record=record("erin", erin, tokens=3), prices=PRICES, hold=holds[6])]
        outcomes = await asyncio.gather(*charges, return_exceptions=True)
        await credit_leases.give_back_all()
        return outcomes

    together = batches_of_more_than_one()
    outcomes = run_on_own_loop(run)

    assert batches_of_more_than_one() > together
    assert isinstance(outcomes[-1], _NoAccount)
    assert not UsageRecord.objects.filter(user=erin).exists()
    assert [o.cost for o in outcomes[:-1]] == [Decimal("0.003")] * 6
    assert balance_of(user=carol) == Decimal(10) - 6 * Decimal("0.003")
    assert_each_row_follows_the_last(carol)


def test_charges_a_lease_can_no_longer_cover_are_charged_alone_from_the_balance():
    """The lease's row was cut below what its requests release (as a sweep that half-trusted
    the process would leave it): the batch leaves those out, and each is charged alone."""
    carol = person("carol@example.com")

    def cut_the_lease():
        [lease] = Reservation.objects.filter(account__user=carol)
        CreditAccount.objects.filter(user=carol).update(
            reserved=CreditAccount.objects.get(user=carol).reserved - lease.amount + HOLD
        )
        Reservation.objects.filter(pk=lease.pk).update(amount=HOLD)

    outcomes = settle_together([(carol, f"r{i}", 40, None) for i in range(8)], before=cut_the_lease)

    assert [o.cost for o in outcomes] == [Decimal("0.04")] * 8
    assert balance_of(user=carol) == Decimal(10) - 8 * Decimal("0.04")
    assert len(usage_rows(carol)) == 8
    assert_each_row_follows_the_last(carol)


def test_a_batch_that_would_overdraw_writes_nothing_and_each_charge_takes_what_is_free():
    """A refund took Carol's balance below what her lease holds (a dispute does not wait for
    her requests): the batch's charges would push it below zero, so the batch writes nothing,
    and each charge alone takes at most what the balance has free."""
    carol = person("carol@example.com", credit="1")

    def refund_most_of_it():
        ledger_post(user=carol, amount=Decimal("-0.95"), kind="refund", reference="dispute:1")

    outcomes = settle_together(
        [(carol, f"r{i}", 20, None) for i in range(5)], before=refund_most_of_it
    )

    assert sorted(o.cost for o in outcomes) == [0, 0, 0, Decimal("0.02"), Decimal("0.02")]
    assert sum(o.discrepancy for o in outcomes) == Decimal("0.06")
    assert balance_of(user=carol) == Decimal("0.01")
    assert len(usage_rows(carol)) == 2
    assert UsageRecord.objects.filter(user=carol).count() == 5
    assert_each_row_follows_the_last(carol)


def test_a_batch_the_database_cannot_take_waits_in_the_outbox_and_is_charged_once(
    settings, private_redis
):
    _, redis_url = private_redis
    settings.REDIS_URL = redis_url  # the outbox's Redis: this test's own
    carol = person("carol@example.com")
    outage = database_away()

    outcomes = settle_together(
        [(carol, f"r{i}", 30, None) for i in range(10)],
        before=outage.__enter__,
        after=lambda: outage.__exit__(None, None, None),
    )
    _reconnect()  # the outage cut this thread's connection too

    assert [o.cost for o in outcomes] == [Decimal("0.03")] * 10  # priced, not yet charged
    assert settlement_outbox.size() == 10
    assert not UsageRecord.objects.filter(user=carol).exists()
    assert settlement_outbox.drain() == 10
    assert settlement_outbox.drain() == 0
    assert balance_of(user=carol) == Decimal(10) - 10 * Decimal("0.03")
    assert len(usage_rows(carol)) == 10
    assert_each_row_follows_the_last(carol)
