"""POST /billing/webhooks/stripe: signed events from Stripe, applied once. The events wrap
objects as the Stripe API (localstripe behind the stand-in) returned them, signed the way Stripe
signs."""

import time
from decimal import Decimal

import orjson
import pytest
from django.db import OperationalError, connection

from billing.models import LedgerEntry, StripeEvent, Subscription
from billing.selectors import balance_of
from tests.billing.conftest import complete_checkout, sign, stripe_event

pytestmark = pytest.mark.usefixtures("stripe_settings", "plans")


def checkout(client, user, body: dict) -> str:
    client.force_login(user)
    response = client.post("/v1/billing/checkout", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    client.logout()
    return response.json()["url"].rsplit("/", 1)[1]


@pytest.fixture
def paid_top_up(client, alice, stripe_standin) -> dict:
    """Alice bought $25 of credit on the hosted checkout page."""
    session_id = checkout(client, alice, {"topup_usd": "25"})
    return complete_checkout(stripe_standin.url, session_id)


@pytest.fixture
def pro_checkout(client, alice, stripe_standin) -> dict:
    """Alice subscribed to Pro on the hosted checkout page."""
    session_id = checkout(client, alice, {"plan": "pro"})
    return complete_checkout(stripe_standin.url, session_id)


def test_a_paid_top_up_credits_the_amount_once(deliver, alice, paid_top_up):
    response = deliver(stripe_event("checkout.session.completed", paid_top_up))

    assert response.status_code == 200
    assert balance_of(user=alice) == Decimal(25)
    entry = LedgerEntry.objects.get(account__user=alice)
    assert entry.kind == "topup" and entry.reference == f"stripe_checkout:{paid_top_up['id']}"


def test_replayed_webhook_changes_nothing(deliver, alice, paid_top_up):
    payload = stripe_event("checkout.session.completed", paid_top_up)
    deliver(payload)

    again = deliver(payload)

    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert balance_of(user=alice) == Decimal(25)
    assert LedgerEntry.objects.count() == 1 and StripeEvent.objects.count() == 1


def test_the_same_session_in_another_event_is_not_credited_twice(deliver, alice, paid_top_up):
    deliver(stripe_event("checkout.session.completed", paid_top_up))
    deliver(stripe_event("checkout.session.async_payment_succeeded", paid_top_up))

    assert balance_of(user=alice) == Decimal(25)
    assert StripeEvent.objects.count() == 2


def test_an_unpaid_session_credits_nothing_until_its_payment_succeeds(deliver, alice, paid_top_up):
    deliver(stripe_event("checkout.session.completed", {**paid_top_up, "payment_status": "unpaid"}))
    assert balance_of(user=alice) == 0

    deliver(stripe_event("checkout.session.async_payment_succeeded", paid_top_up))
    assert balance_of(user=alice) == Decimal(25)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "garbage",
        "t=notanumber,v1=abc",
        "wrong-secret",
        "stale",
        "tampered",
    ],
)
def test_bad_signature_changes_nothing(deliver, alice, paid_top_up, signature):
    payload = stripe_event("checkout.session.completed", paid_top_up)
    if signature == "wrong-secret":
        signature = sign(payload, secret="whsec_someone_else")
    elif signature == "stale":
        signature = sign(payload, timestamp=int(time.time()) - 3600)
    elif signature == "tampered":
        signature = sign(payload)
        payload = payload.replace(b'"topup_usd":"25.00"', b'"topup_usd":"2500.00"')
        assert b"2500.00" in payload

    response = deliver(payload, signature=signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert balance_of(user=alice) == 0
    assert not StripeEvent.objects.exists()


def test_a_signed_body_that_is_not_an_event_is_refused(deliver):
    for payload in [
        b"[1, 2]",
        b"{}",
        b"not json",
        b'{"id": "evt_1", "type": "invoice.paid"}',
        b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": "in_1"}}',
    ]:
        response = deliver(payload)
        assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_without_a_webhook_secret_nothing_is_accepted(deliver, settings, paid_top_up, alice):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = deliver(stripe_event("checkout.session.completed", paid_top_up))

    assert response.status_code == 503
    assert balance_of(user=alice) == 0 and not StripeEvent.objects.exists()


def test_a_subscription_checkout_puts_the_user_on_pro(deliver, alice, pro_checkout):
    deliver(stripe_event("checkout.session.completed", pro_checkout))

    subscription = Subscription.objects.get(user=alice)
    assert subscription.stripe_id == pro_checkout["subscription"]
    assert subscription.plan.slug == "pro" and subscription.status == "active"
    assert subscription.current_period_end is not None
    assert balance_of(user=alice) == 0  # the allowance comes with the paid invoice


def test_invoice_paid_grants_the_allowance_once(deliver, alice, pro_checkout, stripe_api):
    subscription = stripe_api.v1.subscriptions.retrieve(pro_checkout["subscription"])
    invoice = stripe_api.v1.invoices.retrieve(subscription.latest_invoice)
    payload = stripe_event("invoice.paid", invoice)

    deliver(payload)
    deliver(payload)
    deliver(stripe_event("invoice.paid", invoice))  # the same invoice in a new event

    assert balance_of(user=alice) == Decimal(20)
    entry = LedgerEntry.objects.get(account__user=alice)
    assert entry.kind == "allowance" and entry.reference == f"stripe_invoice:{invoice.id}"
    stored = alice.invoices.get()
    assert stored.status == "paid" and stored.amount_paid == Decimal("20.00")
    assert stored.stripe_subscription_id == subscription.id


def test_a_proration_invoice_grants_no_second_allowance(deliver, alice, pro_checkout, stripe_api):
    subscription = stripe_api.v1.subscriptions.retrieve(pro_checkout["subscription"])
    invoice = stripe_api.v1.invoices.retrieve(subscription.latest_invoice).to_dict()

    deliver(stripe_event("invoice.paid", {**invoice, "billing_reason": "subscription_update"}))

    assert balance_of(user=alice) == 0
    assert alice.invoices.count() == 1


def test_subscription_updates_follow_stripe(deliver, alice, pro_checkout, stripe_api):
    deliver(stripe_event("checkout.session.completed", pro_checkout))
    updated = stripe_api.v1.subscriptions.update(
        pro_checkout["subscription"], params={"cancel_at_period_end": True}
    )

    deliver(stripe_event("customer.subscription.updated", updated))
    assert Subscription.objects.get(user=alice).cancel_at_period_end is True

    deleted = stripe_api.v1.subscriptions.cancel(pro_checkout["subscription"])
    deliver(stripe_event("customer.subscription.deleted", deleted))
    assert Subscription.objects.get(user=alice).status == "canceled"


def test_an_older_event_arriving_late_does_not_undo_a_newer_state(
    deliver, alice, pro_checkout, stripe_api
):
    before = stripe_api.v1.subscriptions.retrieve(pro_checkout["subscription"])
    stripe_api.v1.subscriptions.cancel(pro_checkout["subscription"])
    deliver(stripe_event("customer.subscription.deleted", before))  # out of order

    assert Subscription.objects.get(user=alice).status == "canceled"


def test_invoice_payment_failed_marks_past_due_and_emails_the_user(
    deliver, alice, pro_checkout, stripe_api, mailoutbox, django_capture_on_commit_callbacks
):
    deliver(stripe_event("checkout.session.completed", pro_checkout))
    customer = pro_checkout["customer"]
    card = stripe_api.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer}
    )
    stripe_api.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    invoice = stripe_api.v1.invoices.create(
        params={"customer": customer, "subscription": pro_checkout["subscription"]}
    )
    stripe_api.v1.invoices.pay(invoice.id)
    failed = stripe_api.v1.invoices.retrieve(invoice.id)
    assert failed.status == "open"

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(stripe_event("invoice.payment_failed", failed))

    assert response.status_code == 200
    assert Subscription.objects.get(user=alice).status == "past_due"
    assert [m.to for m in mailoutbox] == [[alice.email]]
    assert "payment" in mailoutbox[0].subject.lower()
    assert alice.invoices.get(stripe_id=failed.id).status == "open"
    assert balance_of(user=alice) == 0


