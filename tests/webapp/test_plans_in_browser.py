"""What the plan allows, in the chat: premium models are listed but locked on Free, with a way
to the plan page, and usable on Pro; past a rate limit an answer says when to send again."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from aiapi.catalogue import catalogue_load
from aiapi.selectors import catalogue_changed
from billing.entitlements import entitlements_changed
from billing.models import Plan, Subscription
from tests.webapp.browser import ask, choose_model, last_answer, ready, wait_for_answer

PREMIUM = """
[[models]]
id = "opus"
display_name = "Opus Max"
provider = "fake"
upstream = "fake:tokens=5"
input_price = 15.0
output_price = 75.0
pro_only = true
sort_order = 5
"""


@pytest.fixture
def premium_model(catalogue):
    catalogue_load(text=PREMIUM)
    catalogue_changed()


@pytest.fixture
def plans(transactional_db):
    free, _ = Plan.objects.update_or_create(slug="free", defaults={"name": "Free"})
    pro, _ = Plan.objects.update_or_create(
        slug="pro",
        defaults={"name": "Pro", "monthly_price": Decimal(20), "includes_premium_models": True},
    )
    entitlements_changed()
    return {"free": free, "pro": pro}


def test_on_free_a_premium_model_is_locked_with_a_way_to_upgrade(
    browsing, erin, premium_model, plans, settings
):
    settings.STRIPE_SECRET_KEY = "sk_test_payments_are_set_up"
    page = browsing.page(user=erin)
    page.goto("/")
    page.get_by_role("button", name="Model:").click()
    opus = page.get_by_role("option", name=re.compile("Opus Max"))
    expect(opus).to_have_attribute("aria-disabled", "true")
    expect(opus).to_contain_text("Not on your plan. Upgrade to use it.")
    expect(opus.get_by_role("link", name="Upgrade")).to_have_attribute("href", "/billing")
    # By keyboard: End reaches it; Enter on a locked model goes to the plan page.
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/billing$"))
    ready(page)
    expect(page.locator('[data-account="planName"]')).to_have_text("Free")


def test_a_locked_model_is_never_picked_from_memory(browsing, erin, premium_model, plans):
    page = browsing.page(user=erin, init_script="localStorage.setItem('chuk-model', 'opus')")
    page.goto("/")
    expect(page.get_by_role("button", name="Model:")).to_contain_text("Swift")


def test_on_pro_the_premium_model_is_there_to_use(browsing, erin, premium_model, plans, upstream):
    Subscription.objects.create(user=erin, stripe_id="sub_erin", plan=plans["pro"], status="active")
    entitlements_changed()
    page = browsing.page(user=erin)
    page.goto("/")
    expect(page.locator("[data-balance] [data-plan-name]")).to_have_text("Pro")
    choose_model(page, "Opus Max")
    ask(page, "Hello, big model")
    answer = wait_for_answer(page)
    expect(answer.locator(".msg-meta")).to_contain_text("Opus Max")
    assert upstream.requests()[-1]["body"]["model"] == "fake:tokens=5"


def test_past_the_rate_limit_an_answer_says_when_to_send_again(
    browsing, erin, plans, settings, upstream
):
    settings.RATE_LIMITS_ENABLED = True
    plans["free"].chat_requests_per_minute = 1
    plans["free"].save()
    entitlements_changed()
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "First question")
    wait_for_answer(page)
    ask(page, "Second question, too soon")

    error = last_answer(page).get_by_role("alert")
    expect(error).to_contain_text("You are sending faster than your plan allows.")
    expect(error.locator(".retry-after")).to_have_text(
        re.compile(r"^You can send again in \d+ s\.$")
    )
    first = int(re.search(r"\d+", error.locator(".retry-after").inner_text())[0])
    assert 1 <= first <= 60
    page.wait_for_timeout(1100)
    later = int(re.search(r"\d+", error.locator(".retry-after").inner_text())[0])
    assert later < first  # counted down
    assert len(upstream.requests()) == 1
