"""Summaries straight from frames (issue 21): ``compare`` codes the current frame with
``pandas.factorize`` and sorts float64 views instead of filling a ``CountWindow``; the reference
profile is built the same way, columns in threads. The numbers must be those of the window
path, whatever the dtypes, missing values and new categories."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.core.columns import (
    OTHER,
    CategoricalData,
    ColumnData,
    NumericData,
    float_values,
    map_columns,
)
from drift.core.comparison import compare, snapshot_from_frame, window_from_frame
from drift.core.engine import evaluate
from drift.core.options import ColumnsConfig, DriftConfig
from drift.core.reference import ReferenceProfile, build_profile
from drift.core.report import DriftReport
from drift.core.stattests import union_n_unique
from tests import strategies as hs


def same_data(a: ColumnData, b: ColumnData) -> None:
    assert type(a) is type(b)
    if isinstance(a, NumericData):
        assert isinstance(b, NumericData)
        np.testing.assert_array_equal(a.values, b.values)
        assert a.n_missing == b.n_missing
    else:
        assert isinstance(b, CategoricalData)
        assert a.categories == b.categories
        np.testing.assert_array_equal(a.frequencies, b.frequencies)
        assert (a.n_missing, a.numeric) == (b.n_missing, b.numeric)


def window_path(profile: ReferenceProfile, current: pd.DataFrame, max_new: int) -> Any:
    return window_from_frame(profile, current, max_new).snapshot()


def same_snapshot(profile: ReferenceProfile, current: pd.DataFrame, max_new: int = 10_000) -> None:
    direct = snapshot_from_frame(profile, current, max_new)
    through_window = window_path(profile, current, max_new)
    assert (direct.samples, direct.total_seen) == (through_window.samples, len(current))
    assert sorted(direct.columns) == sorted(through_window.columns)
    for name in direct.columns:
        same_data(direct.columns[name], through_window.columns[name])


def same_report(a: DriftReport, b: DriftReport) -> None:
    for x, y in zip((*a.columns, a.prediction), (*b.columns, b.prediction), strict=True):
        assert x is not None
        assert y is not None
        assert (x.column, x.method, x.threshold, x.drifted, x.status) == (
            y.column,
            y.method,
            y.threshold,
            y.drifted,
            y.status,
        )
        assert x.score == y.score or (x.score is not None and math.isnan(x.score))
    assert (a.drifted_columns, a.evaluated_columns) == (b.drifted_columns, b.evaluated_columns)


def frames(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + shift, 10, rows).round()
    age[rng.random(rows) < 0.05] = np.nan
    income = rng.lognormal(10 + shift / 10, 0.5, rows)
    income[: min(3, rows)] = [np.inf, -np.inf, np.nan][: min(3, rows)]
    city = rng.choice(["berlin", "paris", "rome", "oslo"] if shift else ["berlin", "paris"], rows)
    city = city.astype(object)
    city[rng.random(rows) < 0.03] = None
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "city": city,
            "grade": rng.integers(1, 4 + int(shift), rows),  # an int categorical: "1", "2", ...
            "flag": rng.random(rows) < 0.3,
            "score": rng.random(rows),
        }
    )


ROLES = ColumnsConfig(
    numerical=["age", "income"], categorical=["city", "grade", "flag"], prediction="score"
)


@pytest.mark.parametrize("rows", [0, 1, 50, 3_000])
def test_a_snapshot_from_a_frame_equals_the_window_s(rows: int) -> None:
    profile = build_profile(frames(2_000, 1), ROLES, "ref")
    same_snapshot(profile, frames(rows, 2, shift=3.0))


def test_compare_gives_the_numbers_of_the_window_path() -> None:
    reference, current = frames(5_000, 1), frames(2_000, 2, shift=3.0)
    profile = build_profile(reference, ROLES, "ref")
    options = DriftConfig()
    expected = evaluate(
        "compare", profile, window_path(profile, current, 10_000), options, len(current)
    )
    same_report(compare(reference, current, columns=ROLES), expected)


@pytest.mark.parametrize(
    "dtype", ["object", "string", pd.ArrowDtype(__import__("pyarrow").string()), "category"]
)
def test_string_columns_of_any_dtype_code_alike(dtype: Any) -> None:
    reference = pd.DataFrame({"c": pd.Series(["a", "b", None, "a", "c"], dtype=dtype)})
    current = pd.DataFrame({"c": pd.Series(["b", "z", None, "y", "z", "a"], dtype=dtype)})
    roles = ColumnsConfig(categorical=["c"], numerical=[])
    profile = build_profile(reference, roles, "ref")
    data = profile.columns["c"].data
    assert isinstance(data, CategoricalData)
    assert (data.categories, data.frequencies.tolist(), data.n_missing) == (
        ("a", "b", "c"),
        [2, 1, 1],
        1,
    )
    snapshot = snapshot_from_frame(profile, current)
    cur = snapshot.columns["c"]
    assert isinstance(cur, CategoricalData)
    # the reference's vocabulary first, then new categories in order of first appearance
    assert cur.categories == ("a", "b", "c", "z", "y")
    assert (cur.frequencies.tolist(), cur.n_missing) == ([1, 1, 0, 2, 1], 1)


def test_nullable_missing_values_are_missing_not_categories() -> None:
    current = pd.Series(["a", pd.NA, "b"], dtype="string")
    data = CategoricalData.coded(current, ("a",), max_new=10)
    assert (data.categories, data.frequencies.tolist(), data.n_missing) == (("a", "b"), [1, 1], 1)
    numbers = pd.Series([1.5, pd.NA, 2.0], dtype="Float64")
    np.testing.assert_array_equal(float_values(numbers), [1.5, np.nan, 2.0])


def test_new_categories_beyond_the_limit_count_as_other() -> None:
    current = pd.Series(["n1", "a", "n2", "n3", "n1", None, "n4"], dtype=object)
    data = CategoricalData.coded(current, ("a", "b"), max_new=2)
    assert data.categories == ("a", "b", "n1", "n2", OTHER)
    assert (data.frequencies.tolist(), data.n_missing) == ([1, 0, 2, 1, 2], 1)
    # a reference cut to its top categories (it holds OTHER): every new one is OTHER
    closed = CategoricalData.coded(current, ("a", OTHER), max_new=100)
    assert closed.categories == ("a", OTHER)
    assert closed.frequencies.tolist() == [1, 5]


def test_the_spellings_of_one_category_are_one_code() -> None:
    current = pd.Series([1, 1.0, "1", np.int64(2), 2.5, True, float("nan")], dtype=object)
    data = CategoricalData.coded(current, ("2",), max_new=10)
    assert dict(zip(data.categories, data.frequencies.tolist(), strict=True)) == {
        "2": 1,
        "1": 3,
        "2.5": 1,
        "true": 1,
    }
    assert data.n_missing == 1


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(hs.raw_categories, min_size=1, max_size=40),
    current=st.lists(hs.raw_categories, max_size=40),
    max_new=st.integers(0, 4),
    top=st.integers(2, 6),
)
def test_coding_equals_the_window_for_any_values(
    reference: list[Any], current: list[Any], max_new: int, top: int
) -> None:
    frame = pd.DataFrame({"c": pd.Series(reference, dtype=object)})
    profile = build_profile(frame, ColumnsConfig(categorical=["c"], numerical=[]), "r", top)
    same_snapshot(profile, pd.DataFrame({"c": pd.Series(current, dtype=object)}), max_new)


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(hs.raw_numbers, min_size=1, max_size=60),
    current=st.lists(hs.raw_numbers, max_size=60),
)
def test_numbers_equal_the_window_for_any_values(reference: list[Any], current: list[Any]) -> None:
    frame = pd.DataFrame({"x": pd.Series(reference, dtype=float)})
    profile = build_profile(frame, ColumnsConfig(numerical=["x"], categorical=[]), "r")
    same_snapshot(profile, pd.DataFrame({"x": pd.Series(current, dtype=float)}))


@settings(max_examples=100, deadline=None)
@given(st.lists(hs.raw_numbers, max_size=80))
def test_from_values_keeps_the_sorted_finite_values(raw: list[Any]) -> None:
    arr = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
    data = NumericData.from_values(arr)
    finite = arr[np.isfinite(arr)]
    np.testing.assert_array_equal(data.values, np.sort(finite))
    assert data.n_missing == arr.size - finite.size
    assert not data.values.flags.writeable
    for limit in range(0, 8):
        assert data.n_unique_up_to(limit) == min(limit, data.n_unique)


def test_a_float64_column_is_summarized_from_a_view() -> None:
    frame = pd.DataFrame({"x": [3.0, 1.0, np.nan, 2.0]})
    view = float_values(frame["x"])
    assert np.shares_memory(view, frame["x"].to_numpy())
    before = view.copy()
    NumericData.from_values(view)
    np.testing.assert_array_equal(view, before)  # the frame is not sorted in place


@pytest.mark.parametrize(("ref_values", "expected"), [(20, 6), (3, 3), (5, 5)])
def test_union_n_unique_is_exact_up_to_the_limit(ref_values: int, expected: int) -> None:
    ref = NumericData.from_raw(np.arange(100) % ref_values)
    cur = NumericData.from_raw([0.0, 1.0])
    assert union_n_unique(ref, cur, limit=5) == expected


def test_map_columns_keeps_the_order_and_raises_the_first_error() -> None:
    items = list(range(40))
    assert map_columns(lambda i: i * i, items) == [i * i for i in items]
    assert map_columns(lambda i: i + 1, items, parallel=False) == [i + 1 for i in items]
    # nested calls run in the worker that makes them
    nested = map_columns(lambda i: sum(map_columns(lambda j: j, list(range(i)))), items)
    assert nested == [sum(range(i)) for i in items]

    def fail(i: int) -> int:
        if i in (7, 30):
            raise ValueError(f"column {i}")
        return i

    with pytest.raises(ValueError, match="column 7"):
        map_columns(fail, items)


def test_build_profile_in_threads_gives_the_serial_profile() -> None:
    reference = frames(20_000, 4)
    profile = build_profile(reference, ROLES, "ref")
    assert list(profile.columns) == ["age", "income", "city", "grade", "flag", "score"]
    for name, col in profile.columns.items():
        series = reference[name]
        if isinstance(col.data, NumericData):
            same_data(col.data, NumericData.from_raw(series.to_numpy(dtype=float)))
        else:
            same_data(col.data, CategoricalData.from_raw(series.to_numpy(dtype=object)))


def test_columns_are_mapped_in_a_forked_child_too() -> None:
    import multiprocessing

    map_columns(lambda i: i, list(range(8)))  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        assert pool.apply_async(_squares, (8,)).get(timeout=60) == [i * i for i in range(8)]


def _squares(n: int) -> list[int]:
    return map_columns(lambda i: i * i, list(range(n)))
