"""When the WebSocket cannot connect, answers come over SSE; when it drops mid-answer, the page
reconnects and resumes the answer from the last frame it saw, with nothing lost or doubled."""

import re

from playwright.sync_api import expect

from aiapi.models import Message
from fakes.upstream_server import content_tokens
from tests.webapp.browser import ask, choose_model, last_answer, wait_for_answer

# A network where WebSockets never get through (some proxies): every socket fails to open.
NO_WEBSOCKETS = """
window.WebSocket = class extends EventTarget {
  static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    window.__socketAttempts = (window.__socketAttempts || 0) + 1;
    setTimeout(() => {
      this.readyState = 3;
      this.dispatchEvent(new Event("error"));
      this.dispatchEvent(new CloseEvent("close", {code: 1006}));
    }, 20);
  }
  send() { throw new Error("not open"); }
  close() {}
};
"""


def test_without_websockets_answers_stream_over_sse(browsing, erin, upstream):
    upstream.answers["Are you there?"] = "Yes, over plain HTTP this time."
    page = browsing.page(user=erin, init_script=NO_WEBSOCKETS)
    page.goto("/")
    with page.expect_request(re.compile(r"/v1/ai/chat/stream$")) as request:
        ask(page, "Are you there?")
    assert request.value.headers["x-csrftoken"]
    answer = wait_for_answer(page)
    expect(answer.locator(".msg-body")).to_have_text("Yes, over plain HTTP this time.")
    expect(answer.locator(".msg-meta")).to_contain_text("Swift ·")
    assert page.evaluate("window.__socketAttempts") >= 1

    # The conversation goes on over SSE too.
    upstream.answers["And again?"] = "Still here."
    ask(page, "And again?")
    expect(wait_for_answer(page).locator(".msg-body")).to_have_text("Still here.")


def test_stopping_an_sse_answer_keeps_what_was_written_and_shows_its_cost(browsing, erin, upstream):
    page = browsing.page(user=erin, init_script=NO_WEBSOCKETS)
    page.goto("/")
    choose_model(page, "Slow Writer")
    ask(page, "Tell me everything")
    expect(last_answer(page).locator(".msg-body")).to_contain_text("charlie")
    page.get_by_role("button", name="Stop generating").click()

    answer = wait_for_answer(page)
    expect(answer.locator(".msg-meta .tag")).to_have_text("Stopped")
    expect(answer.locator(".msg-meta")).to_contain_text(re.compile(r"\$0\.0000\d+"))
    stored = Message.objects.get(role="assistant", conversation__owner=erin)
    assert stored.finish_reason == "cancelled"
    assert answer.locator(".msg-body").inner_text().split() == stored.content.split()


def test_a_dropped_socket_reconnects_and_resumes_the_answer_where_it_left_off(
    browsing, erin, upstream
):
    sockets = []

    def through_to_the_server(route):
        server = route.connect_to_server()
        sockets.append((route, server))

    page = browsing.page(user=erin)
    page.route_web_socket(re.compile(r"/v1/ai/chat/ws$"), through_to_the_server)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("data-ready", "true")
    page.evaluate(
        """() => {
        window.__statuses = [];
        new MutationObserver(() => {
          for (const s of document.querySelectorAll(".msg-status")) {
            if (!s.hidden && s.textContent) window.__statuses.push(s.textContent);
          }
        }).observe(document.getElementById("thread"),
                   {subtree: true, childList: true, characterData: true, attributes: true});
      }"""
    )
    choose_model(page, "Slow Writer")
    ask(page, "Count slowly")
    answer = last_answer(page)
    expect(answer.locator(".msg-body")).to_contain_text("echo")
    assert len(sockets) == 1

    # The network drops: both ends of the socket go away mid-answer.
    route, server = sockets[0]
    route.close(code=1001, reason="network gone")
    server.close()

    answer = wait_for_answer(page, timeout=30_000)
    full = "".join(content_tokens(60))
    assert answer.locator(".msg-body").inner_text().strip() == full.strip()
    assert len(sockets) >= 2  # it reconnected
    assert "Connection lost. Reconnecting…" in page.evaluate("window.__statuses")
    expect(answer.locator(".msg-meta")).to_contain_text("60 out")
    stored = Message.objects.get(role="assistant", conversation__owner=erin)
    assert stored.content == full and stored.finish_reason == "stop"
