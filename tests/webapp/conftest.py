"""The web app under test: our ASGI app served over real HTTP (static files as Django's live
server serves them), in front of a fake provider speaking OpenAI's and Anthropic's wire
protocols, on the real PostgreSQL and Redis; driven by Debian's Chromium through Playwright.

The fake provider answers a question the test has scripted with that answer, word by word,
so a test can say what the model will write (Markdown, code, an injection attempt)."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.test import Client

from aiapi.catalogue import catalogue_load
from billing.ledger import credit_grant
from fakes.upstream import FakeUpstreamApp
from fakes.upstream_server import _text_of
from tests.factories import UserFactory
from tests.support.gateway import wait_for_database_quiet
from tests.support.servers import ThreadedServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery staple"

CATALOGUE = """
[[providers]]
name = "fake"
kind = "openai_compatible"
base_url = "{openai_base}"
api_key = "sk-fake-upstream"

[[providers]]
name = "fake-anthropic"
kind = "anthropic"
base_url = "{anthropic_base}"
api_key = "sk-ant-fake"

[[providers]]
name = "local"
kind = "local"

[[providers]]
name = "demo"
kind = "demo"

[[models]]
id = "local-transcription"
display_name = "Offline transcription"
provider = "local"
upstream = "pocketsphinx-en-us"
kind = "transcription"
audio_minute_price = 0.01

[[models]]
id = "demo-image"
display_name = "Demo Image"
provider = "demo"
upstream = "demo-image"
kind = "image"
image_price = 0.002

[[models]]
id = "swift"
display_name = "Swift"
provider = "fake"
upstream = "fake:tokens=12,tps=80"
vision = true
input_price = 1.0
output_price = 2.0
sort_order = 1

[[models]]
id = "deep"
display_name = "Deep Thinker"
provider = "fake-anthropic"
upstream = "fake:tokens=10,reasoning=6,tps=60"
reasoning = true
vision = true
max_output_tokens = 8192
input_price = 3.0
output_price = 15.0
sort_order = 2

[[models]]
id = "plain"
display_name = "Plain Text"
provider = "fake"
upstream = "fake:tokens=6"
input_price = 0.5
output_price = 1.5
sort_order = 3

[[models]]
id = "slow"
display_name = "Slow Writer"
provider = "fake"
upstream = "fake:tokens=60,tps=12"
input_price = 1.0
output_price = 2.0
sort_order = 4

[[models]]
id = "vectors"
provider = "fake"
upstream = "fake-embedding"
kind = "embedding"
input_price = 0.02

[[models]]
id = "retired"
display_name = "Retired"
provider = "fake"
upstream = "fake:tokens=1"
active = false
"""


class ScriptedUpstream(FakeUpstreamApp):
    """The fake provider, which answers a question found in `answers` with its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, str] = {}

    def plan(self, body: dict, options: dict, *, limit_key: str):
        tokens, thoughts, finish = super().plan(body, options, limit_key=limit_key)
        users = [m for m in body.get("messages") or () if m.get("role") == "user"]
        question = _text_of(users[-1].get("content")).strip() if users else ""
        if question in self.answers:
            tokens = re.findall(r"\s*\S+", self.answers[question])
            # Paced like the model's own tokens; a long answer should not take the whole test.
            options["tps"] = max(options["tps"], len(tokens) // 2)
        return tokens, thoughts, finish

    def clear(self) -> None:
        self.faults.clear()
        self.log.clear()
        self.answers.clear()

    def requests(self) -> list[dict]:
        return list(self.log)


@pytest.fixture(scope="session")
def upstream():
    app = ScriptedUpstream()
    server = ThreadedServer(app).start()
    app.public_root = server.url
    app.root_url = server.url
    yield app
    server.stop()


@pytest.fixture(scope="session")
def web_server(django_db_setup, django_db_blocker):
    from chukchat.asgi import application

    server = ThreadedServer(ASGIStaticFilesHandler(application)).start()
    yield server
    server.stop()


@pytest.fixture
def catalogue(transactional_db, upstream, settings):
    settings.DEFAULT_CHAT_MODEL = "swift"
    settings.DEFAULT_TRANSCRIPTION_MODEL = "local-transcription"
    settings.DEFAULT_IMAGE_MODEL = "demo-image"
    upstream.clear()
    catalogue_load(
        text=CATALOGUE.format(
            openai_base=f"{upstream.root_url}/v1", anthropic_base=upstream.root_url
        )
    )


@pytest.fixture
def site(web_server, catalogue):
    """The running site's address; when the test ends, waits for the server to finish what
    it was doing (settling an answer) before the database is emptied."""
    yield web_server.url
    web_server.wait_idle()
    wait_for_database_quiet()


@pytest.fixture
def media_root(tmp_path, settings) -> Path:
    """Media jobs' files (uploads, results) and data exports in a folder of the test's own."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root / "default")},
        },
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root / "private")},
        },
    }
    return root


@pytest.fixture
def no_free_allowance(transactional_db):
    """The Free plan grants nothing this month (its allowance set to $0 in admin): for stories
    of a person who has run out of credit."""
    from billing.models import Plan

    Plan.objects.update_or_create(slug="free", defaults={"name": "Free", "monthly_allowance": 0})


@pytest.fixture
def erin(transactional_db):
    """A user with $10 of credit."""
    user = UserFactory(email="erin@example.com")
    credit_grant(user=user, amount=Decimal("10"), description="test credit")
    return user


@pytest.fixture(scope="session")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (scripts/system_packages.sh)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop marked as running in this thread, which makes
    # Django refuse the ORM calls the tests make (its guard against blocking a loop). Only
    # while the browser is up: the other suites keep the guard.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def browser_with_microphone(playwright, wav: Path):
    """Chromium whose microphone is a fake device playing `wav` (a 16-bit PCM WAV, looped),
    with the permission prompt answered yes: what a person speaking into the page would do."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
        ],
    )


class Browsing:
    """Opens pages in fresh browser contexts, and fails the test if a page threw."""

    def __init__(self, browser, site: str) -> None:
        self.browser = browser
        self.site = site
        self.contexts = []
        self.errors: list[str] = []

    def page(
        self,
        *,
        user=None,
        viewport=DESKTOP,
        color_scheme="light",
        init_script=None,
        permissions=(),
    ):
        context = self.browser.new_context(
            base_url=self.site,
            viewport=viewport,
            color_scheme=color_scheme,
            permissions=list(permissions),
        )
        self.contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            context.add_cookies(
                [
                    {
                        "name": "sessionid",
                        "value": client.cookies["sessionid"].value,
                        "url": self.site,
                    }
                ]
            )
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser, site):
    browsing = Browsing(browser, site)
    yield browsing
    browsing.close()
    assert not browsing.errors, f"the page threw: {browsing.errors}"
