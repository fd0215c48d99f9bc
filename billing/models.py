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

    class Meta:
        constraints = [
            # Never overdrawn, by construction: a statement that would take the balance below
            # zero fails whole, whichever path it came by.
            models.CheckConstraint(
                condition=models.Q(balance__gte=0), name="creditaccount_balance_never_negative"
            )
        ]

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
    # The monthly counter this hold also counts against, for keys with a spending cap.
    key_spend = models.ForeignKey(
        "KeySpend", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    amount = models.DecimalField(**MONEY)
    # The server process that placed the hold (ServerProcess.id): when that process stops
    # beating, its holds are released by any other process's sweep.
    owner = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.request_id}: {self.amount} USD held"


class KeySpend(models.Model):
    """What one API key spent and holds in one calendar month (UTC): the counter its monthly cap
    is checked against in the same statement that places a hold, so concurrent requests on the
    same key serialise on this row."""

    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the first day of the month
    spent = models.DecimalField(default=ZERO, **MONEY)
    reserved = models.DecimalField(default=ZERO, **MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "month"], name="keyspend_one_row_per_month")
        ]

    def __str__(self) -> str:
        return f"key {self.api_key_id} {self.month:%Y-%m}: {self.spent} USD"


class Plan(models.Model):
    """What a subscription sells: a monthly credit allowance and access to premium models."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    # Shown on the plans list; what Stripe charges is the price behind `stripe_price_id`.
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2, default=ZERO)
    # Credit granted once per paid invoice of a subscription to this plan; for Free (sold by no
    # invoice), once per calendar month to each user on it (billing/allowances.py).
    monthly_allowance = models.DecimalField(max_digits=14, decimal_places=4, default=ZERO)
    # Empty for plans that are not sold (Free). STRIPE_PRICE_IDS in the environment wins, so
    # test-mode and live-mode deployments each pair their keys with their own prices.
    stripe_price_id = models.CharField(max_length=100, blank=True)
    includes_premium_models = models.BooleanField(
        default=False, help_text="Whether models marked pro_only may be used on this plan."
    )
    active = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    # Rate limits of everyone on the plan, per user and per API key (an API key's own
    # overrides, set in admin, replace them for that key).
    chat_requests_per_minute = models.PositiveIntegerField(default=20)
    chat_tokens_per_minute = models.PositiveIntegerField(default=40_000)
    transcription_requests_per_minute = models.PositiveIntegerField(default=5)
    image_requests_per_minute = models.PositiveIntegerField(default=5)
    convert_requests_per_minute = models.PositiveIntegerField(default=10)
    api_requests_per_minute = models.PositiveIntegerField(default=120)

    class Meta:
        ordering = ["sort_order", "slug"]

    def __str__(self) -> str:
        return self.name


class StripeCustomer(models.Model):
    """The Stripe customer of a user: created once, on the first billing action."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stripe_customer"
    )
    stripe_id = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} {self.stripe_id}"


class Subscription(models.Model):
    """A Stripe subscription as we last saw it (webhooks and sync keep it current)."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired"
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"
        UNPAID = "unpaid"
        PAUSED = "paused"

    # The statuses that give the user their plan; anything else means Free.
    ENTITLED = (Status.ACTIVE, Status.TRIALING)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions"
    )
    stripe_id = models.CharField(max_length=100, unique=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT)
    status = models.CharField(max_length=24, choices=Status.choices)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.plan} {self.status}"


class StripeEvent(models.Model):
    """A webhook event we have seen, once. A processed event is written in the same transaction
    as its effects. A failed one carried data its handler could not use: it is written with
    none of its effects and the reason, for a person to look at, and is never applied on replay.
    An event whose handler failed for any other reason (the database, Stripe's API) leaves no
    row and is processed again when Stripe retries."""

    class Status(models.TextChoices):
        PROCESSED = "processed"
        FAILED = "failed"

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROCESSED)
    error = models.TextField(blank=True)  # why a failed event could not be used
    processed_at = models.DateTimeField(default=timezone.now)  # when it was recorded

    class Meta:
        ordering = ["-processed_at"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class Invoice(models.Model):
    """A Stripe invoice of a user, kept so invoices can be listed and exported without Stripe."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices"
    )
    stripe_id = models.CharField(max_length=100, unique=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    number = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=24)  # draft, open, paid, uncollectible, void
    currency = models.CharField(max_length=3)
    # In the currency's major unit (Stripe sends minor units; we divide exactly).
    amount_due = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    amount_paid = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    hosted_invoice_url = models.URLField(max_length=500, blank=True)
    invoice_pdf = models.URLField(max_length=500, blank=True)
    created = models.DateTimeField()  # when Stripe created it
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.amount_due} {self.currency} {self.status}"


class UsageRecord(models.Model):
    """One row per metered request: what was asked, who answered, what it used and what it was
    charged. Written only by billing.settlement, in the statement that charges it."""

    class Status(models.TextChoices):
        OK = "ok"
        ERROR = "error"
        CANCELLED = "cancelled"  # the client went away; what was generated is still charged
        INTERRUPTED = "interrupted"  # its server process died; charged for what it delivered

    request_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.SET_NULL, related_name="usage_records"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    endpoint = models.CharField(max_length=40)  # chat.completions, embeddings, ai.chat, ...
    model = models.CharField(max_length=128)  # public id as the client asked
    provider = models.CharField(max_length=64, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    # Of prompt_tokens: read from the provider's prompt cache, and written to it.
    cached_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False)  # counted by us, not the provider
    units = models.DecimalField(  # images or audio minutes for media models
        max_digits=14, decimal_places=4, default=Decimal("0")
    )
    cost = models.DecimalField(default=ZERO, **MONEY)  # what was charged
    # What the usage would have cost beyond the request's hold (a provider reporting more than
    # max_tokens allows): never charged, kept so an operator can see who over-reports.
    discrepancy = models.DecimalField(default=ZERO, **MONEY)
    latency_ms = models.PositiveIntegerField(default=0)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    error_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="billing_usage_user_created"),
            models.Index(fields=["api_key", "created_at"], name="billing_usage_key_created"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.total_tokens} tokens"


class ServerProcess(models.Model):
    """A running server process, by its heartbeat. One whose heartbeat stopped is dead: any
    other process's sweep charges the streams it was serving for what they delivered (from
    `in_flight`, written with each beat) and releases its holds and leases."""

    id = models.CharField(max_length=64, primary_key=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now, db_index=True)
    in_flight = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.id} (beat {self.heartbeat_at:%H:%M:%S})"
