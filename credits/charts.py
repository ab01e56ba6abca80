"""Geometry of the server-rendered daily-spend bar chart: bars, axis ticks and labels for an SVG template.

The template only places what is computed here (no arithmetic in templates, no JavaScript, no inline styles).
Amounts are exact decimals (1.5 credits): geometry is computed in floats, values and labels stay exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from credits.amounts import ZERO, credits_label, format_credits, rough, tidy
from credits.selectors import day_end, day_start, month_end
from pixelgallery.moments import day_html, day_text

WIDTH = 720
HEIGHT = 240
MARGIN_LEFT = 48
MARGIN_RIGHT = 12
MARGIN_TOP = 14
MARGIN_BOTTOM = 30
BAR_SHARE = 0.72  # of each day's slot; the rest is the gap between bars
ZERO_BAR_HEIGHT = 1.5  # a day without spend still gets a thin bar (and its tooltip)


@dataclass(frozen=True)
class Bar:
    day: date
    value: Decimal  # without trailing zeros: templates show it as is
    x: float
    y: float
    width: float
    height: float
    title: str
    zero: bool
    negative: bool

    @property
    def iso(self) -> str:
        return self.day.isoformat()


@dataclass(frozen=True)
class YTick:
    value: Decimal
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True)
class BarChart:
    title: str
    description: str  # plain text (the SVG's <desc>)
    caption: SafeString  # the same sentence with its days in <time> elements (the figure's caption)
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    baseline: float
    bars: list[Bar]
    y_ticks: list[YTick]
    x_labels: list[XLabel]
    total: Decimal
    peak: Decimal
    peak_day: date | None

    @property
    def days(self) -> int:
        return len(self.bars)

    @property
    def label_y(self) -> float:
        """Baseline of the day labels under the plot."""
        return self.bottom + 18

    @property
    def tick_x(self) -> float:
        """Right edge of the credit labels left of the plot."""
        return self.left - 6


def daily_series(values: Mapping[date, Decimal], *, start: date, end: date) -> list[tuple[date, Decimal]]:
    """One (day, credits) pair per day from ``start`` to ``end`` inclusive; days without spend count 0."""
    days = (end - start).days + 1
    return [(start + timedelta(days=n), values.get(start + timedelta(days=n), ZERO)) for n in range(days)]


def nice_step(span: float, count: int = 4) -> int:
    """A whole step of 1, 2 or 5 times 10^k that cuts ``span`` into about ``count`` intervals."""
    if span <= 0:
        return 1
    raw = float(span) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return max(1, int(factor * magnitude))
    return max(1, int(10 * magnitude))  # pragma: no cover - the loop always returns


def y_domain(low: Decimal | int, high: Decimal | int, count: int = 4) -> tuple[int, int, int]:
    """Axis bounds that include zero and the data, rounded out to whole ticks; returns (low, high, step).

    Ticks are whole credits: a day of 0.25 credits is a quarter of the way up a 0..1 axis.
    """
    low, high = min(0, low), max(0, high)
    if low == high:
        high = count  # an empty chart still shows a sensible 0..4 axis
    step = nice_step(high - low, count)
    return step * math.floor(low / step), step * math.ceil(high / step), step


def x_label_step(days: int) -> int:
    if days <= 10:
        return 1
    if days <= 45:
        return 7
    return 14


def bar_chart(
    series: list[tuple[date, Decimal]],
    *,
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> BarChart:
    """Bars for each day of ``series`` (oldest first), a zero line, y gridlines and x labels."""
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    series = [(day, tidy(value)) for day, value in series]
    values = [value for _, value in series]
    low, high, step = y_domain(min(values, default=0), max(values, default=0))

    def y_of(value: Decimal | int) -> float:
        return round(top + (high - float(value)) / (high - low) * (bottom - top), 2)

    baseline = y_of(0)
    slot = (right - left) / max(1, len(series))
    bar_width = round(max(1.0, slot * BAR_SHARE), 2)
    bars = []
    for index, (day, value) in enumerate(series):
        x = round(left + index * slot + (slot - bar_width) / 2, 2)
        if value == 0:
            y, bar_height = round(baseline - ZERO_BAR_HEIGHT, 2), ZERO_BAR_HEIGHT
        else:
            y = min(y_of(value), baseline)
            bar_height = round(abs(y_of(value) - baseline), 2)
        bars.append(
            Bar(
                day=day,
                value=value,
                x=x,
                y=y,
                width=bar_width,
                height=bar_height,
                title=f"{day_text(day)}: {credits_label(value)}",
                zero=value == 0,
                negative=value < 0,
            )
        )
    ticks = [
        YTick(value=Decimal(value), y=y_of(value), label=format_credits(value, grouping=True))
        for value in range(low, high + step, step)
    ]
    every = x_label_step(len(series))
    last = len(series) - 1
    x_labels = [
        XLabel(x=round(left + index * slot + slot / 2, 2), label=f"{day.day} {day:%b}")
        for index, (day, _) in enumerate(series)
        if (last - index) % every == 0
    ]
    total = tidy(sum(values, ZERO))
    peak_day, peak = max(series, key=lambda pair: (pair[1], pair[0]), default=(None, ZERO))
    if series:
        sentence = "Credits spent per day from {first} to {last}: {total} in total"
        sentence += ", at most {peak} on {peak_day}." if peak > 0 else "."
        amounts = {"total": credits_label(total), "peak": credits_label(peak)}
        days = {"first": series[0][0], "last": series[-1][0], "peak_day": peak_day}
        description = sentence.format(**amounts, **{name: day_text(day) for name, day in days.items()})
        caption = format_html(sentence, **amounts, **{name: day_html(day) for name, day in days.items()})
    else:
        description = "No days to show."
        caption = SafeString(description)
    return BarChart(
        title=title,
        description=description,
        caption=caption,
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        baseline=baseline,
        bars=bars,
        y_ticks=ticks,
        x_labels=x_labels,
        total=total,
        peak=peak,
        peak_day=peak_day if peak > 0 else None,
    )


# --- This month's running total and its forecast ------------------------------------------------------


@dataclass(frozen=True)
class MonthPoint:
    day: date
    credits: Decimal  # spent that day
    total: Decimal  # spent this month up to the end of that day (today: so far)


@dataclass(frozen=True)
class MonthChart:
    """This month's running total of spend (a solid line up to now), its forecast at the last 7 days' rate
    (a dashed line from now to the end of the month) and the budget (a level line) when there is one."""

    title: str
    description: str  # plain text (the SVG's <desc>)
    caption: SafeString
    width: int
    height: int
    left: float
    right: float  # x of the end of the month: where the forecast line ends
    top: float
    bottom: float
    baseline: float
    spent_path: str
    forecast_path: str
    now_x: float
    now_y: float
    end_y: float
    budget_y: float | None
    budget_label: str
    y_ticks: list[YTick]
    x_labels: list[XLabel]
    points: list[MonthPoint]
    month_end: date
    end_total: Decimal  # forecast spend at the end of the month

    @property
    def label_y(self) -> float:
        return self.bottom + 18

    @property
    def tick_x(self) -> float:
        return self.left - 6


def month_chart(
    daily: Mapping[date, Decimal],
    *,
    now: datetime,
    rate: Decimal,
    limit: Decimal | None,
    runs_out_on: date | None = None,
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> MonthChart:
    """The chart of the month of ``now`` (local time) from the spend of its days (``daily``, days after today
    ignored), the forecast's ``rate`` (credits a day, from ``now`` on) and the budget's ``limit`` (``None``:
    no budget). ``runs_out_on``: the forecast's day, when the budget runs out this month."""
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    today = timezone.localdate(now)
    first, last = today.replace(day=1), month_end(today)
    start, end = day_start(first), day_end(last)
    span = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        return round(left + (moment - start).total_seconds() / span * (right - left), 2)

    points, total = [], ZERO
    for day, credits in daily_series(daily, start=first, end=today):
        total += credits
        points.append(MonthPoint(day=day, credits=tidy(credits), total=tidy(total)))
    rate = max(ZERO, rate)
    end_total = tidy(total + rate * Decimal((end - now).total_seconds()) / 86400)
    values = [point.total for point in points] + [end_total] + ([limit] if limit is not None else [])
    low, high, step = y_domain(min(values), max(values))

    def y_of(value: Decimal | int) -> float:
        return round(top + (high - float(value)) / (high - low) * (bottom - top), 2)

    corners = [(left, y_of(0))] + [
        (x_of(day_end(point.day)), y_of(point.total)) for point in points if point.day < today
    ]
    now_x, now_y, end_y = x_of(now), y_of(total), y_of(end_total)
    corners.append((now_x, now_y))
    spent_path = "M " + " L ".join(f"{x} {y}" for x, y in corners)
    forecast_path = f"M {now_x} {now_y} L {right} {end_y}"
    ticks = [
        YTick(value=Decimal(value), y=y_of(value), label=format_credits(value, grouping=True))
        for value in range(low, high + step, step)
    ]
    slot = (right - left) / len(range(first.day, last.day + 1))
    x_labels = [
        XLabel(x=round(left + (day - 1) * slot + slot / 2, 2), label=f"{day} {first:%b}")
        for day in range(1, last.day + 1)
        if (day - 1) % 7 == 0 or day == last.day
    ]
    if (last.day - 1) % 7 in (1, 2, 3):  # too close to the last label
        x_labels = x_labels[:-2] + x_labels[-1:]

    sentence = "Credits spent this month: {total} from {first} to {today}. "
    sentence += "At the last 7 days' rate ({rate} a day) that makes {end_total} by {last}"
    amounts = {
        "total": credits_label(total),
        "rate": rough(rate),
        "end_total": f"about {rough(end_total)} credits",
    }
    days = {"first": first, "today": today, "last": last}
    if limit is not None:
        amounts["limit"] = credits_label(limit)
        if total >= limit:
            sentence += ", against a budget of {limit}, already used up."
        elif runs_out_on is not None:
            sentence += ", against a budget of {limit}: it runs out on {runs_out_on}."
            days["runs_out_on"] = runs_out_on
        else:
            sentence += ", within the budget of {limit}."
    else:
        sentence += " (no team budget)."
    description = sentence.format(**amounts, **{name: day_text(day) for name, day in days.items()})
    caption = format_html(sentence, **amounts, **{name: day_html(day) for name, day in days.items()})
    return MonthChart(
        title=title,
        description=description,
        caption=caption,
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        baseline=y_of(0),
        spent_path=spent_path,
        forecast_path=forecast_path,
        now_x=now_x,
        now_y=now_y,
        end_y=end_y,
        budget_y=y_of(limit) if limit is not None else None,
        budget_label=f"Budget {format_credits(limit, grouping=True)}" if limit is not None else "",
        y_ticks=ticks,
        x_labels=x_labels,
        points=points,
        month_end=last,
        end_total=end_total,
    )
