"""The only code that moves credit. Each change is a ledger row plus the cached balance, in one
transaction, with the account row locked so concurrent writers serialise."""

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from accounts.models import User
from billing.models import CreditAccount, LedgerEntry


def account_for(*, user: User) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


@transaction.atomic
def ledger_post(
    *,
    user: User,
    amount: Decimal,
    kind: str,
    reference: str | None = None,
    description: str = "",
    created_by: User | None = None,
) -> LedgerEntry:
    """Post one signed amount. A reference already posted returns the existing row and moves
    nothing (idempotent on the cause)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError("amount must be a finite Decimal")
    if reference is not None:
        existing = LedgerEntry.objects.filter(reference=reference).first()
        if existing is not None:
            return existing
    account_for(user=user)
    account = CreditAccount.objects.select_for_update().get(user=user)
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                account=account,
                kind=kind,
                amount=amount,
                balance_after=account.balance + amount,
                reference=reference,
                description=description[:300],
                created_by=created_by,
            )
    except IntegrityError:
        # Lost a race with another writer posting the same reference.
        return LedgerEntry.objects.get(reference=reference)
    CreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
    return entry


def credit_grant(
    *,
    user: User,
    amount: Decimal,
    description: str = "",
    reference: str | None = None,
    created_by: User | None = None,
) -> LedgerEntry:
    if amount <= 0:
        raise ValueError("a grant must be positive")
    return ledger_post(
        user=user,
        amount=amount,
        kind=LedgerEntry.Kind.GRANT,
        reference=reference,
        description=description,
        created_by=created_by,
    )
