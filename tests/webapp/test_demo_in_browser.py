"""The demo does not pass for a real model: while a model's provider has no key, the built-in
demo answering in its place says so in the picker and under the answer, and costs nothing."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from aiapi.catalogue import catalogue_load
from aiapi.selectors import catalogue_changed
from billing.models import UsageRecord
from billing.selectors import balance_of
from tests.webapp.browser import ask, choose_model, visit, wait_for_answer

KEYLESS = """
[[providers]]
name = "keyless"
kind = "anthropic"
api_key_env = "CHUK_TEST_KEY_NOBODY_SET"

[[models]]
id = "mirage"
display_name = "Mirage Pro"
provider = "keyless"
upstream = "mirage-1"
input_price = 3.0
output_price = 15.0
fallbacks = ["demo-chat"]
sort_order = 7

[[models]]
id = "demo-chat"
display_name = "Demo (offline)"
provider = "demo"
upstream = "demo"
input_price = 0.10
output_price = 0.40
sort_order = 90
"""


@pytest.fixture
def keyless_model(catalogue, monkeypatch):
    monkeypatch.delenv("CHUK_TEST_KEY_NOBODY_SET", raising=False)
    catalogue_load(text=KEYLESS)
    catalogue_changed()


def test_a_model_the_demo_answers_says_so_in_the_picker(browsing, erin, keyless_model):
    page = browsing.page(user=erin)
    visit(page, "/")
    page.get_by_role("button", name="Model:").click()
    mirage = page.get_by_role("option", name=re.compile("Mirage Pro"))
    expect(mirage.locator(".badge-demo")).to_have_text("demo")
    expect(mirage.locator(".option-price")).to_have_text(
        "Demo answers: no provider key is set up on this site, so canned text, free"
    )
    swift = page.get_by_role("option", name=re.compile("Swift"))
    expect(swift.locator(".badge-demo")).to_have_count(0)
    expect(swift.locator(".option-price")).to_have_text("$1 in · $2 out per 1M tokens")


def test_a_demo_answer_says_so_underneath_and_costs_nothing(browsing, erin, keyless_model):
    page = browsing.page(user=erin)
    visit(page, "/")
    choose_model(page, "Mirage Pro")
    ask(page, "Are you the real thing?")

    answer = wait_for_answer(page)
    expect(answer.locator(".tag-demo")).to_have_text("Demo answer")
    expect(answer.locator(".msg-cost")).to_have_text("$0")
    record = UsageRecord.objects.get(user=erin)
    assert (record.model, record.provider, record.cost) == ("mirage", "demo", Decimal(0))
    assert record.completion_tokens > 0
    assert balance_of(user=erin) == Decimal(10)

    page.reload()  # the stored answer keeps its label
    expect(page.locator("article.msg-assistant .tag-demo")).to_have_text("Demo answer")
