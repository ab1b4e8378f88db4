"""drift.core.window: a ring buffer of the last ``size`` samples, in arrival order."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.core.columns import (
    PARALLEL_MIN_SAMPLES,
    CategoricalData,
    ColumnType,
    NumericData,
    canonical_category,
    sorted_ranks,
)
from drift.core.engine import evaluate
from drift.core.options import ColumnsConfig, DriftConfig
from drift.core.reference import build_profile
from drift.core.window import BUCKET_SORT_MIN, CountWindow, Summarizer, _sorted
from tests import strategies as hs

TYPES = {"x": ColumnType.NUMERICAL, "c": ColumnType.CATEGORICAL}


def batch(start: int, n: int) -> dict[str, list[Any]]:
    """n samples numbered from ``start``: x = number, c = "c<number>"."""
    return {
        "x": [float(i) for i in range(start, start + n)],
        "c": [f"c{i}" for i in range(start, start + n)],
    }


def test_keeps_everything_until_full() -> None:
    window = CountWindow(TYPES, size=5)
    window.append(batch(0, 3), 3)
    raw = window.raw()
    assert raw["x"].tolist() == [0.0, 1.0, 2.0]
    assert raw["c"].tolist() == ["c0", "c1", "c2"]
    assert len(window) == 3
    assert window.total_seen == 3


def test_keeps_only_the_last_size_samples_in_arrival_order() -> None:
    window = CountWindow(TYPES, size=5)
    window.append(batch(0, 3), 3)
    window.append(batch(3, 4), 4)  # wraps around
    assert window.raw()["x"].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert window.raw()["c"].tolist() == ["c2", "c3", "c4", "c5", "c6"]
    window.append(batch(7, 1), 1)
    assert window.raw()["x"].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert len(window) == 5
    assert window.total_seen == 8


def test_batch_larger_than_size_keeps_its_tail() -> None:
    window = CountWindow(TYPES, size=4)
    window.append(batch(0, 2), 2)
    window.append(batch(2, 11), 11)
    assert window.raw()["x"].tolist() == [9.0, 10.0, 11.0, 12.0]
    assert window.raw()["c"].tolist() == ["c9", "c10", "c11", "c12"]
    assert len(window) == 4
    assert window.total_seen == 13
    window.append(batch(13, 1), 1)  # the write position after a large batch is right
    assert window.raw()["x"].tolist() == [10.0, 11.0, 12.0, 13.0]


def test_exactly_size_samples_and_empty_batches() -> None:
    window = CountWindow(TYPES, size=3)
    window.append(batch(0, 0), 0)
    assert len(window) == 0
    assert window.raw()["x"].size == 0
    window.append(batch(0, 3), 3)
    window.append({"x": [], "c": []}, 0)
    assert window.raw()["x"].tolist() == [0.0, 1.0, 2.0]
    assert window.total_seen == 3


def test_missing_values_are_kept_as_raw_values() -> None:
    window = CountWindow(TYPES, size=4)
    window.append({"x": [1.0, None, math.inf], "c": ["a", None, 2]}, 3)
    raw = window.raw()
    assert raw["x"][0] == 1.0
    assert math.isnan(raw["x"][1])
    assert raw["x"][2] == math.inf
    assert raw["c"].tolist() == ["a", None, "2"]  # categories are kept as canonical strings


def test_column_of_wrong_length_is_rejected() -> None:
    window = CountWindow(TYPES, size=4)
    with pytest.raises(ValueError, match="'c' has 1 values, expected 2"):
        window.append({"x": [1.0, 2.0], "c": ["a"]}, 2)


@pytest.mark.parametrize("size", [0, -1])
def test_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        CountWindow(TYPES, size=size)


def test_raw_is_a_copy() -> None:
    window = CountWindow(TYPES, size=3)
    window.append(batch(0, 3), 3)
    raw = window.raw()
    raw["x"][0] = 99.0
    raw["c"][0] = "changed"
    assert window.raw()["x"].tolist() == [0.0, 1.0, 2.0]
    assert window.raw()["c"].tolist() == ["c0", "c1", "c2"]


def test_snapshot_is_detached_from_the_window() -> None:
    window = CountWindow(TYPES, size=3)
    window.append({"x": [1.0, math.nan, 3.0], "c": ["a", "b", None]}, 3)
    snap = window.snapshot()
    window.append(batch(10, 3), 3)
    assert snap.samples == 3
    assert snap.total_seen == 3
    x, c = snap.columns["x"], snap.columns["c"]
    assert isinstance(x, NumericData)
    assert isinstance(c, CategoricalData)
    assert x.values.tolist() == [1.0, 3.0]
    assert x.n_missing == 1
    assert c.counts == {"a": 1, "b": 1}
    assert c.n_missing == 1
    assert window.snapshot().total_seen == 6


def test_categories_are_codes_over_a_bounded_vocabulary() -> None:
    window = CountWindow(TYPES, size=6, vocabularies={"c": ("a", "b")}, max_new_categories=2)
    window.append({"x": [0.0] * 6, "c": ["a", "z", "y", "x", "w", None]}, 6)
    # z and y got codes of their own, x and w went to the other bucket
    assert window.raw()["c"].tolist() == ["a", "z", "y", "__other__", "__other__", None]
    snap = window.snapshot().columns["c"]
    assert isinstance(snap, CategoricalData)
    assert snap.categories == ("a", "b", "z", "y", "__other__")
    assert snap.frequencies.tolist() == [1, 0, 1, 1, 2]
    assert snap.counts == {"a": 1, "z": 1, "y": 1, "__other__": 2}
    assert snap.n_missing == 1


def test_a_truncated_reference_sends_unseen_categories_to_other() -> None:
    window = CountWindow(TYPES, size=3, vocabularies={"c": ("a", "__other__")})
    window.append({"x": [0.0] * 3, "c": ["a", "new", 1]}, 3)
    assert window.raw()["c"].tolist() == ["a", "__other__", "__other__"]


def test_memory_is_fixed_by_the_size_not_the_traffic() -> None:
    window = CountWindow(TYPES, size=100, max_new_categories=10)
    window.append(batch(0, 100), 100)
    after_one = window.memory_bytes()
    for start in range(100, 10_000, 100):
        window.append(batch(start, 100), 100)
    assert window.total_seen == 10_000
    assert window.memory_bytes() <= after_one + 10 * 60  # at most the capped vocabulary grows


@settings(max_examples=150, deadline=None)
@given(stream=hs.window_stream(), size=st.integers(min_value=1, max_value=25))
def test_incremental_summaries_equal_fresh_ones(
    stream: tuple[dict[str, list[Any]], list[int]], size: int
) -> None:
    """The summarizer carries sorted values between evaluations; after any sequence of
    batches its snapshot equals one computed from scratch."""
    columns, sizes = stream
    window = CountWindow(TYPES, size)
    reference = np.array([-1.0, 0.0, 0.0, 0.5, 2.0, 1e300])
    summarizer = Summarizer(rank_against={"x": reference})
    start = 0
    for k in sizes:
        window.append({name: values[start : start + k] for name, values in columns.items()}, k)
        start += k
        incremental = summarizer.summarize(window.view())
        fresh = window.snapshot()
        x_inc, x_fresh = incremental.columns["x"], fresh.columns["x"]
        assert isinstance(x_inc, NumericData)
        assert isinstance(x_fresh, NumericData)
        assert x_inc.values.tolist() == x_fresh.values.tolist()
        assert x_inc.n_missing == x_fresh.n_missing
        # the carried ranks are what a binary search against the reference would give
        assert x_inc.ranked_against is reference
        assert x_inc.ranks_in(reference).tolist() == (
            np.searchsorted(reference, x_fresh.values, side="right").tolist()
        )
        c_inc, c_fresh = incremental.columns["c"], fresh.columns["c"]
        assert isinstance(c_inc, CategoricalData)
        assert isinstance(c_fresh, CategoricalData)
        assert c_inc.counts == c_fresh.counts
        assert c_inc.n_missing == c_fresh.n_missing


@settings(max_examples=200, deadline=None)
@given(stream=hs.window_stream(), size=st.integers(min_value=1, max_value=25))
def test_many_batches_equal_one_batch(
    stream: tuple[dict[str, list[Any]], list[int]], size: int
) -> None:
    columns, sizes = stream
    n = sum(sizes)
    one = CountWindow(TYPES, size)
    one.append(columns, n)
    many = CountWindow(TYPES, size)
    start = 0
    for k in sizes:
        many.append({name: values[start : start + k] for name, values in columns.items()}, k)
        start += k
    one_raw, many_raw = one.raw(), many.raw()
    for name in TYPES:
        assert hs.same_raw(one_raw[name], many_raw[name])
    assert len(one) == len(many) == min(n, size)
    assert one.total_seen == many.total_seen == n
    # and both are the last `size` samples of the stream
    expected_x = np.asarray(columns["x"][max(0, n - size) :], dtype=np.float64)
    assert hs.same_raw(many_raw["x"], expected_x)
    expected_c = [canonical_category(v) for v in columns["c"][max(0, n - size) :]]
    assert many_raw["c"].tolist() == expected_c


# time windows ----------------------------------------------------------------------------------
def test_view_since_keeps_the_samples_that_arrived_at_or_after_it() -> None:
    window = CountWindow(TYPES, size=10)
    window.append(batch(0, 3), 3, at=1.0)
    window.append(batch(3, 2), 2, at=2.0)
    window.append(batch(5, 4), 4, at=3.0)
    assert window.count_since(2.0) == 6
    view = window.view(since=2.0)
    assert view.samples == 6
    assert view.total_seen == 9
    assert view.numeric["x"].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert window.view(since=3.5).samples == 0
    assert window.view(since=0.0).samples == 9


@pytest.mark.parametrize("since", [0.0, 2.5, 4.0, 5.5, 7.0, 99.0])
def test_view_since_after_the_ring_wrapped(since: float) -> None:
    window = CountWindow(TYPES, size=5)
    for step in range(8):  # one sample per time unit; the ring keeps times 3..7
        window.append(batch(step, 1), 1, at=float(step))
    expected = [float(i) for i in range(3, 8) if i >= since]
    assert window.count_since(since) == len(expected)
    assert window.view(since=since).numeric["x"].tolist() == expected
    assert window.view(since=since).codes["c"].size == len(expected)


def test_summaries_of_shrinking_time_views_equal_fresh_ones() -> None:
    """The summarizer carries sorted values between views; time views drop their oldest
    samples without any new ones, which must still give what a fresh summary gives."""
    rng = np.random.default_rng(3)
    window = CountWindow(TYPES, size=50)
    carried = Summarizer()
    for t in range(40):
        n = int(rng.integers(0, 6))
        if n:
            window.append(
                {"x": rng.normal(size=n).tolist(), "c": rng.choice(["a", "b"], n).tolist()},
                n,
                at=float(t),
            )
        view = window.view(since=t - 7.5)
        got, fresh = carried.summarize(view), Summarizer().summarize(view)
        x, y = got.columns["x"], fresh.columns["x"]
        assert isinstance(x, NumericData)
        assert isinstance(y, NumericData)
        assert x.values.tolist() == y.values.tolist()
        c, d = got.columns["c"], fresh.columns["c"]
        assert isinstance(c, CategoricalData)
        assert isinstance(d, CategoricalData)
        assert c.frequencies.tolist() == d.frequencies.tolist()


def test_large_windows_summarized_in_threads_equal_sorting_from_scratch() -> None:
    """From PARALLEL_MIN_SAMPLES samples on the columns are summarized in threads, merging
    evicted and new values into the carried sorted values; with ties, NaN, +-inf, signed zeros
    and steps of every size, each snapshot is the sorted finite values and their ranks, and
    evaluating it in threads or not gives the same report."""
    rng = np.random.default_rng(21)
    size = PARALLEL_MIN_SAMPLES + 1_000
    types = {
        "x": ColumnType.NUMERICAL,
        "ties": ColumnType.NUMERICAL,
        "y": ColumnType.NUMERICAL,
        "c": ColumnType.CATEGORICAL,
    }
    reference = {
        "x": np.sort(rng.normal(size=3_000)),
        "ties": np.sort(rng.integers(0, 6, 3_000).astype(float)),
        "y": np.sort(rng.exponential(size=3_000)),
    }
    window = CountWindow(types, size)
    carried = Summarizer(rank_against=reference)
    profile = build_profile(
        pd.DataFrame({**reference, "c": rng.choice(["a", "b", "c"], 3_000)}),
        ColumnsConfig(numerical=["x", "ties", "y"], categorical=["c"]),
        "reference",
    )
    for n in (size, 1, 0, 2_500, size - 1, 7, size, 600):
        x = rng.normal(0.2, size=n)
        x[rng.random(n) < 0.05] = np.nan
        x[rng.random(n) < 0.01] = np.inf
        x[rng.random(n) < 0.01] = -np.inf
        x[rng.random(n) < 0.02] = -0.0
        y = rng.exponential(size=n).round(1)
        window.append(
            {
                "x": x.tolist(),
                "ties": rng.integers(-1, 8, n).astype(float).tolist(),
                "y": y.tolist(),
                "c": [("a", "b", "d", None)[i] for i in rng.integers(0, 4, n)],
            },
            n,
        )
        view = window.view()
        got = carried.summarize(view)
        for name, values in reference.items():
            column = got.columns[name]
            assert isinstance(column, NumericData)
            raw = view.numeric[name]
            expected = np.sort(raw[np.isfinite(raw)])
            assert column.values.tolist() == expected.tolist()
            assert column.n_missing == raw.size - expected.size
            assert column.ranks_in(values).tolist() == (
                np.searchsorted(values, expected, side="right").tolist()
            )
        threaded = evaluate("m", profile, got, DriftConfig(), size, now=0.0, parallel=True)
        serial = evaluate("m", profile, got, DriftConfig(), size, now=0.0, parallel=False)
        assert dataclasses.replace(threaded, evaluation_seconds=0.0) == dataclasses.replace(
            serial, evaluation_seconds=0.0
        )


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(
    reference=st.lists(FINITE | st.sampled_from([0.0, -0.0, 1.0, 5e-324, 1e-308]), max_size=40),
    picks=st.lists(st.tuples(st.integers(0, 39), st.sampled_from([-1, 0, 1])), max_size=80),
    others=st.lists(FINITE, max_size=40),
)
def test_ranks_of_window_values_equal_the_binary_search(
    reference: list[float], picks: list[tuple[int, int]], others: list[float]
) -> None:
    """The summaries' ranks (``sorted_ranks``: through ``np.interp`` when the values are
    dense) are ``searchsorted(reference, values, "right")``, also for values equal to or one
    float away from reference values, ties, subnormals and the ends of the float range."""
    ref = np.sort(np.array(reference, dtype=np.float64))
    near = [float(ref[i % ref.size]) for i, _ in picks] if ref.size else []
    chosen = [
        math.nextafter(x, math.copysign(math.inf, step)) if step else x
        for x, (_, step) in zip(near, picks, strict=False)
    ]
    values = np.sort(np.array([v for v in chosen + others if math.isfinite(v)]))
    expected = np.searchsorted(ref, values, side="right").tolist()
    assert sorted_ranks(ref, values).tolist() == expected
    dense = np.sort(np.concatenate((values, values, ref)))  # the np.interp path
    assert sorted_ranks(ref, dense).tolist() == np.searchsorted(ref, dense, side="right").tolist()


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(FINITE | st.sampled_from([0.0, -0.0, 5e-324, 1.7e308, -1.7e308]), max_size=80),
    spread=st.sampled_from([1.0, 1e-300, 1e300]),
)
def test_bucketed_sort_equals_numpy_sort(values: list[float], spread: float) -> None:
    """Large window columns are put in buckets before their final sort; whatever the values
    (ties, signed zeros, subnormals, the whole float range), the result is ``np.sort``'s."""
    array = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        scaled = array * spread
    array = scaled[np.isfinite(scaled)]
    assert _sorted(array, min_size=0).tolist() == np.sort(array).tolist()
    # and on a column large enough for the buckets, spread-out and with a long tail
    rng = np.random.default_rng(len(values))
    large = np.concatenate((rng.normal(size=BUCKET_SORT_MIN), rng.lognormal(0, 2, 500), array))
    assert _sorted(large).tolist() == np.sort(large).tolist()
