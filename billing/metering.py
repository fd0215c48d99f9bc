"""Metering: hold the worst case before a provider call, charge the real usage after it.

`reserve` is one conditional UPDATE (the balance must cover every open reservation plus this
one), so concurrent requests can never together spend more than the balance. `settle` writes the
usage record, the ledger charge, the new balance and the release of the hold in one transaction,
and is idempotent on the request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from aiapi.models import AiModel, UsageRecord
from billing.models import ZERO, CreditAccount, KeySpend, LedgerEntry, Reservation
from billing.money import format_usd
from chukchat import async_pg
from chukchat.db_threads import db_call
from chukchat.errors import ApiError

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million input/output tokens, per image, per audio minute."""

    input: Decimal = ZERO
    output: Decimal = ZERO
    image: Decimal = ZERO
    audio_minute: Decimal = ZERO

    @classmethod
    def of(cls, model: AiModel) -> Prices:
        return cls(
            input=model.input_price,
            output=model.output_price,
            image=model.image_price,
            audio_minute=model.audio_minute_price,
        )


def token_cost(*, prices: Prices, prompt_tokens: int, completion_tokens: int) -> Decimal:
    return (prompt_tokens * prices.input + completion_tokens * prices.output) / MILLION


def insufficient_credits() -> ApiError:
    return ApiError(
        402,
        "insufficient_credits",
        "Your credit balance cannot cover this request. Add credits or lower max_tokens.",
        type="insufficient_quota",
    )


def key_limit_exceeded(limit: Decimal) -> ApiError:
    return ApiError(
        402,
        "key_limit_exceeded",
        f"This API key has reached its monthly spending limit of {format_usd(limit)} USD. "
        "Raise the key's limit or use another key.",
        type="insufficient_quota",
    )


def month_of(moment: datetime) -> date:
    """The calendar month (UTC) a key's spending counts in, as its first day."""
    return moment.astimezone(UTC).date().replace(day=1)


def reserve(
    *,
    user_id: int,
    api_key_id: int | None,
    request_id: str,
    amount: Decimal,
    api_key_limit: Decimal | None = None,
) -> int | None:
    """Hold `amount` for a request, or raise 402. Nothing is held for a free request. Returns
    the reservation's id.

    With `api_key_limit` (the key's monthly cap) the same hold also needs the key's
    month-to-date spend plus its open holds plus `amount` to stay within the cap
    (`key_limit_exceeded` otherwise), checked and counted on the key's monthly row in the same
    statement, so concurrent requests on one key cannot together pass the cap."""
    if amount <= 0:
        return None
    capped = api_key_id is not None and api_key_limit is not None
    if "holds" in settings.DATABASES:
        if capped:
            return _reserve_capped_in_one_statement(
                user_id=user_id,
                api_key_id=api_key_id,
                request_id=request_id,
                amount=amount,
                limit=api_key_limit,
            )
        reservation_id = _reserve_in_one_statement(
            user_id=user_id, api_key_id=api_key_id, request_id=request_id, amount=amount
        )
        if reservation_id is None:
            raise insufficient_credits()
        return reservation_id
    with transaction.atomic():
        key_spend = None
        if capped:
            key_spend, _ = KeySpend.objects.select_for_update().get_or_create(
                api_key_id=api_key_id, month=month_of(timezone.now())
            )
            if key_spend.spent + key_spend.reserved + amount > api_key_limit:
                raise key_limit_exceeded(api_key_limit)
        held = CreditAccount.objects.filter(
            user_id=user_id, balance__gte=F("reserved") + amount
        ).update(reserved=F("reserved") + amount)
        if not held:
            raise insufficient_credits()
        if key_spend is not None:
            KeySpend.objects.filter(pk=key_spend.pk).update(reserved=F("reserved") + amount)
        return Reservation.objects.create(
            account_id=CreditAccount.objects.values_list("pk", flat=True).get(user_id=user_id),
            request_id=request_id,
            api_key_id=api_key_id,
            key_spend=key_spend,
            amount=amount,
        ).pk


_RESERVE_SQL = """
WITH held AS (
    UPDATE billing_creditaccount SET reserved = reserved + %(amount)s
    WHERE user_id = %(user_id)s AND balance >= reserved + %(amount)s
    RETURNING id
)
INSERT INTO billing_reservation (account_id, request_id, api_key_id, amount, created_at)
SELECT id, %(request_id)s, %(api_key_id)s, %(amount)s, now() FROM held
RETURNING id
"""


