"""Media in the chat, in the browser: a document attached to a message is converted to
Markdown by a media job on a real Celery worker (its progress pushed over the WebSocket) and
reaches the model as context; voice input recorded from a (fake) microphone is transcribed and
lands in the message box; image generation mode shows the job's progress, the picture and its
cost."""

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from aiapi.models import Message
from billing.models import UsageRecord
from media_tools.models import MediaJob
from tests.media_tools.helpers import SENTENCE
from tests.webapp.browser import QUESTION, ask, wait_for_answer
from tests.webapp.conftest import Browsing, browser_with_microphone

FACT = "Zorblax Industries sold 4217 teapots in March."


def report_docx() -> bytes:
    from docx import Document

    document = Document()
    document.add_heading("Quarterly teapot report", level=1)
    document.add_paragraph(FACT)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def record_socket_frames(page) -> list[dict]:
    """Every frame the page's WebSocket receives, parsed, in order."""
    frames: list[dict] = []

    def watch(socket):
        socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", watch)
    return frames


def record_chip_states(page) -> None:
    page.evaluate(
        """() => {
        window.__chips = [];
        new MutationObserver(() => {
          for (const state of document.querySelectorAll("#attachments .doc-state")) {
            if (window.__chips[window.__chips.length - 1] !== state.textContent) {
              window.__chips.push(state.textContent);
            }
          }
        }).observe(document.getElementById("attachments"),
                   {subtree: true, childList: true, characterData: true});
      }"""
    )


def test_a_document_is_converted_on_a_worker_and_reaches_the_model_as_context(
    browsing,
    erin,
    upstream,
    media_root,
    worker,
):
    page = browsing.page(user=erin)
    frames = record_socket_frames(page)
    page.goto("/")
    record_chip_states(page)

    page.locator("#file-input").set_input_files(
        files=[
            {"name": "report.docx", "mimeType": "application/octet-stream", "buffer": report_docx()}
        ]
    )
    chip = page.locator("#attachments .attachment-doc")
    expect(chip).to_contain_text("report.docx")
    expect(chip.locator(".doc-state")).to_have_text(re.compile(r"^\d+ words$"), timeout=30_000)
    job = MediaJob.objects.get(owner=erin, kind="convert")
    assert worker.job_ids == [str(job.id)]  # converted by the worker, not inline
    # Progress came over the socket, pushed as the worker made it; the chip showed it.
    pushed = [f["job"] for f in frames if f.get("type") == "job" and f["id"] == str(job.id)]
    assert pushed[-1]["status"] == "succeeded" and len(pushed) >= 2
    assert [p["progress"] for p in pushed] == sorted(p["progress"] for p in pushed)
    assert page.evaluate("window.__chips")[0].startswith("Converting…")

    ask(page, "How many teapots were sold?")

    question = page.locator(QUESTION).last
    expect(question.locator(".doc-chip")).to_contain_text("report.docx")
    expect(question.locator(".msg-text")).to_have_text("How many teapots were sold?")
    wait_for_answer(page)
    expect(page.locator("#chat-title")).to_have_text("How many teapots were sold?")
    content = upstream.requests()[-1]["body"]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "How many teapots were sold?"}
    assert content[1]["text"].startswith('<document name="report.docx">\n')
    assert FACT in content[1]["text"] and content[1]["text"].endswith("\n</document>")

    # Stored with the message: after a reload the chip is there, and opens on its text.
    page.reload()
    chip = page.locator(QUESTION).last.locator(".doc-chip")
    expect(chip).to_contain_text("report.docx")
    chip.locator("summary").click()
    expect(chip.locator(".doc-text")).to_contain_text(FACT)
    stored = Message.objects.get(conversation__owner=erin, role="user")
    assert FACT in stored.content[1]["text"]


def test_a_file_that_is_not_a_document_is_refused_and_said(browsing, erin, media_root):
    page = browsing.page(user=erin)
    page.goto("/")
    page.locator("#file-input").set_input_files(
        files=[
            {"name": "notes.bin", "mimeType": "application/octet-stream", "buffer": b"\x00" * 64}
        ]
    )
    expect(page.locator("#composer-notice")).to_contain_text("notes.bin could not be converted:")
    expect(page.locator("#attachments .attachment-doc")).to_have_count(0)
    expect(page.get_by_role("button", name="Send")).to_be_disabled()


@pytest.fixture
def spoken_sentence(tmp_path) -> Path:
    """The sentence spoken by espeak-ng, as the fake microphone will play it."""
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-v", "en-us", "-w", str(path), SENTENCE], check=True)
    return path