def test_a_handler_that_fails_leaves_the_event_for_stripes_retry(deliver, alice, pro_checkout):
    # A subscription Stripe does not know: fetching its state fails mid-handler.
    event = orjson.loads(stripe_event("customer.subscription.updated", {"id": "sub_missing"}))
    payload = orjson.dumps(event)

    response = deliver(payload)

    assert response.status_code >= 500
    assert not StripeEvent.objects.exists()
    assert not Subscription.objects.exists()


def with_metadata(session: dict, **changes) -> dict:
    return {**session, "metadata": {**session["metadata"], **changes}}


def test_a_top_up_whose_amount_is_not_a_number_is_recorded_as_failed_and_credits_nothing(
    deliver, alice, paid_top_up, caplog
):
    payload = stripe_event(
        "checkout.session.completed", with_metadata(paid_top_up, topup_usd="abc")
    )
    event_id = orjson.loads(payload)["id"]

    response = deliver(payload)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unusable_event" and event_id in error["message"]
    assert set(error) >= {"message", "type", "code"}
    recorded = StripeEvent.objects.get()
    assert recorded.event_id == event_id and recorded.status == "failed"
    assert "InvalidOperation" in recorded.error
    assert balance_of(user=alice) == 0
    assert not LedgerEntry.objects.exists()
    warnings = [
        r for r in caplog.records if r.levelname == "WARNING" and event_id in r.getMessage()
    ]
    assert len(warnings) == 1


