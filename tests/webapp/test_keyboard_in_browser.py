"""The web app from the keyboard alone: signing in, writing and sending, changing the model,
the phone's chat drawer and the confirmation dialogs (Esc closes them, focus goes back to the
control that opened them); every control shows where the focus is; and the answer being
written sits in a polite live region, marked busy until it is done."""

import re

from playwright.sync_api import expect

from accounts.api_keys import api_key_create
from aiapi.models import Conversation
from tests.webapp.browser import ready, visit, wait_for_answer
from tests.webapp.conftest import PASSWORD, PHONE

SLOW_ANSWER = " ".join(f"word{n}" for n in range(24))

# The focused element, described for an assertion message.
FOCUSED = """() => {
  const e = document.activeElement;
  return e ? `${e.tagName.toLowerCase()}#${e.id} ${e.getAttribute("aria-label") || ""} ${
    (e.textContent || "").trim().slice(0, 40)}`.trim() : null;
}"""


def focus_is_on(page, locator) -> bool:
    return locator.evaluate("target => document.activeElement === target")


def tab_to(page, locator, *, backwards: bool = False, limit: int = 80) -> None:
    """Presses Tab (or Shift+Tab) until `locator` has the focus: it is in the tab order."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if focus_is_on(page, locator):
            return
    raise AssertionError(f"Tab never reached {locator}; it stopped at {page.evaluate(FOCUSED)}")


def start_from_the_top(page) -> None:
    """The next Tab goes to the page's first control, as on a page just opened."""
    page.evaluate(
        """() => { document.activeElement.blur(); document.body.tabIndex = -1;
                   document.body.focus(); document.body.removeAttribute("tabindex"); }"""
    )


def expect_focus(page, locator) -> None:
    expect(locator).to_be_focused()


def sign_in_with_the_keyboard(page, email: str) -> None:
    page.goto("/accounts/login/")
    email_field = page.get_by_label("Email")
    tab_to(page, email_field)
    page.keyboard.type(email)
    tab_to(page, page.get_by_label("Password"))
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    ready(page)


