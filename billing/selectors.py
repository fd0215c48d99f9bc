from decimal import Decimal

from accounts.models import User
from billing.models import ZERO, CreditAccount, LedgerEntry


def balance_of(*, user: User) -> Decimal:
    balance = CreditAccount.objects.filter(user=user).values_list("balance", flat=True).first()
    return balance if balance is not None else ZERO


def ledger_sum(*, user: User) -> Decimal:
    from django.db.models import Sum

    total = LedgerEntry.objects.filter(account__user=user).aggregate(total=Sum("amount"))["total"]
    return total if total is not None else ZERO
