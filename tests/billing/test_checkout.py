"""POST /v1/billing/checkout and /v1/billing/portal: a Checkout Session for a plan or for credit,
a Customer Portal session, the Stripe customer made once per user; every bad request refused
with a clear error and nothing created. Both take the web app's session only: an API key (which
may have leaked into a script) cannot buy, cancel the plan or change the card."""

import secrets
import threading
from decimal import Decimal

import httpx
import pytest

from billing.models import StripeCustomer, Subscription
from tests.billing.conftest import complete_checkout


@pytest.fixture
def api(client, alice):
    """Alice, signed in to the web app."""
    client.force_login(alice)

    def post(path: str, body=None, **extra):
        return client.post(
            path, data=body if body is not None else {}, content_type="application/json", **extra
        )

    return post


@pytest.fixture
def script(client, alice_key):
    """A script holding Alice's API key (and no session)."""

    def post(path: str, body=None):
        return client.post(
            path,
            data=body if body is not None else {},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {alice_key}",
        )

    return post


def test_checkout_for_pro_returns_the_stand_ins_checkout_url(
    api, alice, plans, stripe_api, stripe_standin
):
    response = api("/v1/billing/checkout", {"plan": "pro"})

    assert response.status_code == 201
    url = response.json()["url"]
    assert url.startswith(f"{stripe_standin.url}/c/pay/cs_test_")
    session_id = url.rsplit("/", 1)[1]
    session = stripe_api.v1.checkout.sessions.retrieve(session_id)
    assert session.mode == "subscription"
    assert session.customer == alice.stripe_customer.stripe_id
    assert session.metadata["plan"] == "pro" and session.metadata["chuk_user_id"] == str(alice.pk)
    assert session.success_url == f"https://chuk.example/billing?session_id={session_id}"
    assert session.amount_total == 2000


def test_a_top_up_checkout_sells_the_chosen_amount(api, alice, stripe_api, stripe_settings):
    response = api("/v1/billing/checkout", {"topup_usd": "20.50"})

    assert response.status_code == 201
    session = stripe_api.v1.checkout.sessions.retrieve(response.json()["url"].rsplit("/", 1)[1])
    assert session.mode == "payment"
    assert session.amount_total == 2050 and session.currency == "usd"
    assert session.metadata["topup_usd"] == "20.50"


def test_the_stripe_customer_is_created_once_per_user(api, alice, stripe_api, stripe_settings):
    api("/v1/billing/checkout", {"topup_usd": "10"})
    api("/v1/billing/checkout", {"topup_usd": "15"})
    api("/v1/billing/portal")

    customer = StripeCustomer.objects.get(user=alice)
    assert stripe_api.v1.customers.retrieve(customer.stripe_id).email == alice.email
    assert StripeCustomer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_checkouts_create_one_stripe_customer(
    gateway_url, client, alice, stripe_api, stripe_settings
):
    def customers_of_alice() -> set[str]:
        everyone = stripe_api.v1.customers.list(params={"limit": 100}).data
        return {
            c.id for c in everyone if c.to_dict()["metadata"].get("chuk_user_id") == str(alice.pk)
        }

    before = customers_of_alice()  # user ids repeat between tests; Stripe's store does not reset
    client.force_login(alice)  # her browser: the session cookie and a CSRF token
    csrf = secrets.token_hex(16)  # a CSRF secret of 32 characters, the cookie's own form
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}
    barrier = threading.Barrier(6)
    statuses = []

    def checkout():
        barrier.wait()
        response = httpx.post(
            f"{gateway_url}/v1/billing/checkout",
            json={"topup_usd": "10"},
            headers={"X-CSRFToken": csrf},
            cookies=cookies,
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=checkout) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * 6
    customer = StripeCustomer.objects.get(user=alice)
    assert customers_of_alice() - before == {customer.stripe_id}


