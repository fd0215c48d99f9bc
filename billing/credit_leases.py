"""Credit leases: a server process holds a slice of a user's credit and places each request's
hold in that slice locally, so a metered request costs no database round trip before the
provider is called (only the charge afterwards, which also renews the lease).

In the database a lease is an ordinary hold (a `Reservation` whose request id starts with
"lease:") counted in the account's `reserved`, so the balance can never be overspent: a lease
is taken, and grown, by the same conditional update as any hold, and a request's charge takes
its cost out of the lease and the balance together, in the statement that records the usage.

Credit follows demand: a lease grows by what a request misses plus a spare part of at most
half the account's free credit, an idle lease is given back whole within LEASE_IDLE_SECONDS,
and a request whose process's lease cannot grow gives back that lease's spare and places a
hold of its own (billing/holds.py): 402 only when the balance minus what is held cannot cover it.

A lease is owned by its process (`Reservation.owner`): when the process dies, the sweep of
billing/process_keeper.py releases it. A lease that went unrenewed for LEASE_MAX_AGE seconds
(and has no live owner) is released by the periodic task; a live process never uses a lease it
has not renewed within half that time, so the task can never free a lease in use.

Keys with a monthly cap place a hold per request (their cap is checked in the same statement);
so does embedded mode (SQLite, one process), where there is no round trip worth saving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from billing.metering import insufficient_credits
from billing.models import ZERO
from chukchat import async_pg
from chukchat.per_loop import PerLoop

logger = logging.getLogger(__name__)

LEASE_PREFIX = "lease:"

# Grows a lease by what is missing plus a spare part: up to `extra`, but never more than half
# of what the account has free beyond what is missing, so one process's lease can never take
# the credit another process's next request needs (that one falls back to a hold of its own).
# The lease's row is locked before the account, as the charge statement locks them.
_GROW_SQL = """
WITH lease_row AS (
    SELECT id FROM billing_reservation WHERE request_id = %(lease)s FOR UPDATE
),
account AS (
    SELECT id, %(missing)s + LEAST(
        %(extra)s, GREATEST(0, trunc((balance - reserved - %(missing)s) / 2, 10))
    ) AS grow
    FROM billing_creditaccount
    WHERE user_id = %(user_id)s AND balance - reserved >= %(missing)s
      AND (SELECT count(*) FROM lease_row) >= 0
    FOR UPDATE
),
held AS (
    UPDATE billing_creditaccount AS a SET reserved = a.reserved + account.grow
    FROM account WHERE a.id = account.id
    RETURNING a.id, account.grow
)
INSERT INTO billing_reservation (account_id, request_id, api_key_id, amount, owner, created_at)
SELECT id, %(lease)s, NULL, grow, %(owner)s, now() FROM held
ON CONFLICT (request_id) DO UPDATE
SET amount = billing_reservation.amount + EXCLUDED.amount, created_at = now()
RETURNING id, (SELECT grow FROM held)
"""

# Gives back what a lease holds beyond its holds in flight. Matched on the amount the process
# believes the lease holds, so a lease already released by a sweep is left alone.
_SHRINK_SQL = """
WITH shrunk AS (
    UPDATE billing_reservation SET amount = amount - %(amount)s, created_at = now()
    WHERE request_id = %(lease)s AND amount >= %(amount)s
    RETURNING account_id
)
UPDATE billing_creditaccount SET reserved = reserved - %(amount)s
WHERE id = (SELECT account_id FROM shrunk)
RETURNING id
"""

# An idle lease goes whole, whatever it still holds: with no request in flight nothing in it
# is owed (a charge deferred to the outbox has written off its hold already).
_RELEASE_SQL = """
WITH gone AS (
    DELETE FROM billing_reservation WHERE request_id = %(lease)s
    RETURNING account_id, amount
)
UPDATE billing_creditaccount AS a SET reserved = a.reserved - gone.amount
FROM gone WHERE a.id = gone.account_id
"""

# Renews a lease that still holds at least its spare part; none found means a sweep or the task
# released it, and what the process thought it held is no longer its own.
_RENEW_SQL = """
UPDATE billing_reservation SET created_at = now()
WHERE request_id = %(lease)s AND amount >= %(spare)s
RETURNING id
"""


@dataclass
class Lease:
    user_id: int
    request_id: str
    spare: Decimal = ZERO  # held in the database and not lent to any request
    in_flight: int = 0  # requests holding part of it
    renewed_at: float = 0.0  # loop time of the last statement that renewed it
    last_used: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def usable(self, now: float) -> bool:
        return now - self.renewed_at < settings.LEASE_MAX_AGE_SECONDS / 2


@dataclass(frozen=True, slots=True)
class Hold:
    """A request's hold: in a lease (`lease` set, and the id of its row when the hold was
    placed, which its charge must come out of), or a reservation of its own."""

    amount: Decimal
    lease: Lease | None = None
    lease_id: str | None = None


class _Leases:
    """This event loop's leases, by user, and the task that renews and returns them."""

    def __init__(self) -> None:
        self.by_user: dict[int, Lease] = {}
        self.keeper: asyncio.Task | None = None


_loops: PerLoop[_Leases] = PerLoop(_Leases)


def enabled(*, api_key_limit: Decimal | None) -> bool:
    return settings.CREDIT_LEASES and api_key_limit is None and async_pg.enabled()


def _leases() -> _Leases:
    leases = _loops.get()
    if leases.keeper is None or leases.keeper.done():
        leases.keeper = asyncio.get_running_loop().create_task(_keep(leases))
    return leases


