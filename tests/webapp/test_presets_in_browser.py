"""Presets in the browser: erin saves a preset (model, system prompt, temperature, max
tokens) from the chat's settings, starts a new chat with it, and the model is sent exactly
that; she edits the chat's system prompt and the next message is sent the new one. Headless
Chromium against the running site and the fake provider, which records what it was sent."""

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from aiapi.models import Conversation, Preset
from tests.webapp.browser import ask, choose_model, ready, wait_for_answer
from tests.webapp.conftest import DESKTOP, PHONE

PIRATE = "You are a pirate. Answer like one."
POET = "Answer as a poet, in rhyme."


def sent(upstream) -> dict:
    return upstream.requests()[-1]["body"]


def eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not true in time"
        time.sleep(0.05)


def open_settings(page):
    button = page.get_by_role("button", name="System prompt")
    button.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Chat settings")
    expect(dialog).to_be_visible()
    return dialog


def test_a_preset_starts_a_chat_and_the_chats_system_prompt_can_be_changed(
    browsing, erin, upstream
):
    page = browsing.page(user=erin)
    page.goto("/")
    ready(page)
    choose_model(page, "Plain Text")

    # Save the settings as a preset: it keeps the model chosen above the chat.
    dialog = open_settings(page)
    expect(dialog.get_by_text("The preset keeps the model too: Plain Text.")).to_be_visible()
    dialog.get_by_role("textbox", name="System prompt").fill(PIRATE)
    dialog.get_by_role("spinbutton", name="Temperature").fill("0.3")
    dialog.get_by_role("spinbutton", name="Max tokens").fill("300")
    dialog.get_by_role("textbox", name="Preset name").fill("Pirate")
    dialog.get_by_role("button", name="Save as new preset").click()
    expect(page.locator("#toast")).to_have_text('Preset "Pirate" saved.')
    preset = Preset.objects.get(owner=erin)
    assert (preset.name, preset.model, preset.system_prompt) == ("Pirate", "plain", PIRATE)
    assert (preset.temperature, preset.max_tokens) == (0.3, 300)

    # The same name again is refused, with the API's words, and nothing is made.
    dialog.get_by_role("button", name="Save as new preset").click()
    expect(dialog.get_by_role("alert")).to_have_text("You already have a preset named 'Pirate'.")
    assert Preset.objects.filter(owner=erin).count() == 1
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # A new chat, on another model, started from the preset.
    page.goto("/")
    ready(page)
    choose_model(page, "Swift")
    dialog = open_settings(page)
    dialog.get_by_role("combobox", name="Preset").select_option(label="Pirate")
    expect(dialog.get_by_role("textbox", name="System prompt")).to_have_value(PIRATE)
    expect(dialog.get_by_role("spinbutton", name="Temperature")).to_have_value("0.3")
    dialog.get_by_role("button", name="Use for this chat").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-model-name]")).to_have_text("Plain Text")

    upstream.clear()
    ask(page, "Where is the treasure?")
    wait_for_answer(page)
    body = sent(upstream)
    assert body["messages"][0] == {"role": "system", "content": PIRATE}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 300
    assert upstream.requests()[-1]["model"] == "fake:tokens=6"  # Plain Text's upstream
    conversation = Conversation.objects.get(owner=erin)
    eventually(lambda: Conversation.objects.get(pk=conversation.pk).system_prompt == PIRATE)

    # The chat's own system prompt, edited: the next message is sent the new one, once.
    dialog = open_settings(page)
    prompt = dialog.get_by_role("textbox", name="System prompt")
    expect(prompt).to_have_value(PIRATE)
    prompt.fill(POET)
    dialog.get_by_role("button", name="Use for this chat").click()
    expect(dialog).to_be_hidden()
    assert Conversation.objects.get(pk=conversation.pk).system_prompt == POET

    upstream.clear()
    ask(page, "And the map?")
    wait_for_answer(page)
    body = sent(upstream)
    assert [m for m in body["messages"] if m["role"] == "system"] == [
        {"role": "system", "content": POET}
    ]
    assert body["messages"][0]["role"] == "system"
    assert body["temperature"] == 0.3

    # After a reload the chat still has its settings.
    page.reload()
    ready(page)
    dialog = open_settings(page)
    expect(dialog.get_by_role("textbox", name="System prompt")).to_have_value(POET)
    expect(dialog.get_by_role("spinbutton", name="Max tokens")).to_have_value("300")


def test_a_bad_setting_is_refused_in_the_dialog_and_changes_nothing(browsing, erin, upstream):
    page = browsing.page(user=erin)
    page.goto("/")
    ready(page)
    ask(page, "Hello there")
    wait_for_answer(page)
    conversation = Conversation.objects.get(owner=erin)

    dialog = open_settings(page)
    dialog.get_by_role("textbox", name="System prompt").fill("Be brief.")
    dialog.get_by_role("spinbutton", name="Temperature").fill("5")
    dialog.get_by_role("button", name="Use for this chat").click()
    expect(dialog.get_by_role("alert")).to_contain_text("temperature")
    expect(dialog).to_be_visible()
    conversation.refresh_from_db()
    assert (conversation.system_prompt, conversation.temperature) == ("", None)

    # A preset with no name is refused too.
    dialog.get_by_role("spinbutton", name="Temperature").fill("")
    dialog.get_by_role("button", name="Save as new preset").click()
    expect(dialog.get_by_role("alert")).to_contain_text("name")
    assert not Preset.objects.exists()


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize(("viewport", "theme"), [(DESKTOP, "light"), (PHONE, "dark")])
def test_the_settings_dialog_passes_an_axe_audit(browsing, erin, viewport, theme):
    Preset.objects.create(owner=erin, name="Pirate", model="plain", system_prompt=PIRATE)
    page = browsing.page(
        user=erin, viewport=viewport, color_scheme=theme, init_script=AXE.read_text()
    )
    page.goto("/")
    ready(page)
    dialog = open_settings(page)
    dialog.get_by_role("combobox", name="Preset").select_option(label="Pirate")
    dialog.get_by_role("button", name="Use for this chat").focus()
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations
            .filter((v) => v.impact === "critical" || v.impact === "serious")
            .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        }"""
    )
    assert found == []
