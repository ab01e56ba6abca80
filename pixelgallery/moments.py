"""The one way the site shows a moment: ``<time datetime>``, one absolute format, relative text when recent.

Formats (all in the active time zone, ``settings.TIME_ZONE`` unless a request activates another):
- a moment, absolute: ``28 Nov 2026, 14:05``; its hover title adds the zone: ``28 Nov 2026, 14:05 UTC``;
- a moment, relative (past only): ``just now`` (under a minute, never "0 min ago"), ``3 min ago``, ``2 h ago``
  (earlier today), ``yesterday, 14:05``, then the absolute format;
- a day: ``28 Nov 2026``; a month: ``Nov 2026``.

Machine formats (CSV exports, ``datetime`` attributes, URLs, file names) stay ISO 8601.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Style = Literal["relative", "absolute"]


def local(moment: datetime) -> datetime:
    """``moment`` in the active time zone (a naive one is taken to be in it already)."""
    if timezone.is_naive(moment):
        return timezone.make_aware(moment)
    return timezone.localtime(moment)


def day_text(day: date) -> str:
    """``28 Nov 2026``: the one date-only format."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def month_text(month: date) -> str:
    """``Nov 2026``: the month of ``month``."""
    return f"{MONTHS[month.month - 1]} {month.year}"


def absolute_text(moment: datetime) -> str:
    """``28 Nov 2026, 14:05`` in the active time zone: the one absolute format (also for plain text)."""
    moment = local(moment)
    return f"{day_text(moment)}, {moment:%H:%M}"


def exact_text(moment: datetime) -> str:
    """The absolute format with the zone's name (``28 Nov 2026, 14:05 UTC``): the hover title."""
    moment = local(moment)
    return f"{absolute_text(moment)} {moment.tzname()}"


def relative_text(moment: datetime, *, now: datetime | None = None) -> str:
    """Relative text for a recent past ``moment``, else the absolute format (the future included)."""
    return _relative(local(moment), local(now or timezone.now()))


def _relative(moment: datetime, now: datetime) -> str:
    """``relative_text`` of a ``moment`` and ``now`` already in the active time zone."""
    seconds = (now - moment).total_seconds()
    if -60 < seconds < 60:  # a server clock a few seconds ahead of the database's is still "just now"
        return "just now"
    if seconds < 0:
        return f"{day_text(moment)}, {moment:%H:%M}"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if moment.date() == now.date():
        return f"{int(seconds // 3600)} h ago"
    if moment.date() == now.date() - timedelta(days=1):
        return f"yesterday, {moment:%H:%M}"
    return f"{day_text(moment)}, {moment:%H:%M}"  # absolute_text of a moment already in the zone


def moment_html(
    moment: datetime | None, style: Style = "relative", *, now: datetime | None = None
) -> SafeString:
    """``<time datetime="ISO 8601 with offset" title="exact time">text</time>``; empty for ``None``.

    Relative ones carry ``data-moment-absolute`` so static/js/time.js can refresh them every minute.
    """
    if moment is None:
        return SafeString("")
    # The zone is looked up once (a library page shows 48 of these): the texts below are made of digits,
    # month names and the zone's name, so only the name needs escaping.
    zone = timezone.get_current_timezone()
    moment = timezone.make_aware(moment, zone) if timezone.is_naive(moment) else moment.astimezone(zone)
    iso = moment.isoformat(timespec="seconds")
    absolute = f"{day_text(moment)}, {moment:%H:%M}"
    exact = f"{absolute} {escape(moment.tzname() or '')}"
    if style == "absolute":
        return SafeString(f'<time datetime="{iso}" title="{exact}">{absolute}</time>')
    now = now or timezone.now()
    relative = _relative(
        moment, timezone.make_aware(now, zone) if timezone.is_naive(now) else now.astimezone(zone)
    )
    return SafeString(
        f'<time datetime="{iso}" title="{exact}" data-moment-absolute="{absolute}">{relative}</time>'
    )


def day_html(day: date | None) -> SafeString:
    """``<time datetime="2026-11-28">28 Nov 2026</time>``; empty for ``None``."""
    if day is None:
        return SafeString("")
    return format_html('<time datetime="{}">{}</time>', day.isoformat(), day_text(day))


def month_html(month: date | None) -> SafeString:
    """``<time datetime="2026-11">Nov 2026</time>``; empty for ``None``."""
    if month is None:
        return SafeString("")
    return format_html(
        '<time datetime="{}">{}</time>', f"{month.year:04d}-{month.month:02d}", month_text(month)
    )