@pytest.fixture
def speaking(playwright, spoken_sentence, site):
    browser = browser_with_microphone(playwright, spoken_sentence)
    browsing = Browsing(browser, site)
    yield browsing
    browsing.close()
    browser.close()
    assert not browsing.errors, f"the page threw: {browsing.errors}"


def test_voice_input_records_the_microphone_and_the_words_land_in_the_message_box(
    speaking, erin, media_root
):
    page = speaking.page(user=erin)
    page.goto("/")
    page.locator("#prompt").fill("Note:")
    microphone = page.get_by_role("button", name="Dictate: record your voice")
    microphone.click()

    stop = page.get_by_role("button", name="Stop recording and transcribe")
    expect(stop).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#voice-status")).to_contain_text("Listening… 0:0")
    page.wait_for_timeout(4500)  # the sentence, spoken once
    stop.click()

    expect(page.locator("#voice-status")).to_be_hidden(timeout=30_000)
    expect(page.locator("#prompt")).not_to_have_value("Note:")
    words = page.locator("#prompt").input_value()
    assert words.startswith("Note: ") and len(words) > len("Note: ")
    job = MediaJob.objects.get(owner=erin, kind="transcription")
    assert job.status == "succeeded" and job.input_type in ("webm", "ogg")
    assert job.result_text.strip() and job.result_text.strip() in words
    assert UsageRecord.objects.get(user=erin, endpoint="media.transcription").cost > 0
    expect(page.get_by_role("button", name="Dictate: record your voice")).to_be_enabled()


def test_esc_throws_a_recording_away(speaking, erin, media_root):
    page = speaking.page(user=erin)
    page.goto("/")
    page.get_by_role("button", name="Dictate: record your voice").click()
    expect(page.locator("#voice-status")).to_contain_text("Listening…")
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Dictate: record your voice")).to_have_attribute(
        "aria-pressed", "false"
    )
    expect(page.locator("#voice-status")).to_be_hidden()
    assert not MediaJob.objects.filter(owner=erin).exists()


def test_image_mode_creates_a_picture_and_shows_it_with_its_cost(browsing, erin, media_root):
    page = browsing.page(user=erin)
    page.goto("/")
    page.get_by_role("button", name="Create an image").click()
    expect(page.get_by_role("button", name="Create an image")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_label("Image model")).to_have_value("demo-image")
    page.get_by_label("Image size").select_option(label="Wide")
    prompt = page.get_by_placeholder("Describe an image")
    prompt.fill("A lighthouse at dusk")
    prompt.press("Enter")

    card = page.locator("article.msg-image")
    expect(card.locator(".image-prompt")).to_have_text("A lighthouse at dusk")
    image = card.locator(".image-frame img")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("alt", re.compile("lighthouse"))
    # Loaded, over the session (the file is its owner's only).
    page.wait_for_function("() => document.querySelector('article.msg-image img').naturalWidth > 0")
    job = MediaJob.objects.get(owner=erin, kind="image")
    assert job.params["size"] == "1792x1024" and job.params["prompt"] == "A lighthouse at dusk"
    expect(card.locator(".msg-meta")).to_have_text("Demo Image · $0.002")
    expect(card.get_by_role("link", name="Download")).to_have_attribute(
        "href", f"/v1/media/jobs/{job.id}/files/0"
    )
    expect(card).not_to_have_attribute("aria-busy", "true")

    # Esc goes back to chatting; the picture stays in the chat.
    page.keyboard.press("Escape")
    expect(page.get_by_placeholder("Message Chuk Chat")).to_be_visible()
    expect(page.locator("#image-mode-bar")).to_be_hidden()
    expect(card).to_be_visible()


def test_an_image_the_balance_cannot_cover_says_so_with_a_way_to_buy_credits(
    browsing, alice, catalogue, media_root, no_free_allowance, settings
):
    settings.STRIPE_SECRET_KEY = "sk_test_payments_are_set_up"
    page = browsing.page(user=alice)
    page.goto("/")
    page.get_by_role("button", name="Create an image").click()
    page.get_by_placeholder("Describe an image").fill("A cat")
    page.keyboard.press("Enter")
    error = page.locator("article.msg-image").get_by_role("alert")
    expect(error).to_contain_text("credit")
    expect(error.get_by_role("link", name="Buy credits")).to_have_attribute(
        "href", "/billing#credits"
    )
