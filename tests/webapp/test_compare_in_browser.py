"""Comparing models in the browser: one message to two models, whose answers stream at the
same time in panes of their own (side by side on a desktop, stacked on a phone), each with
its tokens and cost; the person keeps one, and after a reload the chat holds that answer only,
while both were charged."""

import re
from decimal import Decimal

from playwright.sync_api import expect

from aiapi.catalogue import catalogue_load
from aiapi.models import Conversation
from billing.models import UsageRecord
from tests.webapp.browser import ANSWER, QUESTION, ask, ready
from tests.webapp.conftest import PHONE, ScriptedUpstream
from tests.webapp.test_accessibility_in_browser import AXE, describe, violations

ASKED = "Which river runs through Paris?"
ANSWERS = {  # by the model's upstream name: what each writes, word by word
    "fake:tokens=60,tps=12": "The Seine runs through Paris, past the Louvre and Notre-Dame, "
    "on its way from Burgundy to the sea at Le Havre, slowly.",
    "fake:tokens=60,tps=11": "Paris sits on the Seine; its right bank and left bank are named "
    "for the river, which the city crosses with thirty-seven bridges.",
}
UPSTREAM = {"slow": "fake:tokens=60,tps=12", "patient": "fake:tokens=60,tps=11"}
PATIENT = """
[[models]]
id = "patient"
display_name = "Patient Writer"
provider = "fake"
upstream = "fake:tokens=60,tps=11"
input_price = 3.0
output_price = 6.0
sort_order = 5
"""


def answers_by_model(upstream, monkeypatch):
    """Each model writes its own answer, at its own pace (about two seconds)."""

    def plan(body, options, *, limit_key):
        tokens, thoughts, finish = ScriptedUpstream.plan(
            upstream, body, options, limit_key=limit_key
        )
        if body.get("model") in ANSWERS:
            tokens = re.findall(r"\s*\S+", ANSWERS[body["model"]])
            options["tps"] = 12
        return tokens, thoughts, finish

    monkeypatch.setattr(upstream, "plan", plan, raising=False)


def choose_to_compare(page, *names):
    page.get_by_role("button", name="Compare").click()
    panel = page.get_by_role("group", name="Compare answers from 2 or 3 models")
    expect(panel).to_be_visible()
    for box in panel.get_by_role("checkbox").all():
        box.uncheck()
    for name in names:
        box = panel.get_by_role("checkbox", name=name)
        box.focus()
        page.keyboard.press("Space")  # from the keyboard, as a person might
        expect(box).to_be_checked()
    expect(panel.get_by_role("status")).to_have_text(
        f"Your next message goes to {' and '.join(names)}."
    )
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator("#compare-button")).to_have_text(f"Compare ({len(names)})")


def record_panes(page) -> None:
    """From now on, remembers each pane's text length and whether it had finished."""
    page.evaluate(
        """() => {
        window.__panes = [];
        new MutationObserver(() => {
          const panes = [...document.querySelectorAll(".compare-pane")];
          window.__panes.push(panes.map((pane) => ({
            text: pane.querySelector(".msg-body").textContent.trim().length,
            done: pane.querySelector("article").getAttribute("aria-busy") !== "true",
          })));
        }).observe(document.getElementById("thread"),
                   {subtree: true, childList: true, characterData: true, attributes: true});
      }"""
    )


def shown_cost(meta_text: str) -> Decimal:
    return Decimal(re.search(r"\$(\d+\.\d+)$", meta_text)[1])


