"""What a test does in the chat app and reads off it, in a user's words."""

from playwright.sync_api import Page, expect

ANSWER = "article.msg-assistant"
QUESTION = "article.msg-user"


def ask(page: Page, text: str) -> None:
    page.locator("#prompt").fill(text)
    page.locator("#prompt").press("Enter")


def last_answer(page: Page):
    return page.locator(ANSWER).last


def wait_for_answer(page: Page, *, timeout: float = 15_000):
    """The last answer, once it has finished (its footer shows tokens and cost)."""
    answer = last_answer(page)
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=timeout)
    expect(answer.locator(".msg-foot")).to_be_visible()
    return answer


def answer_text(answer) -> str:
    return answer.locator(".msg-body").inner_text().strip()


def record_answer_growth(page: Page) -> None:
    """From now on, remembers every text the last answer showed while it was written."""
    page.evaluate(
        """() => {
        window.__seen = [];
        new MutationObserver(() => {
          const answers = document.querySelectorAll("article.msg-assistant .msg-body");
          const last = answers[answers.length - 1];
          if (last) window.__seen.push(last.textContent);
        }).observe(document.getElementById("thread"),
                   {subtree: true, childList: true, characterData: true});
      }"""
    )


def answer_growth(page: Page) -> list[str]:
    seen = page.evaluate("window.__seen")
    distinct = []
    for text in seen:
        if text and (not distinct or distinct[-1] != text):
            distinct.append(text)
    return distinct


def choose_model(page: Page, name: str) -> None:
    page.get_by_role("button", name="Model:").click()
    page.get_by_role("option", name=name).click()
    expect(page.locator("[data-model-name]")).to_have_text(name)


def ready(page: Page) -> Page:
    """Once the page's modules have run (they mark <html data-ready>): its buttons work."""
    expect(page.locator("html")).to_have_attribute("data-ready", "true")
    return page


def visit(page: Page, path: str) -> Page:
    page.goto(path)
    return ready(page)