async def take(*, user_id: int, amount: Decimal) -> Hold:
    """Holds `amount` of the user's credit in this process's lease, growing the lease when its
    spare part falls short: by LEASE_MULTIPLE times the amount (for each request in flight) if
    the balance allows, else by just what is missing. 402 when even that is not available."""
    leases = _leases()
    loop = asyncio.get_running_loop()
    lease = leases.by_user.get(user_id)
    if lease is None:
        lease = leases.by_user[user_id] = Lease(
            user_id=user_id, request_id=f"{LEASE_PREFIX}{uuid.uuid4().hex}"
        )
    async with lease.lock:
        if not lease.usable(loop.time()):
            if lease.spare or lease.in_flight:
                await _renew(lease)
            else:
                # Nothing held (new, or given back): no row to renew, and none lost.
                lease.renewed_at = loop.time()
        if lease.spare < amount:
            missing = amount - lease.spare
            # LEASE_MULTIPLE requests' worth for each one in flight: under concurrency a lease
            # of a fixed size was grown every ~18 requests (measured at 16 connections), each
            # growth a statement and a wait on the lock for every request behind it.
            multiple = settings.LEASE_MULTIPLE * max(lease.in_flight, 1)
            extra = amount * max(multiple - 1, 0)
            if not await _grow(lease, missing=missing, extra=extra):
                raise insufficient_credits()
        lease.spare -= amount
        lease.in_flight += 1
        lease.last_used = loop.time()
    return Hold(amount=amount, lease=lease, lease_id=lease.request_id)


def settled(hold: Hold, *, cost: Decimal, renewed: bool) -> None:
    """After a leased request's charge (`cost`, taken out of the lease by the charge's own
    statement, which also renewed the lease when it charged anything): the rest of its hold
    is spare again."""
    lease = hold.lease
    lease.in_flight -= 1
    if hold.lease_id != lease.request_id:
        return  # its lease was lost and replaced meanwhile: nothing of it comes back
    lease.spare += hold.amount - cost
    if renewed:
        lease.renewed_at = asyncio.get_running_loop().time()


async def _grow(lease: Lease, *, missing: Decimal, extra: Decimal) -> bool:
    from billing.process_keeper import process_id

    row = await async_pg.fetchone(
        "holds",
        _GROW_SQL,
        {
            "missing": missing,
            "extra": extra,
            "user_id": lease.user_id,
            "lease": lease.request_id,
            "owner": process_id(),
        },
    )
    if row is None:
        return False
    lease.spare += row[1]
    lease.renewed_at = asyncio.get_running_loop().time()
    return True


async def _renew(lease: Lease) -> None:
    row = await async_pg.fetchone(
        "holds", _RENEW_SQL, {"lease": lease.request_id, "spare": lease.spare}
    )
    if row is None:
        # Released under us (a sweep, the task): start a new lease; holds still in flight are charged
        # against the old one's id, which no longer holds anything.
        logger.warning("credit lease %s of user %s was lost", lease.request_id, lease.user_id)
        lease.request_id = f"{LEASE_PREFIX}{uuid.uuid4().hex}"
        lease.spare = ZERO
    lease.renewed_at = asyncio.get_running_loop().time()


async def _give_back(lease: Lease) -> None:
    """Returns the spare part; an idle lease goes whole."""
    if not lease.in_flight:
        await async_pg.execute("holds", _RELEASE_SQL, {"lease": lease.request_id})
    elif lease.spare > 0:
        await async_pg.fetchone(
            "holds",
            _SHRINK_SQL,
            {"amount": lease.spare, "user_id": lease.user_id, "lease": lease.request_id},
        )
    lease.spare = ZERO


async def give_back_spare(*, user_id: int) -> None:
    """Returns what this process's lease of the user holds beyond its requests in flight (a
    request about to be refused asks its own process first)."""
    leases = _loops.current()
    lease = leases.by_user.get(user_id) if leases is not None else None
    if lease is None:
        return
    async with lease.lock:
        await _give_back(lease)


def forget_all() -> None:
    """This process was taken for dead and its leases released by a sweep: nothing they
    held is its own any more. Requests in flight settle against ids no longer held."""
    leases = _loops.current()
    if leases is None:
        return
    for lease in leases.by_user.values():
        lease.request_id = f"{LEASE_PREFIX}{uuid.uuid4().hex}"
        lease.spare = ZERO


async def _keep(leases: _Leases) -> None:
    """Renews leases with requests in flight well before the periodic task could take them,
    and gives idle ones back."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(
            min(settings.LEASE_MAX_AGE_SECONDS / 8, settings.LEASE_IDLE_SECONDS / 2)
        )
        now = loop.time()
        for user_id, lease in list(leases.by_user.items()):
            with contextlib.suppress(Exception):
                async with lease.lock:
                    if (
                        lease.in_flight
                        and now - lease.renewed_at > settings.LEASE_MAX_AGE_SECONDS / 4
                    ):
                        await _renew(lease)
                    elif (
                        not lease.in_flight and now - lease.last_used > settings.LEASE_IDLE_SECONDS
                    ):
                        await _give_back(lease)
                        del leases.by_user[user_id]


async def give_back_all() -> None:
    """Returns the spare part of every lease of this loop at once (tests, shutdown)."""
    leases = _loops.current()
    if leases is None:
        return
    for user_id, lease in list(leases.by_user.items()):
        async with lease.lock:
            await _give_back(lease)
            if not lease.in_flight:
                del leases.by_user[user_id]
