"""Layout at the sizes people use: at 1280 px the keys table keeps "Revoke" in view; on a phone
(390 x 844) the landing page's prices and every column of the usage table are on screen."""

from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from accounts.api_keys import api_key_create
from billing.models import UsageRecord
from tests.webapp.browser import visit
from tests.webapp.conftest import DESKTOP, PHONE


def within(page, locator) -> None:
    """The element is drawn entirely inside the viewport's width (after scrolling to it)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None, "not drawn"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    assert box["width"] > 0 and box["height"] > 0


def test_at_1280_every_keys_revoke_button_is_in_view(browsing, erin, catalogue):
    for name in ("a key with quite a long name for the nightly batch of reports", "laptop"):
        _, _ = api_key_create(user=erin, name=name)
    page = browsing.page(user=erin, viewport=DESKTOP)
    visit(page, "/keys")
    revokes = page.get_by_role("button", name="Revoke")
    expect(revokes).to_have_count(2)
    for index in range(2):
        within(page, revokes.nth(index))
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]


def test_on_a_phone_the_landing_pages_prices_are_not_cut_off(browsing, catalogue):
    page = browsing.page(viewport=PHONE)
    page.goto("/")
    rows = page.locator(".model-table tbody tr")
    expect(rows.first).to_be_visible()
    for index in range(rows.count()):
        for price in rows.nth(index).locator("td.num").all():
            expect(price).to_be_visible()
            within(page, price)
    deep = page.locator(".model-table tbody tr", has_text="Deep Thinker")
    expect(deep.locator('td[data-label="Output per 1M tokens"]')).to_have_text("$15")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_on_a_phone_the_usage_table_shows_every_column(browsing, erin, catalogue):
    key, _ = api_key_create(user=erin, name="phone script")
    UsageRecord.objects.create(
        request_id="phone-1",
        user=erin,
        api_key=key,
        endpoint="chat.completions",
        model="swift",
        provider="fake",
        prompt_tokens=1200,
        completion_tokens=340,
        total_tokens=1540,
        cost=Decimal("0.00000014"),
        created_at=timezone.now(),
    )
    page = browsing.page(user=erin, viewport=PHONE)
    visit(page, "/usage")
    row = page.locator(".records-table tbody tr").first
    expect(row).to_be_visible()
    cells = row.locator("td")
    expect(cells).to_have_count(8)
    for label in ("Time", "Model", "Endpoint", "Key", "Input", "Output", "Cost", "Status"):
        cell = row.locator(f'td[data-label="{label}"]')
        expect(cell).to_be_visible()
        within(page, cell)
    expect(row.locator('td[data-label="Key"]')).to_have_text("phone script")
    expect(row.locator('td[data-label="Cost"]')).to_have_text("$0.00000014")
    expect(row.locator('td[data-label="Endpoint"]')).to_have_text("chat.completions")