def test_the_portal_returns_the_stand_ins_portal_url(api, alice, stripe_api, stripe_standin):
    response = api("/v1/billing/portal")

    assert response.status_code == 201
    assert response.json()["url"].startswith(f"{stripe_standin.url}/p/session/bps_")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, None),
        ({"plan": "pro", "topup_usd": "20"}, None),
        ({"topup_usd": "4.99"}, "topup_usd"),
        ({"topup_usd": "500.01"}, "topup_usd"),
        ({"topup_usd": "10.001"}, "topup_usd"),
        ({"topup_usd": "-20"}, "topup_usd"),
        ({"topup_usd": "twenty"}, "topup_usd"),
        ({"topup_usd": True}, "topup_usd"),
        ({"plan": "p r o"}, "plan"),
        ({"plan": ["pro"]}, "plan"),
    ],
)
def test_a_bad_checkout_request_is_refused_and_creates_nothing(
    api, body, param, plans, stripe_settings
):
    response = api("/v1/billing/checkout", body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error.get("param") == param
    assert not StripeCustomer.objects.exists()


def test_a_body_that_is_not_json_is_refused(api, stripe_settings):
    response = api("/v1/billing/checkout", "{not json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert not StripeCustomer.objects.exists()


def test_an_unknown_plan_is_404(api, plans, stripe_settings):
    response = api("/v1/billing/checkout", {"plan": "platinum"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "plan_not_found"
    assert not StripeCustomer.objects.exists()


def test_the_free_plan_cannot_be_bought(api, plans, stripe_settings):
    response = api("/v1/billing/checkout", {"plan": "free"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "plan_not_purchasable"
    assert not StripeCustomer.objects.exists()


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_a_subscriber_is_sent_to_the_portal_instead_of_a_second_subscription(
    api, alice, plans, stripe_api, stripe_standin, status
):
    url = api("/v1/billing/checkout", {"plan": "pro"}).json()["url"]
    session = complete_checkout(stripe_standin.url, url.rsplit("/", 1)[1])
    Subscription.objects.create(
        user=alice, stripe_id=session["subscription"], plan=plans["pro"], status=status
    )

    response = api("/v1/billing/checkout", {"plan": "pro"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_subscribed"


def test_a_top_up_amount_is_bounded_by_settings(api, stripe_settings):
    stripe_settings.TOPUP_MAX_USD = Decimal("50")

    response = api("/v1/billing/checkout", {"topup_usd": "60"})

    assert response.status_code == 400
    assert "between 5 and 50 USD" in response.json()["error"]["message"]


def test_without_stripe_keys_billing_answers_503_and_calls_nobody(api, settings):
    settings.STRIPE_SECRET_KEY = ""

    for path, body in [("/v1/billing/checkout", {"topup_usd": "10"}), ("/v1/billing/portal", {})]:
        response = api(path, body)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "billing_not_configured"
    assert not StripeCustomer.objects.exists()


def test_when_stripe_cannot_be_reached_the_caller_gets_502_and_nothing_is_kept(
    api, stripe_settings
):
    stripe_settings.STRIPE_API_BASE = "http://127.0.0.1:1"

    response = api("/v1/billing/checkout", {"topup_usd": "10"})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert "127.0.0.1" not in response.content.decode()
    assert not StripeCustomer.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/billing/checkout", {"plan": "pro"}),
        ("/v1/billing/checkout", {"topup_usd": "20"}),
        ("/v1/billing/portal", {}),
    ],
)
def test_an_api_key_cannot_open_checkout_or_the_portal_and_nothing_reaches_stripe(
    script, path, body, plans, stripe_standin, stripe_settings
):
    stripe_calls = len(stripe_standin.app.requests)

    response = script(path, body)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "session_required"
    assert not StripeCustomer.objects.exists()
    assert len(stripe_standin.app.requests) == stripe_calls  # no Checkout or Portal session


def test_a_key_is_refused_even_when_alice_already_has_a_stripe_customer(
    api, script, alice, stripe_standin, stripe_settings
):
    api("/v1/billing/checkout", {"topup_usd": "10"})  # from the web app: her customer exists
    portal_sessions = len(stripe_standin.app.portal_sessions)

    response = script("/v1/billing/portal")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "session_required"
    assert len(stripe_standin.app.portal_sessions) == portal_sessions


def test_a_key_can_still_read_invoices_and_sync(script, client, alice_key, stripe_settings):
    invoices = client.get("/v1/billing/invoices", HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    synced = script("/v1/billing/sync")

    assert invoices.status_code == 200
    assert synced.status_code == 200


def test_billing_endpoints_need_a_caller(client, stripe_settings):
    for path in ["/v1/billing/checkout", "/v1/billing/portal", "/v1/billing/sync"]:
        response = client.post(path, data={}, content_type="application/json")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/billing/invoices").status_code == 401


def test_the_web_app_session_works_with_its_csrf_token(alice, stripe_settings, stripe_standin):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.get("/accounts/login/")  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    browser.force_login(alice)

    refused = browser.post("/v1/billing/portal", data={}, content_type="application/json")
    accepted = browser.post(
        "/v1/billing/portal", data={}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert refused.status_code == 403
    assert accepted.status_code == 201
    assert accepted.json()["url"].startswith(stripe_standin.url)
