"""A metered request's credit hold and its charge, from async code: in this process's credit
lease where one can be used (billing/credit_leases.py: no round trip before the provider is
called), else a reservation of its own (keys with a monthly cap, embedded mode)."""

from __future__ import annotations

from decimal import Decimal

from aiapi.models import UsageRecord
from billing import credit_leases
from billing.credit_leases import Hold
from billing.metering import ZERO, Prices, areserve, asettle


async def hold_credit(
    *,
    user_id: int,
    api_key_id: int | None,
    api_key_limit: Decimal | None,
    request_id: str,
    amount: Decimal,
) -> Hold:
    """Holds `amount` for the request, or raises 402 (`insufficient_credits`,
    `key_limit_exceeded`). Nothing is held for a free request."""
    if amount <= 0:
        return Hold(amount=ZERO)
    if credit_leases.enabled(api_key_limit=api_key_limit):
        return await credit_leases.take(user_id=user_id, amount=amount)
    await areserve(
        user_id=user_id,
        api_key_id=api_key_id,
        request_id=request_id,
        amount=amount,
        api_key_limit=api_key_limit,
    )
    return Hold(amount=amount)


async def charge(*, record: UsageRecord, prices: Prices, hold: Hold) -> UsageRecord:
    """Charges what the request used, records it and ends its hold: once."""
    lease = hold.lease
    try:
        record, renewed = await asettle(record=record, prices=prices, lease=hold.lease_id)
    except BaseException:
        if lease is not None:  # not charged: count the whole hold as gone, to stay safe
            credit_leases.settled(hold, cost=hold.amount, renewed=False)
        raise
    if lease is not None:
        credit_leases.settled(hold, cost=record.cost, renewed=renewed)
    return record
