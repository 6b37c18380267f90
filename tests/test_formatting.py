"""How figures read in the review: no formatter ever shows a negative zero ("$-0.00",
"-0.0 pts", "-0%"), whatever the value; signs and currency read the usual way."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.report.charts import _short, svg_trend
from flows.report.suppression import decimals, fmt_change, fmt_count, fmt_value, quantize

UNITS = ("percent", "ratio", "kbps", "usd", "hours", "students", "educators", "devices", "boolean", "")
# a minus sign followed by nothing but zeros (and separators): a negative zero as shown
NEGATIVE_ZERO = re.compile(r"[-−]\s*\$?0+(?:[.,]0+)*(?![0-9.,]*[1-9])")

values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.floats(min_value=-0.01, max_value=0.01, allow_nan=False),
    st.sampled_from([-0.0, -0.004, -0.0049999, -0.005, -0.05, -0.5, -1e-12]),
)


@settings(max_examples=500, deadline=None)
@given(values, st.sampled_from(UNITS))
@pytest.mark.fast
def test_no_formatter_shows_a_negative_zero(v, unit):
    for text in (fmt_value(v, unit), fmt_change(v, unit), fmt_count(abs(v)), _short(v, unit or "students")):
        assert not NEGATIVE_ZERO.search(text), (v, unit, text)
        assert "$-" not in text, (v, unit, text)


@settings(max_examples=200, deadline=None)
@given(values, st.sampled_from(UNITS))
@pytest.mark.fast
def test_a_shown_figure_is_the_value_rounded_to_its_decimals(v, unit):
    if unit == "boolean":
        return
    text = fmt_value(v, unit)
    shown = float(re.sub(r"[^0-9.\-]", "", text.replace(",", "")))
    assert shown == pytest.approx(quantize(v, decimals(unit)), abs=1e-9 * max(1, abs(v)))


@pytest.mark.fast
def test_examples_read_the_usual_way():
    assert fmt_value(-0.0, "usd") == "$0.00"
    assert fmt_value(-0.001, "usd") == "$0.00"
    assert fmt_value(-5, "usd") == "-$5.00"
    assert fmt_value(-0.04, "percent") == "0.0%"
    assert fmt_change(-0.001, "percent") == "±0.0 pts"
    assert fmt_change(-2.25, "percent") == "-2.2 pts"  # half to even
    assert fmt_change(1234.5, "kbps") == "+1,234 kbps"
    assert fmt_change(-0.004, "usd") == "±$0.00"
    assert fmt_change(-1.5, "usd") == "-$1.50"
    assert fmt_count(9) == "<10" and fmt_count(0) == "<10" and fmt_count(12345) == "12,345"
    assert _short(-0.3, "percent") == "0%"


@pytest.mark.fast
def test_small_charts_never_label_an_axis_with_a_negative_zero():
    svg = svg_trend(["2023-24", "2024-25"], [-0.2, -0.01], [0.0, -0.4], unit="usd", title="cost")
    labels = re.findall(r'class="spark-axis">([^<]*)<', svg)
    assert labels and not any(NEGATIVE_ZERO.search(x) for x in labels), labels
