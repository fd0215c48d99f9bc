from decimal import ROUND_FLOOR, Decimal

from django import template

from billing.money import format_usd

register = template.Library()


@register.filter
def usd(amount) -> str:
    """A price as plain decimal digits, never in exponent form (10, not 1E+1)."""
    if amount is None or amount == "":
        return ""
    return format_usd(Decimal(str(amount)))


@register.filter
def credit(amount) -> str:
    """A credit balance as people read one: whole cents, rounded down so it never shows more
    than there is ($9.99 for 9.9996); a balance under a cent keeps its digits. As format.js's
    credit()."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    if value == 0:
        return "$0.00"
    if abs(value) < Decimal("0.01"):
        return "$" + format_usd(value)
    return "$" + format(value.quantize(Decimal("0.01"), rounding=ROUND_FLOOR), ",f")
