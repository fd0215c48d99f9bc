"""Credit leases: a server process holds a slice of a user's credit so that a request needs no
database round trip before the provider is called, and the books still balance to the cent:
the lease is an ordinary hold, each charge comes out of it, an idle one is given back, and one
whose process died is released by the periodic task — never while its process still uses it."""

import os
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing.metering import release_stale_reservations
from billing.models import CreditAccount, Reservation, UsageRecord
from billing.selectors import balance_of
from tests.aiapi.test_openai_sdk import wait_for_record
from tests.billing.test_metering import (  # noqa: F401  (dave, dave_sdk: fixtures)
    ask_steady,
    dave,
    dave_sdk,
    steady_worst_case,
)

pytestmark = [
    pytest.mark.usefixtures("billing_catalogue"),
    # Leases are taken on the asyncio PostgreSQL pools; on SQLite every request holds its own.
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="credit leases need PostgreSQL",
    ),
]


def lease_rows(user):
    return Reservation.objects.filter(account__user=user, request_id__startswith="lease:")


def test_requests_share_one_lease_and_each_charge_comes_out_of_it(carol, sdk, gateway_server):
    worst = steady_worst_case()
    costs = []
    for _ in range(3):
        reply = sdk.chat.completions.with_raw_response.create(
            model="steady", messages=[{"role": "user", "content": "Count to twenty, slowly."}]
        )
        costs.append(wait_for_record(reply.headers["x-request-id"]).cost)
    gateway_server.wait_idle()

    [lease] = lease_rows(carol)
    assert lease.amount == 20 * worst - sum(costs)  # taken once, then drawn down
    assert not Reservation.objects.exclude(pk=lease.pk).exists()  # no hold of their own
    account = CreditAccount.objects.get(user=carol)
    assert account.reserved == lease.amount
    assert balance_of(user=carol) == Decimal(10) - sum(costs)


def test_an_idle_lease_is_given_back(carol, sdk, gateway_server, settings):
    settings.LEASE_IDLE_SECONDS = 0.2
    sdk.chat.completions.create(model="steady", messages=[{"role": "user", "content": "hi"}])
    assert lease_rows(carol).exists()

    deadline = timezone.now() + timedelta(seconds=5)
    while lease_rows(carol).exists() and timezone.now() < deadline:
        gateway_server.wait_idle(0.1)
    assert not lease_rows(carol).exists()
    assert CreditAccount.objects.get(user=carol).reserved == 0


def test_a_lease_grows_by_what_is_missing_when_the_balance_is_short(dave, dave_sdk):  # noqa: F811
    worst = steady_worst_case()  # dave's balance covers ten of these, not twenty
    statuses = [ask_steady(dave_sdk)[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    # A charge lands just after its answer is sent: wait for the three.
    deadline = time.monotonic() + 10
    while UsageRecord.objects.filter(user=dave).count() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    [lease] = lease_rows(dave)
    used = UsageRecord.objects.filter(user=dave).aggregate(total=Sum("cost"))["total"]
    assert lease.amount + used <= 10 * worst


def test_a_lease_its_process_stopped_renewing_is_released(carol, settings):
    settings.LEASE_MAX_AGE_SECONDS = 60
    account = CreditAccount.objects.get(user=carol)
    dead = Reservation.objects.create(
        account=account,
        request_id="lease:of-a-process-that-died",
        amount=Decimal(2),
        created_at=timezone.now() - timedelta(seconds=61),
    )
    live = Reservation.objects.create(
        account=account, request_id="lease:of-a-live-process", amount=Decimal(1)
    )
    CreditAccount.objects.filter(pk=account.pk).update(reserved=Decimal(3))

    assert release_stale_reservations(older_than=timedelta(hours=2)) == 1

    assert list(Reservation.objects.values_list("pk", flat=True)) == [live.pk]
    assert CreditAccount.objects.get(pk=account.pk).reserved == Decimal(1)
    assert not Reservation.objects.filter(pk=dead.pk).exists()


def test_a_lease_released_under_a_process_is_never_used_again(carol, sdk, gateway_server, settings):
    """The process stopped renewing (here: it waited past half the maximum age), the task
    released its lease; the next request finds out, takes a new lease, and the books hold."""
    settings.LEASE_MAX_AGE_SECONDS = 1.0
    sdk.chat.completions.create(model="steady", messages=[{"role": "user", "content": "hi"}])
    gateway_server.wait_idle()
    [old] = lease_rows(carol)
    Reservation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=5))
    assert release_stale_reservations(older_than=timedelta(hours=2)) == 1
    assert CreditAccount.objects.get(user=carol).reserved == 0

    time.sleep(0.6)  # past half the maximum age: the process must not trust the lease
    sdk.chat.completions.create(model="steady", messages=[{"role": "user", "content": "hi"}])
    gateway_server.wait_idle()

    [new] = lease_rows(carol)
    assert new.request_id != old.request_id
    assert CreditAccount.objects.get(user=carol).reserved == new.amount
