"""Generated pictures are part of the chat: saved with the conversation once shown, there again
after a reload, in order, the owner's only, and gone with the chat and with the account."""

import re

from django.test import Client
from playwright.sync_api import expect

from aiapi.conversations import conversation_delete
from aiapi.models import Conversation, ConversationImage
from aiapi.personal_data import erase_for
from media_tools.models import MediaJob
from media_tools.storage import read_file
from tests.webapp.browser import ANSWER, QUESTION, ask, visit, wait_for_answer

CARD = "article.msg-image"


def create_image(page, prompt: str) -> None:
    page.get_by_role("button", name="Create an image").click()
    field = page.get_by_placeholder("Describe an image")
    field.fill(prompt)
    field.press("Enter")
    card = page.locator(CARD).last
    expect(card.locator(".image-frame img")).to_be_visible()
    expect(card).to_have_attribute("data-image-id", re.compile(r"^\d+$"))  # saved in the chat
    page.keyboard.press("Escape")


def picture_loaded(page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.msg-image img')]"
        ".every((img) => img.naturalWidth > 0)"
    )


def test_a_picture_made_in_a_new_chat_survives_a_reload(browsing, erin, media_root, bob):
    page = browsing.page(user=erin)
    visit(page, "/")
    create_image(page, "A lighthouse at dusk")

    conversation = Conversation.objects.get(owner=erin)
    expect(page).to_have_url(re.compile(rf"/c/{conversation.pk}$"))
    expect(page.locator("#conversation-list .conv.active")).to_have_text("A lighthouse at dusk")
    [saved] = ConversationImage.objects.filter(conversation=conversation)
    job = MediaJob.objects.get(owner=erin, kind="image")
    assert bytes(saved.data) == read_file(job.result_files[0]["name"])
    assert saved.prompt == "A lighthouse at dusk"

    page.reload()
    card = page.locator(CARD)
    expect(card).to_have_count(1)
    expect(card.locator(".image-prompt")).to_have_text("A lighthouse at dusk")
    expect(card.locator(".msg-meta")).to_have_text("Demo Image · $0.002")
    picture_loaded(page)
    url = card.locator(".image-frame img").get_attribute("src")
    assert url == f"/v1/conversations/{conversation.pk}/images/{saved.pk}"

    # The owner's only: anyone else gets a 404, as for a chat that does not exist.
    someone = Client()
    someone.force_login(bob)
    assert someone.get(url).status_code == 404


def test_a_picture_keeps_its_place_after_the_answers_before_it(browsing, erin, media_root):
    page = browsing.page(user=erin)
    visit(page, "/")
    ask(page, "Describe a lighthouse")
    wait_for_answer(page)
    create_image(page, "The lighthouse, drawn")
    ask(page, "Now a boat")
    wait_for_answer(page)

    page.reload()
    picture_loaded(page)
    kinds = page.locator(f"{QUESTION}, {ANSWER}, {CARD}").evaluate_all(
        "nodes => nodes.map(n => n.classList.contains('msg-image') ? 'image'"
        " : n.classList.contains('msg-user') ? 'question' : 'answer')"
    )
    assert kinds == ["question", "answer", "image", "question", "answer"]


def test_pictures_are_deleted_with_their_chat_and_with_the_account(browsing, erin, media_root):
    page = browsing.page(user=erin)
    visit(page, "/")
    create_image(page, "A first picture")
    first = Conversation.objects.get(owner=erin)
    visit(page, "/")
    create_image(page, "A second picture")
    assert ConversationImage.objects.filter(conversation__owner=erin).count() == 2

    conversation_delete(conversation=first)
    assert list(
        ConversationImage.objects.filter(conversation__owner=erin).values_list("prompt", flat=True)
    ) == ["A second picture"]

    erase_for(user=erin)
    assert not ConversationImage.objects.exists()