def test_a_replayed_unusable_event_gets_the_same_answer_and_is_not_applied_again(
    deliver, alice, paid_top_up
):
    payload = stripe_event(
        "checkout.session.completed", with_metadata(paid_top_up, topup_usd="abc")
    )
    first = deliver(payload)

    again = deliver(payload)

    assert again.status_code == 400
    assert again.json() == first.json()
    assert StripeEvent.objects.count() == 1 and StripeEvent.objects.get().status == "failed"
    assert balance_of(user=alice) == 0 and not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("event_type", "unusable"),
    [
        ("checkout.session.completed", lambda session: with_metadata(session, topup_usd=None)),
        ("checkout.session.completed", lambda session: with_metadata(session, topup_usd=[25])),
        (
            "checkout.session.completed",
            lambda session: {
                **session,
                "metadata": {k: v for k, v in session["metadata"].items() if k != "topup_usd"},
            },
        ),
        ("checkout.session.completed", lambda session: {**session, "metadata": ["topup"]}),
        ("customer.subscription.updated", lambda session: {"object": "subscription"}),
    ],
    ids=["amount-null", "amount-a-list", "amount-missing", "metadata-a-list", "no-subscription-id"],
)
def test_an_event_missing_or_mistyping_a_field_is_recorded_as_failed(
    deliver, alice, paid_top_up, event_type, unusable
):
    response = deliver(stripe_event(event_type, unusable(paid_top_up)))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unusable_event"
    assert StripeEvent.objects.get().status == "failed"
    assert balance_of(user=alice) == 0 and not LedgerEntry.objects.exists()


def test_after_an_unusable_event_a_good_one_for_the_same_session_is_credited(
    deliver, alice, paid_top_up
):
    deliver(stripe_event("checkout.session.completed", with_metadata(paid_top_up, topup_usd="abc")))

    response = deliver(stripe_event("checkout.session.completed", paid_top_up))

    assert response.status_code == 200 and response.json()["duplicate"] is False
    assert balance_of(user=alice) == Decimal(25)
    assert sorted(StripeEvent.objects.values_list("status", flat=True)) == ["failed", "processed"]


def test_a_database_failure_in_a_handler_leaves_the_event_for_stripes_retry(
    deliver, alice, paid_top_up
):
    def database_gone_on_the_ledger(execute, sql, params, many, context):
        if "billing_ledgerentry" in sql and sql.lstrip().upper().startswith("INSERT"):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    payload = stripe_event("checkout.session.completed", paid_top_up)
    with connection.execute_wrapper(database_gone_on_the_ledger):
        response = deliver(payload)

    assert response.status_code >= 500
    assert not StripeEvent.objects.exists()
    assert balance_of(user=alice) == 0

    retried = deliver(payload)  # Stripe's retry, once the database is back

    assert retried.status_code == 200
    assert balance_of(user=alice) == Decimal(25)
    assert StripeEvent.objects.get().status == "processed"


def test_an_event_we_do_not_handle_is_recorded_and_acknowledged(deliver):
    response = deliver(stripe_event("customer.created", {"id": "cus_x", "object": "customer"}))

    assert response.status_code == 200
    assert StripeEvent.objects.get().type == "customer.created"


def test_a_subscription_of_nobody_we_know_is_ignored(deliver, stripe_api, pro_price_id):
    stranger = stripe_api.v1.customers.create(params={"email": "stranger@example.com"})
    stripe_api.v1.payment_methods.attach("pm_card_visa", params={"customer": stranger.id})
    cards = stripe_api.v1.payment_methods.list(params={"customer": stranger.id, "type": "card"})
    stripe_api.v1.customers.update(
        stranger.id, params={"invoice_settings": {"default_payment_method": cards.data[0].id}}
    )
    subscription = stripe_api.v1.subscriptions.create(
        params={"customer": stranger.id, "items": [{"plan": pro_price_id}]}
    )

    response = deliver(stripe_event("customer.subscription.created", subscription))

    assert response.status_code == 200
    assert not Subscription.objects.exists()
