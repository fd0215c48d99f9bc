"""Chatting in the browser: an answer streams in, can be stopped, regenerated, or asked again
after editing the question; models can be switched; images attached; the history is there
after a reload. Headless Chromium against the running site and the fake provider."""

import base64
import re

from playwright.sync_api import expect

from aiapi.models import Conversation, Message
from billing.models import UsageRecord
from fakes.openai_fake import tiny_png
from fakes.upstream_server import WORDS
from tests.webapp.browser import (
    ANSWER,
    QUESTION,
    answer_growth,
    answer_text,
    ask,
    choose_model,
    last_answer,
    ready,
    record_answer_growth,
    wait_for_answer,
)

NATO = " ".join(WORDS[:16])


def test_an_answer_arrives_word_by_word_then_shows_its_model_tokens_and_cost(
    browsing, erin, upstream
):
    upstream.answers["Spell the first NATO letters"] = NATO
    page = browsing.page(user=erin)
    page.goto("/")
    expect(page.get_by_role("heading", name="How can I help?")).to_be_visible()
    record_answer_growth(page)

    ask(page, "Spell the first NATO letters")

    answer = wait_for_answer(page)
    assert answer_text(answer) == NATO
    growth = answer_growth(page)
    assert len(growth) >= 3, growth  # seen part-written, several times
    assert all(NATO.startswith(text.strip()) for text in growth)
    conversation = Conversation.objects.get(owner=erin)
    stored = conversation.messages.get(role="assistant")
    expect(answer.locator(".msg-meta")).to_have_text(
        re.compile(
            rf"^Swift · {stored.prompt_tokens} in · {stored.completion_tokens} out · \$0\.0000\d+$"
        )
    )
    expect(page).to_have_url(re.compile(rf"/c/{conversation.pk}$"))
    expect(page.locator("#conversation-list .conv.active")).to_have_text(
        "Spell the first NATO letters"
    )
    expect(page.locator("#chat-title")).to_have_text("Spell the first NATO letters")


def test_shift_enter_starts_a_new_line_and_enter_sends(browsing, erin, upstream):
    page = browsing.page(user=erin)
    page.goto("/")
    prompt = page.locator("#prompt")
    prompt.type("first line")
    prompt.press("Shift+Enter")
    prompt.type("second line")
    expect(page.locator(QUESTION)).to_have_count(0)
    prompt.press("Enter")
    expect(page.locator(QUESTION).first.locator(".msg-text")).to_have_text(
        "first line\nsecond line"
    )
    wait_for_answer(page)
    assert upstream.requests()[-1]["body"]["messages"][-1]["content"] == "first line\nsecond line"


def test_escape_stops_an_answer_which_keeps_what_was_written_and_what_it_cost(
    browsing, erin, upstream
):
    page = browsing.page(user=erin)
    page.goto("/")
    choose_model(page, "Slow Writer")
    ask(page, "Write me a long story")
    answer = last_answer(page)
    expect(answer.locator(".msg-body")).to_contain_text("charlie")
    expect(page.get_by_role("button", name="Stop generating")).to_be_visible()

    page.keyboard.press("Escape")

    answer = wait_for_answer(page)
    expect(answer.locator(".msg-meta .tag")).to_have_text("Stopped")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    written = answer_text(answer).split()
    assert 3 <= len(written) < 60
    stored = Message.objects.get(role="assistant", conversation__owner=erin)
    assert stored.finish_reason == "cancelled"
    assert stored.content.split() == written
    assert stored.cost > 0
    assert UsageRecord.objects.get(request_id=stored.request_id).status == "cancelled"
    expect(answer.locator(".msg-meta")).to_contain_text("Slow Writer")


def test_regenerate_asks_again_and_replaces_the_last_answer(browsing, erin, upstream):
    page = browsing.page(user=erin)
    page.goto("/")
    upstream.answers["Pick a colour"] = "Teal."
    ask(page, "Pick a colour")
    expect(wait_for_answer(page).locator(".msg-body")).to_have_text("Teal.")

    upstream.answers["Pick a colour"] = "Saffron, this time."
    last_answer(page).get_by_role("button", name="Regenerate answer").click()

    answer = wait_for_answer(page)
    expect(answer.locator(".msg-body")).to_have_text("Saffron, this time.")
    expect(page.locator(ANSWER)).to_have_count(1)
    stored = Message.objects.filter(conversation__owner=erin).order_by("id")
    assert [(m.role, m.content) for m in stored] == [
        ("user", "Pick a colour"),
        ("assistant", "Saffron, this time."),
    ]
    assert len(upstream.requests()) == 2


