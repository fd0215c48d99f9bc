"""Every page of the web app passes an axe-core audit with no critical or serious violation, at
desktop (1280 x 800) and phone (390 x 844) size, in the light theme, and in the dark one the
chat at both sizes and the other pages with components of their own at desktop size. axe-core
is vendored in tests/webapp/vendor/axe-core and injected by Playwright before the page's own
scripts: never loaded from the network.

One set of people and data, one server and one browser serve the whole module (each page x size
is its own test); the data is made once and flushed at the end, as transactional tests do."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts.api_keys import api_key_create
from aiapi.catalogue import catalogue_load
from aiapi.models import Conversation, Message
from aiapi.selectors import catalogue_changed
from billing.ledger import credit_grant
from billing.models import UsageRecord
from sharing.services import share_link_create, share_link_revoke
from tests.factories import UserFactory
from tests.support.gateway import wait_for_database_quiet
from tests.webapp.browser import ready
from tests.webapp.conftest import CATALOGUE, DESKTOP, PHONE
from tests.webapp.test_read_aloud_in_browser import SPEECH

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"desktop": DESKTOP, "phone": PHONE}
# What fails the audit; "moderate" and "minor" findings are reported by axe but allowed.
FAILING = {"critical", "serious"}
# Each test reads in a transaction of its own (rolled back); the server sees the module's data,
# committed once by the `people` fixture.
pytestmark = pytest.mark.django_db

MARKDOWN_ANSWER = """Here is **how** to do it, with a [link](https://example.com/docs) and `inline code`:

1. Open the file.
2. Count the words.

```python
def count(path: str) -> int:
    with open(path, encoding="utf-8") as lines:
        return sum(len(line.split()) for line in lines)
```

| Size | Time |
| --- | --- |
| 1 MB | 10 ms |

> A quoted remark.
"""


class Audit:
    """Signed-in and signed-out browser contexts, one per size and theme, shared by the tests."""

    def __init__(self, browser, site: str, session_cookie: str) -> None:
        self.browser = browser
        self.site = site
        self.session_cookie = session_cookie
        self.contexts: dict[tuple, object] = {}
        self.errors: list[str] = []

    def context(self, *, signed_in: bool, size: str, theme: str):
        key = (signed_in, size, theme)
        if key not in self.contexts:
            context = self.browser.new_context(
                base_url=self.site, viewport=SIZES[size], color_scheme=theme
            )
            context.add_init_script(path=str(AXE))
            if signed_in:
                context.add_cookies(
                    [{"name": "sessionid", "value": self.session_cookie, "url": self.site}]
                )
            self.contexts[key] = context
        return self.contexts[key]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@pytest.fixture(scope="module")
def people(web_server, upstream, django_db_setup, django_db_blocker):
    """Erin, signed in, with a key, a month of usage records and a chat with Markdown, code
    and an answer that failed; the database unblocked for the module (the server reads it)."""
    with (
        django_db_blocker.unblock(),
        override_settings(
            DEFAULT_CHAT_MODEL="swift",
            DEFAULT_TRANSCRIPTION_MODEL="local-transcription",
            DEFAULT_IMAGE_MODEL="demo-image",
        ),
    ):
        upstream.clear()
        catalogue_load(
            text=CATALOGUE.format(
                openai_base=f"{upstream.root_url}/v1", anthropic_base=upstream.root_url
            )
        )
        catalogue_load(text=SPEECH)  # answers get their read-aloud button
        catalogue_changed()
        erin = UserFactory(email="erin@example.com")
        credit_grant(user=erin, amount=Decimal("10"), description="test credit")
        key, _ = api_key_create(user=erin, name="laptop", monthly_spend_limit=Decimal("25"))
        for n in range(6):
            UsageRecord.objects.create(
                request_id=f"a11y-{n}",
                user=erin,
                api_key=key if n % 2 else None,
                endpoint=("chat.completions", "ai.chat")[n % 2],
                model=("swift", "deep", "plain")[n % 3],
                provider="fake",
                prompt_tokens=300 + n,
                completion_tokens=200 + n,
                total_tokens=500 + 2 * n,
                cost=Decimal("0.0012") * (n + 1),
                created_at=timezone.now() - timedelta(days=n, hours=1),
            )
        conversation = Conversation.objects.create(
            owner=erin, title="Counting words", model="swift"
        )
        turns = [
            ("user", "How do I count the words in a file?", ""),
            ("assistant", MARKDOWN_ANSWER, ""),
            ("user", "And in a very big one?", ""),
            ("assistant", "", "The model's provider did not answer in time. Try again."),
        ]
        for index, (role, content, error) in enumerate(turns):
            Message.objects.create(
                conversation=conversation,
                role=role,
                content=content,
                model="swift" if role == "assistant" else "",
                provider="fake" if role == "assistant" else "",
                prompt_tokens=40 if role == "assistant" and not error else 0,
                completion_tokens=90 if role == "assistant" and not error else 0,
                cost=Decimal("0.0002") if role == "assistant" and not error else Decimal("0"),
                finish_reason="stop" if role == "assistant" and not error else "",
                error=error,
                created_at=timezone.now() - timedelta(minutes=10 - index),
            )
        # The chat shared by a link, after an earlier link to it was stopped.
        stopped, _ = share_link_create(conversation=conversation)
        share_link_revoke(conversation=conversation)
        shared, _ = share_link_create(conversation=conversation)
        client = Client()
        client.force_login(erin)
        yield {
            "erin": erin,
            "session": client.cookies["sessionid"].value,
            "conversation": conversation.pk,
            "shared": shared.token,
            "stopped": stopped.token,
        }
        web_server.wait_idle()
        wait_for_database_quiet()
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def audit(browser, web_server, people):
    audit = Audit(browser, web_server.url, people["session"])
    yield audit
    audit.close()


def pages(people) -> dict:
    """name -> (path, signed in, how to tell the page is drawn)."""
    return {
        "landing": ("/", False, "load"),
        "sign-in": ("/accounts/login/", False, "load"),
        "sign-up": ("/accounts/signup/", False, "load"),
        "password-reset": ("/accounts/password/reset/", False, "load"),
        "password-reset-sent": ("/accounts/password/reset/done/", False, "load"),
        "sign-out": ("/accounts/logout/", True, "load"),
        "chat-empty": ("/", True, "ready"),
        "chat-conversation": (f"/c/{people['conversation']}", True, "answers"),
        "settings": ("/settings", True, "ready"),
        "keys": ("/keys", True, "keys"),
        "usage": ("/usage", True, "usage"),
        "billing": ("/billing", True, "ready"),
        "account": ("/accounts/email/", True, "load"),
        "api-docs": ("/docs", False, "docs"),
        "not-found": ("/no-such-page", False, "load"),
        "shared-chat": (f"/s/{people['shared']}", False, "shared"),
        "shared-stopped": (f"/s/{people['stopped']}", False, "load"),
    }


PAGES = [
    "landing",
    "sign-in",
    "sign-up",
    "password-reset",
    "password-reset-sent",
    "sign-out",
    "chat-empty",
    "chat-conversation",
    "settings",
    "keys",
    "usage",
    "billing",
    "account",
    "api-docs",
    "not-found",
    "shared-chat",
    "shared-stopped",
]


def open_page(audit: Audit, people, name: str, *, size: str, theme: str):
    path, signed_in, drawn = pages(people)[name]
    page = audit.context(signed_in=signed_in, size=size, theme=theme).new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda error: audit.errors.append(f"{name}: {error}"))
    page.goto(path)
    if drawn in ("ready", "answers", "keys", "usage"):
        ready(page)
    if drawn == "answers":
        page.locator("article.msg-assistant .msg-error:visible").wait_for()
        page.locator("article.msg-assistant code.hljs").first.wait_for()
        page.locator("article.msg-assistant button[aria-label^='Read']").first.wait_for()
    elif drawn == "keys":
        page.locator("#keys tr", has_text="laptop").wait_for()
    elif drawn == "usage":
        page.locator("#usage-chart rect.bar").first.wait_for()
    elif drawn == "shared":  # the chat itself, rendered by the server
        page.get_by_text("A quoted remark.").wait_for()
        page.locator("pre code").first.wait_for()
    elif drawn == "docs":
        page.locator(".opblock").first.wait_for()
    return page


def violations(page) -> list[dict]:
    """axe's critical and serious findings on the page as it is now."""
    result = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => ({target: n.target.join(" "),
                                        summary: n.failureSummary})),
          }));
        }"""
    )
    return [v for v in result if v["impact"] in FAILING]


def describe(found: list[dict]) -> str:
    lines = []
    for violation in found:
        lines.append(f"{violation['impact']}: {violation['id']} ({violation['help']})")
        for node in violation["nodes"][:8]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary[:300]}")
    return "\n".join(lines)


def assert_accessible(page, label: str, audit: Audit) -> None:
    found = violations(page)
    errors, audit.errors[:] = list(audit.errors), []
    assert not found, f"{label}: axe found\n{describe(found)}"
    assert not errors, f"the page threw: {errors}"


CASES = [
    pytest.param(name, size, "light", id=f"{name}-{size}") for name in PAGES for size in SIZES
] + [
    # The dark theme: the chat at both sizes, the other pages with their own components at
    # desktop size (the colours do not change with the width).
    pytest.param(name, size, "dark", id=f"{name}-{size}-dark")
    for name in (
        "chat-empty",
        "chat-conversation",
        "landing",
        "settings",
        "keys",
        "usage",
        "billing",
        "shared-chat",
    )
    for size in (SIZES if name.startswith("chat") else ["desktop"])
]


@pytest.mark.parametrize("name,size,theme", CASES)
def test_the_page_has_no_serious_accessibility_violation(audit, people, name, size, theme):
    page = open_page(audit, people, name, size=size, theme=theme)
    try:
        assert_accessible(page, f"{name} at {size}, {theme}", audit)
    finally:
        page.close()


def test_the_audit_reads_the_theme_it_was_given(audit, people):
    """The dark cases really are dark: the theme follows the browser's colour scheme."""
    page = open_page(audit, people, "chat-empty", size="desktop", theme="dark")
    try:
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == (
            "rgb(23, 24, 28)"
        )
        assert page.evaluate("typeof axe.run") == "function"  # injected, not fetched
    finally:
        page.close()