async def areserve(
    *,
    user_id: int,
    api_key_id: int | None,
    request_id: str,
    amount: Decimal,
    api_key_limit: Decimal | None = None,
) -> int | None:
    """`reserve` from async code: on PostgreSQL the same statements on the asyncio pool."""
    if not async_pg.enabled() or "holds" not in settings.DATABASES:
        return await db_call(
            reserve,
            user_id=user_id,
            api_key_id=api_key_id,
            request_id=request_id,
            amount=amount,
            api_key_limit=api_key_limit,
        )
    if amount <= 0:
        return None
    if api_key_id is not None and api_key_limit is not None:
        params = _capped_params(
            user_id=user_id,
            api_key_id=api_key_id,
            request_id=request_id,
            amount=amount,
            limit=api_key_limit,
        )
        for attempt in range(2):
            reservation_id, fits = await async_pg.fetchone("holds", _RESERVE_CAPPED_SQL, params)
            if fits is not None or attempt:
                break
            await async_pg.execute("holds", _ENSURE_KEY_ROW_SQL, params)
        return _capped_outcome(reservation_id, fits, api_key_limit)
    row = await async_pg.fetchone(
        "holds",
        _RESERVE_SQL,
        {"amount": amount, "user_id": user_id, "request_id": request_id, "api_key_id": api_key_id},
    )
    if row is None:
        raise insufficient_credits()
    return row[0]


def _reserve_in_one_statement(
    *, user_id: int, api_key_id: int | None, request_id: str, amount: Decimal
) -> int | None:
    """The same conditional hold as the ORM path, as one autocommitted statement on the
    "holds" connection, whose commits do not wait for the disk."""
    with connections["holds"].cursor() as cursor:
        cursor.execute(
            _RESERVE_SQL,
            {
                "amount": amount,
                "user_id": user_id,
                "request_id": request_id,
                "api_key_id": api_key_id,
            },
        )
        row = cursor.fetchone()
    return row[0] if row else None


# The key's monthly row is locked first (FOR UPDATE re-reads it after waiting for a concurrent
# hold, so `fits` always sees every committed hold); the credit hold needs it to fit, and the
# key's counter grows only when the credit hold was placed. One statement: all or nothing.
_RESERVE_CAPPED_SQL = """
WITH key_row AS (
    SELECT id, spent + reserved + %(amount)s <= %(limit)s AS fits
    FROM billing_keyspend
    WHERE api_key_id = %(api_key_id)s AND month = %(month)s
    FOR UPDATE
),
held AS (
    UPDATE billing_creditaccount SET reserved = reserved + %(amount)s
    WHERE user_id = %(user_id)s AND balance >= reserved + %(amount)s
      AND EXISTS (SELECT 1 FROM key_row WHERE fits)
    RETURNING id
),
key_held AS (
    UPDATE billing_keyspend SET reserved = reserved + %(amount)s
    WHERE id = (SELECT id FROM key_row) AND EXISTS (SELECT 1 FROM held)
    RETURNING id
),
reservation AS (
    INSERT INTO billing_reservation
        (account_id, request_id, api_key_id, key_spend_id, amount, created_at)
    SELECT id, %(request_id)s, %(api_key_id)s, (SELECT id FROM key_held), %(amount)s, now()
    FROM held
    RETURNING id
)
SELECT (SELECT id FROM reservation), (SELECT fits FROM key_row)
"""

_ENSURE_KEY_ROW_SQL = """
INSERT INTO billing_keyspend (api_key_id, month, spent, reserved)
VALUES (%(api_key_id)s, %(month)s, 0, 0)
ON CONFLICT (api_key_id, month) DO NOTHING
"""


def _reserve_capped_in_one_statement(
    *, user_id: int, api_key_id: int, request_id: str, amount: Decimal, limit: Decimal
) -> int:
    """The capped hold in one statement. A key's first request of a month finds no counter row
    (the statement's snapshot cannot see a row it inserts itself): create it, try again."""
    params = _capped_params(
        user_id=user_id, api_key_id=api_key_id, request_id=request_id, amount=amount, limit=limit
    )
    with connections["holds"].cursor() as cursor:
        for attempt in range(2):
            cursor.execute(_RESERVE_CAPPED_SQL, params)
            reservation_id, fits = cursor.fetchone()
            if fits is not None or attempt:
                break
            cursor.execute(_ENSURE_KEY_ROW_SQL, params)
    return _capped_outcome(reservation_id, fits, limit)


