"""Sharing a chat: its owner makes a read-only link, anyone with it reads the chat signed out
(rendered on the server, safely), and once the owner stops sharing, or deletes the chat or
the account, the link is a 404."""

import base64
import re

import httpx
import pytest
from django.test import Client

from accounts.account_deletion import account_delete
from aiapi.conversations import conversation_delete
from aiapi.models import Conversation, ConversationImage, Message
from fakes.openai_fake import tiny_png
from sharing.models import ShareLink
from tests.factories import UserFactory

QUESTION = "What is the capital of France?"
PASSWORD = "correct horse battery staple"  # tests/factories.py
INJECTION = (
    'Try: <img src=x onerror="alert(1)"> <script>alert(2)</script> '
    "[click me](javascript:alert(3)) [tab](java&#x09;script:alert(4)) "
    '<a href="javascript:alert(5)">me</a> ![pic](https://tracker.example/p.png) **safely**'
)


def say(http, content, conversation_id="new"):
    reply = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "conversation_id": conversation_id, "content": content},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def share(http, conversation_id, expect=201):
    reply = http.post(f"/v1/conversations/{conversation_id}/share")
    assert reply.status_code == expect, reply.text
    return reply.json()


@pytest.fixture
def visitor(gateway_url):
    """Someone with no account and no cookies."""
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        yield client


