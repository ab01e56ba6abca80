"""The one way the site shows time (pixelgallery/moments.py and the ``moment`` template filter)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.utils import timezone

from pixelgallery.moments import absolute_text, day_text, moment_html, relative_text

NOW = datetime(2026, 12, 1, 15, 30, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def utc():
    with timezone.override(UTC):
        yield


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=59, microseconds=999_999), "just now"),
        (timedelta(seconds=60), "1 min ago"),
        (timedelta(minutes=3, seconds=59), "3 min ago"),
        (timedelta(minutes=59, seconds=59), "59 min ago"),
        (timedelta(minutes=60), "1 h ago"),
        (timedelta(hours=2, minutes=59), "2 h ago"),
        (timedelta(hours=15, minutes=30), "15 h ago"),  # 00:00 today
        (timedelta(hours=15, minutes=31), "yesterday, 23:59"),
        (timedelta(days=1, hours=1, minutes=25), "yesterday, 14:05"),
        (timedelta(days=1, hours=15, minutes=30), "yesterday, 00:00"),
        (timedelta(days=1, hours=15, minutes=31), "29 Nov 2026, 23:59"),
        (timedelta(days=3, hours=1, minutes=25), "28 Nov 2026, 14:05"),
        (timedelta(days=400), "27 Oct 2025, 15:30"),  # last year: the year is always there
        (timedelta(seconds=-30), "just now"),  # a clock a little ahead
        (timedelta(minutes=-5), "1 Dec 2026, 15:35"),  # the future: absolute
    ],
)
def test_relative_text_boundaries(ago, text):
    assert relative_text(NOW - ago, now=NOW) == text


def test_never_zero_minutes_ago():
    texts = {relative_text(NOW - timedelta(seconds=s), now=NOW) for s in range(0, 3600, 7)}
    assert "just now" in texts and not any(text.startswith("0 ") for text in texts)


def test_the_element_carries_the_iso_moment_the_exact_title_and_the_text():
    html = moment_html(NOW - timedelta(minutes=3), now=NOW)
    assert html == (
        '<time datetime="2026-12-01T15:27:00+00:00" title="1 Dec 2026, 15:27 UTC" '
        'data-moment-absolute="1 Dec 2026, 15:27">3 min ago</time>'
    )
    old = datetime(2026, 11, 28, 14, 5, 59, tzinfo=UTC)
    assert moment_html(old, "absolute") == (
        '<time datetime="2026-11-28T14:05:59+00:00" title="28 Nov 2026, 14:05 UTC">28 Nov 2026, 14:05</time>'
    )
    assert moment_html(None) == ""


def test_the_active_time_zone_decides_the_text_the_offset_and_which_day_is_yesterday():
    just_after_midnight_in_paris = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 1 Dec 00:30 in Paris
    evening = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)  # 30 Nov 22:00 in Paris
    assert relative_text(evening, now=just_after_midnight_in_paris) == "2 h ago"  # UTC: the same day
    with timezone.override(PARIS):
        assert relative_text(evening, now=just_after_midnight_in_paris) == "yesterday, 22:00"
        assert absolute_text(evening) == "30 Nov 2026, 22:00"
        html = moment_html(evening, now=just_after_midnight_in_paris)
        assert 'datetime="2026-11-30T22:00:00+01:00"' in html and 'title="30 Nov 2026, 22:00 CET"' in html
        summer = datetime(2026, 7, 14, 10, 0, tzinfo=UTC)
        assert 'title="14 Jul 2026, 12:00 CEST"' in moment_html(summer, "absolute")


def test_naive_datetimes_are_taken_in_the_active_zone():
    with timezone.override(PARIS):
        assert absolute_text(datetime(2026, 3, 5, 9, 7)) == "5 Mar 2026, 09:07"


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_the_template_filter_needs_no_load_and_handles_every_kind_of_value():
    moment = timezone.now() - timedelta(seconds=5)
    html = render("{{ value|moment }}", value=moment)
    assert re.fullmatch(
        r'<time datetime="[^"]+" title="[^"]+ UTC" data-moment-absolute="[^"]+">just now</time>', html
    )
    assert render('{{ value|moment:"absolute" }}', value=datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == (
        '<time datetime="2026-01-02T03:04:00+00:00" title="2 Jan 2026, 03:04 UTC">2 Jan 2026, 03:04</time>'
    )
    assert render("{{ value|moment }}", value=date(2026, 11, 28)) == (
        '<time datetime="2026-11-28">28 Nov 2026</time>'
    )
    assert render('{{ value|moment:"month" }}', value=date(2026, 11, 1)) == (
        '<time datetime="2026-11">Nov 2026</time>'
    )
    assert render("{{ value|moment }}", value=None) == ""
    assert render("{{ value|moment }}", value="") == ""
    with pytest.raises(TemplateSyntaxError):
        render('{{ value|moment:"fancy" }}', value=moment)


def test_day_and_month_texts_match_the_absolute_format():
    assert day_text(date(2026, 1, 9)) == "9 Jan 2026"
    assert absolute_text(datetime(2026, 1, 9, 8, 0, tzinfo=UTC)).startswith(day_text(date(2026, 1, 9)) + ", ")
