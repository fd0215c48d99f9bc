"""Credit leases: a server process holds a slice of a user's credit and places each request's
hold in that slice locally, so a metered request costs no database round trip before the
provider is called (only the charge afterwards, which also renews the lease).

In the database a lease is an ordinary hold (a `Reservation` whose request id starts with
"lease:") counted in the account's `reserved`, so the balance can never be overspent: a lease
is taken, and grown, by the same conditional update as any hold, and a request's charge takes
its cost out of the lease and the balance together, in the statement that records the usage.

A lease of a process that died is released by the periodic task once it has not been renewed
for LEASE_MAX_AGE seconds. A live process never uses a lease it has not renewed within half
that time (it renews leases with requests in flight, and drops idle ones after
LEASE_IDLE_SECONDS, returning what they hold), so the task can never free a lease in use.

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

from billing.metering import ZERO, insufficient_credits
from chukchat import async_pg
from chukchat.per_loop import PerLoop

logger = logging.getLogger(__name__)

LEASE_PREFIX = "lease:"

# The lease's row is locked before the account, as the charge statement locks them.
_GROW_SQL = """
WITH lease_row AS (
    SELECT id FROM billing_reservation WHERE request_id = %(lease)s FOR UPDATE
),
held AS (
    UPDATE billing_creditaccount SET reserved = reserved + %(amount)s
    WHERE user_id = %(user_id)s AND balance >= reserved + %(amount)s
      AND (SELECT count(*) FROM lease_row) >= 0
    RETURNING id
)
INSERT INTO billing_reservation (account_id, request_id, api_key_id, amount, created_at)
SELECT id, %(lease)s, NULL, %(amount)s, now() FROM held
ON CONFLICT (request_id) DO UPDATE
SET amount = billing_reservation.amount + EXCLUDED.amount, created_at = now()
RETURNING id
"""

# Gives back what a lease holds beyond its holds in flight. Matched on the amount the process
# believes the lease holds, so a lease already released by the periodic task is left alone.
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

_DROP_EMPTY_SQL = "DELETE FROM billing_reservation WHERE request_id = %(lease)s AND amount = 0"

# Renews a lease that still holds at least its spare part; none found means the periodic task
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
    spare part falls short: by LEASE_MULTIPLE times the amount if the balance allows, else by
    just what is missing. 402 when even that is not available."""
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
            for grow in (max(amount * settings.LEASE_MULTIPLE, missing), missing):
                if await _grow(lease, grow):
                    break
            else:
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


async def _grow(lease: Lease, amount: Decimal) -> bool:
    row = await async_pg.fetchone(
        "holds", _GROW_SQL, {"amount": amount, "user_id": lease.user_id, "lease": lease.request_id}
    )
    if row is None:
        return False
    lease.spare += amount
    lease.renewed_at = asyncio.get_running_loop().time()
    return True


async def _renew(lease: Lease) -> None:
    row = await async_pg.fetchone(
        "holds", _RENEW_SQL, {"lease": lease.request_id, "spare": lease.spare}
    )
    if row is None:
        # Released by the periodic task: start a new lease; holds still in flight are charged
        # against the old one's id, which no longer holds anything.
        logger.warning("credit lease %s of user %s was lost", lease.request_id, lease.user_id)
        lease.request_id = f"{LEASE_PREFIX}{uuid.uuid4().hex}"
        lease.spare = ZERO
    lease.renewed_at = asyncio.get_running_loop().time()


async def _give_back(lease: Lease) -> None:
    """Returns the spare part; an idle lease's row goes with it."""
    if lease.spare > 0:
        await async_pg.fetchone(
            "holds",
            _SHRINK_SQL,
            {"amount": lease.spare, "user_id": lease.user_id, "lease": lease.request_id},
        )
        lease.spare = ZERO
    if not lease.in_flight:
        await async_pg.execute("holds", _DROP_EMPTY_SQL, {"lease": lease.request_id})


async def _keep(leases: _Leases) -> None:
    """Renews leases with requests in flight well before the periodic task could take them,
    and gives idle ones back."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(min(settings.LEASE_MAX_AGE_SECONDS / 8, settings.LEASE_IDLE_SECONDS))
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
