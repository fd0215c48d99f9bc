"""Plan and billing in the browser, with Stripe replaced by the stand-in (localstripe behind
our front for Checkout and the Customer Portal): buying credits and changing plan send the
browser to the Checkout URL the API answers, "Manage billing" to the portal's; coming back
from a paid checkout brings the plan and invoices up to date; a cancelled one says so; and a
server without Stripe says that plainly."""

import re
from decimal import Decimal

import pytest
import stripe
from playwright.sync_api import expect

from billing.selectors import balance_of
from tests.billing.conftest import complete_checkout, plans  # noqa: F401 (a fixture)
from tests.support.stripe_standin import STRIPE_KEY, WEBHOOK_SECRET
from tests.webapp.browser import ready, visit


@pytest.fixture
def stripe_on(settings, stripe_standin, plans, site):  # noqa: F811 (the fixture imported above)
    """Billing configured against the stand-in, returning to the site under test."""
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_standin.url
    settings.STRIPE_PRICE_IDS = {}
    settings.SITE_URL = site
    settings.STRIPE_CHECKOUT_SUCCESS_URL = (
        f"{site}/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    )
    settings.STRIPE_CHECKOUT_CANCEL_URL = f"{site}/billing?checkout=cancelled"
    settings.STRIPE_PORTAL_RETURN_URL = f"{site}/billing"
    return stripe.StripeClient(
        STRIPE_KEY, base_addresses={"api": stripe_standin.url}, max_network_retries=0
    )


def checkout_url(standin) -> re.Pattern:
    return re.compile(rf"^{re.escape(standin.url)}/c/pay/(cs_test_\w+)$")


def test_buying_credits_goes_to_stripe_checkout_for_that_amount(
    browsing,
    erin,
    stripe_on,
    stripe_standin,
):
    page = browsing.page(user=erin)
    page.goto("/")
    page.locator(".sidebar [data-balance]").click()
    expect(page).to_have_url(re.compile(r"/billing$"))
    ready(page)
    expect(page.get_by_role("heading", name="Plan and billing")).to_be_visible()
    expect(page.locator("#billing-off")).to_have_count(0)

    page.get_by_role("button", name="$50").click()
    expect(page.get_by_label("Amount in USD")).to_have_value("50")
    page.get_by_role("button", name="Buy credits").click()

    page.wait_for_url(checkout_url(stripe_standin))
    session_id = checkout_url(stripe_standin).match(page.url)[1]
    session = stripe_on.v1.checkout.sessions.retrieve(session_id)
    assert (session.mode, session.amount_total, session.currency) == ("payment", 5000, "usd")


def test_an_amount_outside_the_bounds_is_refused_by_the_api_and_said(
    browsing,
    erin,
    stripe_on,
    stripe_standin,
):
    page = browsing.page(user=erin)
    visit(page, "/billing")
    page.get_by_label("Amount in USD").fill("1")
    page.get_by_role("button", name="Buy credits").click()
    expect(page.locator("#topup-status")).to_contain_text("must be between 5 and 500 USD")
    expect(page).to_have_url(re.compile(r"/billing$"))


def test_changing_plan_goes_to_checkout_and_coming_back_paid_shows_the_new_plan(
    browsing,
    erin,
    stripe_on,
    stripe_standin,
):
    page = browsing.page(user=erin)
    visit(page, "/billing")
    expect(page.locator('.plan-card[data-plan="free"]')).to_contain_text("Your plan")
    page.get_by_role("button", name="Switch to Pro").click()

    page.wait_for_url(checkout_url(stripe_standin))
    session_id = checkout_url(stripe_standin).match(page.url)[1]
    assert stripe_on.v1.checkout.sessions.retrieve(session_id).mode == "subscription"

    # Erin pays on Stripe's page, which sends her back to where the API said.
    paid = complete_checkout(stripe_standin.url, session_id)
    visit(page, paid["success_url"])

    notice = page.locator("#billing-return")
    expect(notice).to_contain_text("Thank you! Your payment went through.")
    expect(page).to_have_url(re.compile(r"/billing$"))  # a reload does not say it again
    expect(page.locator('[data-account="planName"]')).to_have_text("Pro")
    expect(page.locator('.plan-card[data-plan="pro"]')).to_contain_text("Your plan")
    expect(page.get_by_role("button", name="Switch to Pro")).to_have_count(0)
    expect(page.locator("[data-balance] [data-plan-name]")).to_have_text("Pro")
    invoice = page.locator("#invoices tr")
    expect(invoice).to_have_count(1)
    expect(invoice).to_contain_text("$20 USD")
    expect(invoice.locator(".badge")).to_have_text("paid")
    # The plan's monthly allowance came with the paid invoice: $10 + $20.
    expect(page.locator('[data-account="balance"]')).to_have_text("$30.00")
    assert balance_of(user=erin) == Decimal("30")


def test_manage_billing_goes_to_the_customer_portal_and_sync_refreshes(
    browsing,
    erin,
    stripe_on,
    stripe_standin,
):
    page = browsing.page(user=erin)
    visit(page, "/billing")
    page.get_by_role("button", name="Refresh from Stripe").click()
    expect(page.locator("#toast")).to_have_text("Up to date with Stripe: you are on the Free plan.")
    expect(page.locator("#invoices-note")).to_have_text("No invoices yet.")

    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(re.compile(rf"^{re.escape(stripe_standin.url)}/p/session/bps_\w+$"))


def test_coming_back_from_a_cancelled_checkout_says_nothing_was_charged(browsing, erin, stripe_on):
    page = browsing.page(user=erin)
    visit(page, "/billing?checkout=cancelled")
    expect(page.locator("#billing-return")).to_have_text(
        "Checkout was cancelled: nothing was charged."
    )
    expect(page).to_have_url(re.compile(r"/billing$"))


def test_without_stripe_billing_actions_are_disabled_with_the_reason_and_who_to_ask(
    browsing, erin, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.SUPPORT_CONTACT = "help@chuk.example"
    page = browsing.page(user=erin)
    visit(page, "/billing")
    off = page.locator("#billing-off")
    expect(off).to_contain_text("Payments are not set up on this site")
    expect(off).to_contain_text("Ask the operator of this site for credit: help@chuk.example.")
    expect(off.get_by_role("link", name="help@chuk.example")).to_have_attribute(
        "href", "mailto:help@chuk.example"
    )
    for name in ("Buy credits", "Manage billing", "Refresh from Stripe", "$20"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
    expect(page.get_by_label("Amount in USD")).to_be_disabled()
    expect(page.locator("[data-billing-off]").first).to_have_text(
        "Buying credits needs payments, which are not set up on this site."
    )
