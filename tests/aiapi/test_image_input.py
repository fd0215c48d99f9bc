"""Images in chat messages: data URIs are checked, URLs fetched by us and never from private
addresses, and only vision models accept them."""

import base64

import openai
import pytest

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


async def image_site(scope, receive, send):
    """Serves /cat.png, a /fake.png that is text, and /hop redirecting elsewhere."""
    path = scope["path"]
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
        "file:///etc/passwd",
        "ftp://example.com/cat.png",
    ],
)
def test_image_urls_to_private_or_loopback_addresses_are_refused(sdk, site, settings, url):
    settings.IMAGE_FETCH_ALLOW_HTTP = True
    port = site.rsplit(":", 1)[1]
    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="fast", messages=image_message(url.format(port=port)))
    assert excinfo.value.body["code"] == "invalid_image"


def test_an_allow_listed_test_host_is_fetched_and_inlined(sdk, trusted_site, upstream):
    sdk.chat.completions.create(model="fast", messages=image_message(f"{trusted_site}/cat.png"))
    sent = upstream.requests()[-1]["body"]["messages"][0]["content"][0]["image_url"]["url"]
    assert sent == PNG_URI


def test_a_redirect_to_a_private_address_is_refused(sdk, trusted_site):
    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="fast", messages=image_message(f"{trusted_site}/hop"))
    assert "private" in excinfo.value.body["message"]


def test_a_url_whose_content_is_not_an_image_is_refused(sdk, trusted_site):
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(
            model="fast", messages=image_message(f"{trusted_site}/fake.png")
        )


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "127.0.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "224.0.0.1",
    ],
)
def test_private_reserved_and_metadata_addresses_are_never_fetched(address, settings):
    # Checked without sending anything: these addresses must never be contacted from here.
    from aiapi.image_input import _address_allowed

    settings.IMAGE_FETCH_ALLOWED_HOSTS = []
    assert not _address_allowed(address, "example.com")


def test_public_addresses_are_allowed(settings):
    from aiapi.image_input import _address_allowed

    settings.IMAGE_FETCH_ALLOWED_HOSTS = []
    assert _address_allowed("93.184.216.34", "example.com")
    assert _address_allowed("2606:2800:220:1:248:1893:25c8:1946", "example.com")
