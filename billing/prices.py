"""Prices, and what usage costs at them: the one place a price becomes an amount of money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.models import ZERO

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million input/output tokens, per image, per audio minute."""

    input: Decimal = ZERO
    output: Decimal = ZERO
    image: Decimal = ZERO
    audio_minute: Decimal = ZERO

    @classmethod
    def of(cls, model) -> Prices:
        return cls(
            input=model.input_price,
            output=model.output_price,
            image=model.image_price,
            audio_minute=model.audio_minute_price,
        )


def answer_prices(model) -> Prices:
    """What an answer by `model` is charged at: its prices, or nothing when the built-in demo
    provider answers (canned text, e.g. a real model's fallback while its key is missing), so
    the demo never passes for a real model on the bill. `model.provider` must be loaded (the
    catalogue's models are)."""
    if model.provider.kind == "demo":
        return Prices()
    return Prices.of(model)


def token_cost(*, prices: Prices, prompt_tokens: int, completion_tokens: int) -> Decimal:
    return (prompt_tokens * prices.input + completion_tokens * prices.output) / MILLION


def usage_cost(
    *, prompt_tokens: int, completion_tokens: int, units: Decimal, prices: Prices
) -> Decimal:
    """What the usage costs at `prices`: tokens, plus images or audio minutes (`units`)."""
    return token_cost(
        prices=prices, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    ) + units * (prices.image + prices.audio_minute)
