"""Settlement: the one way a metered request is charged, whatever it was (chat over any wire
format or the WebSocket, embeddings, media jobs, a stream whose process died).

`settle` (async) and `settle_sync` write the usage record, the ledger row, the new balance and
the release of the request's hold in one transaction. What they guarantee:

- Exactly once: the usage record's request id and the ledger row's reference are unique, so a
  retried or replayed settlement of the same request is a no-op (a constraint, not a check).
- Never more than was held: usage past the hold (a provider over-reporting, or generating past
  max_tokens) is charged up to the hold; the rest is recorded as the record's `discrepancy`
  and logged. The balance itself can never go below zero (a CHECK constraint); a charge whose
  hold was lost is cut to what the balance has free.
- Not cancelled half-way: the async settlement runs in a task of its own, shielded from the
  caller's cancellation (a client hanging up), and tracked so shutdown can wait for it.
- Durable: when the database cannot take the charge, it is written to the outbox
  (billing/settlement_outbox.py) and applied when the database is back.

Under load, leased charges are written many to a statement (billing/settlement_batch.py); what
a batch cannot take comes back here, to the single statement, which knows every case.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.utils import timezone

from billing import credit_leases, settlement_batch, settlement_outbox
from billing.credit_leases import Hold
from billing.metering import month_of
from billing.models import ZERO, CreditAccount, KeySpend, LedgerEntry, Reservation, UsageRecord
from billing.prices import Prices, usage_cost
from chukchat import async_pg, metrics
from chukchat.db_errors import DATABASE_UNAVAILABLE
from chukchat.db_threads import db_call

logger = logging.getLogger(__name__)

Status = UsageRecord.Status


def usage_record(
    *,
    request_id: str,
    user_id: int | None,
    api_key_id: int | None,
    endpoint: str,
    model: str,
    provider: str = "",
    upstream_model: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    reasoning_tokens: int = 0,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    tokens_estimated: bool = False,
    units: Decimal = ZERO,
    latency_ms: int = 0,
    time_to_first_token_ms: int | None = None,
    status: str = Status.OK,
    error_code: str = "",
) -> UsageRecord:
    """The usage record of a request, not yet saved: settlement prices and saves it."""
    return UsageRecord(
        request_id=request_id,
        user_id=user_id,
        api_key_id=api_key_id,
        endpoint=endpoint,
        model=model,
        provider=provider,
        upstream_model=upstream_model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        reasoning_tokens=reasoning_tokens,
        cached_tokens=cached_tokens,
        cache_write_tokens=cache_write_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        tokens_estimated=tokens_estimated,
        units=units,
        latency_ms=latency_ms,
        time_to_first_token_ms=time_to_first_token_ms,
        status=status,
        error_code=error_code,
    )


def price_record(*, record: UsageRecord, prices: Prices, held: Decimal) -> UsageRecord:
    """Sets what the record is charged: its usage at `prices`, but never more than `held`; the
    part beyond the hold is its discrepancy, which is logged and never charged."""
    cost = usage_cost(
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cached_tokens=record.cached_tokens,
        cache_write_tokens=record.cache_write_tokens,
        units=record.units,
        prices=prices,
    )
    record.cost = min(cost, max(held, ZERO))
    record.discrepancy = cost - record.cost
    if record.discrepancy > 0:
        logger.warning(
            "usage beyond the hold: request %s (%s, %s) used %s USD, %s USD held; "
            "charged the hold, the rest recorded as a discrepancy",
            record.request_id,
            record.model,
            record.provider or "-",
            cost,
            held,
        )
    return record


# --- The statements ---------------------------------------------------------------------------

_USAGE_COLUMNS = [
    field.column for field in UsageRecord._meta.concrete_fields if not field.primary_key
]

# A key revoked and deleted while its request ran leaves the record without a key (as its
# foreign key's SET_NULL would have), rather than failing the charge.
_KEY_THAT_EXISTS = "(SELECT id FROM accounts_apikey WHERE id = %(api_key_id)s::bigint)"
_USAGE_VALUES = [
    _KEY_THAT_EXISTS if column == "api_key_id" else f"%({column})s" for column in _USAGE_COLUMNS
]

# A charge needs the user's credit account: without one the statement changes nothing and
# returns no row (each writing part checks this), so it needs no transaction of its own around
# it to be rolled back (measured: BEGIN and COMMIT were two of its three round trips).
_CAN_CHARGE = (
    "(%(cost)s <= 0 OR EXISTS (SELECT 1 FROM billing_creditaccount WHERE user_id = %(user_id)s))"
)

# The column names come from the model; every value is a bound parameter.
# The ledger row and the usage record: the end of both charge statements.
_LEDGER_AND_RECORD = f"""
ledger AS (
    INSERT INTO billing_ledgerentry
        (account_id, kind, amount, balance_after, reference, description, created_at)
    SELECT id, 'usage', -%(cost)s, balance, %(reference)s, %(description)s, now()
    FROM charged WHERE %(cost)s > 0
    RETURNING id
)
INSERT INTO {UsageRecord._meta.db_table} ({", ".join(_USAGE_COLUMNS)})
SELECT {", ".join(_USAGE_VALUES)} WHERE {_CAN_CHARGE}
"""

# A request with a hold of its own (or none). A key's spend is counted on the monthly row its
# hold was placed against (releasing the hold there too), or, for a key without a hold, on
# this month's row. The key's row is locked before the credit account (the account's update
# reads both key CTEs first), the same order as the capped reserve, so the two never deadlock.
_SETTLE_SQL = (
    """
