"""POST /v1/billing/sync repairs what a missed webhook left stale; GET /v1/billing/plans and
/v1/billing/invoices list what there is."""

from decimal import Decimal

import pytest

from billing.models import LedgerEntry, Subscription
from billing.selectors import balance_of
from tests.billing.conftest import complete_checkout, stripe_event

pytestmark = pytest.mark.usefixtures("stripe_settings", "plans")


@pytest.fixture
def alice_on_pro(client, alice, stripe_standin, deliver) -> dict:
    """Alice subscribed to Pro, and we heard about it."""
    client.force_login(alice)
    url = client.post(
        "/v1/billing/checkout", data={"plan": "pro"}, content_type="application/json"
    ).json()["url"]
    client.logout()
    session = complete_checkout(stripe_standin.url, url.rsplit("/", 1)[1])
    deliver(stripe_event("checkout.session.completed", session))
    return session


def sync(client, user):
    client.force_login(user)
    return client.post("/v1/billing/sync", data={}, content_type="application/json")


def test_sync_repairs_a_missed_subscription_update(client, alice, alice_on_pro, stripe_api):
    stripe_api.v1.subscriptions.update(
        alice_on_pro["subscription"], params={"cancel_at_period_end": True}
    )  # Stripe's customer.subscription.updated never reached us

    response = sync(client, alice)

    assert response.status_code == 200
    body = response.json()
    assert body["plan"] == "pro"
    assert body["subscription"]["cancel_at_period_end"] is True
    assert Subscription.objects.get(user=alice).cancel_at_period_end is True


def test_sync_repairs_a_missed_cancellation(client, alice, alice_on_pro, stripe_api):
    stripe_api.v1.subscriptions.cancel(alice_on_pro["subscription"])

    body = sync(client, alice).json()

    assert body["plan"] == "free" and body["subscription"] is None
    assert Subscription.objects.get(user=alice).status == "canceled"


def test_sync_grants_a_missed_allowance_once(client, alice, alice_on_pro, stripe_api, deliver):
    sync(client, alice)
    sync(client, alice)
    invoice = stripe_api.v1.invoices.retrieve(
        stripe_api.v1.subscriptions.retrieve(alice_on_pro["subscription"]).latest_invoice
    )
    deliver(stripe_event("invoice.paid", invoice))  # the late webhook

    assert balance_of(user=alice) == Decimal(20)
    assert LedgerEntry.objects.filter(kind="allowance").count() == 1


def test_sync_finds_a_subscription_made_while_we_were_not_listening(
    client, alice, stripe_standin, stripe_api
):
    client.force_login(alice)
    url = client.post(
        "/v1/billing/checkout", data={"plan": "pro"}, content_type="application/json"
    ).json()["url"]
    complete_checkout(stripe_standin.url, url.rsplit("/", 1)[1])  # no webhook at all

    body = sync(client, alice).json()

    assert body["plan"] == "pro" and body["subscriptions_synced"] == 1
    assert body["invoices_synced"] == 1
    assert balance_of(user=alice) == Decimal(20)


def test_sync_for_someone_without_stripe_history_says_free(client, bob):
    body = sync(client, bob).json()

    assert body == {
        "plan": "free",
        "subscription": None,
        "subscriptions_synced": 0,
        "invoices_synced": 0,
    }


def test_the_plans_are_public_with_decimal_string_prices(client):
    response = client.get("/v1/billing/plans", HTTP_AUTHORIZATION="Bearer not-a-key")

    assert response.status_code == 200
    plans = response.json()["data"]
    assert [p["id"] for p in plans] == ["free", "pro"]
    assert plans[1] == {
        "id": "pro",
        "name": "Pro",
        "monthly_price": "20",
        "monthly_allowance": "20",
        "currency": "usd",
        "premium_models": True,
        "purchasable": True,
    }
    assert plans[0]["purchasable"] is False


def test_a_price_id_from_the_environment_wins(client, settings, plans):
    plans["pro"].stripe_price_id = ""
    plans["pro"].save()
    settings.STRIPE_PRICE_IDS = {"pro": "price_from_env"}

    pro = client.get("/v1/billing/plans").json()["data"][1]

    assert pro["purchasable"] is True


def test_inactive_plans_are_not_listed(client, plans):
    plans["pro"].active = False
    plans["pro"].save()

    assert [p["id"] for p in client.get("/v1/billing/plans").json()["data"]] == ["free"]


def test_invoices_list_only_the_callers_own(
    client, alice, bob, alice_on_pro, alice_key, stripe_api, deliver
):
    invoice = stripe_api.v1.invoices.retrieve(
        stripe_api.v1.subscriptions.retrieve(alice_on_pro["subscription"]).latest_invoice
    )
    deliver(stripe_event("invoice.paid", invoice))

    mine = client.get("/v1/billing/invoices", HTTP_AUTHORIZATION=f"Bearer {alice_key}").json()
    client.force_login(bob)
    theirs = client.get("/v1/billing/invoices").json()

    assert theirs == {"object": "list", "data": []}
    [listed] = mine["data"]
    assert listed["id"] == invoice.id and listed["status"] == "paid"
    assert listed["amount_paid"] == "20" and listed["currency"] == "usd"
    assert listed["period_end"] > listed["period_start"]
