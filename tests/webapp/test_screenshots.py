"""Pictures of the chat view, the usage dashboard and the API keys page at desktop and phone
size, light and dark, into test-artifacts/ (the README shows copies of them from
docs/screenshots/). Taken from real conversations and real usage, so the pictures are also a
check that the pages lay out at both sizes."""

import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from accounts.api_keys import api_key_create, api_key_revoke
from aiapi.catalogue import catalogue_load
from aiapi.selectors import catalogue_changed
from billing.models import UsageRecord
from tests.webapp.browser import ask, visit, wait_for_answer
from tests.webapp.conftest import ARTIFACTS, DESKTOP, PHONE
from tests.webapp.test_plans_in_browser import PREMIUM
from tests.webapp.test_sidebar_in_browser import chat

QUESTION = "How do I count the words in a big file in Python?"
ANSWER = """Read it **line by line** inside a `with` block: the file is closed for you, and only one line is in memory at a time.

```python
from pathlib import Path

def count_words(path: str) -> int:
    total = 0
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            total += len(line.split())
    return total
```

A few things to know:

- Each `line` keeps its trailing newline; `split()` ignores it.
- Memory stays flat however large the file is.
- Naming the encoding avoids surprises on other systems.
"""


def test_the_chat_view_at_desktop_and_phone_size(browsing, erin, upstream):
    catalogue_load(text=PREMIUM)  # shown locked in the picker: Erin is on Free
    catalogue_changed()
    for question in ("Sourdough starter tips", "Explain monads simply", "Plan a Lisbon trip"):
        chat(erin, question)
    upstream.answers[QUESTION] = ANSWER
    ARTIFACTS.mkdir(exist_ok=True)

    page = browsing.page(user=erin, viewport=DESKTOP)
    page.goto("/")
    ask(page, QUESTION)
    answer = wait_for_answer(page)
    expect(answer.locator("code.hljs")).to_be_visible()
    conversation_url = page.url
    page.locator("#prompt").click()
    page.screenshot(path=ARTIFACTS / "chat-desktop.png")

    page.get_by_role("button", name="Model:").click()
    page.screenshot(path=ARTIFACTS / "chat-desktop-models.png")

    dark = browsing.page(user=erin, viewport=DESKTOP, color_scheme="dark")
    dark.goto(conversation_url)
    expect(dark.locator("article.msg-assistant code.hljs")).to_be_visible()
    assert dark.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(23, 24, 28)"
    dark.screenshot(path=ARTIFACTS / "chat-desktop-dark.png")

    phone = browsing.page(user=erin, viewport=PHONE)
    phone.goto(conversation_url)
    expect(phone.locator("article.msg-assistant code.hljs")).to_be_visible()
    expect(phone.locator("#sidebar")).not_to_be_in_viewport()
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=ARTIFACTS / "chat-phone.png")

    phone.get_by_role("button", name="Open the list of chats").click()
    expect(phone.locator("#sidebar")).to_be_in_viewport()
    phone.wait_for_timeout(300)  # the drawer's slide
    phone.screenshot(path=ARTIFACTS / "chat-phone-sidebar.png")
    phone.locator("#conversation-list .conv-link", has_text="Plan a Lisbon trip").click()
    expect(phone.locator("#sidebar")).not_to_be_in_viewport()
    expect(phone.locator("article.msg-user")).to_have_text("Plan a Lisbon trip")


def a_month_of_usage(user) -> None:
    """Three weeks of a developer's requests: most days, several models, now and then a key."""
    laptop, _ = api_key_create(user=user, name="laptop")
    ci, _ = api_key_create(user=user, name="CI pipeline", monthly_spend_limit=Decimal("25"))
    api_key_create(user=user, name="old script")
    api_key_revoke(api_key=user.api_keys.get(name="old script"))
    models = [("swift", 1.0, 2.0), ("deep", 3.0, 15.0), ("plain", 0.5, 1.5)]
    n = 0
    for day in range(1, 22):
        if day % 7 == 3:
            continue  # a quiet day
        for index, (model, input_price, output_price) in enumerate(models):
            for _ in range((day + 2 * index) % 3 + (2 if index == 0 else 0)):
                n += 1
                prompt, completion = 300 + 37 * ((n * 7) % 23), 200 + 61 * ((n * 5) % 17)
                UsageRecord.objects.create(
                    request_id=f"shot-{n}",
                    user=user,
                    api_key=(laptop, ci, None)[n % 3],
                    endpoint=("chat.completions", "ai.chat")[n % 2],
                    model=model,
                    provider="fake",
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    total_tokens=prompt + completion,
                    cost=Decimal(prompt * input_price + completion * output_price) / 1_000_000,
                    created_at=timezone.now() - timedelta(days=day, hours=n % 9),
                )


def test_the_usage_and_keys_pages_at_desktop_and_phone_size(browsing, erin, upstream):
    a_month_of_usage(erin)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browsing.page(user=erin, viewport=DESKTOP)
    page.goto("/")
    ask(page, "How much have I spent this month?")
    wait_for_answer(page)

    visit(page, "/usage")
    expect(page.locator("#usage-chart rect.bar").first).to_be_visible()
    expect(page.locator("#usage-legend li")).to_have_count(3)
    page.screenshot(path=ARTIFACTS / "usage-desktop.png", full_page=True)

    visit(page, "/keys")
    page.get_by_label("Name", exact=True).fill("staging server")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("The new key")).to_have_value(re.compile(r"^sk-chuk-"))
    page.locator("#key-name").blur()
    page.screenshot(path=ARTIFACTS / "keys-desktop.png", full_page=True)

    for theme in ("light", "dark"):
        phone = browsing.page(user=erin, viewport=PHONE, color_scheme=theme)
        phone.goto("/usage")
        expect(phone.locator("#usage-chart rect.bar").first).to_be_visible()
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        suffix = "" if theme == "light" else "-dark"
        phone.screenshot(path=ARTIFACTS / f"usage-phone{suffix}.png", full_page=True)
        phone.goto("/keys")
        expect(phone.locator("#keys tr")).to_have_count(4)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.screenshot(path=ARTIFACTS / f"keys-phone{suffix}.png", full_page=True)


def test_the_theme_toggle_is_remembered(browsing, erin):
    page = browsing.page(user=erin, color_scheme="light")
    page.goto("/")
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_attribute("aria-label", "Theme: follows the system. Switch to light")
    toggle.click()
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(23, 24, 28)"
    page.locator("[data-theme-toggle]").click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
