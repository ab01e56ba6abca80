"""``{% load credits %}``: amounts of credits as people read them (``{{ x|credits }}`` → 6, 1.5, 0.25)."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.formats import number_format

from credits.amounts import plain, rough, tidy

register = template.Library()


def _amount(value: object) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return None
    return amount if amount.is_finite() else None


@register.filter(name="credits")
def credits_filter(value: object) -> str:
    """An amount without trailing zeros or exponent, grouped and pointed like every number Django shows."""
    amount = _amount(value)
    return "" if amount is None else number_format(tidy(amount))


@register.filter(name="credits_plain")
def credits_plain(value: object) -> str:
    """An amount for attributes (``<progress value=…>``): never grouped or localized."""
    amount = _amount(value)
    return "" if amount is None else plain(amount)


@register.filter(name="credits_rough")
def credits_rough(value: object) -> str:
    """An estimate (a rate, a forecast): one decimal place from 1 up, two significant digits below."""
    amount = _amount(value)
    return "" if amount is None else rough(amount)
