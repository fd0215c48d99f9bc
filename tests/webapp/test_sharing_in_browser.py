"""Sharing and importing in the browser: the owner shares a chat from its header, a signed-out
visitor opens the link and reads it (an answer's HTML and script links inert), the owner
stops sharing and the visitor gets the 404 page; a chat exported as JSON is imported from the
list of chats and opens."""

import json
import re

from django.test import Client
from playwright.sync_api import expect

from aiapi.models import Conversation
from sharing.models import ShareLink
from tests.webapp.browser import ANSWER, QUESTION, ask, visit, wait_for_answer
from tests.webapp.conftest import ARTIFACTS

INJECTION = (
    'Here: <img src=x onerror="window.__xss = 1"> and '
    "<script>window.__xss = 2</script> or "
    "[click me](javascript:window.__xss=3) and "
    '<a href="javascript:window.__xss=4">me</a>, **safely**.'
)


def test_a_shared_chat_is_read_signed_out_until_its_owner_stops_sharing(browsing, erin, upstream):
    upstream.answers["Show me some HTML"] = INJECTION
    owner = browsing.page(user=erin, permissions=["clipboard-read", "clipboard-write"])
    visit(owner, "/")
    ask(owner, "Show me some HTML")
    wait_for_answer(owner)
    expect(owner).to_have_url(re.compile(r"/c/\d+$"))

    owner.get_by_role("button", name="Share").click()
    dialog = owner.get_by_role("dialog", name="Share this chat")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("messages you add later are shared too")
    field = dialog.get_by_label("Link to this chat")
    expect(field).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{32}$"))
    url = field.input_value()
    link = ShareLink.objects.get(conversation__owner=erin)
    assert url.endswith(f"/s/{link.token}")
    ARTIFACTS.mkdir(exist_ok=True)
    owner.screenshot(path=str(ARTIFACTS / "share-dialog-desktop.png"))
    dialog.get_by_role("button", name="Copy the link").click()
    expect(dialog.locator(".copy-label")).to_have_text("Copied")
    assert owner.evaluate("navigator.clipboard.readText()") == url
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # A second browser, signed out, opens the link.
    visitor = browsing.page()
    alerts = []
    visitor.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    response = visitor.goto(url)
    assert response.status == 200
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Show me some HTML")
    expect(visitor.locator(QUESTION)).to_have_text("Show me some HTML")
    answer = visitor.locator(ANSWER)
    body = answer.locator(".msg-body")
    expect(body).to_contain_text('<img src=x onerror="window.__xss = 1">')
    expect(body).to_contain_text("<script>window.__xss = 2</script>")
    expect(body.locator("strong")).to_have_text("safely")
    expect(answer.locator(".msg-meta")).to_have_text("Swift")
    expect(visitor.locator("#shared-note")).to_contain_text("as it is now")
    assert body.locator("img, script, iframe").count() == 0
    for link_node in body.locator("a").all():
        link_node.click()  # nothing a model wrote runs, even clicked
    hrefs = body.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert not any(href and "javascript" in href.lower() for href in hrefs)
    assert visitor.evaluate("window.__xss") is None
    assert alerts == []
    assert erin.email not in visitor.content()
    assert visitor.locator('meta[name="robots"]').get_attribute("content") == "noindex, nofollow"
    assert visitor.get_by_role("link", name="Try Chuk Chat").is_visible()
    visitor.screenshot(path=str(ARTIFACTS / "shared-chat-desktop.png"), full_page=True)

    # The owner stops sharing; the visitor's next look is the 404 page.
    owner.get_by_role("button", name="Share").click()
    expect(dialog).to_be_visible()
    expect(field).to_have_value(url)  # sharing again shows the same link
    dialog.get_by_role("button", name="Stop sharing").click()
    expect(dialog).to_be_hidden()
    expect(owner.locator("#toast")).to_have_text("Sharing stopped: the link no longer works.")
    response = visitor.reload()
    assert response.status == 404
    expect(visitor.get_by_role("heading", level=1)).to_have_text("This link does not work")
    expect(visitor.locator("body")).not_to_contain_text("Show me some HTML")


def test_a_new_chat_has_nothing_to_share(browsing, erin):
    page = browsing.page(user=erin)
    visit(page, "/")
    page.get_by_role("button", name="Share").click()
    expect(page.locator("#toast")).to_have_text(
        "Send a message first: a new chat has nothing to share yet."
    )
    assert not ShareLink.objects.exists()


def test_an_exported_chat_is_imported_from_the_list_of_chats(browsing, erin, upstream, tmp_path):
    upstream.answers["Name a French cheese"] = "**Comté**, aged for months."
    page = browsing.page(user=erin)
    visit(page, "/")
    ask(page, "Name a French cheese")
    wait_for_answer(page)
    original = Conversation.objects.get(owner=erin)
    owner = Client()
    owner.force_login(erin)
    exported = owner.get(f"/v1/conversations/{original.pk}/export?format=json")
    file = tmp_path / f"conversation-{original.pk}.json"
    file.write_bytes(exported.content)

    visit(page, "/")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import chat").click()
    chooser.value.set_files(str(file))

    expect(page).to_have_url(re.compile(r"/c/\d+$"))
    imported = Conversation.objects.exclude(pk=original.pk).get(owner=erin)
    expect(page).to_have_url(re.compile(rf"/c/{imported.pk}$"))
    expect(page.locator(QUESTION)).to_have_text("Name a French cheese")
    expect(page.locator(ANSWER).locator(".msg-body strong")).to_have_text("Comté")
    expect(page.locator("#conversation-list .conv.active")).to_have_text("Name a French cheese")
    expect(page.locator("#conversation-list .conv")).to_have_count(2)

    # A file that is not an exported chat says why, and adds nothing.
    bad = tmp_path / "notes.json"
    bad.write_text(json.dumps({"notes": ["not a chat"]}))
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Import chat").click()
    chooser.value.set_files(str(bad))
    expect(page.locator("#toast")).to_have_text(
        "Could not import notes.json: messages: This field is required."
    )
    assert Conversation.objects.filter(owner=erin).count() == 2