def open_the_options_menu(page) -> None:
    page.get_by_role("button", name="Options for Counting words").click()


# What the chat shows once a control is used: each audited as it is open.
STATES = {
    "model-picker": lambda page: page.get_by_role("button", name="Model:").click(),
    "compare-panel": lambda page: page.locator("#compare-button").click(),
    "chat-settings-dialog": lambda page: page.locator("#chat-settings-button").click(),
    "share-dialog": lambda page: page.get_by_role("button", name="Share", exact=True).click(),
    "options-menu": open_the_options_menu,
    "image-mode": lambda page: page.get_by_role("button", name="Create an image").click(),
    "delete-dialog": lambda page: (
        open_the_options_menu(page),
        page.get_by_role("menuitem", name="Delete").click(),
    ),
}
OPENED = {
    "model-picker": "#model-list",
    "compare-panel": "#compare-panel",
    "chat-settings-dialog": "dialog[open]",
    "share-dialog": "dialog[open]",
    "options-menu": "[role=menu]",
    "image-mode": "#image-mode-bar",
    "delete-dialog": "dialog[open]",
}


@pytest.mark.parametrize(
    "state,size,theme",
    [pytest.param(state, "desktop", "light", id=state) for state in STATES]
    + [pytest.param("drawer", "phone", "light", id="drawer-phone")]
    + [pytest.param("delete-dialog", "desktop", "dark", id="delete-dialog-dark")],
)
def test_the_chats_open_controls_have_no_serious_accessibility_violation(
    audit, people, state, size, theme
):
    page = open_page(audit, people, "chat-conversation", size=size, theme=theme)
    try:
        if state == "drawer":
            page.get_by_role("button", name="Open the list of chats").click()
            page.locator("#sidebar").evaluate(
                "s => new Promise((done) => s.getAnimations().length ?"
                " Promise.all(s.getAnimations().map((a) => a.finished)).then(done) : done())"
            )
        else:
            STATES[state](page)
            page.locator(OPENED[state]).first.wait_for()
        assert_accessible(page, f"the chat with its {state} open, at {size}, {theme}", audit)
    finally:
        page.close()


