"""Leased charges in batches: many requests' settlements in one statement and one commit.

Under load every request of one user charges the same three rows (its credit account, its
key's monthly spend, its process's lease), each charge holding their locks until it commits,
so concurrent charges queue on the rows and on the connection pool (measured: at 500
requests/s of one user, charges waited past the pool's timeout and spilled to the outbox).
Here a process's leased charges are grouped: the first one is sent as soon as it comes, and
those that come while a statement is out are sent together when it returns (a group commit:
no charge waits for a timer, and batches grow only as fast as load does). One statement then
charges them all: one row per account, key and lease changed by the sum, one ledger row and
one usage record per request, each ledger row with the balance after its own charge.

A batch is all or nothing, and anything out of the ordinary goes back to the single-request
statement (billing/settlement.py), which knows every case: a request already settled or a
charge past the balance (the batch fails whole and each is sent alone), a user without a
credit account or a lease that cannot release what is asked (those requests are left out of
the batch and sent alone), a deadlock with another process's batch (sent alone). A database
that is away fails every request of the batch, which then go to the outbox as before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal

import orjson
import psycopg
from django.conf import settings
from django.db import connection

from billing.models import UsageRecord
from chukchat import async_pg, metrics
from chukchat.per_loop import PerLoop

logger = logging.getLogger(__name__)

Row = tuple[int, bool]  # the usage record's id, and whether the lease was renewed
Single = Callable[[dict], Awaitable[Row | None]]

# Fields of a request in the batch beyond its usage record's columns.
_EXTRA = {
    "reference": "text",
    "description": "text",
    "month": "date",
    "lease": "text",
    "release": "numeric",
    "ord": "integer",
}

_sql: str | None = None


def _batch_sql() -> str:
    """The statement, built once from the usage record's columns (every value is one bound
    jsonb parameter, so it is prepared once per connection whatever the batch's size)."""
    global _sql
    if _sql is not None:
        return _sql
    columns = [f for f in UsageRecord._meta.concrete_fields if not f.primary_key]
    typed = [f"{f.column} {f.db_type(connection)}" for f in columns]
    typed += [f"{name} {kind}" for name, kind in _EXTRA.items()]
    names = [f.column for f in columns]
    # A key revoked and deleted while its request ran leaves the record without a key.
    values = ["k.id" if name == "api_key_id" else f"s.{name}" for name in names]
    table = UsageRecord._meta.db_table
    # Lock order as in the single statement: leases, then keys' spend, then accounts (each
    # writing part reads the one before it, which makes PostgreSQL run them in that order).
    _sql = f"""
WITH items AS (
    SELECT * FROM jsonb_to_recordset(%(items)s::jsonb) AS i({", ".join(typed)})
),
chargeable AS (
    SELECT i.* FROM items AS i
    WHERE i.cost <= 0
       OR EXISTS (SELECT 1 FROM billing_creditaccount AS a WHERE a.user_id = i.user_id)
),
leased AS (
    UPDATE billing_reservation AS r SET amount = r.amount - g.release, created_at = now()
    FROM (
        SELECT lease, sum(release) AS release FROM chargeable WHERE release > 0 GROUP BY lease
    ) AS g
    WHERE r.request_id = g.lease AND r.amount >= g.release
    RETURNING r.request_id
),
settled AS (
    SELECT c.* FROM chargeable AS c
    WHERE c.release <= 0 OR c.lease IN (SELECT request_id FROM leased)
),
key_spent AS (
    INSERT INTO billing_keyspend (api_key_id, month, spent, reserved)
    SELECT k.id, s.month, sum(s.cost), 0
    FROM settled AS s JOIN accounts_apikey AS k ON k.id = s.api_key_id
    WHERE s.cost > 0
    GROUP BY k.id, s.month
    ON CONFLICT (api_key_id, month) DO UPDATE SET spent = billing_keyspend.spent + EXCLUDED.spent
    RETURNING id
),
charged AS (
    UPDATE billing_creditaccount AS a
    SET balance = a.balance - g.cost, reserved = a.reserved - g.release, updated_at = now()
    FROM (
        SELECT user_id, sum(cost) AS cost,
               sum(CASE WHEN release > 0 THEN release ELSE 0 END) AS release
        FROM settled GROUP BY user_id
    ) AS g
    WHERE a.user_id = g.user_id AND (g.cost > 0 OR g.release > 0)
      AND (SELECT count(*) FROM key_spent) >= 0
    RETURNING a.id, a.user_id, a.balance, g.cost AS total
),
ledger AS (
    INSERT INTO billing_ledgerentry
        (account_id, kind, amount, balance_after, reference, description, created_at)
    SELECT c.id, 'usage', -s.cost,
           c.balance + c.total - sum(s.cost) OVER (PARTITION BY s.user_id ORDER BY s.ord),
           s.reference, s.description, now()
    FROM settled AS s JOIN charged AS c ON c.user_id = s.user_id
    WHERE s.cost > 0
    RETURNING id
),
recorded AS (
    INSERT INTO {table} ({", ".join(names)})
    SELECT {", ".join(values)}
    FROM settled AS s LEFT JOIN accounts_apikey AS k ON k.id = s.api_key_id
    ORDER BY s.ord
    RETURNING id, request_id
)
SELECT r.request_id, r.id, s.release > 0, (SELECT count(*) FROM ledger)
FROM recorded AS r JOIN settled AS s ON s.request_id = r.request_id
"""
    return _sql


