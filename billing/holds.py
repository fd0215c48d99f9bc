"""A metered request's credit hold, from async code: in this process's credit lease where one
can be used (billing/credit_leases.py: no round trip before the provider is called), else a
reservation of its own (keys with a monthly cap, embedded mode, or a lease that cannot grow).
Its charge is billing/settlement.py's `settle`."""

from __future__ import annotations

from decimal import Decimal

from billing import credit_leases
from billing.allowances import free_allowance_grant
from billing.credit_leases import Hold
from billing.metering import areserve
from billing.models import ZERO
from billing.process_keeper import process_id
from chukchat.db_threads import db_call
from chukchat.errors import ApiError


async def hold_credit(
    *,
    user_id: int,
    api_key_id: int | None,
    api_key_limit: Decimal | None,
    request_id: str,
    amount: Decimal,
) -> Hold:
    """Holds `amount` for the request, or raises 402 (`insufficient_credits`,
    `key_limit_exceeded`) when the balance minus what is held cannot cover it. Nothing is
    held for a free request."""
    if amount <= 0:
        return Hold(amount=ZERO)
    if credit_leases.enabled(api_key_limit=api_key_limit):
        try:
            return await credit_leases.take(user_id=user_id, amount=amount)
        except ApiError as refused:
            if refused.code != "insufficient_credits":
                raise
            # The lease could not grow: what it holds spare goes back, and the request tries
            # a hold of its own against everything not held by a request.
            await credit_leases.give_back_spare(user_id=user_id)
    reservation = {
        "user_id": user_id,
        "api_key_id": api_key_id,
        "request_id": request_id,
        "amount": amount,
        "api_key_limit": api_key_limit,
        "owner": process_id(),
    }
    try:
        await areserve(**reservation)
    except ApiError as refused:
        # Out of credit on the first request of a month: the Free plan's allowance for it is
        # granted now (nothing is asked while the balance suffices), then the hold again.
        if refused.code != "insufficient_credits":
            raise
        if await db_call(free_allowance_grant, user_id=user_id) is None:
            raise
        await areserve(**reservation)
    return Hold(amount=amount)