WITH released AS (
    DELETE FROM billing_reservation WHERE request_id = %(request_id)s AND """
    + _CAN_CHARGE
    + """
    RETURNING amount, key_spend_id
),
key_released AS (
    UPDATE billing_keyspend AS k
    SET spent = k.spent + %(cost)s, reserved = k.reserved - r.amount
    FROM released AS r WHERE k.id = r.key_spend_id
    RETURNING k.id
),
key_spent AS (
    INSERT INTO billing_keyspend (api_key_id, month, spent, reserved)
    SELECT id, %(month)s, %(cost)s, 0 FROM accounts_apikey
    WHERE id = %(api_key_id)s::bigint AND %(cost)s > 0 AND """
    + _CAN_CHARGE
    + """
      AND NOT EXISTS (SELECT 1 FROM released WHERE key_spend_id IS NOT NULL)
    ON CONFLICT (api_key_id, month) DO UPDATE SET spent = billing_keyspend.spent + EXCLUDED.spent
    RETURNING id
),
charged AS (
    UPDATE billing_creditaccount
    SET balance = balance - %(cost)s,
        reserved = reserved - COALESCE((SELECT sum(amount) FROM released), 0),
        updated_at = now()
    WHERE user_id = %(user_id)s
      AND (SELECT count(*) FROM key_released) + (SELECT count(*) FROM key_spent) >= 0
      AND (%(cost)s > 0 OR EXISTS (SELECT 1 FROM released))
    RETURNING id, balance
),"""
    + _LEDGER_AND_RECORD
    + "RETURNING id, (SELECT count(*) FROM ledger), 0"
)

# A request whose hold was in a credit lease (billing/credit_leases.py): `release` comes out of
# the lease and the account's reserved total, `cost` out of the balance. Normally `release` is
# the cost (the rest of the request's hold stays in the lease, for the next request); replayed
# from the outbox it is the whole hold, which the process wrote off when the charge failed.
# Lock order as everywhere: the lease's row, then the key's, then the account.
_SETTLE_LEASED_SQL = (
    """
WITH leased AS (
    UPDATE billing_reservation SET amount = amount - %(release)s, created_at = now()
    WHERE request_id = %(lease)s AND %(release)s > 0 AND amount >= %(release)s AND """
    + _CAN_CHARGE
    + """
    RETURNING id
),
key_spent AS (
    INSERT INTO billing_keyspend (api_key_id, month, spent, reserved)
    SELECT id, %(month)s, %(cost)s, 0 FROM accounts_apikey
    WHERE id = %(api_key_id)s::bigint AND %(cost)s > 0 AND (SELECT count(*) FROM leased) >= 0
      AND """
    + _CAN_CHARGE
    + """
    ON CONFLICT (api_key_id, month) DO UPDATE SET spent = billing_keyspend.spent + EXCLUDED.spent
    RETURNING id
),
charged AS (
    UPDATE billing_creditaccount
    SET balance = balance - %(cost)s,
        reserved = reserved - CASE WHEN EXISTS (SELECT 1 FROM leased) THEN %(release)s ELSE 0 END,
        updated_at = now()
    WHERE user_id = %(user_id)s AND (SELECT count(*) FROM key_spent) >= 0
      AND (%(cost)s > 0 OR EXISTS (SELECT 1 FROM leased))
    RETURNING id, balance
),"""
    + _LEDGER_AND_RECORD
    + "RETURNING id, (SELECT count(*) FROM ledger), (SELECT count(*) FROM leased)"
)


def _description(record: UsageRecord) -> str:
    return (
        f"{record.endpoint} {record.model}: {record.prompt_tokens} in, "
        f"{record.completion_tokens} out"
    )[:300]


@functools.cache
def _preparing() -> BaseDatabaseWrapper:
    """A database wrapper that only prepares values (it never connects). Django's `connection`
    is per asyncio context: each charge's task built a DatabaseWrapper of its own to ask."""
    return connections.create_connection("default")


