"""Metering: hold the worst case before a provider call, charge the real usage after it.

`reserve` is one conditional UPDATE (the balance must cover every open reservation plus this
one), so concurrent requests can never together spend more than the balance. `settle` writes the
usage record, the ledger charge, the new balance and the release of the hold in one transaction,
and is idempotent on the request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aiapi.models import AiModel, UsageRecord
from billing.models import ZERO, CreditAccount, LedgerEntry, Reservation
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


def reserve(
    *, user_id: int, api_key_id: int | None, request_id: str, amount: Decimal
) -> Reservation | None:
    """Hold `amount` for a request, or raise 402. Nothing is held for a free request."""
    if amount <= 0:
        return None
    with transaction.atomic():
        held = CreditAccount.objects.filter(
            user_id=user_id, balance__gte=F("reserved") + amount
        ).update(reserved=F("reserved") + amount)
        if not held:
            raise insufficient_credits()
        return Reservation.objects.create(
            account_id=CreditAccount.objects.values_list("pk", flat=True).get(user_id=user_id),
            request_id=request_id,
            api_key_id=api_key_id,
            amount=amount,
        )


def settle(*, record: UsageRecord, prices: Prices) -> UsageRecord:
    """Charge what `record` used (nothing unless tokens were generated or consumed), release its
    hold, and save the record: all or nothing. Settling the same request twice charges once."""
    cost = token_cost(
        prices=prices,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
    ) + record.units * (prices.image + prices.audio_minute)
    if record.status == UsageRecord.Status.ERROR:
        cost = ZERO  # a failed provider call is never charged
    record.cost = cost
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
                description=f"{record.endpoint} {record.model}: {record.prompt_tokens} in, "
                f"{record.completion_tokens} out",
            )
        if cost or held:
            CreditAccount.objects.filter(pk=account.pk).update(
                balance=F("balance") - cost, reserved=F("reserved") - held
            )
    return record


def release_stale_reservations(*, older_than: timedelta) -> int:
    """Free holds whose request died without settling (the process was killed)."""
    released = 0
    cutoff = timezone.now() - older_than
    for reservation_id in Reservation.objects.filter(created_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update(skip_locked=True)
                .filter(pk=reservation_id)
                .first()
            )
            if reservation is None:
                continue
            CreditAccount.objects.filter(pk=reservation.account_id).update(
                reserved=F("reserved") - reservation.amount
            )
            reservation.delete()
            released += 1
    return released