def test_editing_a_question_sends_it_again_and_drops_what_came_after(browsing, erin, upstream):
    page = browsing.page(user=erin)
    page.goto("/")
    upstream.answers["What is 2 + 2?"] = "4"
    upstream.answers["What is 3 + 3?"] = "6"
    upstream.answers["And doubled?"] = "8"
    ask(page, "What is 2 + 2?")
    wait_for_answer(page)
    ask(page, "And doubled?")
    wait_for_answer(page)
    expect(page.locator(ANSWER)).to_have_count(2)

    first = page.locator(QUESTION).first
    first.hover()
    first.get_by_role("button", name="Edit message").click()
    editor = page.get_by_label("Edit your message")
    editor.fill("What is 3 + 3?")
    editor.press("Enter")

    answer = wait_for_answer(page)
    expect(answer.locator(".msg-body")).to_have_text("6")
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(QUESTION).locator(".msg-text")).to_have_text("What is 3 + 3?")
    stored = Message.objects.filter(conversation__owner=erin).order_by("id")
    assert [(m.role, m.content) for m in stored] == [
        ("user", "What is 3 + 3?"),
        ("assistant", "6"),
    ]
    sent = upstream.requests()[-1]["body"]["messages"]
    assert [m["content"] for m in sent] == ["What is 3 + 3?"]


def test_the_model_picker_shows_badges_and_prices_and_the_choice_is_used(browsing, erin, upstream):
    page = browsing.page(user=erin)
    page.goto("/")
    picker = page.get_by_role("button", name="Model:")
    expect(picker).to_contain_text("Swift")
    picker.click()
    options = page.get_by_role("option")
    expect(options).to_have_count(4)  # chat models only: no embeddings, nothing inactive
    deep = page.get_by_role("option", name="Deep Thinker")
    expect(deep.locator(".badge-reasoning")).to_be_visible()
    expect(deep.locator(".badge-vision")).to_be_visible()
    expect(deep.locator(".option-price")).to_have_text("$3 in · $15 out per 1M tokens")
    # Chosen with the keyboard: down once from Swift, Enter.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(picker).to_contain_text("Deep Thinker")

    ask(page, "Think about it")
    answer = wait_for_answer(page)
    expect(answer.locator(".msg-meta")).to_contain_text("Deep Thinker")
    assert upstream.requests()[-1]["path"] == "/v1/messages"  # the Anthropic protocol
    # The reasoning is folded away once the answer is written, and opens on a click.
    reasoning = answer.locator("details.reasoning")
    expect(reasoning).to_be_visible()
    expect(reasoning).not_to_have_attribute("open", "")
    reasoning.locator("summary").click()
    expect(reasoning.locator(".reasoning-body")).to_contain_text("first consider the question")

    page.reload()
    expect(page.get_by_role("button", name="Model:")).to_contain_text("Deep Thinker")