def _values(record: UsageRecord, *, lease: str | None, release: Decimal) -> dict:
    preparing = _preparing()
    values = {
        field.column: field.get_db_prep_save(getattr(record, field.attname), preparing)
        for field in UsageRecord._meta.concrete_fields
        if not field.primary_key
    }
    values.update(
        cost=record.cost,
        reference=f"usage:{record.request_id}",
        description=_description(record),
        month=month_of(timezone.now()),
    )
    if lease is not None:
        values.update(lease=lease, release=release)
    return values


class _NoAccount(Exception):
    """A charge for a user without a credit account: rolls the statement back."""


def _saved(record: UsageRecord, record_id: int) -> UsageRecord:
    record.pk = record_id
    record._state.adding = False
    return record


def _already_settled(*, record: UsageRecord) -> UsageRecord:
    return UsageRecord.objects.get(request_id=record.request_id)


# --- Sync: media jobs, the outbox, the sweep, embedded mode -----------------------------------


def settle_sync(
    *,
    record: UsageRecord,
    prices: Prices | None = None,
    held: Decimal | None = None,
    lease: str | None = None,
    release: Decimal | None = None,
) -> UsageRecord:
    """Charges `record` and ends its hold, in the caller's transaction if there is one.
    With `prices` the record is priced first, capped at `held` (by default, the request's own
    hold as the database has it); without, its cost is already set (the outbox)."""
    if prices is not None:
        if held is None:
            held = (
                Reservation.objects.filter(request_id=record.request_id)
                .values_list("amount", flat=True)
                .first()
            ) or ZERO
        price_record(record=record, prices=prices, held=held)
        metrics.usage_settled(record)
    if connection.vendor != "postgresql":
        return _settle_orm(record=record)
    sql = _SETTLE_SQL if lease is None else _SETTLE_LEASED_SQL
    values = _values(record, lease=lease, release=record.cost if release is None else release)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, values)
            row = cursor.fetchone()
    except IntegrityError as error:
        if isinstance(error.__cause__, psycopg.errors.CheckViolation):
            return _settle_short(record=record)
        return _already_settled(record=record)
    if row is None:  # nothing changed: the user has no credit account
        raise _NoAccount(record.request_id)
    return _saved(record, row[0])


def _settle_orm(*, record: UsageRecord) -> UsageRecord:
    """The ORM twin of the settle statement (embedded mode, SQLite): one transaction."""
    with transaction.atomic():
        account = (
            CreditAccount.objects.select_for_update().filter(user_id=record.user_id).first()
            if record.user_id
            else None
        )
        if UsageRecord.objects.filter(request_id=record.request_id).exists():
            return _already_settled(record=record)
        _forget_deleted_key(record)
        reservation = Reservation.objects.filter(request_id=record.request_id).first()
        held = reservation.amount if reservation is not None else ZERO
        if account is not None:
            # A hold lost (released under a live request) is no licence to overdraw.
            free = account.balance - (account.reserved - held)
            _cut_to(record, max(free, ZERO))
        elif record.cost > 0:
            raise _NoAccount(record.request_id)
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            return _already_settled(record=record)
        if reservation is not None:
            reservation.delete()
        _count_key_spend(record=record, reservation=reservation, held=held)
        if account is None:
            return record
        _ledger_row(account=account, record=record)
        if record.cost or held:
            CreditAccount.objects.filter(pk=account.pk).update(
                balance=F("balance") - record.cost, reserved=F("reserved") - held
            )
    return record


def _forget_deleted_key(record: UsageRecord) -> None:
    from accounts.models import ApiKey

    if record.api_key_id is not None and not ApiKey.objects.filter(pk=record.api_key_id).exists():
        record.api_key_id = None


def _settle_short(*, record: UsageRecord) -> UsageRecord:
    """The charge would have overdrawn the balance: its hold was lost (released while the
    request still ran). Charge what the balance has free, record the rest as a discrepancy."""
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update().get(user_id=record.user_id)
        if UsageRecord.objects.filter(request_id=record.request_id).exists():
            return _already_settled(record=record)
        _forget_deleted_key(record)
        own = Reservation.objects.filter(request_id=record.request_id).first()
        held = own.amount if own is not None else ZERO
        _cut_to(record, max(account.balance - (account.reserved - held), ZERO))
        record.save(force_insert=True)
        if own is not None:
            own.delete()
        _count_key_spend(record=record, reservation=own, held=held)
        _ledger_row(account=account, record=record)
        CreditAccount.objects.filter(pk=account.pk).update(
            balance=F("balance") - record.cost, reserved=F("reserved") - held
        )
    return record


