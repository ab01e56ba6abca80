"""``{% load moments %}``: ``{{ value|moment }}`` is the one way templates show a date or time.

- a datetime: relative when recent (``3 min ago``), else ``28 Nov 2026, 14:05``; exact time on hover;
- ``{{ value|moment:"absolute" }}``: always ``28 Nov 2026, 14:05`` (for "at …", "until …" sentences);
- a date: ``28 Nov 2026``; ``{{ value|moment:"month" }}``: ``Nov 2026``.

See pixelgallery/moments.py for the formats.
"""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils.safestring import SafeString

from pixelgallery.moments import day_html, moment_html, month_html

register = template.Library()

STYLES = ("", "relative", "absolute", "month")


@register.filter(is_safe=True)
def moment(value: datetime | date | None, style: str = "") -> SafeString:
    """A ``<time datetime>`` element for ``value`` in the active time zone; empty for anything else."""
    if style not in STYLES:
        raise template.TemplateSyntaxError(f"moment: unknown style {style!r}; use one of {STYLES[1:]}")
    if style == "month" and isinstance(value, date):
        return month_html(value)
    if isinstance(value, datetime):
        return moment_html(value, "absolute" if style == "absolute" else "relative")
    if isinstance(value, date):
        return day_html(value)
    return SafeString("")
