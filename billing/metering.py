"""Metering: hold the worst case before a provider call (the charge after it is
billing/settlement.py).

`reserve` is one conditional UPDATE (the balance must cover every open reservation plus this
one), so concurrent requests can never together spend more than the balance. A hold placed by a
server process for a request it serves names that process as its `owner`, so that a sweep can
release it should the process die (billing/process_keeper.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import CreditAccount, KeySpend, Reservation
from billing.money import format_usd
from chukchat import async_pg
from chukchat.db_threads import db_call
from chukchat.errors import ApiError


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
    owner: str = "",
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
                owner=owner,
            )
        reservation_id = _reserve_in_one_statement(
            user_id=user_id,
            api_key_id=api_key_id,
            request_id=request_id,
            amount=amount,
            owner=owner,
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
            owner=owner,
        ).pk


_RESERVE_SQL = """
WITH held AS (
    UPDATE billing_creditaccount SET reserved = reserved + %(amount)s
    WHERE user_id = %(user_id)s AND balance >= reserved + %(amount)s
    RETURNING id
)
INSERT INTO billing_reservation (account_id, request_id, api_key_id, amount, owner, created_at)
SELECT id, %(request_id)s, %(api_key_id)s, %(amount)s, %(owner)s, now() FROM held
RETURNING id
"""


async def areserve(
    *,
    user_id: int,
    api_key_id: int | None,
    request_id: str,
    amount: Decimal,
    api_key_limit: Decimal | None = None,
    owner: str = "",
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
            owner=owner,
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
            owner=owner,
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
        {
            "amount": amount,
            "user_id": user_id,
            "request_id": request_id,
            "api_key_id": api_key_id,
            "owner": owner,
        },
    )
    if row is None:
        raise insufficient_credits()
    return row[0]


def _reserve_in_one_statement(
    *, user_id: int, api_key_id: int | None, request_id: str, amount: Decimal, owner: str
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
                "owner": owner,
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
        (account_id, request_id, api_key_id, key_spend_id, amount, owner, created_at)
    SELECT id, %(request_id)s, %(api_key_id)s, (SELECT id FROM key_held), %(amount)s,
        %(owner)s, now()
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
    *,
    user_id: int,
    api_key_id: int,
    request_id: str,
    amount: Decimal,
    limit: Decimal,
    owner: str,
) -> int:
    """The capped hold in one statement. A key's first request of a month finds no counter row
    (the statement's snapshot cannot see a row it inserts itself): create it, try again."""
    params = _capped_params(
        user_id=user_id,
        api_key_id=api_key_id,
        request_id=request_id,
        amount=amount,
        limit=limit,
        owner=owner,
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
    *,
    user_id: int,
    api_key_id: int,
    request_id: str,
    amount: Decimal,
    limit: Decimal,
    owner: str,
) -> dict:
    return {
        "owner": owner,
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
            release_hold(reservation)
            released += 1
    return released


def release_hold(reservation: Reservation) -> None:
    """Ends a hold (or a lease) whose request will never settle, in the caller's transaction,
    with `reservation` locked."""
    # The key's row before the account's: the lock order of reserve and settle.
    if reservation.key_spend_id is not None:
        KeySpend.objects.filter(pk=reservation.key_spend_id).update(
            reserved=F("reserved") - reservation.amount
        )
    CreditAccount.objects.filter(pk=reservation.account_id).update(
        reserved=F("reserved") - reservation.amount
    )
    reservation.delete()
