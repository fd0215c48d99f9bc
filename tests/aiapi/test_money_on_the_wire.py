"""Amounts on the wire are plain decimal digits: a price of 10 or 2000 per million tokens, and a
charge of a few billionths of a dollar, are never written with an exponent (1E+1, 2E+3, 1.8E-9)
in GET /v1/models or the x-chuk-cost header."""

from decimal import Decimal

import pytest

from aiapi.catalogue import catalogue_load
from aiapi.selectors import catalogue_changed

ROUND_AND_TINY_PRICES = """
[[models]]
id = "round-prices"
provider = "fake"
upstream = "fake:tokens=8"
input_price = 10
output_price = 2000

[[models]]
id = "dust"
provider = "fake"
upstream = "fake:tokens=8"
input_price = 0.0001
output_price = 0.0001
"""


@pytest.fixture
def priced_models(catalogue):
    catalogue_load(text=ROUND_AND_TINY_PRICES)
    catalogue_changed()


def test_round_prices_are_listed_as_plain_digits(http, priced_models):
    response = http.get("/v1/models")

    assert response.status_code == 200
    pricing = {m["id"]: m["pricing"] for m in response.json()["data"]}["round-prices"]
    assert pricing["input_per_million_tokens"] == "10"
    assert pricing["output_per_million_tokens"] == "2000"
    assert pricing["per_image"] == "0" and pricing["per_audio_minute"] == "0"


def test_a_charge_of_billionths_of_a_dollar_is_sent_without_an_exponent(sdk, priced_models):
    reply = sdk.chat.completions.with_raw_response.create(
        model="dust", messages=[{"role": "user", "content": "hi"}], max_tokens=20
    )
    usage = reply.parse().usage

    charged = Decimal(usage.prompt_tokens + usage.completion_tokens) * Decimal("0.0001") / 10**6
    assert charged < Decimal("0.000001")  # so str(charged.normalize()) would have been 1.xE-9
    header = reply.headers["x-chuk-cost"]
    assert header == format(charged, "f").rstrip("0")
    assert "E" not in header.upper() and header.startswith("0.00000000")
