"""The Content-Security-Policy in a real browser: every page's modules and vendored libraries
run under it, a chat answer streams over the WebSocket and renders its Markdown, the remembered
theme still applies before the first paint; nothing is refused; and what an injection would
need (an inline handler) is refused. Headless Chromium against the running site."""

import pytest
from playwright.sync_api import expect

from tests.webapp.browser import ask, ready, wait_for_answer

WATCH_THE_POLICY = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__refused.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


def refused(page) -> list[str]:
    return page.evaluate("window.__refused")


@pytest.mark.parametrize("path", ["/", "/usage", "/keys", "/billing", "/settings"])
def test_every_page_of_the_app_runs_its_modules_under_the_policy(browsing, erin, path):
    page = browsing.page(user=erin, init_script=WATCH_THE_POLICY)

    response = page.goto(path)

    assert "script-src 'self'" in response.headers["content-security-policy"]
    ready(page)  # the page's modules ran: they mark <html data-ready>
    assert refused(page) == []


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/"])
def test_the_pages_for_visitors_show_under_the_policy(browsing, path):
    page = browsing.page(init_script=WATCH_THE_POLICY)

    response = page.goto(path)
    page.wait_for_load_state("load")

    assert response.headers["content-security-policy"]
    assert refused(page) == []


def test_an_answer_streams_over_the_socket_and_renders_its_markdown(browsing, erin, upstream):
    upstream.answers["Show me code"] = "Here is **bold** text.\n\n```python\nprint(1)\n```\n"
    page = browsing.page(user=erin, init_script=WATCH_THE_POLICY)
    page.goto("/")
    ready(page)

    ask(page, "Show me code")

    answer = wait_for_answer(page)
    expect(answer.locator(".msg-body strong")).to_have_text("bold")
    expect(answer.locator(".msg-body pre code")).to_contain_text("print(1)")
    assert refused(page) == []


THEME_WHEN_THE_BODY_STARTS = """
localStorage.setItem("chuk-theme", "dark");
new MutationObserver((records, observer) => {
  if (!document.body) return;
  window.__themeAtBody = document.documentElement.dataset.theme || null;
  observer.disconnect();
}).observe(document, {childList: true, subtree: true});
"""


def test_the_remembered_theme_applies_before_the_body_is_drawn(browsing, erin):
    page = browsing.page(user=erin, init_script=WATCH_THE_POLICY + THEME_WHEN_THE_BODY_STARTS)

    page.goto("/")
    ready(page)

    # Set by theme-early.js in <head>: already there when the body starts, long before the
    # theme module (at the end of the body) runs.
    assert page.evaluate("window.__themeAtBody") == "dark"
    assert refused(page) == []


def test_an_injected_inline_handler_is_refused(browsing, erin):
    page = browsing.page(user=erin, init_script=WATCH_THE_POLICY)
    page.goto("/")
    ready(page)

    page.evaluate(
        """() => document.body.insertAdjacentHTML(
             "beforeend", '<img src="data:," onerror="window.__ran = true">')"""
    )

    page.wait_for_function("window.__refused.length > 0")
    assert page.evaluate("window.__ran") is None
    assert refused(page) == ["script-src-attr inline"]