class _Fallback(Exception):
    """The batch changed nothing; each of its requests is to be sent alone."""


class _Batcher:
    """One event loop's charges waiting for the statement out to return."""

    def __init__(self) -> None:
        self.waiting: list[tuple[dict, asyncio.Future]] = []
        self.sending: asyncio.Task | None = None


_loops: PerLoop[_Batcher] = PerLoop(_Batcher)


def enabled() -> bool:
    return settings.SETTLE_BATCH and async_pg.enabled()


async def charge(values: dict, *, single: Single) -> Row | None:
    """Charges one leased request (`values` as the single statement takes them) with whatever
    others are due. `single(values)` sends one request alone. None: nothing was charged (the
    user has no credit account)."""
    batcher = _loops.get()
    future = asyncio.get_running_loop().create_future()
    batcher.waiting.append((values, future))
    if batcher.sending is None or batcher.sending.done():
        batcher.sending = asyncio.get_running_loop().create_task(_send_all(batcher, single))
    return await future


async def _send_all(batcher: _Batcher, single: Single) -> None:
    while batcher.waiting:
        most = settings.SETTLE_BATCH_MAX
        batch, batcher.waiting = batcher.waiting[:most], batcher.waiting[most:]
        metrics.settlement_batch(len(batch))
        if len(batch) == 1:
            await _alone(batch, single)
            continue
        try:
            rows = await _send(batch)
        except _Fallback:
            await _alone(batch, single)
            continue
        except BaseException as error:  # the database away: every request learns it
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            continue
        rest = []
        for values, future in batch:
            row = rows.get(values["request_id"])
            if row is None:
                rest.append((values, future))
            elif not future.done():
                future.set_result(row)
        if rest:
            await _alone(rest, single)


async def _alone(batch: list[tuple[dict, asyncio.Future]], single: Single) -> None:
    results = await asyncio.gather(*(single(values) for values, _ in batch), return_exceptions=True)
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value))


async def _send(batch: list[tuple[dict, asyncio.Future]]) -> dict[str, Row]:
    items = [{**values, "ord": ord_} for ord_, (values, _) in enumerate(batch)]
    payload = orjson.dumps(items, default=_jsonable).decode()
    try:
        rows = await async_pg.fetchall(
            "default",
            _batch_sql(),
            {"items": payload},
            prepare=True,
            pool_wait=settings.SETTLE_POOL_TIMEOUT,
        )
    except (psycopg.IntegrityError, psycopg.errors.TransactionRollback) as error:
        # A request already settled, a charge past the balance (its hold was lost), or a
        # deadlock with another process's batch: nothing was written.
        logger.info("settlement batch of %s sent alone: %s", len(batch), type(error).__name__)
        raise _Fallback from error
    return {request_id: (record_id, renewed) for request_id, record_id, renewed, _ in rows}
