"""Media jobs under test: the gateway over real HTTP, the fake upstream as the AI provider, a
real Celery worker on Redis where a test asks for one (`worker`), eager Celery otherwise, and
the media storage in a fresh folder per test so every leftover file can be seen."""

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from accounts.api_keys import api_key_create
from aiapi.catalogue import catalogue_load
from billing.ledger import credit_grant
from tests.factories import UserFactory
from tests.media_tools.helpers import SENTENCE
from tests.support.gateway import wait_for_database_quiet

CATALOGUE = """
[[providers]]
name = "fake"
kind = "openai_compatible"
base_url = "{openai_base}"
api_key = "sk-fake-upstream"

[[providers]]
name = "local"
kind = "local"

[[providers]]
name = "demo"
kind = "demo"

[[models]]
id = "local-transcription"
provider = "local"
upstream = "pocketsphinx-en-us"
kind = "transcription"
audio_minute_price = 0.01

[[models]]
id = "fake-whisper"
provider = "fake"
upstream = "whisper-1"
kind = "transcription"
audio_minute_price = 0.006

[[models]]
id = "flaky-whisper"
provider = "fake"
upstream = "fake:fault=503"
kind = "transcription"
audio_minute_price = 0.5
fallbacks = ["local-transcription"]

[[models]]
id = "fake-dalle"
provider = "fake"
upstream = "dall-e-3"
kind = "image"
image_price = 0.04

[[models]]
id = "slow-dalle"
provider = "fake"
upstream = "fake:latency_ms=1500"
kind = "image"
image_price = 0.04

[[models]]
id = "flaky-dalle"
provider = "fake"
upstream = "fake:fault=503"
kind = "image"
image_price = 0.5
fallbacks = ["demo-image"]

[[models]]
id = "broken-dalle"
provider = "fake"
upstream = "fake:fault=500"
kind = "image"
image_price = 0.04

[[models]]
id = "demo-image"
provider = "demo"
upstream = "demo-image"
kind = "image"
image_price = 0.002

[[models]]
id = "fast"
provider = "fake"
upstream = "fake:tokens=4"
"""


@pytest.fixture
def media_root(tmp_path, settings) -> Path:
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture
def media_catalogue(transactional_db, upstream):
    upstream.clear()
    catalogue_load(text=CATALOGUE.format(openai_base=upstream.base_url))


@pytest.fixture
def gateway_url(gateway_server, transactional_db, media_root, media_catalogue):
    yield gateway_server.url
    gateway_server.wait_idle()
    wait_for_database_quiet()


@pytest.fixture
def dora(transactional_db):
    """A developer with $10 of credit."""
    user = UserFactory(email="dora@example.com")
    credit_grant(user=user, amount=Decimal("10"), description="test credit")
    return user


@pytest.fixture
def dora_key(dora, media_catalogue) -> str:
    _, plaintext = api_key_create(user=dora, name="dora's script")
    return plaintext


@pytest.fixture
def http(gateway_url, dora_key):
    with httpx.Client(
        base_url=gateway_url, headers={"Authorization": f"Bearer {dora_key}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def sdk(gateway_url, dora_key) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=dora_key, max_retries=0)


@pytest.fixture(scope="session")
def spoken_wav(tmp_path_factory) -> bytes:
    """The sentence spoken by espeak-ng (22.05 kHz WAV; the engine resamples it)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: `make test` installs it (scripts/system_packages.sh)")
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-s", "130", "-v", "en-us", "-w", str(path), SENTENCE], check=True)
    return path.read_bytes()
