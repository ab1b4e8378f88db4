"""Shared Hypothesis strategies for the statistics (stat tests, column data, the window).

Values are bounded (|x| <= 1e6) so that sums of squares cannot overflow; the pools of floats and
categories are small enough that ties, repeated values and few-valued columns are common.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from drift.core.columns import CategoricalData, ColumnType, NumericData

# finite floats, with a pool of "round" values mixed in so ties happen often
finite_floats = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -1.0, 2.5, 10.0, 1e-3]),
)

# what a numerical column of a sample can hold: finite numbers, NaN, +-inf, None
raw_numbers = st.one_of(
    finite_floats,
    st.sampled_from([float("nan"), float("inf"), float("-inf"), None]),
)

# the spellings one category can arrive in (CSV, Parquet, JSON) plus genuinely different ones
category_values = st.sampled_from(["a", "b", "c", "d", "e", 1, 2, 3, "x y"])

raw_categories = st.one_of(category_values, st.sampled_from([None, float("nan")]))


def numeric_values(min_size: int = 1, max_size: int = 80) -> st.SearchStrategy[list[float]]:
    """A list of finite floats (one numerical column without missing values)."""
    return st.lists(finite_floats, min_size=min_size, max_size=max_size)


def numeric_data(min_size: int = 1, max_size: int = 80) -> st.SearchStrategy[NumericData]:
    return numeric_values(min_size, max_size).map(NumericData.from_raw)


def categorical_values(min_size: int = 1, max_size: int = 80) -> st.SearchStrategy[list[Any]]:
    return st.lists(category_values, min_size=min_size, max_size=max_size)


def categorical_data(min_size: int = 1, max_size: int = 80) -> st.SearchStrategy[CategoricalData]:
    return categorical_values(min_size, max_size).map(CategoricalData.from_raw)


@st.composite
def categorical_pair_same_support(
    draw: st.DrawFn, max_size: int = 80
) -> tuple[CategoricalData, CategoricalData]:
    """Reference and current categorical data where every current category is in the reference.

    (A category unseen in the reference makes the chi-square expected count 0; that case has its
    own example-based test.)
    """
    ref = draw(categorical_values(1, max_size))
    pool = sorted({str(v) for v in ref})
    by_key = {str(v): v for v in ref}
    cur_keys = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=max_size))
    return CategoricalData.from_raw(ref), CategoricalData.from_raw([by_key[k] for k in cur_keys])


@st.composite
def column_pair(
    draw: st.DrawFn, column_type: ColumnType, max_size: int = 80
) -> tuple[NumericData, NumericData] | tuple[CategoricalData, CategoricalData]:
    """(reference, current) column data of one type, each with at least one value."""
    if column_type is ColumnType.NUMERICAL:
        return draw(numeric_data(1, max_size)), draw(numeric_data(1, max_size))
    return draw(categorical_pair_same_support(max_size))


@st.composite
def window_stream(draw: st.DrawFn, max_samples: int = 60) -> tuple[dict[str, list[Any]], list[int]]:
    """Samples for a window with one numerical and one categorical column, and batch sizes that
    split them (sizes sum to the number of samples)."""
    n = draw(st.integers(min_value=0, max_value=max_samples))
    numbers = draw(st.lists(raw_numbers, min_size=n, max_size=n))
    categories = draw(st.lists(raw_categories, min_size=n, max_size=n))
    sizes: list[int] = []
    left = n
    while left > 0:
        size = draw(st.integers(min_value=1, max_value=left))
        sizes.append(size)
        left -= size
    return {"x": numbers, "c": categories}, sizes


def same_raw(a: np.ndarray, b: np.ndarray) -> bool:
    """Element-wise identity for window buffers: NaN equals NaN, objects compare by repr
    (so that 1 and 1.0, or None and NaN, are told apart)."""
    if a.dtype == object or b.dtype == object:
        return a.dtype == b.dtype and [repr(x) for x in a] == [repr(x) for x in b]
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
