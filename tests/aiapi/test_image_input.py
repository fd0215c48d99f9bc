"""Images in chat messages: data URIs are checked, URLs fetched by us and never from private
addresses (whatever IPv6 form hides them, and whatever the name resolves to the second time),
and only vision models accept them."""

import base64
import logging
import socket
import sys
from decimal import Decimal

import httpx
import openai
import pytest

from aiapi.image_input import fetch_image, public_address
from billing.models import UsageRecord
from billing.selectors import balance_of
from chukchat.errors import ApiError
from tests.support.loops import run_on_own_loop
from tests.support.servers import ThreadedServer

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+P+/HgAFhAJ/wlseKgAAAABJRU5ErkJggg=="
)
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def image_message(url: str, text: str = "What is in this image?") -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": text},
            ],
        }
    ]


site_hits: list[str] = []  # every path the image site was asked for


async def image_site(scope, receive, send):
    """Serves /cat.png, a /fake.png that is text, /hop redirecting to 127.0.0.2 and /hop-nat64
    redirecting to 127.0.0.1 written as a NAT64 address."""
    path = scope["path"]
    site_hits.append(path)
    if path == "/cat.png":
        status, headers, body = 200, [(b"content-type", b"image/png")], PNG
    elif path == "/fake.png":
        status, headers, body = 200, [(b"content-type", b"image/png")], b"not an image"
    elif path == "/hop":
        port = scope["server"][1]
        status, headers, body = (
            302,
            [(b"location", f"http://127.0.0.2:{port}/cat.png".encode())],
            b"",
        )
    elif path == "/hop-nat64":
        port = scope["server"][1]
        status, headers, body = (
            302,
            [(b"location", f"http://[64:ff9b::7f00:1]:{port}/cat.png".encode())],
            b"",
        )
    else:
        status, headers, body = 404, [], b""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def site():
    server = ThreadedServer(image_site).start()
    yield server.url
    server.stop()


@pytest.fixture
def trusted_site(settings, site):
    settings.IMAGE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.IMAGE_FETCH_ALLOW_HTTP = True
    return site


def test_a_data_uri_image_reaches_the_provider(sdk, upstream):
    reply = sdk.chat.completions.create(model="fast", messages=image_message(PNG_URI))
    assert reply.choices[0].message.content
    sent = upstream.requests()[-1]["body"]["messages"][0]["content"]
    assert sent[0]["type"] == "image_url"
    assert sent[0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_anthropic_receives_images_as_its_own_image_blocks(sdk, upstream):
    sdk.chat.completions.create(model="claude", messages=image_message(PNG_URI))
    content = upstream.requests()[-1]["body"]["messages"][0]["content"]
    image = next(block for block in content if block["type"] == "image")
    assert image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"


def test_only_vision_models_accept_images(sdk):
    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="plain", messages=image_message(PNG_URI))
    assert excinfo.value.body["code"] == "model_not_vision"


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/png;base64,%%%notbase64",
        "data:image/bmp;base64,Qk0=",
        "data:image/jpeg;base64," + base64.b64encode(PNG).decode(),
        "data:text/plain,hello",
    ],
    ids=["bad-base64", "unsupported-type", "wrong-type", "not-base64"],
)
def test_bad_data_uris_are_refused(sdk, uri, upstream):
    upstream.clear()
    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="fast", messages=image_message(uri))
    assert excinfo.value.body["code"] == "invalid_image"
    assert upstream.requests() == []