def test_a_shared_chat_is_read_by_a_signed_out_visitor(http, visitor, carol):
    answer = say(http, QUESTION)
    link = share(http, answer["conversationId"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", link["token"])
    assert link["path"] == f"/s/{link['token']}"
    assert link["url"].endswith(link["path"]) and link["shows"] == "current"

    page = visitor.get(link["path"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "What is the capital of France?" in html
    assert answer["text"].split()[0] in html
    assert "Fast" in html or "fast" in html  # the answer's model
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert page.headers["x-robots-tag"] == "noindex, nofollow"
    assert "no-store" in page.headers["cache-control"]
    assert "It shows the chat as it is now" in html
    assert carol.email not in html
    assert answer["cost"]["charged"] not in html or answer["cost"]["charged"] == "0"
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_sharing_again_returns_the_same_link(http):
    conversation_id = say(http, QUESTION)["conversationId"]
    first = share(http, conversation_id, expect=201)
    again = share(http, conversation_id, expect=200)
    assert again["token"] == first["token"]
    assert http.get(f"/v1/conversations/{conversation_id}/share").json()["token"] == first["token"]
    assert ShareLink.objects.filter(conversation_id=conversation_id).count() == 1


def test_the_page_shows_the_chat_as_it_is_now(http, visitor):
    conversation_id = say(http, QUESTION)["conversationId"]
    link = share(http, conversation_id)
    say(http, "And of Spain?", conversation_id=conversation_id)
    assert "And of Spain?" in visitor.get(link["path"]).text


def test_stopping_sharing_makes_the_link_a_404_page(http, visitor):
    conversation_id = say(http, QUESTION)["conversationId"]
    link = share(http, conversation_id)

    assert http.delete(f"/v1/conversations/{conversation_id}/share").status_code == 204
    page = visitor.get(link["path"])
    assert page.status_code == 404
    assert "This link does not work" in page.text and QUESTION not in page.text

    # Not shared any more: asking for the link, or stopping again, is a clear 404.
    for method in ("GET", "DELETE"):
        reply = http.request(method, f"/v1/conversations/{conversation_id}/share")
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "share_not_found"

    # Sharing again makes a new link; the old one stays dead.
    fresh = share(http, conversation_id, expect=201)
    assert fresh["token"] != link["token"]
    assert visitor.get(fresh["path"]).status_code == 200
    assert visitor.get(link["path"]).status_code == 404


def test_someone_elses_chat_cannot_be_shared_or_unshared(http, gateway_url, carol, catalogue):
    conversation_id = say(http, QUESTION)["conversationId"]
    link = share(http, conversation_id)
    from accounts.api_keys import api_key_create

    bob = UserFactory(email="bob@example.com")
    _, bob_key = api_key_create(user=bob, name="bob's")
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {bob_key}"}) as b:
        for method in ("GET", "POST", "DELETE"):
            reply = b.request(method, f"/v1/conversations/{conversation_id}/share")
            assert reply.status_code == 404, method
            assert reply.json()["error"]["code"] == "conversation_not_found"
        assert b.post("/v1/conversations/999999/share").status_code == 404
    assert ShareLink.objects.get(conversation_id=conversation_id).revoked_at is None
    assert ShareLink.objects.count() == 1
    assert link["token"] == ShareLink.objects.get().token


def test_sharing_needs_a_key_or_a_session(visitor, http):
    conversation_id = say(http, QUESTION)["conversationId"]
    reply = visitor.post(f"/v1/conversations/{conversation_id}/share")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"
    assert not ShareLink.objects.exists()


def test_the_web_app_session_shares_and_stops_sharing(carol, http):
    conversation_id = say(http, QUESTION)["conversationId"]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(carol)
    browser.get("/")  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    refused = browser.post(
        f"/v1/conversations/{conversation_id}/share", content_type="application/json"
    )
    assert refused.status_code == 403  # no CSRF token: refused, nothing shared
    assert not ShareLink.objects.exists()
    made = browser.post(
        f"/v1/conversations/{conversation_id}/share",
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert made.status_code == 201
    gone = browser.delete(f"/v1/conversations/{conversation_id}/share", HTTP_X_CSRFTOKEN=token)
    assert gone.status_code == 204
    assert ShareLink.objects.get().revoked_at is not None


def test_an_answer_with_html_and_script_links_renders_inert(http, visitor):
    conversation_id = say(http, QUESTION)["conversationId"]
    Message.objects.create(conversation_id=conversation_id, role="assistant", content=INJECTION)
    Message.objects.create(
        conversation_id=conversation_id, role="user", content='<b onmouseover="alert(6)">hi</b>'
    )
    html = visitor.get(share(http, conversation_id)["path"]).text
    body = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    assert "<script" not in body and "<img src=x" not in body and "<b " not in body
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    assert "&lt;b onmouseover=&quot;alert(6)&quot;&gt;hi&lt;/b&gt;" in body  # typed, shown as typed
    assert not re.search(r"href=\"\s*java", body, re.IGNORECASE)
    assert "onerror=" not in body.replace("onerror=&quot;", "")
    assert "<strong>safely</strong>" in body  # Markdown still works
    # The picture a model wrote is a link, not a request to its address.
    assert 'href="https://tracker.example/p.png"' in body and 'src="https://' not in body
    assert 'rel="noopener noreferrer nofollow"' in body


def test_generated_pictures_are_served_through_the_link_only(http, visitor, carol):
    conversation_id = say(http, QUESTION)["conversationId"]
    picture = ConversationImage.objects.create(
        conversation_id=conversation_id,
        job_id="00000000-0000-4000-8000-000000000001",
        prompt="A lighthouse at dusk",
        model="demo-image",
        content_type="image/png",
        data=tiny_png("lighthouse"),
    )
    other = Conversation.objects.create(owner=carol, title="another chat")
    elsewhere = ConversationImage.objects.create(
        conversation=other,
        job_id="00000000-0000-4000-8000-000000000002",
        prompt="Not shared",
        content_type="image/png",
        data=tiny_png("lighthouse"),
    )
    link = share(http, conversation_id)
    html = visitor.get(link["path"]).text
    address = f"{link['path']}/images/{picture.pk}"
    assert f'src="{address}"' in html and "A lighthouse at dusk" in html
    assert f"/v1/conversations/{conversation_id}/images" not in html  # no private address
    served = visitor.get(address)
    assert served.status_code == 200 and served.content == tiny_png("lighthouse")
    assert served.headers["content-type"] == "image/png"
    assert visitor.get(f"{link['path']}/images/{elsewhere.pk}").status_code == 404
    assert (
        visitor.get(f"/v1/conversations/{conversation_id}/images/{picture.pk}").status_code == 401
    )

    http.delete(f"/v1/conversations/{conversation_id}/share")
    assert visitor.get(address).status_code == 404


def test_unknown_or_malformed_links_are_404_pages(visitor, carol):
    for path in ("/s/nope", "/s/" + "x" * 500, "/s/%00", "/s/a%20b", "/s/nope/images/1"):
        page = visitor.get(path)
        assert page.status_code == 404, path
        assert "This link does not work" in page.text


def test_deleting_the_chat_removes_its_links(http, visitor):
    conversation_id = say(http, QUESTION)["conversationId"]
    link = share(http, conversation_id)
    conversation_delete(conversation=Conversation.objects.get(pk=conversation_id))
    assert not ShareLink.objects.exists()
    assert visitor.get(link["path"]).status_code == 404


def test_deleting_the_account_removes_its_links(http, visitor, carol):
    first = share(http, say(http, QUESTION)["conversationId"])
    second_id = say(http, "And of Spain?")["conversationId"]
    share(http, second_id)
    http.delete(f"/v1/conversations/{second_id}/share")  # a revoked one goes too
    assert ShareLink.objects.count() == 2
    account_delete(user=carol, password=PASSWORD, confirm_email=carol.email)
    assert not ShareLink.objects.exists()
    assert visitor.get(first["path"]).status_code == 404


def test_what_the_user_attached_is_shown_without_fetching_anything(http, visitor):
    conversation_id = say(http, QUESTION)["conversationId"]
    attached = "data:image/png;base64," + base64.b64encode(tiny_png("x")).decode()
    Message.objects.create(
        conversation_id=conversation_id,
        role="user",
        content=[
            {"type": "text", "text": "Look at these"},
            {
                "type": "text",
                "text": '<document name="report.docx">\n# Teapots\n\nWe sold 4217.\n</document>',
            },
            {"type": "image_url", "image_url": {"url": attached}},
            {"type": "image_url", "image_url": {"url": "https://tracker.example/pixel.png"}},
        ],
    )
    html = visitor.get(share(http, conversation_id)["path"]).text
    assert "Look at these" in html
    assert 'class="doc-name">report.docx</span>' in html and "We sold 4217." in html
    assert f'src="{attached}"' in html
    assert "tracker.example" not in html and "(1 image attached)" in html
