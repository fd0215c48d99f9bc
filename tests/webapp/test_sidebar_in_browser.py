"""The list of chats: newest first, searched, renamed, archived and brought back, deleted."""

import re

import pytest
from playwright.sync_api import expect

from aiapi.conversations import turn_begin
from aiapi.models import Conversation

CHATS = "#conversation-list .conv-link"


def chat(owner, question: str) -> int:
    conversation_id, _ = turn_begin(
        owner_id=owner.pk,
        conversation_id=None,
        model="swift",
        new_messages=[{"role": "user", "content": question}],
    )
    return conversation_id


@pytest.fixture
def erins_chats(erin, catalogue):
    """Three earlier chats of Erin's, the Lisbon trip the newest."""
    return {
        question: chat(erin, question)
        for question in ("Sourdough starter tips", "Explain monads simply", "Plan a Lisbon trip")
    }


def open_menu(page, title: str):
    item = page.locator("#conversation-list .conv", has_text=title)
    item.hover()
    item.get_by_role("button", name=f"Options for {title}").click()
    return page.get_by_role("menu")


def test_chats_are_listed_newest_first_and_found_by_search(browsing, erin, erins_chats):
    page = browsing.page(user=erin)
    page.goto("/")
    expect(page.locator(CHATS)).to_have_text(
        ["Plan a Lisbon trip", "Explain monads simply", "Sourdough starter tips"]
    )

    page.get_by_label("Search chats").fill("monad")
    expect(page.locator(CHATS)).to_have_text(["Explain monads simply"])

    page.get_by_label("Search chats").fill("nothing like this")
    expect(page.locator(CHATS)).to_have_count(0)
    expect(page.locator("#conversation-list-note")).to_have_text(
        "No chats match “nothing like this”."
    )

    page.get_by_label("Search chats").press("Escape")
    expect(page.locator(CHATS)).to_have_count(3)


def test_a_chat_is_renamed_in_place_and_keeps_its_name(browsing, erin, erins_chats):
    page = browsing.page(user=erin)
    page.goto("/")
    open_menu(page, "Explain monads simply").get_by_role("menuitem", name="Rename").click()
    name = page.get_by_label("New name for this chat")
    expect(name).to_be_focused()
    name.fill("Monads, finally")
    name.press("Enter")

    expect(page.locator(CHATS).nth(1)).to_have_text("Monads, finally")
    conversation = Conversation.objects.get(pk=erins_chats["Explain monads simply"])
    assert conversation.title == "Monads, finally"
    page.reload()
    expect(page.locator(CHATS)).to_contain_text(["Monads, finally"])


def test_escape_cancels_a_rename(browsing, erin, erins_chats):
    page = browsing.page(user=erin)
    page.goto("/")
    open_menu(page, "Plan a Lisbon trip").get_by_role("menuitem", name="Rename").click()
    page.get_by_label("New name for this chat").fill("Something else")
    page.get_by_label("New name for this chat").press("Escape")
    expect(page.locator(CHATS).first).to_have_text("Plan a Lisbon trip")
    assert Conversation.objects.get(pk=erins_chats["Plan a Lisbon trip"]).title == (
        "Plan a Lisbon trip"
    )


def test_an_archived_chat_moves_to_the_archived_tab_and_can_come_back(browsing, erin, erins_chats):
    page = browsing.page(user=erin)
    page.goto("/")
    open_menu(page, "Sourdough starter tips").get_by_role("menuitem", name="Archive").click()

    expect(page.locator(CHATS)).to_have_count(2)
    expect(page.get_by_role("status").filter(has_text="Chat archived")).to_be_visible()
    assert Conversation.objects.get(pk=erins_chats["Sourdough starter tips"]).archived

    page.get_by_role("button", name="Archived").click()
    expect(page.locator(CHATS)).to_have_text(["Sourdough starter tips"])
    open_menu(page, "Sourdough starter tips").get_by_role("menuitem", name="Unarchive").click()
    expect(page.locator(CHATS)).to_have_count(0)
    page.get_by_role("button", name="Chats", exact=True).click()
    expect(page.locator(CHATS)).to_have_count(3)
    assert not Conversation.objects.get(pk=erins_chats["Sourdough starter tips"]).archived


def test_deleting_a_chat_asks_first_then_removes_it(browsing, erin, erins_chats):
    page = browsing.page(user=erin)
    page.goto("/")
    open_menu(page, "Explain monads simply").get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete this chat?")
    expect(dialog).to_contain_text("“Explain monads simply” and all its messages will be deleted")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator(CHATS)).to_have_count(3)

    open_menu(page, "Explain monads simply").get_by_role("menuitem", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(page.locator(CHATS)).to_have_text(["Plan a Lisbon trip", "Sourdough starter tips"])
    assert not Conversation.objects.filter(pk=erins_chats["Explain monads simply"]).exists()


def test_deleting_the_open_chat_leaves_a_new_chat(browsing, erin, erins_chats):
    lisbon = erins_chats["Plan a Lisbon trip"]
    page = browsing.page(user=erin)
    page.goto(f"/c/{lisbon}")
    expect(page.locator("article.msg-user")).to_have_text("Plan a Lisbon trip")
    open_menu(page, "Plan a Lisbon trip").get_by_role("menuitem", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="How can I help?")).to_be_visible()
    expect(page.locator("article.msg-user")).to_have_count(0)


def test_more_chats_load_on_demand(browsing, erin, catalogue):
    for number in range(35):
        chat(erin, f"Question number {number}")
    page = browsing.page(user=erin)
    page.goto("/")
    expect(page.locator(CHATS)).to_have_count(30)
    page.get_by_role("button", name="Show more").click()
    expect(page.locator(CHATS)).to_have_count(35)
    expect(page.get_by_role("button", name="Show more")).to_be_hidden()
    expect(page.locator(CHATS).last).to_have_text("Question number 0")