def test_an_oversized_data_uri_is_413(sdk, settings):
    settings.IMAGE_MAX_BYTES = 10
    with pytest.raises(openai.APIStatusError) as excinfo:
        sdk.chat.completions.create(model="fast", messages=image_message(PNG_URI))
    assert excinfo.value.status_code == 413


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.png",
        "https://127.0.0.1:{port}/cat.png",
        "https://localhost:{port}/cat.png",
        "https://[::1]:{port}/cat.png",
        "http://127.0.0.2:{port}/cat.png",
        "http://2130706433:{port}/cat.png",  # 127.0.0.1 as one number
        "http://[::ffff:127.0.0.1]:{port}/cat.png",  # IPv4-mapped
        "http://[::ffff:0:7f00:1]:{port}/cat.png",  # IPv4-translated
        "http://[64:ff9b::7f00:1]:{port}/cat.png",  # NAT64
        "http://[64:ff9b:1::7f00:1]:{port}/cat.png",  # local-use NAT64
        "http://[2002:7f00:1::1]:{port}/cat.png",  # 6to4
        "http://[::127.0.0.1]:{port}/cat.png",  # IPv4-compatible
        "http://[fec0::1]:{port}/cat.png",  # site-local
    ],
)
def test_an_image_url_to_a_private_address_is_refused_and_nothing_is_fetched_or_charged(
    sdk, site, settings, upstream, carol, url
):
    settings.IMAGE_FETCH_ALLOW_HTTP = True
    upstream.clear()
    site_hits.clear()
    port = site.rsplit(":", 1)[1]

    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="fast", messages=image_message(url.format(port=port)))

    assert excinfo.value.body["code"] == "image_url_not_allowed"
    assert "private or reserved address" in excinfo.value.body["message"]
    assert site_hits == []
    assert upstream.requests() == []
    assert not UsageRecord.objects.filter(user=carol).exists()
    assert balance_of(user=carol) == Decimal(10)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/cat.png"])
def test_an_image_url_that_is_not_https_is_refused(sdk, url):
    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="fast", messages=image_message(url))
    assert excinfo.value.body["code"] == "invalid_image"


def test_an_allow_listed_test_host_is_fetched_and_inlined(sdk, trusted_site, upstream):
    sdk.chat.completions.create(model="fast", messages=image_message(f"{trusted_site}/cat.png"))
    sent = upstream.requests()[-1]["body"]["messages"][0]["content"][0]["image_url"]["url"]
    assert sent == PNG_URI


@pytest.mark.parametrize("hop", ["/hop", "/hop-nat64"])
def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(sdk, trusted_site, hop):
    site_hits.clear()
    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="fast", messages=image_message(f"{trusted_site}{hop}"))
    assert excinfo.value.body["code"] == "image_url_not_allowed"
    assert site_hits == [hop]  # the redirect's target was never asked


def test_a_url_whose_content_is_not_an_image_is_refused(sdk, trusted_site):
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(
            model="fast", messages=image_message(f"{trusted_site}/fake.png")
        )


# --- the address check, without sending anything --------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fd00::1",
        "ff02::1",
        "ff0e::1",  # global-scope multicast
        "2001:db8::1",  # documentation
        "2001::1",  # Teredo
        "fec0::1",  # site-local
    ],
)
def test_private_reserved_and_metadata_addresses_are_never_fetched(address):
    assert not public_address(address)


@pytest.mark.parametrize(
    ("form", "address"),
    [
        ("IPv4-mapped", "::ffff:169.254.169.254"),
        ("IPv4-mapped", "::ffff:10.0.0.1"),
        ("IPv4-translated", "::ffff:0:127.0.0.1"),
        ("NAT64", "64:ff9b::127.0.0.1"),
        ("NAT64", "64:ff9b::a9fe:a9fe"),  # 169.254.169.254
        ("local-use NAT64", "64:ff9b:1::a00:1"),
        ("local-use NAT64", "64:ff9b:1::808:808"),  # even with a public IPv4 inside
        ("6to4", "2002:7f00:1::"),  # 127.0.0.1
        ("6to4", "2002:c0a8:101::1"),  # 192.168.1.1
        ("IPv4-compatible", "::127.0.0.1"),
        ("IPv4-compatible", "::10.0.0.1"),
        ("site-local", "fec0::7f00:1"),
    ],
)
def test_a_private_ipv4_address_hidden_in_an_ipv6_one_is_refused(form, address):
    assert not public_address(address), form


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
def test_public_addresses_are_allowed_in_every_form(address):
    assert public_address(address)


