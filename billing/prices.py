"""Prices, and what usage costs at them: the one place a price becomes an amount of money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.models import ZERO

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million input/output tokens (and input tokens read from or written to the
    provider's prompt cache: the input price when a model sets none), per image, per audio
    minute."""

    input: Decimal = ZERO
    output: Decimal = ZERO
    image: Decimal = ZERO
    audio_minute: Decimal = ZERO
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    @classmethod
    def of(cls, model) -> Prices:
        return cls(
            input=model.input_price,
            output=model.output_price,
            image=model.image_price,
            audio_minute=model.audio_minute_price,
            cache_read=getattr(model, "cache_read_price", None),
            cache_write=getattr(model, "cache_write_price", None),
        )


def answer_prices(model) -> Prices:
    """What an answer by `model` is charged at: its prices, or nothing when the built-in demo
    provider answers (canned text, e.g. a real model's fallback while its key is missing), so
    the demo never passes for a real model on the bill. `model.provider` must be loaded (the
    catalogue's models are)."""
    if model.provider.kind == "demo":
        return Prices()
    return Prices.of(model)


def token_cost(
    *,
    prices: Prices,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal:
    """`prompt_tokens` counts every input token; those read from the cache and written to it
    are priced at the cache prices (the input price where the model has none)."""
    cached = min(cached_tokens, prompt_tokens)
    written = min(cache_write_tokens, prompt_tokens - cached)
    read_price = prices.input if prices.cache_read is None else prices.cache_read
    write_price = prices.input if prices.cache_write is None else prices.cache_write
    return (
        (prompt_tokens - cached - written) * prices.input
        + cached * read_price
        + written * write_price
        + completion_tokens * prices.output
    ) / MILLION


def usage_cost(
    *,
    prompt_tokens: int,
    completion_tokens: int,
    units: Decimal,
    prices: Prices,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal:
    """What the usage costs at `prices`: tokens, plus images or audio minutes (`units`)."""
    return token_cost(
        prices=prices,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
        cache_write_tokens=cache_write_tokens,
    ) + units * (prices.image + prices.audio_minute)
