"""The usage dashboard in the browser: after a chat it shows this month's spend and tokens, a
chart of daily spend (and tokens) by model, the requests page by page, filters by date, model
and key that the address keeps, and the same records as CSV."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.api_keys import api_key_create
from billing.models import UsageRecord
from tests.webapp.browser import ask, ready, visit, wait_for_answer


@pytest.fixture
def erins_script(erin, site):
    """Erin's API key, and a script of hers that asked Plain Text something with it."""
    key, plaintext = api_key_create(user=erin, name="nightly script")
    answer = httpx.post(
        f"{site}/v1/chat/completions",
        headers={"Authorization": f"Bearer {plaintext}"},
        json={"model": "plain", "messages": [{"role": "user", "content": "ping"}]},
        timeout=30,
    )
    assert answer.status_code == 200
    return key


def earlier_usage(user, count: int) -> None:
    """Requests Erin made on earlier days of the last month (one a day, going back)."""
    for day in range(1, count + 1):
        UsageRecord.objects.create(
            request_id=f"earlier-{day}",
            user=user,
            endpoint="ai.chat",
            model="deep",
            provider="fake-anthropic",
            prompt_tokens=100,
            completion_tokens=400,
            total_tokens=500,
            cost=Decimal("0.0063"),
            created_at=timezone.now() - timedelta(days=day % 28 + 1, minutes=day),
        )


def test_after_a_chat_the_dashboard_shows_the_spend_the_chart_and_the_request(
    browsing, erin, erins_script
):
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "What did this cost?")
    answer = wait_for_answer(page)
    cost_shown = answer.locator(".msg-cost").inner_text()

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Usage").click()
    expect(page).to_have_url(re.compile(r"/usage$"))
    ready(page)

    records = UsageRecord.objects.filter(user=erin)
    spend = sum(records.values_list("cost", flat=True), Decimal(0))
    stats = page.locator("#this-month")
    expect(stats.locator('[data-stat="requests"]')).to_have_text("2")
    expect(stats.locator('[data-stat="spend"]')).to_have_text(
        re.compile(rf"^\$0\.0000{str(spend)[6:8]}")
    )
    output_tokens = sum(records.values_list("completion_tokens", flat=True))
    expect(stats.locator('[data-stat="outputTokens"]')).to_have_text(str(output_tokens))

    # The chart: today's bar has a segment per model, named in the legend.
    chart = page.locator("#usage-chart svg[role=img]")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("aria-label", re.compile(r"^Daily spend by model from "))
    today = timezone.now().date().isoformat()
    expect(chart.locator(f'rect.bar[data-day="{today}"]')).to_have_count(2)
    expect(page.locator("#usage-legend li")).to_have_count(2)
    expect(page.locator("#usage-legend")).to_contain_text("Swift")
    expect(page.locator("#usage-legend")).to_contain_text("Plain Text")
    page.get_by_role("button", name="Tokens").click()
    expect(page.get_by_role("heading", name="Daily tokens by model")).to_be_visible()
    swift_tokens = sum(r.prompt_tokens + r.completion_tokens for r in records.filter(model="swift"))
    expect(page.locator("#usage-legend li", has_text="Swift")).to_contain_text(str(swift_tokens))

    table = page.locator("#records tr")
    expect(table).to_have_count(2)
    swift_row = table.filter(has_text="Swift")
    expect(swift_row).to_contain_text("ai.chat")
    expect(swift_row).to_contain_text("Web app")
    expect(swift_row).to_contain_text(cost_shown)
    expect(table.filter(has_text="Plain Text")).to_contain_text("nightly script")


def test_filters_narrow_the_chart_and_the_table_and_the_csv_follows_them(
    browsing, erin, erins_script
):
    earlier_usage(erin, 30)
    page = browsing.page(user=erin)
    visit(page, "/usage")
    rows = page.locator("#records tr")
    expect(rows).to_have_count(25)  # a page
    expect(page.locator("#records-range")).to_have_text("1\u201325")
    expect(page.get_by_role("button", name="Newer")).to_be_disabled()
    page.get_by_role("button", name="Older").click()
    expect(rows).to_have_count(6)  # 31 in the last 30 days
    expect(page.locator("#records-range")).to_have_text("26\u201331")
    expect(page.get_by_role("button", name="Older")).to_be_disabled()
    expect(page.locator("#usage-chart rect.bar")).to_have_count(29)  # 28 earlier days + today

    page.get_by_label("Model", exact=True).select_option(label="Deep Thinker")
    expect(page).to_have_url(re.compile(r"model=deep"))
    expect(rows).to_have_count(25)
    expect(page.locator("#usage-legend li")).to_have_text([re.compile("^Deep Thinker")])

    page.get_by_label("Model", exact=True).select_option(label="All models")
    page.get_by_label("Key", exact=True).select_option(str(erins_script.pk))
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Plain Text")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    lines = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(line["model"], line["keyId"]) for line in lines] == [("plain", str(erins_script.pk))]

    # A reload, or the link, shows the same view.
    page.reload()
    ready(page)
    expect(page.get_by_label("Key", exact=True)).to_have_value(str(erins_script.pk))
    expect(rows).to_have_count(1)

    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    page.get_by_role("button", name="Last 30 days").click()
    page.get_by_label("From", exact=True).fill(yesterday)
    page.get_by_label("To", exact=True).fill(yesterday)
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(UsageRecord.objects.filter(created_at__date=yesterday).count())
    expect(page.locator("#usage-chart rect.bar")).to_have_count(1)

    page.get_by_label("From", exact=True).fill(timezone.now().date().isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#records-note")).to_contain_text("end")  # the API's own refusal
