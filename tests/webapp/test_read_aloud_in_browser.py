"""Read aloud, in the browser: each answer has a "Read aloud" button; pressing it sends the
answer's words to POST /v1/audio/speech with the page's session (the offline eSpeak NG model,
the first speech model in the catalogue), plays the audio that comes back, and is charged;
pressing it again stops."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from aiapi.catalogue import catalogue_load
from billing.models import LedgerEntry, UsageRecord
from tests.webapp.browser import ask, wait_for_answer

SPEECH = """
[[providers]]
name = "local"
kind = "local"

[[models]]
id = "local-speech"
display_name = "Offline speech"
provider = "local"
upstream = "espeak-ng"
kind = "speech"
input_price = 2.0
"""

ANSWER = "The **lighthouse** keeper counts seven ships before the morning fog lifts."
SPOKEN = "The lighthouse keeper counts seven ships before the morning fog lifts."


# The page's CSP keeps fetch() off blob: URLs; the test remembers each blob the page makes.
REMEMBER_BLOBS = """
window.__blobs = {};
const createObjectURL = URL.createObjectURL;
URL.createObjectURL = (blob) => {
  const url = createObjectURL(blob);
  window.__blobs[url] = blob;
  return url;
};
"""


@pytest.fixture
def speech_model(catalogue):
    catalogue_load(text=SPEECH)


def test_an_answer_is_read_aloud_and_stops_when_pressed_again(
    browsing, erin, upstream, speech_model
):
    upstream.answers["Tell me about the lighthouse"] = ANSWER
    page = browsing.page(user=erin, init_script=REMEMBER_BLOBS)
    page.goto("/")
    ask(page, "Tell me about the lighthouse")
    answer = wait_for_answer(page)
    button = answer.get_by_role("button", name="Read aloud")
    expect(button).to_have_attribute("aria-pressed", "false")

    with page.expect_response("**/v1/audio/speech") as answered:
        button.click()
    response = answered.value
    headers = response.all_headers()
    asked = response.request.post_data_json
    assert response.status == 200 and headers["content-type"] == "audio/mpeg"
    assert asked["input"] == SPOKEN  # the words as shown, without the Markdown
    assert asked["model"] == "local-speech"
    expect(button).to_have_attribute("aria-pressed", "true")

    audio = page.locator("audio.read-aloud-audio")
    # It plays: the clock of the audio element moves on.
    page.wait_for_function(
        """() => { const a = document.querySelector("audio.read-aloud-audio");
                   return a && !a.paused && a.currentTime > 0.3; }""",
        timeout=15_000,
    )
    played = page.evaluate(
        """async () => {
        const a = document.querySelector("audio.read-aloud-audio");
        const bytes = new Uint8Array(await window.__blobs[a.src].arrayBuffer());
        return { src: a.src, bytes: Array.from(bytes), duration: a.duration };
      }"""
    )
    assert played["src"].startswith("blob:")
    # The blob playing is what the API answered: an MP3 of the length it sent.
    assert bytes(played["bytes"][:3]) == b"ID3"
    assert len(played["bytes"]) == int(headers["content-length"])
    assert 2 < played["duration"] < 12

    button.click()
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(audio).not_to_have_attribute("src", played["src"])
    assert page.evaluate("() => document.querySelector('audio.read-aloud-audio').paused")

    record = UsageRecord.objects.get(user=erin, endpoint="audio.speech")
    assert headers["x-request-id"] == record.request_id
    cost = Decimal(len(SPOKEN)) * 2 / 1_000_000
    assert record.prompt_tokens == len(SPOKEN) and record.cost == cost
    assert LedgerEntry.objects.get(reference=f"usage:{record.request_id}").amount == -cost


def test_without_a_speech_model_there_is_no_read_aloud_button(browsing, erin, upstream):
    upstream.answers["Hello"] = "Hi there."
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "Hello")
    answer = wait_for_answer(page)

    expect(answer.get_by_role("button", name="Copy answer")).to_be_visible()
    expect(answer.get_by_role("button", name="Read aloud")).to_have_count(0)


def test_reading_aloud_past_the_credit_is_refused_in_the_products_words(
    browsing, erin, upstream, catalogue
):
    # Fifty million dollars a million characters: the answer would cost more than erin has.
    catalogue_load(text=SPEECH.replace("input_price = 2.0", "input_price = 50000000.0"))
    upstream.answers["Tell me about the lighthouse"] = ANSWER
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "Tell me about the lighthouse")
    answer = wait_for_answer(page)
    button = answer.get_by_role("button", name="Read aloud")

    with page.expect_response("**/v1/audio/speech") as refused:
        button.click()

    assert refused.value.status == 402
    expect(page.locator("#toast")).to_contain_text("Your credit has run out for this request.")
    expect(button).to_have_attribute("aria-pressed", "false")
    assert not page.evaluate("() => document.querySelector('audio.read-aloud-audio').src")
    assert not UsageRecord.objects.filter(user=erin, endpoint="audio.speech").exists()
