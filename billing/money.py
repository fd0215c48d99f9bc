"""How a USD amount is printed, everywhere it is printed: API fields, headers, messages and the
web app. Exact decimal digits in positional notation, so a client can parse it as money."""

from __future__ import annotations

from decimal import Decimal


def format_usd(amount: Decimal) -> str:
    """`amount` as plain decimal digits: never an exponent (10, not 1E+1; 2000, not 2E+3),
    no trailing zeros (2000.000000 is 2000, 0.0000012000 is 0.0000012), "0" for any zero, the
    sign kept for a negative amount. Exact: nothing is rounded."""
    if isinstance(amount, float) or not isinstance(amount, Decimal | int):
        raise TypeError(f"format_usd takes a Decimal, not {type(amount).__name__}")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"{amount} is not an amount of money")
    if not amount:
        return "0"  # 0, -0 and 0E-10 alike
    digits = format(amount, "f")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return digits
