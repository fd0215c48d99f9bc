"""Fixtures for tests that need the gateway (registered for every test in tests/conftest.py).

The gateway under test: our ASGI app served over real HTTP, in front of a fake upstream that
speaks OpenAI's and Anthropic's real wire protocols. Clients are the official SDKs."""

from decimal import Decimal

import openai
import pytest

from accounts.api_keys import api_key_create
from aiapi.catalogue import catalogue_load
from billing.ledger import credit_grant
from tests.factories import UserFactory
from tests.support.servers import ThreadedServer

CATALOGUE = """
[[providers]]
name = "fake"
kind = "openai_compatible"
base_url = "{openai_base}"
api_key = "sk-fake-upstream"

[[providers]]
name = "fake-openai"
kind = "openai"
base_url = "{openai_base}"
api_key = "sk-fake-upstream"

[[providers]]
name = "fake-slow"
kind = "openai_compatible"
base_url = "{openai_base}"
api_key = "sk-fake-upstream"
first_token_timeout = 0.5

[[providers]]
name = "fake-anthropic"
kind = "anthropic"
base_url = "{anthropic_base}"
api_key = "sk-ant-fake"

[[providers]]
name = "demo"
kind = "demo"

[[providers]]
name = "down"
kind = "openai_compatible"
base_url = "http://127.0.0.1:1/v1"
api_key = "sk-nobody-home"

[[providers]]
name = "keyless"
kind = "openai"
base_url = "{openai_base}"
api_key_env = "CHUK_TEST_UNSET_KEY"

[[models]]
id = "fast"
provider = "fake"
upstream = "fake:tokens=8"
vision = true
input_price = 1.0
output_price = 2.0

[[models]]
id = "plain"
provider = "fake-openai"
upstream = "fake:tokens=4"
input_price = 0.5
output_price = 1.5

[[models]]
id = "thinker"
provider = "fake"
upstream = "fake:tokens=4,reasoning=3"
reasoning = true
input_price = 1.0
output_price = 4.0

[[models]]
id = "toolsy"
provider = "fake"
upstream = "fake:tokens=3,tools=1"

[[models]]
id = "claude"
provider = "fake-anthropic"
upstream = "fake:tokens=6"
vision = true
max_output_tokens = 8192
input_price = 3.0
output_price = 15.0

[[models]]
id = "claude-cached"
provider = "fake-anthropic"
upstream = "fake:tokens=4,cached=6,cache_write=2"
input_price = 3.0
output_price = 15.0
cache_read_price = 0.3
cache_write_price = 3.75

[[models]]
id = "plain-cached"
provider = "fake-openai"
upstream = "fake:tokens=4,cached=6"
input_price = 0.5
output_price = 1.5

[[models]]
id = "claude-thinker"
provider = "fake-anthropic"
upstream = "fake:tokens=4,reasoning=3"
reasoning = true
max_output_tokens = 8192

[[models]]
id = "flaky"
provider = "fake"
upstream = "fake:fault=503"
fallbacks = ["fast"]
input_price = 1.0
output_price = 2.0

[[models]]
id = "limited"
provider = "fake"
upstream = "fake:fault=429"
fallbacks = ["fast"]

[[models]]
id = "unreachable"
provider = "down"
upstream = "anything"
fallbacks = ["fast"]

[[models]]
id = "no-key"
provider = "keyless"
upstream = "fake:tokens=2"
fallbacks = ["fast"]

[[models]]
id = "hangs"
provider = "fake-slow"
upstream = "fake:timeout=1"
fallbacks = ["fast"]

[[models]]
id = "hangs-alone"
provider = "fake-slow"
upstream = "fake:timeout=1"

[[models]]
id = "all-down"
provider = "fake"
upstream = "fake:fault=500"
fallbacks = ["unreachable"]

[[models]]
id = "rejects"
provider = "fake"
upstream = "fake:fault=400"
fallbacks = ["fast"]

[[models]]
id = "cut"
provider = "fake"
upstream = "fake:tokens=10,cut_after=3"
input_price = 1.0
output_price = 2.0

[[models]]
id = "garbled"
provider = "fake"
upstream = "fake:tokens=10,malformed_after=2"

[[models]]
id = "slow-stream"
provider = "fake"
upstream = "fake:tokens=400,tps=40"
input_price = 1.0
output_price = 2.0

[[models]]
id = "sleepy"
provider = "fake"
upstream = "fake:tokens=3,latency_ms=700"
input_price = 1.0
output_price = 2.0

[[models]]
id = "no-usage"
provider = "fake"
upstream = "fake:tokens=5,usage=0"
input_price = 1.0
output_price = 2.0

[[models]]
id = "emb"
provider = "fake"
upstream = "fake-embedding"
kind = "embedding"
input_price = 0.02

[[models]]
id = "demo-image"
provider = "demo"
upstream = "demo-image"
kind = "image"
image_price = 0.002

[[models]]
id = "retired"
provider = "fake"
upstream = "fake:tokens=1"
active = false
"""


@pytest.fixture(scope="session")
def upstream():
    from fakes.upstream import FakeUpstream

    fake = FakeUpstream()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def gateway_server(django_db_setup, django_db_blocker):
    from chukchat.asgi import application

    server = ThreadedServer(application).start()
    yield server
    server.stop()


def wait_for_database_quiet(timeout: float = 10.0) -> None:
    """Until no other session is mid-query on the test database: settlement runs in worker
    threads that can outlive the request task by a moment, and flushing tables under a running
    transaction deadlocks."""
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state NOT IN ('idle')"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.02)


@pytest.fixture
def gateway_url(gateway_server, transactional_db):
    yield gateway_server.url
    gateway_server.wait_idle()
    wait_for_database_quiet()


@pytest.fixture
def catalogue(transactional_db, upstream, settings):
    settings.IMAGE_FETCH_ALLOWED_HOSTS = []
    upstream.clear()
    catalogue_load(
        text=CATALOGUE.format(openai_base=upstream.base_url, anthropic_base=upstream.root_url)
    )


@pytest.fixture
def carol(transactional_db):
    user = UserFactory(email="carol@example.com")
    credit_grant(user=user, amount=Decimal("10"), description="test credit")
    return user


@pytest.fixture
def carol_key(carol, catalogue) -> str:
    _, plaintext = api_key_create(user=carol, name="carol's script")
    return plaintext


@pytest.fixture
def sdk(gateway_url, carol_key) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=carol_key, max_retries=0)


@pytest.fixture
def async_sdk(gateway_url, carol_key) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=carol_key, max_retries=0)


@pytest.fixture
def http(gateway_url, carol_key):
    import httpx

    with httpx.Client(
        base_url=gateway_url, headers={"Authorization": f"Bearer {carol_key}"}, timeout=30
    ) as client:
        yield client
