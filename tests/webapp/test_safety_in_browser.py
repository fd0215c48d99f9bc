"""Nothing a model writes (or a user types) runs in the page: HTML in an answer is shown as
text, links cannot carry scripts, and the sanitizer has the last word."""

from playwright.sync_api import expect

from tests.webapp.browser import ANSWER, QUESTION, ask, wait_for_answer

INJECTION = (
    'Try this: <img src=x onerror="window.__xss = 1"> and '
    "<script>window.__xss = 2</script> or "
    "[click me](javascript:window.__xss=3) and "
    '<a href="javascript:window.__xss=4">me</a>, **safely**.'
)


def test_html_and_script_in_an_answer_are_shown_as_text_and_never_run(browsing, erin, upstream):
    upstream.answers["Show me some HTML"] = INJECTION
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "Show me some HTML")
    answer = wait_for_answer(page)

    body = answer.locator(".msg-body")
    expect(body).to_contain_text('<img src=x onerror="window.__xss = 1">')
    expect(body).to_contain_text("<script>window.__xss = 2</script>")
    expect(body.locator("strong")).to_have_text("safely")  # Markdown still works
    assert body.locator("img, script, iframe").count() == 0
    hrefs = body.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert not any(href and href.lower().startswith("javascript") for href in hrefs)
    assert page.evaluate("window.__xss") is None

    page.reload()  # the stored answer is rendered the same way
    expect(page.locator(ANSWER).locator(".msg-body")).to_contain_text("<script>")
    assert page.locator(f"{ANSWER} .msg-body img, {ANSWER} .msg-body script").count() == 0
    assert page.evaluate("window.__xss") is None


def test_what_a_user_types_is_shown_as_typed(browsing, erin, upstream):
    page = browsing.page(user=erin)
    page.goto("/")
    typed = '<img src=x onerror="window.__xss = 5"> **not bold**'
    ask(page, typed)
    wait_for_answer(page)
    question = page.locator(QUESTION)
    expect(question.locator(".msg-text")).to_have_text(typed)
    assert question.locator("img, strong").count() == 0
    assert page.evaluate("window.__xss") is None


def test_a_chat_title_with_markup_is_plain_text_in_the_sidebar(browsing, erin, upstream):
    page = browsing.page(user=erin)
    page.goto("/")
    ask(page, "<b onmouseover=alert(1)>hi</b>")
    wait_for_answer(page)
    item = page.locator("#conversation-list .conv-link").first
    expect(item).to_have_text("<b onmouseover=alert(1)>hi</b>")
    assert item.locator("b").count() == 0
