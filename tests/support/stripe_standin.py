"""The Stripe stand-in (localstripe behind our front, fakes/stripe_standin.py) for the
tests that need Stripe (registered for every test in tests/conftest.py, so one session runs one
stand-in, whichever suites use it), and the Pro price sold through it."""

import pytest
import stripe

from fakes.stripe_standin import StripeStandin

WEBHOOK_SECRET = "whsec_test_" + "b" * 32
STRIPE_KEY = "sk_test_chukchat"


@pytest.fixture(scope="session")
def stripe_standin():
    with StripeStandin() as standin:
        yield standin


@pytest.fixture(scope="session")
def pro_price_id(stripe_standin) -> str:
    client = stripe.StripeClient(
        STRIPE_KEY, base_addresses={"api": stripe_standin.url}, max_network_retries=0
    )
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Chuk Chat Pro"},
        }
    )
    return price.id
