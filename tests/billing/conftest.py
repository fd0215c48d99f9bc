"""Billing under test: the gateway over real HTTP in front of the fake AI upstream, and Stripe
replaced by localstripe behind our stand-in for prices, Checkout and the Customer Portal, both
on 127.0.0.1, with the official SDKs pointed at them. After every test the books must balance."""

import hashlib
import hmac
import secrets
import time
from decimal import Decimal

import httpx
import orjson
import pytest
import stripe
from django.db import connection, transaction

from aiapi.catalogue import catalogue_load
from aiapi.selectors import catalogue_changed
from billing.entitlements import entitlements_changed
from billing.models import CreditAccount, KeySpend, Plan, Reservation, UsageRecord
from tests.support.stripe_standin import STRIPE_KEY, WEBHOOK_SECRET

# Models billing tests need beside the gateway tests' catalogue.
BILLING_MODELS = """
[[models]]
id = "premium"
provider = "fake"
upstream = "fake:tokens=8"
input_price = 3.0
output_price = 15.0
pro_only = true

[[models]]
id = "free-with-premium-fallback"
provider = "fake"
upstream = "fake:fault=503"
fallbacks = ["premium"]

[[models]]
id = "premium-emb"
provider = "fake"
upstream = "fake-embedding"
kind = "embedding"
input_price = 0.5
pro_only = true

[[models]]
id = "steady"
provider = "fake"
upstream = "fake:tokens=20,tps=100"
max_output_tokens = 20
input_price = 100.0
output_price = 200.0
"""


# --- the books -------------------------------------------------------------------------------
def assert_books_balance(timeout: float = 5.0) -> None:
    """The books balance, read in one snapshot. A settlement can still be landing just after a
    test's last response (it runs once the answer is sent), so a mismatch is read again until
    `timeout` before it counts."""
    deadline = time.monotonic() + timeout
    while True:
        outermost = not connection.in_atomic_block
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql" and outermost:
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                _check_books()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _check_books() -> None:
    """Every cached balance is the sum of its ledger, and the last row says so too; every
    `reserved` (account and key) is the sum of the open holds it counts; every key's counted
    spend is what its usage records cost; no balance was ever pushed below zero."""
    # Sums are taken here, not in SQL: SQLite adds decimals as floats.
    for account in CreditAccount.objects.all():
        entries = account.entries.order_by("-id")
        total = sum(entries.values_list("amount", flat=True), Decimal(0))
        assert account.balance == total, f"{account.user}: balance {account.balance} != {total}"
        last = entries.first()
        if last is not None:
            assert last.balance_after == account.balance
        held = sum(account.reservations.values_list("amount", flat=True), Decimal(0))
        assert account.reserved == held, f"{account.user}: reserved {account.reserved} != {held}"
        assert not entries.filter(balance_after__lt=0).exists()
    for key_id in KeySpend.objects.values_list("api_key_id", flat=True).distinct():
        rows = KeySpend.objects.filter(api_key_id=key_id)
        spent = sum(rows.values_list("spent", flat=True), Decimal(0))
        used = sum(
            UsageRecord.objects.filter(api_key_id=key_id).values_list("cost", flat=True),
            Decimal(0),
        )
        assert spent == used, f"key {key_id}: counted {spent}, used {used}"
        for row in rows:
            held = Reservation.objects.filter(key_spend=row).values_list("amount", flat=True)
            assert row.reserved == sum(held, Decimal(0))


@pytest.fixture(autouse=True)
def _books_balance_after_every_test(request):
    names = set(request.fixturenames)
    if not names & {"db", "transactional_db"}:
        yield
        return
    # Set up the database fixture inside this one, so the check runs before it is flushed.
    request.getfixturevalue("transactional_db" if "transactional_db" in names else "db")
    entitlements_changed()
    yield
    assert_books_balance()
    entitlements_changed()


# --- Stripe ----------------------------------------------------------------------------------
@pytest.fixture
def stripe_settings(settings, stripe_standin, pro_price_id):
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_standin.url
    settings.STRIPE_PRICE_IDS = {}
    settings.SITE_URL = "https://chuk.example"
    settings.STRIPE_CHECKOUT_SUCCESS_URL = (
        "https://chuk.example/billing?session_id={CHECKOUT_SESSION_ID}"
    )
    settings.STRIPE_CHECKOUT_CANCEL_URL = "https://chuk.example/billing?checkout=cancelled"
    settings.STRIPE_PORTAL_RETURN_URL = "https://chuk.example/billing"
    return settings


@pytest.fixture
def stripe_api(stripe_settings) -> stripe.StripeClient:
    """The SDK as a test uses it to act on Stripe's side (what a person or Stripe would do)."""
    return stripe.StripeClient(
        STRIPE_KEY, base_addresses={"api": stripe_settings.STRIPE_API_BASE}, max_network_retries=0
    )


@pytest.fixture
def plans(db, pro_price_id):
    """Free and Pro as the data migration seeds them (flushed by transactional tests, so made
    again here), Pro sold through the stand-in's price."""
    free, _ = Plan.objects.update_or_create(
        slug="free",
        defaults={"name": "Free", "monthly_allowance": Decimal(0), "sort_order": 0},
    )
    pro, _ = Plan.objects.update_or_create(
        slug="pro",
        defaults={
            "name": "Pro",
            "monthly_price": Decimal(20),
            "monthly_allowance": Decimal(20),
            "includes_premium_models": True,
            "stripe_price_id": pro_price_id,
            "sort_order": 10,
        },
    )
    return {"free": free, "pro": pro}


def complete_checkout(standin_url: str, session_id: str) -> dict:
    """What the customer paying on Stripe's hosted page does to the session."""
    response = httpx.post(
        f"{standin_url}/_standin/checkout/sessions/{session_id}/complete",
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, computed as Stripe does: HMAC-SHA256 of "{t}.{payload}"."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj, *, event_id: str | None = None) -> bytes:
    """An event envelope around an object as Stripe's API returned it."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return orjson.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": data},
        }
    )


@pytest.fixture
def deliver(client):
    """POST a payload to our webhook endpoint the way Stripe does."""

    def post(payload: bytes, signature: str | None = "sign"):
        headers = {}
        if signature == "sign":
            signature = sign(payload)
        if signature is not None:
            headers["HTTP_STRIPE_SIGNATURE"] = signature
        return client.post(
            "/billing/webhooks/stripe", data=payload, content_type="application/json", **headers
        )

    return post


# --- the gateway -----------------------------------------------------------------------------
@pytest.fixture
def billing_catalogue(request):
    request.getfixturevalue("catalogue")  # the gateway tests' models, then ours
    catalogue_load(text=BILLING_MODELS)
    catalogue_changed()


@pytest.fixture
def no_holds_left(gateway_server):
    """Whether every hold has ended: the server's credit leases are given back first (an idle
    lease would be after CHUK_LEASE_IDLE_SECONDS), then no hold may remain."""
    from billing.credit_leases import give_back_all

    def check() -> bool:
        gateway_server.wait_idle()
        gateway_server.call(give_back_all)
        return not Reservation.objects.exists()

    return check
