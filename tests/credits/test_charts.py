"""The bar chart's geometry: one bar per day, whole-number ticks that include zero and the peak."""

from __future__ import annotations

from datetime import date

from credits.charts import bar_chart, daily_series, nice_step, y_domain

START = date(2026, 11, 1)


def test_the_series_has_one_entry_per_day_with_zero_for_days_without_spend():
    series = daily_series({date(2026, 11, 3): 42}, start=START, end=date(2026, 11, 30))
    assert len(series) == 30
    assert series[0] == (START, 0)
    assert series[2] == (date(2026, 11, 3), 42)


def test_ticks_are_whole_steps_of_one_two_or_five():
    assert [nice_step(span) for span in (0, 3, 4, 9, 42, 130, 999)] == [1, 1, 1, 5, 20, 50, 500]
    assert y_domain(0, 42) == (0, 60, 20)
    assert y_domain(0, 0) == (0, 4, 1)  # an empty chart still has an axis
    assert y_domain(-3, 10) == (-5, 10, 5)


def test_bars_scale_to_the_plot_and_carry_their_tooltip():
    chart = bar_chart(
        daily_series({date(2026, 11, 3): 42, date(2026, 11, 4): 1}, start=START, end=date(2026, 11, 30)),
        title="t",
    )
    assert chart.days == 30
    tallest = next(bar for bar in chart.bars if bar.value == 42)
    assert tallest.title == "3 Nov 2026: 42 credits"
    assert next(bar for bar in chart.bars if bar.value == 1).title == "4 Nov 2026: 1 credit"
    # 42 of an axis going to 60: 70 % of the plot height, standing on the baseline.
    plot = chart.bottom - chart.top
    assert abs(tallest.height - 0.7 * plot) < 0.01
    assert abs(tallest.y + tallest.height - chart.baseline) < 0.01
    assert [tick.label for tick in chart.y_ticks] == ["0", "20", "40", "60"]
    assert all(chart.left <= bar.x and bar.x + bar.width <= chart.right for bar in chart.bars)
    assert chart.bars[0].zero and chart.bars[0].height > 0  # empty days keep a thin bar and tooltip
    assert chart.x_labels[-1].label == "30 Nov"  # the last day is always labelled
    assert "42 credits on 3 Nov 2026" in chart.description and "43 credits in total" in chart.description


def test_a_net_refund_day_goes_below_the_baseline():
    chart = bar_chart([(START, -2), (date(2026, 11, 2), 6)], title="t")
    refund = chart.bars[0]
    assert refund.negative and refund.y == chart.baseline and refund.height > 0
    assert chart.y_ticks[0].value < 0