def test_an_image_attached_by_picker_drop_or_paste_reaches_a_vision_model_and_shows(
    browsing, erin, upstream
):
    png = tiny_png("a red square")
    page = browsing.page(user=erin)
    page.goto("/")
    page.locator("#file-input").set_input_files(
        files=[{"name": "square.png", "mimeType": "image/png", "buffer": png}]
    )
    encoded = base64.b64encode(png).decode()
    page.evaluate(
        """(encoded) => {
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const file = (name) => new File([bytes], name, {type: "image/png"});
        const dropped = new DataTransfer();
        dropped.items.add(file("dropped.png"));
        document.getElementById("main").dispatchEvent(
          new DragEvent("drop", {dataTransfer: dropped, bubbles: true, cancelable: true}));
        const pasted = new DataTransfer();
        pasted.items.add(file("pasted.png"));
        document.getElementById("prompt").dispatchEvent(
          new ClipboardEvent("paste", {clipboardData: pasted, bubbles: true, cancelable: true}));
      }""",
        encoded,
    )
    expect(page.locator("#attachments img")).to_have_count(3)
    page.get_by_role("button", name="Remove pasted.png").click()
    expect(page.locator("#attachments img")).to_have_count(2)

    ask(page, "What is in these pictures?")

    question = page.locator(QUESTION).last
    expect(question.locator(".msg-images img")).to_have_count(2)
    wait_for_answer(page)
    content = upstream.requests()[-1]["body"]["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "image_url"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    stored = Message.objects.get(role="user", conversation__owner=erin)
    assert stored.content[1]["image_url"]["url"] == f"data:image/png;base64,{encoded}"

    page.reload()
    expect(page.locator(QUESTION).last.locator(".msg-images img")).to_have_count(2)


def test_a_model_without_vision_cannot_be_given_images(browsing, erin):
    page = browsing.page(user=erin)
    page.goto("/")
    choose_model(page, "Plain Text")
    # The paperclip still takes documents; an image is refused before anything is sent.
    expect(page.locator("#attach")).to_have_accessible_name("Attach documents")
    assert "image/png" not in page.locator("#file-input").get_attribute("accept")
    page.locator("#file-input").set_input_files(
        files=[{"name": "square.png", "mimeType": "image/png", "buffer": tiny_png("red")}]
    )
    expect(page.locator("#composer-notice")).to_have_text(
        "Plain Text cannot read images. Pick a model marked vision first."
    )
    expect(page.locator("#attachments img")).to_have_count(0)


def test_after_a_reload_the_history_is_there_and_chats_open_from_the_sidebar(
    browsing, erin, upstream
):
    upstream.answers["Name a river"] = "The **Danube**."
    upstream.answers["Name a mountain"] = "Mont Blanc."
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "Name a river")
    wait_for_answer(page)
    river_url = page.url
    page.get_by_role("link", name="New chat").first.click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(ANSWER)).to_have_count(0)
    ask(page, "Name a mountain")
    wait_for_answer(page)

    page.reload()

    expect(page.locator(QUESTION)).to_have_text("Name a mountain")
    expect(last_answer(page).locator(".msg-body")).to_have_text("Mont Blanc.")
    expect(last_answer(page).locator(".msg-meta")).to_contain_text("Swift ·")
    chats = page.locator("#conversation-list .conv-link")
    expect(chats).to_have_text(["Name a mountain", "Name a river"])  # newest first

    chats.nth(1).click()
    expect(page).to_have_url(river_url)
    expect(page.locator(QUESTION)).to_have_text("Name a river")
    expect(last_answer(page).locator(".msg-body strong")).to_have_text("Danube")
    page.go_back()
    expect(page.locator(QUESTION)).to_have_text("Name a mountain")


def test_code_in_an_answer_is_highlighted_and_copied_with_one_click(browsing, erin, upstream):
    code = "def hello(name):\n    return f'Hello, {name}!'"
    upstream.answers["Show me a greeting in Python"] = f"Here it is:\n\n```python\n{code}\n```\n"
    page = browsing.page(user=erin, permissions=["clipboard-read", "clipboard-write"])
    page.goto("/")
    ask(page, "Show me a greeting in Python")
    answer = wait_for_answer(page)
    block = answer.locator(".code-block")
    expect(block.locator(".code-lang")).to_have_text("python")
    expect(block.locator("code.hljs .hljs-keyword").first).to_have_text("def")

    block.get_by_role("button", name="Copy code").click()

    expect(block.get_by_role("button", name="Copy code")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == code


def test_a_user_without_credit_is_told_so_in_the_chat_with_a_way_to_buy_some(
    browsing, alice, catalogue, no_free_allowance, settings
):
    settings.STRIPE_SECRET_KEY = "sk_test_payments_are_set_up"
    page = browsing.page(user=alice)
    page.goto("/")
    ask(page, "Hello?")
    error = last_answer(page).get_by_role("alert")
    expect(error).to_contain_text("Your credit has run out for this request.")
    expect(error).not_to_contain_text("max_tokens")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    error.get_by_role("link", name="Buy credits").click()
    expect(page).to_have_url(re.compile(r"/billing#credits$"))
    ready(page)
    expect(page.get_by_role("heading", name="Buy credits")).to_be_visible()