def test_the_sign_in_and_sign_up_forms_showing_their_errors_have_no_serious_violation(
    audit, people
):
    page = open_page(audit, people, "sign-in", size="desktop", theme="light")
    try:
        page.get_by_label("Email").fill("erin@example.com")
        page.get_by_label("Password").fill("not her password")
        page.get_by_role("button", name="Sign In").click()
        page.get_by_role("alert").wait_for()
        assert_accessible(page, "sign-in with a wrong password", audit)

        page.goto("/accounts/signup/")
        page.get_by_label("Email").fill("erin@example.com")
        page.get_by_label("Password", exact=True).fill("short")
        page.get_by_label("Password (again)").fill("different")
        page.get_by_role("button", name="Sign Up").click()
        page.get_by_role("alert").first.wait_for()
        assert_accessible(page, "sign-up with errors", audit)
    finally:
        page.close()


def test_the_account_pages_after_an_action_have_no_serious_violation(audit, people):
    """A new key shown once; a settings form answering an error; an export being prepared."""
    page = open_page(audit, people, "keys", size="phone", theme="light")
    try:
        page.get_by_label("Name", exact=True).fill("staging server")
        page.get_by_role("button", name="Create key").click()
        page.get_by_label("The new key").wait_for()
        assert_accessible(page, "keys with a new key shown", audit)

        page.goto("/settings")
        ready(page)
        page.get_by_label("Current password").fill("not her password")
        page.get_by_label("New password", exact=True).fill("a long unusual passphrase 42")
        page.get_by_label("New password (again)").fill("a long unusual passphrase 42")
        page.get_by_role("button", name="Change password").click()
        page.locator("#password-form .form-status:not([hidden])").wait_for()
        page.get_by_role("button", name="Prepare an export").click()
        page.locator("#exports li").first.wait_for()
        assert_accessible(page, "settings with an error and an export", audit)
    finally:
        page.close()
