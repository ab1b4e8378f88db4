"""drift.core.columns: one spelling per category, and what the numerical column data keeps."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.core.columns import CategoricalData, NumericData, canonical_category
from tests import strategies as hs

# ------------------------------------------------------------------------- canonical_category


@pytest.mark.parametrize(
    "value",
    [1, 1.0, np.int64(1), np.int32(1), np.uint8(1), np.float64(1.0), np.float32(1.0), "1"],
    ids=repr,
)
def test_one_spelling_for_the_integer_one(value: Any) -> None:
    # CSV with a gap reads 1.0, Parquet int64 reads np.int64(1), JSON reads 1, text reads "1"
    assert canonical_category(value) == "1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (np.bool_(True), "true"),
        (np.bool_(False), "false"),
        (0, "0"),
        (-0.0, "0"),
        (-3.0, "-3"),
        (2.5, "2.5"),
        (np.float32(0.5), "0.5"),
        (1e20, "100000000000000000000"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        ("a", "a"),
        ("1.0", "1.0"),  # a string stays the string it is
        ("", ""),
    ],
    ids=repr,
)
def test_canonical_spellings(value: Any, expected: str) -> None:
    assert canonical_category(value) == expected


def test_bools_are_not_the_integers_one_and_zero() -> None:
    assert canonical_category(True) != canonical_category(1)
    assert canonical_category(False) != canonical_category(0)


@pytest.mark.parametrize(
    "value", [None, math.nan, np.nan, np.float32("nan"), float("nan")], ids=repr
)
def test_none_and_nan_are_missing(value: Any) -> None:
    assert canonical_category(value) is None


def test_csv_parquet_and_json_spellings_count_as_one_category() -> None:
    # a CSV integer column with a gap is read as float64 (1.0, 2.0, NaN)
    from_csv = pd.read_csv(io.StringIO("id,c\n0,1\n1,2\n2,\n3,1\n"))["c"]
    assert from_csv.dtype == np.float64
    from_parquet = pd.Series([1, 2, 1], dtype="int64")  # what a Parquet int column gives
    from_json = [1, 2, None, 1]
    csv_data = CategoricalData.from_raw(from_csv.to_numpy(dtype=object))
    parquet_data = CategoricalData.from_raw(from_parquet.to_numpy(dtype=object))
    json_data = CategoricalData.from_raw(from_json)
    assert csv_data.counts == parquet_data.counts == json_data.counts == {"1": 2, "2": 1}
    assert csv_data.n_missing == json_data.n_missing == 1
    assert parquet_data.n_missing == 0


def test_csv_bool_column_with_gap_keeps_bool_spelling() -> None:
    column = pd.read_csv(io.StringIO("id,b\n0,True\n1,False\n2,\n3,True\n"))["b"]
    data = CategoricalData.from_raw(column.to_numpy(dtype=object))
    assert data.counts == {"true": 2, "false": 1}
    assert data.n_missing == 1


# --------------------------------------------------------------------------- CategoricalData


def test_categorical_data_counts_and_missing() -> None:
    data = CategoricalData.from_raw(["a", "b", "a", None, float("nan"), 1, 1.0, "1"])
    assert data.counts == {"a": 2, "b": 1, "1": 3}
    assert data.n_missing == 2
    assert data.n == 6
    assert data.n_total == 8
    assert data.n_unique == 3


def test_categorical_value_counts_is_a_copy() -> None:
    data = CategoricalData.from_raw(["a", "a", "b"])
    counts = data.value_counts()
    counts["a"] = 100
    assert data.counts == {"a": 2, "b": 1}


def test_categorical_data_accepts_numpy_object_and_string_arrays() -> None:
    assert CategoricalData.from_raw(np.array(["x", "y", "x"])).counts == {"x": 2, "y": 1}
    assert CategoricalData.from_raw(np.array([1, 2, 2])).counts == {"1": 1, "2": 2}
    empty = CategoricalData.from_raw([])
    assert (empty.n, empty.n_missing, empty.n_unique) == (0, 0, 0)


# ------------------------------------------------------------------------------- NumericData


def test_numeric_data_drops_nan_and_inf_and_counts_them_missing() -> None:
    raw = [3.0, math.nan, 1.0, math.inf, 2.0, -math.inf, 2.0, None]
    data = NumericData.from_raw(raw)
    assert data.values.tolist() == [1.0, 2.0, 2.0, 3.0]  # sorted, finite only
    assert data.n == 4
    assert data.n_missing == 4
    assert data.n_total == 8
    assert data.n_unique == 3
    assert data.std == pytest.approx(np.std([3.0, 1.0, 2.0, 2.0]))
    assert data.value_counts() == {1.0: 1, 2.0: 2, 3.0: 1}


def test_numeric_data_is_read_only_and_leaves_the_input_alone() -> None:
    raw = np.array([2.0, np.nan, 1.0])
    data = NumericData.from_raw(raw)
    assert np.isnan(raw[1])
    assert raw.tolist()[0] == 2.0
    with pytest.raises(ValueError, match="read-only"):
        data.values[0] = 5.0


def test_numeric_data_of_only_missing_values() -> None:
    data = NumericData.from_raw([math.nan, math.inf])
    assert data.n == 0
    assert data.n_missing == 2
    assert data.n_unique == 0
    assert math.isnan(data.std)


def test_numeric_data_accepts_integers() -> None:
    data = NumericData.from_raw(np.array([3, 1, 2], dtype=np.int64))
    assert data.values.dtype == np.float64
    assert data.values.tolist() == [1.0, 2.0, 3.0]
    assert data.n_unique == 3


@settings(max_examples=200, deadline=None)
@given(raw=st.lists(hs.raw_numbers, max_size=60))
def test_numeric_data_properties(raw: list[float | None]) -> None:
    data = NumericData.from_raw(raw)
    arr = np.asarray(raw, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    assert data.n + data.n_missing == len(raw)
    assert data.n == finite.size
    assert data.values.tolist() == sorted(finite.tolist())
    assert data.n_unique == np.unique(finite).size
    if finite.size:
        assert data.std == np.std(finite) or data.std == pytest.approx(np.std(finite))
        assert data.std >= 0.0
    else:
        assert math.isnan(data.std)


@settings(max_examples=200, deadline=None)
@given(raw=st.lists(hs.raw_categories, max_size=60))
def test_categorical_data_properties(raw: list[Any]) -> None:
    data = CategoricalData.from_raw(raw)
    assert data.n + data.n_missing == len(raw)
    assert data.n_unique == len({canonical_category(v) for v in raw} - {None})
    assert all(count > 0 for count in data.counts.values())
