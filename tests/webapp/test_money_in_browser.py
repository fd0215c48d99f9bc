"""Money as money on the pages: the API's decimal strings printed as dollars and cents, fractions
of a cent with enough digits to tell them apart, and never an exponent ("$1.4e-7")."""

import re
from decimal import Decimal

import httpx
from django.utils import timezone
from playwright.sync_api import expect

from accounts.api_keys import api_key_create
from aiapi.catalogue import catalogue_load
from aiapi.selectors import catalogue_changed
from billing.models import UsageRecord
from tests.webapp.browser import visit

EXPONENT = re.compile(r"\d[eE][+-]?\d")

DEAR = """
[[models]]
id = "dear"
display_name = "Dear Model"
provider = "fake"
upstream = "fake:tokens=3"
input_price = 2000
output_price = 0.0001
sort_order = 6
"""


def tiny_usage(user) -> None:
    for index, cost in enumerate(["0.00000014", "0.00000007", "0.0123456"]):
        UsageRecord.objects.create(
            request_id=f"tiny-{index}",
            user=user,
            endpoint="ai.chat",
            model="swift",
            provider="fake",
            prompt_tokens=1,
            completion_tokens=index,
            total_tokens=1 + index,
            cost=Decimal(cost),
            created_at=timezone.now(),
        )


def test_the_usage_page_prints_sub_cent_costs_as_plain_digits(browsing, erin, catalogue):
    tiny_usage(erin)
    page = browsing.page(user=erin)
    visit(page, "/usage")
    table = page.locator("table").first
    expect(table).to_contain_text("$0.00000014")
    expect(table).to_contain_text("$0.00000007")
    expect(table).to_contain_text("$0.0123")
    text = page.locator("main").inner_text()
    assert not EXPONENT.search(text), text


def test_prices_in_the_model_picker_are_plain_decimals(browsing, erin, catalogue):
    catalogue_load(text=DEAR)
    catalogue_changed()
    page = browsing.page(user=erin)
    visit(page, "/")
    page.get_by_role("button", name="Model:").click()
    dear = page.get_by_role("option", name=re.compile("Dear Model"))
    expect(dear).to_contain_text("$2,000 in · $0.0001 out per 1M tokens")
    assert not EXPONENT.search(page.locator("#model-list").inner_text())


def test_the_models_api_prints_prices_as_plain_decimals(site, erin):
    catalogue_load(text=DEAR)
    catalogue_changed()
    _, key = api_key_create(user=erin, name="price check")
    models = httpx.get(f"{site}/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
    [dear] = [m for m in models["data"] if m["id"] == "dear"]
    assert dear["pricing"]["input_per_million_tokens"] == "2000"
    assert dear["pricing"]["output_per_million_tokens"] == "0.0001"
