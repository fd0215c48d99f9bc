from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

# USD amounts: 10 decimal places hold any per-token charge exactly (prices per million tokens
# with up to four decimals), so nothing is ever rounded away.
MONEY = {"max_digits": 24, "decimal_places": 10}
ZERO = Decimal("0")


class CreditAccount(models.Model):
    """A user's prepaid USD balance. `balance` is a cache of the sum of the ledger, always
    written in the same transaction as the ledger row that changes it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account"
    )
    balance = models.DecimalField(default=ZERO, **MONEY)
    # Sum of open reservations, kept beside the balance so "can this request be afforded?" is
    # one conditional UPDATE of one row.
    reserved = models.DecimalField(default=ZERO, **MONEY)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} {self.balance} USD"


class LedgerEntry(models.Model):
    """An immutable movement of credit. Never updated or deleted."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        TOPUP = "topup"
        ALLOWANCE = "allowance"
        USAGE = "usage"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)  # signed: credits are positive, charges negative
    balance_after = models.DecimalField(**MONEY)
    # What caused the row ("request:<id>", "stripe_invoice:<id>", ...); unique, so the same
    # cause can never move money twice.
    reference = models.CharField(max_length=200, unique=True, null=True, blank=True)
    description = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} USD ({self.reference or '-'})"


class Reservation(models.Model):
    """Credit held for a request in flight: its worst-case cost. Released when the request is
    settled, or by a periodic task when the request died without settling."""

    account = models.ForeignKey(
        CreditAccount, on_delete=models.CASCADE, related_name="reservations"
    )
    request_id = models.CharField(max_length=64, unique=True)
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id}: {self.amount} USD held"
