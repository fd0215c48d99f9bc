"""No dead ends: a new account chats at once on the Free plan's allowance, and every refusal
says what this site lets the person do: buy credit when payments are set up, otherwise who
to ask."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import User
from billing.allowances import free_allowance_forget
from billing.entitlements import entitlements_changed
from billing.models import LedgerEntry, Plan, UsageRecord
from billing.selectors import balance_of
from tests.webapp.browser import ANSWER, answer_text, ask, last_answer, ready, wait_for_answer
from tests.webapp.test_plans_in_browser import PREMIUM

NEW_PASSWORD = "a long unusual passphrase 42"


@pytest.fixture
def free_plan(transactional_db):
    """Free as the data migrations leave it on a new deployment (flushed tables need it made
    again)."""
    free_allowance_forget()
    plan, _ = Plan.objects.update_or_create(
        slug="free", defaults={"name": "Free", "monthly_allowance": Decimal("0.50")}
    )
    entitlements_changed()
    yield plan
    free_allowance_forget()


def test_a_fresh_sign_up_chats_at_once_on_the_defaults(browsing, catalogue, free_plan, upstream):
    upstream.answers["Hello, is anyone there?"] = "Yes, I am here."
    page = browsing.page()
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password (again)").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    ready(page)
    expect(page.locator("[data-balance]")).to_contain_text("$0.50")

    ask(page, "Hello, is anyone there?")

    answer = wait_for_answer(page)
    assert answer_text(answer) == "Yes, I am here."
    expect(answer.get_by_role("alert")).to_be_hidden()
    nia = User.objects.get(email="nia@example.com")
    [allowance] = LedgerEntry.objects.filter(account__user=nia, kind="allowance")
    assert allowance.amount == Decimal("0.50")
    record = UsageRecord.objects.get(user=nia)
    assert balance_of(user=nia) == Decimal("0.50") - record.cost


def test_out_of_credit_without_payments_says_who_to_ask(
    browsing, alice, catalogue, no_free_allowance, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.SUPPORT_CONTACT = "help@chuk.example"
    page = browsing.page(user=alice)
    page.goto("/")
    ask(page, "Hello?")

    error = last_answer(page).get_by_role("alert")
    expect(error).to_have_text(
        "Your credit has run out for this request. "
        "Ask the operator of this site for credit: help@chuk.example."
    )
    expect(error.get_by_role("link", name="help@chuk.example")).to_have_attribute(
        "href", "mailto:help@chuk.example"
    )
    expect(error.get_by_role("link", name="Buy credits")).to_have_count(0)


def test_out_of_credit_without_a_contact_still_says_to_ask_the_operator(
    browsing, alice, catalogue, no_free_allowance, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.SUPPORT_CONTACT = ""
    page = browsing.page(user=alice)
    page.goto("/")
    ask(page, "Hello?")
    expect(last_answer(page).get_by_role("alert")).to_have_text(
        "Your credit has run out for this request. Ask the operator of this site for credit."
    )


def test_a_locked_model_without_payments_says_who_to_ask_and_goes_nowhere(
    browsing, erin, catalogue, settings
):
    from aiapi.catalogue import catalogue_load
    from aiapi.selectors import catalogue_changed

    settings.STRIPE_SECRET_KEY = ""
    Plan.objects.update_or_create(slug="free", defaults={"name": "Free"})
    catalogue_load(text=PREMIUM)
    catalogue_changed()
    entitlements_changed()
    page = browsing.page(user=erin)
    page.goto("/")
    page.get_by_role("button", name="Model:").click()
    opus = page.get_by_role("option", name=re.compile("Opus Max"))
    expect(opus).to_have_attribute("aria-disabled", "true")
    expect(opus).to_contain_text("Not on your plan. Ask the operator of this site for access.")
    expect(opus.get_by_role("link")).to_have_count(0)
    page.keyboard.press("End")
    page.keyboard.press("Enter")  # a locked model is not chosen, and leads nowhere
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("[data-model-name]")).to_have_text("Swift")
    expect(page.locator(ANSWER)).to_have_count(0)
