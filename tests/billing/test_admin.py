"""Operators edit plans and grant credit with a reason in admin; what mirrors Stripe is
read-only there."""

import importlib
from decimal import Decimal

import pytest

from billing.entitlements import _cache, entitlements_for
from billing.ledger import credit_grant
from billing.models import CreditAccount, LedgerEntry, Plan
from billing.selectors import balance_of
from tests.factories import UserFactory


@pytest.fixture
def operator(client, db):
    admin = UserFactory(email="ops@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return admin


def test_the_data_migration_seeds_free_and_pro_and_keeps_edits(db):
    from django.apps import apps

    seed = importlib.import_module("billing.migrations.0004_seed_free_and_pro_plans").seed
    Plan.objects.all().delete()
    seed(apps, None)
    Plan.objects.filter(slug="pro").update(monthly_allowance=Decimal(50))
    seed(apps, None)  # again: existing rows are left as they are

    assert list(Plan.objects.values_list("slug", "includes_premium_models")) == [
        ("free", False),
        ("pro", True),
    ]
    assert Plan.objects.get(slug="pro").monthly_allowance == Decimal(50)


def test_an_operator_edits_a_plan_and_entitlements_are_read_again(client, operator, plans, alice):
    entitlements_for(user_id=alice.pk)
    assert alice.pk in _cache
    pro = plans["pro"]

    response = client.post(
        f"/admin/billing/plan/{pro.pk}/change/",
        {
            "slug": "pro",
            "name": "Pro",
            "monthly_price": "25",
            "monthly_allowance": "30",
            "stripe_price_id": "price_new",
            "includes_premium_models": "on",
            "active": "on",
            "sort_order": "10",
            "chat_requests_per_minute": "120",
            "chat_tokens_per_minute": "400000",
            "transcription_requests_per_minute": "30",
            "image_requests_per_minute": "30",
            "convert_requests_per_minute": "60",
            "api_requests_per_minute": "600",
        },
    )

    assert response.status_code == 302
    pro.refresh_from_db()
    assert pro.monthly_allowance == Decimal(30) and pro.stripe_price_id == "price_new"
    assert alice.pk not in _cache


def test_credit_is_granted_with_a_reason_through_the_ledger(client, operator, alice):
    credit_grant(user=alice, amount=Decimal(1), description="welcome")
    account = CreditAccount.objects.get(user=alice)

    response = client.post(
        "/admin/billing/creditaccount/",
        {
            "action": "adjust_credits",
            "_selected_action": [account.pk],
            "apply": "1",
            "amount": "4.5",
            "reason": "support ticket 42",
        },
    )

    assert response.status_code == 302
    assert balance_of(user=alice) == Decimal("5.5")
    entry = LedgerEntry.objects.filter(account=account).first()
    assert entry.description == "support ticket 42" and entry.created_by == operator


@pytest.mark.parametrize(
    "page",
    [
        "/admin/billing/plan/",
        "/admin/billing/subscription/",
        "/admin/billing/invoice/",
        "/admin/billing/stripeevent/",
        "/admin/billing/stripecustomer/",
        "/admin/billing/keyspend/",
    ],
)
def test_billing_pages_open(client, operator, page):
    assert client.get(page).status_code == 200


def test_stripe_mirrors_cannot_be_added_by_hand(client, operator):
    assert client.get("/admin/billing/subscription/add/").status_code == 403
    assert client.get("/admin/billing/invoice/add/").status_code == 403
