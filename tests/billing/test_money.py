"""format_usd: how every USD amount is printed, in the API, its headers and the web app."""

from decimal import Decimal

import pytest

from billing.money import format_usd


@pytest.mark.parametrize(
    ("amount", "printed"),
    [
        (Decimal("1E+1"), "10"),
        (Decimal("10").normalize(), "10"),
        (Decimal("2000.000000"), "2000"),
        (Decimal("2000").normalize(), "2000"),
        (Decimal("0.0000012000"), "0.0000012"),
        (Decimal("1E-10"), "0.0000000001"),
        (Decimal("0.15"), "0.15"),
        (Decimal("25.0000000000"), "25"),
        (Decimal("1234567.8900"), "1234567.89"),
        (Decimal("100"), "100"),
        (Decimal("-1.50"), "-1.5"),
        (Decimal("-2E+3"), "-2000"),
        (Decimal("-0.0000012000"), "-0.0000012"),
        (7, "7"),
    ],
)
def test_an_amount_is_printed_in_plain_digits_without_trailing_zeros(amount, printed):
    assert format_usd(amount) == printed


@pytest.mark.parametrize("zero", [Decimal(0), Decimal("0E-10"), Decimal("-0"), Decimal("0.000"), 0])
def test_every_zero_is_printed_as_0(zero):
    assert format_usd(zero) == "0"


@pytest.mark.parametrize("not_money", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_a_value_that_is_not_an_amount_is_refused(not_money):
    with pytest.raises(ValueError):
        format_usd(not_money)


@pytest.mark.parametrize("inexact", [0.1, "0.1", None])
def test_only_exact_numbers_are_formatted(inexact):
    with pytest.raises(TypeError):
        format_usd(inexact)
