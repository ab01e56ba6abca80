"""Credit amounts: exact decimals with 4 places, and the one way they are written for people and files.

Every amount of credits (ledger rows, roll-ups, budgets, alerts, balances) is a ``Decimal`` stored as
``DecimalField(max_digits=14, decimal_places=4)``. People see it without trailing zeros and never in exponent
form: 6, 1.5, 0.25.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

MAX_DIGITS = 14
PLACES = 4
QUANTUM = Decimal(1).scaleb(-PLACES)  # 0.0001
LARGEST = Decimal(10) ** (MAX_DIGITS - PLACES) - QUANTUM
ZERO = Decimal(0)


def exact(value: Decimal | int | str) -> Decimal:
    """``value`` rounded to the stored precision (4 places, half up); ``ValueError`` when it cannot be stored
    (not a number, NaN, infinite, more than 10 digits before the point)."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a number of credits") from exc
    if amount.is_finite() and abs(amount) <= LARGEST + 1:
        amount = amount.quantize(QUANTUM, rounding=ROUND_HALF_UP)
        if abs(amount) <= LARGEST:
            return amount
    raise ValueError(f"{value!r} is not a number of credits that can be stored")


def tidy(value: Decimal | int) -> Decimal:
    """The same amount without trailing zeros, printed by ``str`` or Django in plain form (``6``, ``1.5``)."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1)) + 0  # + 0 turns -0 into 0
    return value.normalize()


def plain(value: Decimal | int) -> str:
    """Machine-readable text of an amount, as the CSV writes it: ``6``, ``1.5``, ``-0.25``."""
    return format(tidy(value), "f")


def format_credits(value: Decimal | int, *, grouping: bool = False) -> str:
    """An amount for people: ``1.5``; with ``grouping``, thousands separated by commas (``1,234.5``)."""
    return format(tidy(value), ",f" if grouping else "f")


def credits_label(value: Decimal | int) -> str:
    """``1 credit``, ``1.5 credits``, ``1,200 credits``: amounts in sentences (messages, e-mails, charts)."""
    return f"{format_credits(value, grouping=True)} credit{'' if abs(value) == 1 else 's'}"


def rough(value: Decimal | int) -> str:
    """An estimate for people: one decimal place from 1 up (``4.3``, ``1,204.7``, ``12``), two significant
    digits below (``0.14``, ``0.0029``); 0 or less is ``0``."""
    value = Decimal(value)
    if value >= 1:
        return format(tidy(value.quantize(Decimal("0.1"))), ",f")
    if value <= 0:
        return "0"
    return format(tidy(value.quantize(Decimal(1).scaleb(value.adjusted() - 1))), "f")


def split(total: Decimal, parts: int) -> list[Decimal]:
    """``total`` cut into ``parts`` amounts of 4 places that sum to it exactly; the remainder goes first."""
    if parts < 1:
        return []
    total = exact(total)
    share = (total / parts).quantize(QUANTUM, rounding=ROUND_DOWN)
    return [total - share * (parts - 1), *([share] * (parts - 1))]


def reported(value: object, *, negative: bool = False) -> Decimal | None:
    """A number PixelDojo sent in JSON as an amount of credits, or ``None`` when it is not a usable one.

    JSON numbers arrive as ``int`` or ``float`` and are read through their text (``Decimal(str(value))``) so
    that 1.1 stays 1.1. Booleans, strings, NaN, infinities, amounts too large to store and (unless
    ``negative``) amounts below zero are not usable.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        amount = exact(str(value))
    except ValueError:
        return None
    return None if amount < 0 and not negative else amount