def _capped_params(
    *, user_id: int, api_key_id: int, request_id: str, amount: Decimal, limit: Decimal
) -> dict:
    return {
        "amount": amount,
        "limit": limit,
        "user_id": user_id,
        "api_key_id": api_key_id,
        "request_id": request_id,
        "month": month_of(timezone.now()),
    }


def _capped_outcome(reservation_id: int | None, fits: bool | None, limit: Decimal) -> int:
    if reservation_id is not None:
        return reservation_id
    if not fits:
        raise key_limit_exceeded(limit)
    raise insufficient_credits()


def usage_cost(*, record: UsageRecord, prices: Prices) -> Decimal:
    if record.status == UsageRecord.Status.ERROR:
        return ZERO  # a failed provider call is never charged
    return token_cost(
        prices=prices,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
    ) + record.units * (prices.image + prices.audio_minute)


def _usage_description(record: UsageRecord) -> str:
    return (
        f"{record.endpoint} {record.model}: {record.prompt_tokens} in, "
        f"{record.completion_tokens} out"
    )[:300]


def settle(*, record: UsageRecord, prices: Prices) -> UsageRecord:
    """Charge what `record` used (nothing unless tokens were generated or consumed), release its
    hold, and save the record: all or nothing. Settling the same request twice charges once."""
    record.cost = usage_cost(record=record, prices=prices)
    if connection.vendor == "postgresql":
        return _settle_in_one_statement(record=record)
    with transaction.atomic():
        account = (
            CreditAccount.objects.select_for_update().filter(user_id=record.user_id).first()
            if record.user_id
            else None
        )
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            return UsageRecord.objects.get(request_id=record.request_id)
        held = ZERO
        reservation = Reservation.objects.filter(request_id=record.request_id).first()
        if reservation is not None:
            held = reservation.amount
            reservation.delete()
        cost = record.cost
        _count_key_spend(record=record, reservation=reservation, held=held)
        if account is None:
            if cost > 0:
                raise ValueError("a charge needs a credit account")
            return record
        if cost > 0:
            LedgerEntry.objects.create(
                account=account,
                kind=LedgerEntry.Kind.USAGE,
                amount=-cost,
                balance_after=account.balance - cost,
                reference=f"usage:{record.request_id}",
                description=_usage_description(record),
            )
        if cost or held:
            CreditAccount.objects.filter(pk=account.pk).update(
                balance=F("balance") - cost, reserved=F("reserved") - held
            )
    return record


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


_USAGE_COLUMNS = [
    field.column for field in UsageRecord._meta.concrete_fields if not field.primary_key
]

# The column names come from the model; every value is a bound parameter.
# A key's spend is counted on the monthly row its hold was placed against (releasing the hold
# there too), or, for a key without a hold, on this month's row. The key's row is locked before
# the credit account (the account's update reads both key CTEs first), the same order as the
# capped reserve, so the two never deadlock.
# The ledger row and the usage record: the end of both charge statements.
_LEDGER_AND_RECORD = f"""
ledger AS (
    INSERT INTO billing_ledgerentry
        (account_id, kind, amount, balance_after, reference, description, created_at)
    SELECT id, 'usage', -%(cost)s, balance, %(reference)s, %(description)s, now()
    FROM charged WHERE %(cost)s > 0
    RETURNING id
)
INSERT INTO aiapi_usagerecord ({", ".join(_USAGE_COLUMNS)})
VALUES ({", ".join(f"%({c})s" for c in _USAGE_COLUMNS)})
"""

