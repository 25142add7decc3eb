"""Temporal aggregation (4.5.19): durations, period grids and each aggregation
method, checked against a brute-force grid and numpy on seeded random series."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boulevard.ngsild.temporal_aggr import (
    AGGR_METHODS,
    Duration,
    add_duration,
    aggregate,
    format_instant,
    format_period,
    parse_duration,
    parse_methods,
)
from boulevard.timestamps import to_micros

MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def us(text: str) -> int:
    return to_micros(text)


def rendered(result: dict[str, list[tuple[Any, int, int]]]) -> dict[str, list[list[Any]]]:
    return {method: [format_period(*entry) for entry in entries] for method, entries in result.items()}


# --- parse_duration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "months", "micros"),
    [
        ("PT1H", 0, HOUR),
        ("P1D", 0, DAY),
        ("P1M", 1, 0),
        ("PT1M", 0, MINUTE),
        ("P1Y2M3DT4H5M6.5S", 14, 3 * DAY + 4 * HOUR + 5 * MINUTE + 6_500_000),
        ("P2W", 0, 14 * DAY),
        ("PT0S", 0, 0),
        ("P0D", 0, 0),
        ("PT0.000001S", 0, 1),
        ("PT1,25S", 0, 1_250_000),
        ("P10Y", 120, 0),
        ("PT36H", 0, 36 * HOUR),
    ],
)
def test_parse_duration_accepts_iso_8601(text: str, months: int, micros: int) -> None:
    assert parse_duration(text) == Duration(months, micros)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "T1H",
        "1H",
        "PT1H ",
        " PT1H",
        "-P1D",
        "P-1D",
        "pt1h",
        "P1.5D",
        "PT1.5H",
        "P1H",
        "PT1D",
        "P1DT",
        "P1M1Y",
        "P1W2D",
        "P1Y1W",
        "bogus",
        "PT0.0000001S",
        "P1S",
        "PT1S1M",
        "PT.5S",
    ],
)
def test_parse_duration_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_zero_durations_are_the_whole_range() -> None:
    assert parse_duration("PT0S").is_zero
    assert parse_duration("P0Y0M0D").is_zero
    assert not parse_duration("PT0.000001S").is_zero


# --- add_duration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        ("2024-01-31T10:00:00Z", "P1M", "2024-02-29T10:00:00Z"),  # leap year: clamp to the 29th
        ("2023-01-31T10:00:00Z", "P1M", "2023-02-28T10:00:00Z"),
        ("2024-03-31T00:00:00Z", "P1M", "2024-04-30T00:00:00Z"),
        ("2024-02-29T00:00:00Z", "P1Y", "2025-02-28T00:00:00Z"),
        ("2024-11-15T08:00:00Z", "P3M", "2025-02-15T08:00:00Z"),
        ("2024-01-31T23:00:00Z", "P1MT2H", "2024-03-01T01:00:00Z"),  # months first, then hours
        ("2024-03-30T12:00:00Z", "P1D", "2024-03-31T12:00:00Z"),  # UTC: a day is always 24 h
        ("1969-12-31T12:00:00Z", "P1M", "1970-01-31T12:00:00Z"),  # before the epoch
        ("2020-08-01T12:03:00.250Z", "PT0.5S", "2020-08-01T12:03:00.750Z"),
    ],
)
def test_add_duration_follows_the_calendar(start: str, duration: str, expected: str) -> None:
    assert add_duration(us(start), parse_duration(duration)) == us(expected)


def test_add_duration_outside_the_calendar_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        add_duration(us("9999-06-01T00:00:00Z"), parse_duration("P1Y"))


# --- parse_methods ----------------------------------------------------------


def test_parse_methods_takes_both_spellings_and_keeps_order() -> None:
    assert parse_methods("max,avg") == ("max", "avg")
    assert parse_methods(["avg"]) == ("avg",)
    assert parse_methods("avg,avg,min") == ("avg", "min")


@pytest.mark.parametrize("spec", ["bogus", "avg,bogus", "AVG", "", ["avg", "mean"], []])
def test_parse_methods_refuses_unknown_or_missing_methods(spec: str | list[str]) -> None:
    with pytest.raises(ValueError, match="aggregation method"):
        parse_methods(spec)


def test_aggregate_refuses_an_unknown_method() -> None:
    with pytest.raises(ValueError):
        aggregate([(0, 1)], ["median"], 0, 10, None)


# --- format ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "text"),
    [
        ("2020-08-01T12:03:00Z", "2020-08-01T12:03:00Z"),
        ("2020-08-01T12:03:00.5Z", "2020-08-01T12:03:00.500Z"),
        ("2020-08-01T12:03:00.000001Z", "2020-08-01T12:03:00.000001Z"),
        ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
    ],
)
def test_format_instant_writes_whole_seconds_without_a_fraction(stamp: str, text: str) -> None:
    assert format_instant(us(stamp)) == text


def test_format_period_is_value_start_end() -> None:
    assert format_period(67.0, us("2020-08-01T12:03:00Z"), us("2020-08-01T13:03:00Z")) == [
        67.0,
        "2020-08-01T12:03:00Z",
        "2020-08-01T13:03:00Z",
    ]


# --- the ETSI suite's own case ------------------------------------------------
# Fixture data/temporalEntities/2020-08-vehicle-temporal-representation.jsonld,
# expectations data/temporalEntities/expectations/vehicle-temporal-representation-aggregated-*.json
# (TPs 020_11 and 021_17).

SPEED = [(us("2020-08-01T12:03:00Z"), 120), (us("2020-08-01T12:05:00Z"), 80), (us("2020-08-01T12:07:00Z"), 100)]
FUEL = [(us("2020-08-01T12:03:00Z"), 67), (us("2020-08-01T13:05:00Z"), 53), (us("2020-08-01T14:07:00Z"), 40)]
SUITE_END = us("2020-08-01T14:07:00Z") + 1


@pytest.mark.parametrize("start", ["2020-08-01T12:03:00Z", "2020-01-01T12:03:00Z"])  # first instance / 021_17 timeAt
def test_suite_expectations_avg_max_pt1h(start: str) -> None:
    hours = [
        ("2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"),
        ("2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"),
        ("2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"),
    ]
    fuel = rendered(aggregate(FUEL, ["avg", "max"], us(start), SUITE_END, parse_duration("PT1H")))
    assert fuel == {
        "avg": [[67.0, *hours[0]], [53.0, *hours[1]], [40.0, *hours[2]]],
        "max": [[67.0, *hours[0]], [53.0, *hours[1]], [40.0, *hours[2]]],
    }
    speed = rendered(aggregate(SPEED, ["avg", "max"], us(start), SUITE_END, parse_duration("PT1H")))
    assert speed == {"avg": [[100.0, *hours[0]]], "max": [[120.0, *hours[0]]]}
    assert all(type(entry[0]) is float for entry in fuel["max"])  # 67.0, as the expectation writes it


@pytest.mark.parametrize("start", ["2020-08-01T12:03:00Z", "2020-01-01T12:03:00Z"])
def test_suite_expectations_min_max_p1d(start: str) -> None:
    day = ["2020-08-01T12:03:00Z", "2020-08-02T12:03:00Z"]
    assert rendered(aggregate(FUEL, ["min", "max"], us(start), SUITE_END, parse_duration("P1D"))) == {
        "min": [[40.0, *day]],
        "max": [[67.0, *day]],
    }
    assert rendered(aggregate(SPEED, ["min", "max"], us(start), SUITE_END, parse_duration("P1D"))) == {
        "min": [[80.0, *day]],
        "max": [[120.0, *day]],
    }


# --- numbers against a brute-force grid and numpy ------------------------------


def brute_force(points: list[tuple[int, Any]], start: int, end: int, step: int) -> list[tuple[int, int, list[Any]]]:
    """Every period of the grid walked in turn, values picked by a half-open test."""
    periods = []
    p_start = start
    while p_start < end:
        values = [v for ts, v in points if p_start <= ts < p_start + step and ts < end]
        if values:
            periods.append((p_start, p_start + step, values))
        p_start += step
    return periods


def numpy_method(method: str, values: list[Any]) -> Any:
    array = np.array(values, dtype=float)
    return {
        "totalCount": lambda: len(values),
        "distinctCount": lambda: len(np.unique(array)),
        "sum": lambda: float(np.sum(array)),
        "avg": lambda: float(np.mean(array)),
        "min": lambda: float(np.min(array)),
        "max": lambda: float(np.max(array)),
        "stddev": lambda: float(np.std(array, ddof=1)) if len(values) > 1 else None,
        "sumsq": lambda: float(np.sum(np.square(array))),
    }[method]()


def random_series(rng: random.Random, start: int, span: int) -> list[tuple[int, Any]]:
    """Points on a minute grid (so many sit exactly on period boundaries), with a
    13-hour gap (so even 6-hour periods come out empty), a few duplicates, values
    drawn so some repeat, and some points before the start or after the end."""
    gap_from, gap_to = start + span // 3, start + span // 3 + 13 * HOUR
    points = []
    for _ in range(rng.randint(50, 400)):
        ts = start + rng.randrange(-2 * HOUR, span + 2 * HOUR, MINUTE)
        if gap_from <= ts < gap_to:
            continue
        value = rng.randint(-20, 20) if rng.random() < 0.5 else round(rng.uniform(-1e3, 1e3), 3)
        points.append((ts, value))
    points += rng.sample(points, 5)  # same instant twice: both count
    rng.shuffle(points)
    return points


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("method", AGGR_METHODS)
def test_each_method_matches_numpy_on_random_series(method: str, seed: int) -> None:
    rng = random.Random(seed)
    start = us("2024-02-27T00:00:00Z") + rng.randrange(0, HOUR, MINUTE)
    span = 2 * DAY
    step = rng.choice([15 * MINUTE, HOUR, 90 * MINUTE, 6 * HOUR])
    points = random_series(rng, start, span)
    end = start + span

    got = aggregate(points, [method], start, end, Duration(0, step))[method]

    expected = [(numpy_method(method, values), p0, p1) for p0, p1, values in brute_force(points, start, end, step)]
    expected = [entry for entry in expected if entry[0] is not None]
    assert [(p0, p1) for _, p0, p1 in got] == [(p0, p1) for _, p0, p1 in expected]
    assert [value for value, _, _ in got] == pytest.approx([value for value, _, _ in expected], rel=1e-9, abs=1e-9)
    assert len(got) >= 2  # the series really spans several periods
    assert len(got) < len(range(start, end, step))  # ... and the gap left periods out


def test_random_series_have_empty_periods_and_points_on_boundaries() -> None:
    """Guard for the test above: its data does exercise what it claims to."""
    rng = random.Random(3)
    start = us("2024-02-27T00:00:00Z")
    points = random_series(rng, start, 2 * DAY)
    assert any((ts - start) % HOUR == 0 for ts, _ in points)
    assert any(ts < start for ts, _ in points) and any(ts >= start + 2 * DAY for ts, _ in points)


def test_output_types() -> None:
    points = [(0, 1), (1, 2), (2, 2)]
    out = {method: entries[0][0] for method, entries in aggregate(points, AGGR_METHODS, 0, 10, None).items()}
    assert out == {
        "totalCount": 3,
        "distinctCount": 2,
        "sum": 5.0,
        "avg": 5 / 3,
        "min": 1.0,
        "max": 2.0,
        "stddev": pytest.approx(0.5773502691896258),
        "sumsq": 9.0,
    }
    assert type(out["totalCount"]) is int and type(out["distinctCount"]) is int
    assert all(type(out[m]) is float for m in ("sum", "avg", "min", "max", "stddev", "sumsq"))


def test_stddev_is_the_sample_one_and_needs_two_values() -> None:
    points = [(0, 2), (1, 4), (2, 4), (3, 4), (4, 5), (5, 5), (6, 7), (7, 9), (HOUR, 3)]
    out = aggregate(points, ["stddev"], 0, 2 * HOUR, parse_duration("PT1H"))["stddev"]
    assert out == [(pytest.approx(2.138089935299395), 0, HOUR)]  # population would be 2.0; one value: no entry


def test_sums_are_exactly_rounded() -> None:
    points = [(0, 1e16), (1, 1.0), (2, -1e16), (3, 1.0)]
    assert aggregate(points, ["sum"], 0, 10, None)["sum"][0][0] == 2.0  # naive left-to-right gives 0.0 or 1.0


# --- period grid ---------------------------------------------------------------


def test_half_open_periods_at_every_edge() -> None:
    start, end = us("2024-05-01T00:00:00Z"), us("2024-05-01T03:00:00Z")
    points = [
        (start - 1, 1000),  # before the range
        (start, 1),  # on the start: first period
        (start + HOUR - 1, 2),  # last microsecond of the first period
        (start + HOUR, 3),  # on a boundary: second period
        (end - 1, 4),
        (end, 5000),  # on the end: excluded
    ]
    out = aggregate(points, ["sum", "totalCount"], start, end, parse_duration("PT1H"))
    assert out["sum"] == [
        (3.0, start, start + HOUR),
        (3.0, start + HOUR, start + 2 * HOUR),
        (4.0, start + 2 * HOUR, end),
    ]
    assert [count for count, _, _ in out["totalCount"]] == [2, 1, 1]


def test_last_period_is_whole_even_past_the_end() -> None:
    start = us("2024-05-01T00:00:00Z")
    out = aggregate([(start + 90 * MINUTE, 7)], ["max"], start, start + 100 * MINUTE, parse_duration("PT1H"))
    assert out["max"] == [(7.0, start + HOUR, start + 2 * HOUR)]


@pytest.mark.parametrize("period", [None, Duration(0, 0), parse_duration("P0D")])
def test_no_or_zero_duration_is_one_period_over_the_range(period: Duration | None) -> None:
    start, end = us("2024-05-01T00:00:00Z"), us("2024-05-09T00:00:00Z")
    points = [(start + k * DAY, k) for k in range(-1, 10)]
    assert aggregate(points, ["sum", "totalCount"], start, end, period) == {
        "sum": [(28.0, start, end)],  # 0 + 1 + ... + 7
        "totalCount": [(8, start, end)],
    }


@pytest.mark.parametrize(
    ("points", "start", "end"),
    [([], 0, HOUR), ([(5, 1)], HOUR, HOUR), ([(5, 1)], HOUR, 0), ([(2 * HOUR, 1)], 0, HOUR)],
)
def test_nothing_to_aggregate_gives_empty_lists(points: list[tuple[int, Any]], start: int, end: int) -> None:
    assert aggregate(points, ["avg", "totalCount"], start, end, parse_duration("PT1H")) == {
        "avg": [],
        "totalCount": [],
    }


def test_multi_instance_attribute_is_aggregated_as_one_series() -> None:
    """Two datasetIds' instances mixed in one series: the caller's merge is honoured,
    with instants shared by both instances counted twice."""
    start = us("2024-05-01T00:00:00Z")
    gps = [(start + k * 10 * MINUTE, 50 + k) for k in range(12)]
    speedometer = [(start + k * 15 * MINUTE, 100) for k in range(8)]
    merged = gps + speedometer
    random.Random(1).shuffle(merged)
    out = aggregate(merged, ["avg", "totalCount", "distinctCount"], start, start + 2 * HOUR, parse_duration("PT1H"))
    first_hour = [v for ts, v in gps + speedometer if ts < start + HOUR]
    assert out["totalCount"][0][0] == 6 + 4 == len(first_hour)
    assert out["avg"][0][0] == pytest.approx(float(np.mean(first_hour)))
    assert out["avg"][0][0] != pytest.approx(float(np.mean([v for ts, v in gps if ts < start + HOUR])))
    assert out["distinctCount"][0][0] == 7  # 50..55 and 100


def test_month_periods_across_february() -> None:
    start = us("2024-01-15T00:00:00Z")
    points = [
        (us("2024-01-20T00:00:00Z"), 1),
        (us("2024-02-14T23:59:59.999999Z"), 2),  # still January's period
        (us("2024-02-15T00:00:00Z"), 10),  # on the boundary: February's period
        (us("2024-02-29T12:00:00Z"), 20),
        (us("2024-04-20T00:00:00Z"), 100),  # March's period stays empty
    ]
    out = rendered(aggregate(points, ["sum"], start, us("2024-06-01T00:00:00Z"), parse_duration("P1M")))
    assert out == {
        "sum": [
            [3.0, "2024-01-15T00:00:00Z", "2024-02-15T00:00:00Z"],
            [30.0, "2024-02-15T00:00:00Z", "2024-03-15T00:00:00Z"],
            [100.0, "2024-04-15T00:00:00Z", "2024-05-15T00:00:00Z"],
        ]
    }


@pytest.mark.parametrize(("year", "february_end"), [("2024", "2024-02-29T06:00:00Z"), ("2023", "2023-02-28T06:00:00Z")])
def test_month_periods_from_the_31st_do_not_drift(year: str, february_end: str) -> None:
    start = us(f"{year}-01-31T06:00:00Z")
    points = [(start + k * 7 * DAY, 1) for k in range(12)]  # every week until late April
    got = aggregate(points, ["totalCount"], start, us(f"{year}-06-01T00:00:00Z"), parse_duration("P1M"))
    bounds = [(format_instant(p0), format_instant(p1)) for _, p0, p1 in got["totalCount"]]
    assert bounds == [
        (f"{year}-01-31T06:00:00Z", february_end),
        (february_end, f"{year}-03-31T06:00:00Z"),  # back to the 31st, not the 28th/29th
        (f"{year}-03-31T06:00:00Z", f"{year}-04-30T06:00:00Z"),
    ]
    assert sum(count for count, _, _ in got["totalCount"]) == 12


def test_calendar_periods_with_a_time_part() -> None:
    start = us("2024-01-31T00:00:00Z")
    out = aggregate(
        [(us("2024-03-01T12:00:00Z"), 5)], ["max"], start, us("2025-01-01T00:00:00Z"), parse_duration("P1MT12H")
    )
    # period 1 = [Jan 31 + 1M + 12H, Jan 31 + 2M + 24H) = [Feb 29 12:00, Apr 1 00:00)
    assert [(format_instant(p0), format_instant(p1)) for _, p0, p1 in out["max"]] == [
        ("2024-02-29T12:00:00Z", "2024-04-01T00:00:00Z")
    ]


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(st.tuples(st.integers(-10 * HOUR, 60 * HOUR), st.integers(-100, 100)), max_size=60),
    step=st.sampled_from([MINUTE, 7 * MINUTE, HOUR, 5 * HOUR, DAY]),
    span=st.integers(1, 50 * HOUR),
)
def test_periods_partition_the_range(offsets: list[tuple[int, int]], step: int, span: int) -> None:
    start = us("2024-05-01T00:00:00Z")
    points = [(start + offset, value) for offset, value in offsets]
    out = aggregate(points, ["totalCount", "max"], start, start + span, Duration(0, step))
    counts = out["totalCount"]
    inside = [(ts, v) for ts, v in points if start <= ts < start + span]
    assert sum(count for count, _, _ in counts) == len(inside)
    starts = [p0 for _, p0, _ in counts]
    assert starts == sorted(set(starts))
    for (count, p0, p1), (top, q0, q1) in zip(counts, out["max"], strict=True):
        assert (p0, p1) == (q0, q1) and p1 - p0 == step and (p0 - start) % step == 0 and p0 < start + span
        members = [v for ts, v in inside if p0 <= ts < p1]
        assert count == len(members) and top == max(members)


# --- booleans, strings, DateTimes, compound values, nulls ------------------------


@pytest.mark.parametrize("seed", range(5))
def test_booleans_count_true_as_one(seed: int) -> None:
    rng = random.Random(seed)
    points = [(rng.randrange(0, 3 * HOUR), rng.random() < 0.3) for _ in range(200)]
    out = aggregate(points, AGGR_METHODS, 0, 3 * HOUR, parse_duration("PT1H"))
    for k in range(3):
        flags = [v for ts, v in points if k * HOUR <= ts < (k + 1) * HOUR]
        ones = np.array(flags, dtype=float)
        row = {method: entries[k][0] for method, entries in out.items()}
        assert row["totalCount"] == len(flags)
        assert row["distinctCount"] == len(set(flags))
        assert row["sum"] == row["sumsq"] == sum(flags) and type(row["sum"]) is int
        assert row["avg"] == pytest.approx(float(np.mean(ones)))
        assert row["stddev"] == pytest.approx(float(np.std(ones, ddof=1)))
        assert row["min"] is all(flags) and row["max"] is any(flags)


def test_boolean_min_max_are_booleans() -> None:
    out = aggregate([(0, True), (1, True), (HOUR, True), (HOUR + 1, False)], ["min", "max"], 0, DAY, Duration(0, HOUR))
    assert out == {"min": [(True, 0, HOUR), (False, HOUR, 2 * HOUR)], "max": [(True, 0, HOUR), (True, HOUR, 2 * HOUR)]}


def test_strings_have_min_max_and_counts_only() -> None:
    points = [(0, "b"), (1, "a"), (2, "B"), (3, "a"), (HOUR, "zz")]
    out = aggregate(points, AGGR_METHODS, 0, DAY, parse_duration("PT1H"))
    assert out["min"] == [("B", 0, HOUR), ("zz", HOUR, 2 * HOUR)]  # code-point order: 'B' < 'a'
    assert out["max"] == [("b", 0, HOUR), ("zz", HOUR, 2 * HOUR)]
    assert out["totalCount"] == [(4, 0, HOUR), (1, HOUR, 2 * HOUR)]
    assert out["distinctCount"] == [(3, 0, HOUR), (1, HOUR, 2 * HOUR)]
    assert out["sum"] == out["avg"] == out["stddev"] == out["sumsq"] == []


def test_datetime_strings_compare_by_instant() -> None:
    values = ["2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00.000Z", "2020-01-01T01:00:00+02:00"]
    out = aggregate([(k, v) for k, v in enumerate(values)], ["min", "max", "distinctCount"], 0, 10, None)
    assert out["min"][0][0] == "2020-01-01T01:00:00+02:00"  # 23:00 the day before
    assert out["max"][0][0] == "2020-01-01T00:00:00.5Z"  # lexically this one would be the smallest
    assert out["distinctCount"][0][0] == 3  # …00Z and …00.000Z are one instant


def test_typed_datetime_literals_count_as_their_value() -> None:
    values = [
        {"@type": "DateTime", "@value": "2023-03-05T10:01:01Z"},
        {"@type": "DateTime", "@value": "2023-03-05T01:01:01Z"},
    ]
    out = aggregate([(0, values[0]), (1, values[1])], ["min", "max", "totalCount"], 0, 10, None)
    assert out == {
        "min": [("2023-03-05T01:01:01Z", 0, 10)],
        "max": [("2023-03-05T10:01:01Z", 0, 10)],
        "totalCount": [(2, 0, 10)],
    }


def test_one_plain_string_makes_the_series_lexical() -> None:
    out = aggregate([(0, "2020-01-01T00:00:00.5Z"), (1, "2020-01-01T00:00:00Z"), (2, "n/a")], ["min"], 0, 10, None)
    assert out["min"][0][0] == "2020-01-01T00:00:00.5Z"


def test_compound_values_have_counts_only() -> None:
    points = [(0, {"a": 1, "b": [1, 2]}), (1, {"b": [1, 2], "a": 1}), (2, [1, 2]), (3, [2, 1])]
    out = aggregate(points, AGGR_METHODS, 0, 10, None)
    assert out["totalCount"] == [(4, 0, 10)]
    assert out["distinctCount"] == [(3, 0, 10)]  # member order does not matter, array order does
    assert all(out[m] == [] for m in ("sum", "avg", "min", "max", "stddev", "sumsq"))


def test_nulls_are_not_observations() -> None:
    points = [(0, None), (1, 4), (2, "urn:ngsi-ld:null"), (HOUR, None), (HOUR + 1, "urn:ngsi-ld:null"), (2 * HOUR, 6)]
    out = aggregate(points, ["totalCount", "avg"], 0, DAY, parse_duration("PT1H"))
    assert out == {
        "totalCount": [(1, 0, HOUR), (1, 2 * HOUR, 3 * HOUR)],
        "avg": [(4.0, 0, HOUR), (6.0, 2 * HOUR, 3 * HOUR)],
    }


def test_numbers_decide_a_mixed_series() -> None:
    points = [(0, 3), (1, True), (2, 1), (HOUR, False)]  # the lone boolean period has no number
    out = aggregate(points, ["sum", "totalCount", "distinctCount", "max"], 0, DAY, parse_duration("PT1H"))
    assert out["sum"] == [(4.0, 0, HOUR)]
    assert out["max"] == [(3.0, 0, HOUR)]
    assert out["totalCount"] == [(3, 0, HOUR), (1, HOUR, 2 * HOUR)]
    assert out["distinctCount"][0][0] == 3  # true and 1 are different JSON values