def test_two_models_answer_side_by_side_and_the_kept_one_continues_the_chat(
    browsing, erin, upstream, monkeypatch
):
    catalogue_load(text=PATIENT)
    answers_by_model(upstream, monkeypatch)
    page = browsing.page(user=erin)
    page.goto("/")
    ready(page)
    choose_to_compare(page, "Slow Writer", "Patient Writer")
    record_panes(page)

    ask(page, ASKED)

    panes = page.locator(".compare-pane")
    expect(panes).to_have_count(2)
    expect(panes.nth(0).get_by_role("heading")).to_have_text("Slow Writer")
    expect(panes.nth(1).get_by_role("heading")).to_have_text("Patient Writer")
    # Nothing can be kept while the answers are still being written.
    expect(panes.get_by_role("button", name="Keep this answer", disabled=True)).to_have_count(2)
    for index in range(2):
        expect(panes.nth(index).locator("[aria-live=polite]")).to_have_count(1)
        expect(panes.nth(index).locator("article")).not_to_have_attribute(
            "aria-busy", "true", timeout=15_000
        )
    seen = page.evaluate("window.__panes")
    assert any(len(s) == 2 and all(p["text"] > 0 and not p["done"] for p in s) for s in seen), (
        "both answers should be seen part-written at the same moment"
    )

    # Side by side at 1280 px: one row, two columns.
    first, second = panes.nth(0).bounding_box(), panes.nth(1).bounding_box()
    assert abs(first["y"] - second["y"]) < 2 and second["x"] >= first["x"] + first["width"]

    records = {r.model: r for r in UsageRecord.objects.filter(user=erin)}
    assert set(records) == {"slow", "patient"}  # both asked, both charged
    assert not Conversation.objects.filter(owner=erin).exists()  # nothing stored yet
    for index, (model, name) in enumerate([("slow", "Slow Writer"), ("patient", "Patient Writer")]):
        pane = panes.nth(index)
        expect(pane.locator(".msg-body")).to_have_text(ANSWERS[UPSTREAM[model]])
        meta = pane.locator(".msg-meta")
        record = records[model]
        expect(meta).to_have_text(
            re.compile(
                rf"^{name} · {record.prompt_tokens} in · {record.completion_tokens} out"
                rf" · \$0\.0\d+$"
            )
        )
        cost = shown_cost(meta.inner_text())
        assert abs(cost - record.cost) <= record.cost * Decimal("0.05")  # two digits shown

    slow_cost = panes.nth(0).locator(".msg-cost").inner_text()
    panes.nth(1).get_by_role("button", name="Keep this answer").click()

    expect(page.locator(".compare-note")).to_have_text(
        f"Kept Patient Writer's answer. Not kept, but charged: Slow Writer {slow_cost}."
    )
    expect(page.locator(".compare-pane")).to_have_count(0)
    conversation = Conversation.objects.get(owner=erin)
    expect(page).to_have_url(re.compile(rf"/c/{conversation.pk}$"))
    expect(page.locator("#conversation-list .conv.active")).to_have_text(ASKED)

    page.reload()
    ready(page)
    expect(page.locator(QUESTION)).to_have_count(1)
    expect(page.locator(QUESTION)).to_contain_text(ASKED)
    answers = page.locator(ANSWER)
    expect(answers).to_have_count(1)
    expect(answers.locator(".msg-body")).to_have_text(ANSWERS[UPSTREAM["patient"]])
    expect(answers.locator(".msg-meta")).to_contain_text("Patient Writer")
    expect(answers.locator(".msg-cost")).to_have_text(re.compile(r"^\$0\.0\d+$"))
    kept = conversation.messages.get(role="assistant")
    assert (kept.model, kept.request_id) == ("patient", records["patient"].request_id)
    assert kept.cost == records["patient"].cost
    assert kept.completion_tokens == records["patient"].completion_tokens
    assert UsageRecord.objects.filter(user=erin, model="slow").exists()  # still charged


def test_on_a_phone_the_compared_answers_are_stacked(browsing, erin, upstream):
    upstream.answers[ASKED] = "The Seine, which the city crosses many times."
    page = browsing.page(user=erin, viewport=PHONE, init_script=AXE.read_text())
    page.goto("/")
    ready(page)
    page.get_by_role("button", name="Compare").click()
    found = violations(page)  # the list of models, open
    assert not found, describe(found)
    page.keyboard.press("Escape")
    choose_to_compare(page, "Swift", "Plain Text")

    ask(page, ASKED)

    panes = page.locator(".compare-pane")
    expect(panes).to_have_count(2)
    for index in range(2):
        expect(panes.nth(index).locator(".msg-cost")).to_have_text(re.compile(r"^\$0\.0\d+$"))
    first, second = panes.nth(0).bounding_box(), panes.nth(1).bounding_box()
    assert second["y"] >= first["y"] + first["height"]  # one under the other
    assert abs(first["x"] - second["x"]) < 2 and first["width"] > PHONE["width"] * 0.8
    expect(panes.nth(0).get_by_role("button", name="Keep this answer")).to_be_enabled()
    found = violations(page)  # the answers in their panes
    assert not found, describe(found)
