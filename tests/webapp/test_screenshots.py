"""Pictures of the chat view at desktop and phone size, light and dark, into test-artifacts/
(the README shows copies of them from docs/screenshots/). Taken from a real conversation, so
the pictures are also a check that the page lays out at both sizes."""

from playwright.sync_api import expect

from tests.webapp.browser import ask, wait_for_answer
from tests.webapp.conftest import ARTIFACTS, DESKTOP, PHONE
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
