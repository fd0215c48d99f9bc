"""Security headers: every HTML page carries a Content-Security-Policy that allows only our own
scripts and styles (and the pages need nothing more: no inline script, style or handler), HSTS
is sent over https, and a client's X-Forwarded-Proto is believed only when
CHUK_TRUSTED_PROXY_COUNT says a proxy is there."""

import importlib.util
from html.parser import HTMLParser
from pathlib import Path

import pytest

import chukchat.settings

pytestmark = pytest.mark.django_db

PAGES_FOR_ANYONE = [
    "/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/admin/login/",
    "/no-such-page",
]
PAGES_FOR_ALICE = ["/", "/usage", "/keys", "/billing", "/settings", "/accounts/email/"]


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


class InlineCode(HTMLParser):
    """What a strict policy would refuse to run or apply: script elements with code in them,
    style elements, style attributes, on* handlers and javascript: links."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            data_block = attributes.get("type") in ("application/json", "importmap")
            self._in_script = "src" not in attributes and not data_block
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f'<{tag} {name}="{value}">')
            if name in ("href", "src", "action") and (value or "").startswith("javascript:"):
                self.found.append(f'<{tag} {name}="{value}">')

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"<script>{data.strip()[:60]}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.parametrize("path", PAGES_FOR_ANYONE)
def test_every_page_a_visitor_sees_carries_the_policy(client, path):
    response = client.get(path)

    assert response["Content-Type"].startswith("text/html")
    policy = policy_of(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path", PAGES_FOR_ALICE)
def test_every_page_of_the_web_app_carries_the_policy(signed_in, path):
    response = signed_in.get(path)

    assert response.status_code == 200
    assert policy_of(response)["script-src"] == ["'self'"]


def test_the_chat_socket_to_the_pages_own_host_is_allowed(signed_in):
    connect = policy_of(signed_in.get("/"))["connect-src"]

    assert connect == ["'self'", "ws://testserver", "wss://testserver"]


@pytest.mark.parametrize("path", ["/", "/usage", "/keys", "/billing", "/settings"])
def test_the_web_app_pages_need_no_inline_script_style_or_handler(signed_in, path):
    assert inline_code(signed_in.get(path).content.decode()) == []


def test_allauths_email_page_has_one_inline_style_and_our_stylesheet_does_its_work(signed_in):
    # allauth's own template (account/email_change.html), not ours: the policy refuses the
    # style, and app.css hides the form (only hidden inputs) the same way.
    page = signed_in.get("/accounts/email/").content.decode()

    assert inline_code(page) == ['<form style="display: none">']
    assert 'id="pending-email"' in page
    stylesheet = (Path(chukchat.settings.BASE_DIR) / "static/app/app.css").read_text()
    assert "#pending-email { display: none; }" in stylesheet


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/", "/no-such-page"])
def test_the_pages_for_visitors_need_no_inline_script_style_or_handler(client, path):
    assert inline_code(client.get(path).content.decode()) == []


def test_the_remembered_theme_is_applied_by_a_script_file_before_the_stylesheet(client):
    page = client.get("/").content.decode()

    early = page.index('src="/static/app/theme-early.js"')
    assert early < page.index('rel="stylesheet"')


def test_an_api_answer_is_not_a_page_and_gets_no_policy(client, alice_key):
    response = client.get("/v1/user/status", HTTP_AUTHORIZATION=f"Bearer {alice_key}")

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers


# --- https ----------------------------------------------------------------------------------
def test_a_page_served_over_https_tells_the_browser_to_stay_on_https(client):
    response = client.get("/", secure=True)

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_over_plain_http_there_is_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_without_a_trusted_proxy_a_clients_forwarded_proto_is_not_believed(client):
    response = client.get("/", HTTP_X_FORWARDED_PROTO="https")

    assert "Strict-Transport-Security" not in response.headers


def test_behind_a_trusted_proxy_its_forwarded_proto_makes_the_request_secure(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # COUNT=1's value

    response = client.get("/", HTTP_X_FORWARDED_PROTO="https")

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def settings_read_with(monkeypatch, **environment):
    """chukchat/settings.py read afresh with these environment variables (the running
    settings are left alone)."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    path = Path(chukchat.settings.__file__)
    spec = importlib.util.spec_from_file_location("settings_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_forwarded_proto_header_is_read_only_when_a_proxy_is_trusted(monkeypatch):
    monkeypatch.delenv("CHUK_TRUSTED_PROXY_COUNT", raising=False)
    direct = settings_read_with(monkeypatch)
    proxied = settings_read_with(monkeypatch, CHUK_TRUSTED_PROXY_COUNT="1")

    assert direct.TRUSTED_PROXY_COUNT == 0 and direct.SECURE_PROXY_SSL_HEADER is None
    assert proxied.TRUSTED_PROXY_COUNT == 1
    assert proxied.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")


def test_hsts_can_be_turned_off(client, settings):
    settings.HSTS_SECONDS = 0

    assert "Strict-Transport-Security" not in client.get("/", secure=True).headers
