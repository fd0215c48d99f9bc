from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def usd(amount) -> str:
    """A price as plain decimal digits, never in exponent form (10, not 1E+1)."""
    if amount is None:
        return ""
    return format(Decimal(amount).normalize(), "f")
