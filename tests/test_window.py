"""drift.window: a ring buffer of the last ``size`` samples, in arrival order."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.columns import CategoricalData, ColumnType, NumericData
from drift.window import CountWindow, summarize
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
    assert raw["c"].tolist() == ["a", None, 2]


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


def test_summarize_types_each_column() -> None:
    raw = {"x": np.array([1.0, 2.0]), "c": np.array(["a", "a"], dtype=object)}
    snap = summarize(raw, TYPES, samples=2, total_seen=7)
    assert isinstance(snap.columns["x"], NumericData)
    assert snap.columns["c"].value_counts() == {"a": 2}
    assert (snap.samples, snap.total_seen) == (2, 7)


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
    assert [repr(v) for v in many_raw["c"]] == [repr(v) for v in columns["c"][max(0, n - size) :]]