_SETTLE_SQL = (
    """
WITH released AS (
    DELETE FROM billing_reservation WHERE request_id = %(request_id)s
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
    SELECT %(api_key_id)s::bigint, %(month)s, %(cost)s, 0
    WHERE %(api_key_id)s::bigint IS NOT NULL AND %(cost)s > 0
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
    + "RETURNING id, (SELECT count(*) FROM ledger)"
)

# A request whose hold was in a credit lease (billing/credit_leases.py): its cost comes out of
# the lease and the balance together, and the lease is renewed. Lock order as everywhere:
# the lease's row, then the key's, then the account (each CTE reads the one before).
_SETTLE_LEASED_SQL = (
    """
WITH leased AS (
    UPDATE billing_reservation SET amount = amount - %(cost)s, created_at = now()
    WHERE request_id = %(lease)s AND %(cost)s > 0 AND amount >= %(cost)s
    RETURNING id
),
key_spent AS (
    INSERT INTO billing_keyspend (api_key_id, month, spent, reserved)
    SELECT %(api_key_id)s::bigint, %(month)s, %(cost)s, 0
    WHERE %(api_key_id)s::bigint IS NOT NULL AND %(cost)s > 0 AND (SELECT count(*) FROM leased) >= 0
    ON CONFLICT (api_key_id, month) DO UPDATE SET spent = billing_keyspend.spent + EXCLUDED.spent
    RETURNING id
),
charged AS (
    UPDATE billing_creditaccount
    SET balance = balance - %(cost)s,
        reserved = reserved - CASE WHEN EXISTS (SELECT 1 FROM leased) THEN %(cost)s ELSE 0 END,
        updated_at = now()
    WHERE user_id = %(user_id)s AND %(cost)s > 0 AND (SELECT count(*) FROM key_spent) >= 0
    RETURNING id, balance
),"""
    + _LEDGER_AND_RECORD
    + "RETURNING id, (SELECT count(*) FROM ledger), (SELECT count(*) FROM leased)"
)


def _settle_values(record: UsageRecord) -> dict:
    values = {
        field.column: field.get_db_prep_save(getattr(record, field.attname), connection)
        for field in UsageRecord._meta.concrete_fields
        if not field.primary_key
    }
    values.update(
        cost=record.cost,
        reference=f"usage:{record.request_id}",
        description=_usage_description(record),
        month=month_of(timezone.now()),
    )
    return values


def _check_charged(record: UsageRecord):
    def check(row) -> None:
        if record.cost > 0 and row[1] == 0:
            raise ValueError("a charge needs a credit account")  # rolls the rest back

    return check


def _settled(record: UsageRecord, record_id: int) -> UsageRecord:
    record.pk = record_id
    record._state.adding = False
    return record


def _settle_in_one_statement(*, record: UsageRecord) -> UsageRecord:
    """Release, charge, ledger row and usage record as one statement: one round trip, atomic
    on its own, and a duplicate request id (unique) makes the whole of it a no-op."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_SETTLE_SQL, _settle_values(record))
            row = cursor.fetchone()
            _check_charged(record)(row)
    except IntegrityError:
        return UsageRecord.objects.get(request_id=record.request_id)
    return _settled(record, row[0])


async def asettle(
    *, record: UsageRecord, prices: Prices, lease: str | None = None
) -> tuple[UsageRecord, bool]:
    """`settle` from async code: on PostgreSQL the same statement on the asyncio pool. With
    `lease` (the request's hold was in that credit lease) the cost comes out of the lease. The
    second value says whether the lease was renewed."""
    if not async_pg.enabled():
        return await db_call(settle, record=record, prices=prices), False
    record.cost = usage_cost(record=record, prices=prices)
    values = _settle_values(record)
    if lease is not None:
        values["lease"] = lease
    try:
        row = await async_pg.fetchone_atomic(
            "default",
            _SETTLE_SQL if lease is None else _SETTLE_LEASED_SQL,
            values,
            check=_check_charged(record),
            prepare=True,
        )
    except psycopg.errors.UniqueViolation:
        return await db_call(UsageRecord.objects.get, request_id=record.request_id), False
    return _settled(record, row[0]), lease is not None and row[2] > 0


def release_stale_reservations(*, older_than: timedelta) -> int:
    """Free holds whose request died without settling (the process was killed), and credit
    leases their process stopped renewing (LEASE_MAX_AGE_SECONDS)."""
    released = 0
    now = timezone.now()
    stale = Q(created_at__lt=now - older_than) | Q(
        request_id__startswith="lease:",
        created_at__lt=now - timedelta(seconds=settings.LEASE_MAX_AGE_SECONDS),
    )
    for reservation_id in Reservation.objects.filter(stale).values_list("pk", flat=True):
        with transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update(skip_locked=True)
                .filter(stale, pk=reservation_id)  # still stale now that it is locked
                .first()
            )
            if reservation is None:
                continue
            # The key's row before the account's: the lock order of reserve and settle.
            if reservation.key_spend_id is not None:
                KeySpend.objects.filter(pk=reservation.key_spend_id).update(
                    reserved=F("reserved") - reservation.amount
                )
            CreditAccount.objects.filter(pk=reservation.account_id).update(
                reserved=F("reserved") - reservation.amount
            )
            reservation.delete()
            released += 1
    return released