def test_garbage_is_not_an_address():
    assert not public_address("not-an-address")


# --- one resolution, and the connection goes to the address that was checked ----------------
@pytest.fixture
def rebinding_dns(monkeypatch):
    """A name whose first answer is public and every later one is 127.0.0.1 (DNS rebinding);
    inner.example is private. Returns the names asked, in order."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in ("rebind.example", "inner.example"):
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = "93.184.216.34" if host == "rebind.example" and len(asked) == 1 else "127.0.0.1"
        if host == "inner.example":
            address = "10.0.0.5"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_the_fetch_connects_to_the_address_that_was_checked(rebinding_dns, settings):
    async def scenario():
        settings.IMAGE_FETCH_ALLOWED_HOSTS = []
        sent: list[httpx.Request] = []

        def site(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(200, headers={"content-type": "image/png"}, content=PNG)

        async with httpx.AsyncClient(transport=httpx.MockTransport(site)) as client:
            data_uri = await fetch_image("https://rebind.example/cat.png?size=1", client=client)

        assert data_uri == PNG_URI
        assert rebinding_dns == ["rebind.example"]  # resolved once: no second answer to trust
        (request,) = sent
        assert str(request.url) == "https://93.184.216.34/cat.png?size=1"
        assert request.headers["host"] == "rebind.example"
        assert request.extensions["sni_hostname"] == "rebind.example"  # the certificate's name

    run_on_own_loop(scenario)


def test_a_redirect_is_checked_before_its_request_is_sent(rebinding_dns, settings):
    async def scenario():
        settings.IMAGE_FETCH_ALLOWED_HOSTS = []
        sent: list[str] = []

        def site(request: httpx.Request) -> httpx.Response:
            sent.append(str(request.url))
            return httpx.Response(302, headers={"location": "https://inner.example/cat.png"})

        async with httpx.AsyncClient(transport=httpx.MockTransport(site)) as client:
            with pytest.raises(ApiError) as excinfo:
                await fetch_image("https://rebind.example/hop", client=client)

        assert excinfo.value.code == "image_url_not_allowed"
        assert sent == ["https://93.184.216.34/hop"]

    run_on_own_loop(scenario)


# --- the test-only allow-list ---------------------------------------------------------------
def test_the_allow_list_is_used_under_tests_and_says_so(sdk, trusted_site, upstream, caplog):
    with caplog.at_level(logging.WARNING, logger="aiapi.image_input"):
        sdk.chat.completions.create(model="fast", messages=image_message(f"{trusted_site}/cat.png"))

    assert "test-only IMAGE_FETCH_ALLOWED_HOSTS" in caplog.text


def test_the_allow_list_is_ignored_outside_tests_and_debug(site, settings, monkeypatch, caplog):
    async def scenario():
        settings.IMAGE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
        settings.IMAGE_FETCH_ALLOW_HTTP = True
        settings.DEBUG = False
        monkeypatch.delitem(sys.modules, "pytest")  # as in production
        site_hits.clear()

        with (
            caplog.at_level(logging.WARNING, logger="aiapi.image_input"),
            pytest.raises(ApiError) as excinfo,
        ):
            await fetch_image(f"{site}/cat.png")

        assert excinfo.value.code == "image_url_not_allowed"
        assert site_hits == []
        assert "IMAGE_FETCH_ALLOWED_HOSTS is set but ignored" in caplog.text

    run_on_own_loop(scenario)


def test_the_allow_list_works_with_debug(site, settings, monkeypatch):
    async def scenario():
        settings.IMAGE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
        settings.IMAGE_FETCH_ALLOW_HTTP = True
        settings.DEBUG = True
        monkeypatch.delitem(sys.modules, "pytest")

        assert await fetch_image(f"{site}/cat.png") == PNG_URI

    run_on_own_loop(scenario)