def _cut_to(record: UsageRecord, most: Decimal) -> None:
    if record.cost > most:
        logger.warning(
            "charge of request %s cut from %s to %s USD: its hold was lost",
            record.request_id,
            record.cost,
            most,
        )
        record.discrepancy += record.cost - most
        record.cost = most


def _ledger_row(*, account: CreditAccount, record: UsageRecord) -> None:
    if record.cost > 0:
        LedgerEntry.objects.create(
            account=account,
            kind=LedgerEntry.Kind.USAGE,
            amount=-record.cost,
            balance_after=account.balance - record.cost,
            reference=f"usage:{record.request_id}",
            description=_description(record),
        )


def _count_key_spend(
    *, record: UsageRecord, reservation: Reservation | None, held: Decimal
) -> None:
    """The ORM twin of the key CTEs in the settle statement."""
    if reservation is not None and reservation.key_spend_id is not None:
        KeySpend.objects.filter(pk=reservation.key_spend_id).update(
            spent=F("spent") + record.cost, reserved=F("reserved") - held
        )
    elif record.api_key_id is not None and record.cost > 0:
        key_spend, _ = KeySpend.objects.get_or_create(
            api_key_id=record.api_key_id, month=month_of(timezone.now())
        )
        KeySpend.objects.filter(pk=key_spend.pk).update(spent=F("spent") + record.cost)


# --- Async: every request the gateway serves -------------------------------------------------

_in_progress: set[asyncio.Future] = set()


def pending() -> int:
    """Settlements still running in this process (shutdown and tests wait for them)."""
    return len(_in_progress)


async def wait_settled(*, within: float) -> None:
    """Until every settlement running in this process is done, or `within` seconds passed."""
    if _in_progress:
        await asyncio.wait(list(_in_progress), timeout=within)


async def settle(*, record: UsageRecord, prices: Prices, hold: Hold) -> UsageRecord:
    """Charges what the request used, at most its hold, records it and ends the hold: once.
    The caller being cancelled (its client hung up) does not stop it."""
    task = asyncio.ensure_future(_settle(record=record, prices=prices, hold=hold))
    _in_progress.add(task)
    task.add_done_callback(_in_progress.discard)
    return await asyncio.shield(task)


async def _settle(*, record: UsageRecord, prices: Prices, hold: Hold) -> UsageRecord:
    price_record(record=record, prices=prices, held=hold.amount)
    metrics.usage_settled(record)
    lease = hold.lease
    try:
        record, renewed = await _apply(record=record, hold=hold)
    except DATABASE_UNAVAILABLE as error:
        # Not charged yet, and the database cannot say: the charge goes to the outbox, and the
        # whole hold counts as gone from the lease until the outbox has applied it.
        await settlement_outbox.aput(
            record=record, lease=hold.lease_id, release=hold.amount if lease else None
        )
        logger.warning(
            "settlement of request %s deferred to the outbox: %s", record.request_id, error
        )
        if lease is not None:
            credit_leases.settled(hold, cost=hold.amount, renewed=False)
        return record
    except BaseException:
        if lease is not None:  # not charged: count the whole hold as gone, to stay safe
            credit_leases.settled(hold, cost=hold.amount, renewed=False)
        raise
    if lease is not None:
        credit_leases.settled(hold, cost=record.cost, renewed=renewed)
    return record


async def _apply(*, record: UsageRecord, hold: Hold) -> tuple[UsageRecord, bool]:
    if not async_pg.enabled():
        return await db_call(settle_sync, record=record), False
    leased = hold.lease_id is not None
    values = _values(record, lease=hold.lease_id, release=record.cost)
    try:
        if leased and settlement_batch.enabled():
            row = await settlement_batch.charge(values, single=_one_leased)
        else:
            row = await _one(values, leased=leased)
    except psycopg.errors.UniqueViolation:
        return await db_call(_already_settled, record=record), False
    except psycopg.errors.CheckViolation:
        return await db_call(_settle_short, record=record), False
    if row is None:  # nothing changed: the user has no credit account
        raise _NoAccount(record.request_id)
    record_id, renewed = row
    return _saved(record, record_id), renewed


async def _one(values: dict, *, leased: bool) -> tuple[int, bool] | None:
    """One request's charge in a statement of its own: its usage record's id and whether its
    lease was renewed, or None when the user has no credit account."""
    row = await async_pg.fetchone(
        "default",
        _SETTLE_LEASED_SQL if leased else _SETTLE_SQL,
        values,
        prepare=True,
        # The answer has gone: a busy pool is worth waiting for, the outbox is for outages.
        pool_wait=settings.SETTLE_POOL_TIMEOUT,
    )
    if row is None:
        return None
    return row[0], leased and row[2] > 0


async def _one_leased(values: dict) -> tuple[int, bool] | None:
    return await _one(values, leased=True)