def test_sign_in_choose_a_model_write_and_send_with_the_keyboard_only(browsing, erin, upstream):
    upstream.answers["Count to twenty-four"] = SLOW_ANSWER
    page = browsing.page()
    sign_in_with_the_keyboard(page, "erin@example.com")
    expect(page.get_by_role("heading", name="How can I help?")).to_be_visible()

    # The skip link, the first stop, leads to the message box.
    start_from_the_top(page)
    skip = page.get_by_role("link", name="Skip to the message box")
    page.keyboard.press("Tab")
    expect_focus(page, skip)
    page.keyboard.press("Enter")
    prompt = page.get_by_label("Message", exact=True)
    expect_focus(page, prompt)

    # Back to the model picker, open it, move down to Slow Writer, choose it.
    model_button = page.get_by_role("button", name="Model:")
    tab_to(page, model_button, backwards=True)
    page.keyboard.press("Enter")
    listbox = page.get_by_role("listbox", name="Models")
    expect(listbox).to_be_visible()
    expect_focus(page, listbox)
    for _ in range(10):
        active = listbox.get_attribute("aria-activedescendant")
        if page.locator(f"#{active}").inner_text().startswith("Slow Writer"):
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(listbox).to_be_hidden()
    expect(page.locator("[data-model-name]")).to_have_text("Slow Writer")
    expect_focus(page, model_button)

    # Escape closes the open picker and gives the focus back to its button.
    page.keyboard.press("Enter")
    expect(listbox).to_be_visible()
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    expect_focus(page, model_button)

    tab_to(page, prompt)
    page.keyboard.type("Count to twenty-four")
    page.keyboard.press("Enter")
    answer = wait_for_answer(page)
    expect(answer.locator(".msg-body")).to_have_text(SLOW_ANSWER)
    expect(answer.locator(".msg-meta")).to_contain_text("Slow Writer")
    conversation = Conversation.objects.get(owner=erin)
    assert upstream.requests()[-1]["body"]["model"] == "fake:tokens=60,tps=12"

    # The chat's options menu and its delete confirmation, from the keyboard: Esc cancels,
    # and the focus is back on the options button; the chat is still there.
    options = page.get_by_role("button", name="Options for Count to twenty-four")
    tab_to(page, options, backwards=True)
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible()
    expect_focus(page, menu.get_by_role("menuitem").first)
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect_focus(page, options)

    page.keyboard.press("Enter")
    delete = menu.get_by_role("menuitem", name="Delete")
    while not focus_is_on(page, delete):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Delete this chat?")
    expect(dialog).to_be_visible()
    expect_focus(page, dialog.get_by_role("button", name="Cancel"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect_focus(page, options)
    assert Conversation.objects.filter(pk=conversation.pk).exists()

    # ... and confirmed with Tab and Enter, it is deleted.
    page.keyboard.press("Enter")
    while not focus_is_on(page, delete):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    expect_focus(page, dialog.get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")
    expect(page.locator("#toast")).to_have_text("Chat deleted.")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_the_answer_being_written_is_announced_politely_and_busy_until_done(
    browsing, erin, upstream
):
    upstream.answers["Count slowly"] = SLOW_ANSWER
    page = browsing.page(user=erin)
    visit(page, "/")
    page.get_by_role("button", name="Model:").click()
    page.get_by_role("option", name=re.compile("^Slow Writer")).click()
    page.get_by_label("Message", exact=True).fill("Count slowly")
    page.keyboard.press("Enter")

    answer = page.locator("article.msg-assistant").last
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer.locator(".msg-body")).to_contain_text("word1")  # part-written, still busy
    assert answer.get_attribute("aria-busy") == "true"
    region = answer.evaluate(
        """a => { const r = a.closest("[aria-live]");
                  return r && {live: r.getAttribute("aria-live"), id: r.id,
                               relevant: r.getAttribute("aria-relevant")}; }"""
    )
    assert region == {"live": "polite", "id": "thread", "relevant": "additions text"}

    wait_for_answer(page)
    expect(answer.locator(".msg-body")).to_have_text(SLOW_ANSWER)
    assert answer.get_attribute("aria-busy") is None


def test_on_a_phone_the_chat_drawer_opens_and_closes_from_the_keyboard(browsing, erin):
    page = browsing.page(user=erin, viewport=PHONE)
    visit(page, "/")
    sidebar = page.locator("#sidebar")
    opener = page.get_by_role("button", name="Open the list of chats")
    expect(sidebar).not_to_be_in_viewport()

    # Closed, the drawer's controls are out of the tab order: Tab from the top of the page
    # goes round the chat without entering it.
    start_from_the_top(page)
    for _ in range(30):
        page.keyboard.press("Tab")
        assert not page.evaluate(
            "document.getElementById('sidebar').contains(document.activeElement)"
        ), page.evaluate(FOCUSED)

    tab_to(page, opener)
    page.keyboard.press("Enter")
    expect(sidebar).to_be_in_viewport()
    expect(opener).to_have_attribute("aria-expanded", "true")
    expect_focus(page, page.get_by_role("searchbox", name="Search chats"))
    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()
    expect(opener).to_have_attribute("aria-expanded", "false")
    expect_focus(page, opener)

    # Its close button does the same.
    page.keyboard.press("Enter")
    closer = page.get_by_role("button", name="Close the list of chats")
    tab_to(page, closer, backwards=True)
    page.keyboard.press("Enter")
    expect(sidebar).not_to_be_in_viewport()
    expect_focus(page, opener)


def test_revoking_a_key_asks_first_and_escape_gives_the_focus_back(browsing, erin):
    api_key_create(user=erin, name="laptop")
    page = browsing.page(user=erin)
    visit(page, "/keys")
    revoke = page.get_by_role("button", name="Revoke")
    tab_to(page, revoke)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect_focus(page, revoke)
    expect(page.locator("#keys tr", has_text="laptop").locator(".badge")).to_have_text("Active")
    assert erin.api_keys.get().revoked_at is None


# A focused control draws a ring: an outline (buttons, links, everything by default) or, for
# text fields, which draw it with their border, a box-shadow.
FOCUS_RING = """() => {
  const e = document.activeElement, s = getComputedStyle(e);
  window.__stops = window.__stops || new Map();
  const again = window.__stops.has(e);
  window.__stops.set(e, true);
  const outlined = s.outlineStyle !== "none" && s.outlineWidth !== "0px";
  return {again, what: `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${e.getAttribute("aria-label") || ""}`,
          tag: e.tagName.toLowerCase(), type: e.type || "", outlined,
          outline: `${s.outlineStyle} ${s.outlineWidth}`,
          ringed: outlined || s.boxShadow !== "none",
          inComposer: Boolean(e.closest(".composer-box")),
          composerBorder: e.closest(".composer-box") ?
            getComputedStyle(e.closest(".composer-box")).borderTopColor : null};
}"""


def every_tab_stop(page, limit: int = 70) -> list[dict]:
    start_from_the_top(page)
    page.evaluate("window.__stops = new Map()")
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_RING)
        if stop["again"] and stop["tag"] != "body":
            break  # round the page once
        stops.append(stop)
    return stops


def test_every_control_the_keyboard_reaches_shows_a_focus_ring(browsing, erin):
    api_key_create(user=erin, name="laptop")
    page = browsing.page(user=erin)
    for path in ("/", "/keys", "/settings"):
        visit(page, path)
        stops = [stop for stop in every_tab_stop(page) if stop["tag"] != "body"]
        assert len(stops) >= 8, stops
        for stop in stops:
            if stop["tag"] in ("a", "button"):
                assert stop["outlined"], f"{path}: {stop['what']} has outline {stop['outline']}"
            elif stop["tag"] == "textarea" and stop["inComposer"]:
                accent = page.evaluate(
                    "getComputedStyle(document.documentElement).getPropertyValue('--accent')"
                )
                assert stop["composerBorder"] == hex_to_rgb(accent.strip()), stop
            else:
                assert stop["ringed"], f"{path}: {stop['what']} shows no focus"
    visit(page, "/")
    new_chat = page.get_by_role("link", name="New chat").first
    new_chat.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # focused from the keyboard: :focus-visible applies
    ring = page.evaluate(FOCUS_RING)
    assert ring["tag"] == "a" and ring["outline"] == "solid 2px", ring


def hex_to_rgb(colour: str) -> str:
    value = colour.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({red}, {green}, {blue})"


def test_the_chats_settings_and_share_dialogs_open_and_close_from_the_keyboard(browsing, erin):
    from tests.webapp.test_sidebar_in_browser import chat

    conversation_id = chat(erin, "Plan a Lisbon trip")
    page = browsing.page(user=erin)
    visit(page, f"/c/{conversation_id}")
    for opener_name in ("System prompt", "Share"):
        opener = page.get_by_role("button", name=opener_name, exact=True)
        tab_to(page, opener, backwards=True)
        page.keyboard.press("Enter")
        dialog = page.locator("dialog[open]")
        expect(dialog).to_have_count(1)
        assert dialog.evaluate("d => d.contains(document.activeElement)"), page.evaluate(FOCUSED)
        page.keyboard.press("Escape")
        expect(page.locator("dialog[open]")).to_have_count(0)
        expect_focus(page, opener)
