"""Column data as the statistics see it: finite numbers, or category counts.

Both the reference and the current window are turned into these value objects, so every stat test
is a pure function of two of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


#: the bucket for categories beyond ``max_categories`` (a documented deviation from evidently)
OTHER = "__other__"


class ColumnType(StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


def canonical_category(value: Any) -> str | None:
    """One spelling per category, so CSV ``1.0``, Parquet ``1`` and JSON ``1`` are one category.

    ``None`` and NaN are missing values.
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if math.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    return str(value)


@dataclass(frozen=True, eq=False)
class NumericData:
    """Finite values of a numerical column, sorted, plus how many were missing (NaN or inf)."""

    values: FloatArray
    n_missing: int
    #: for a window column: ``searchsorted(reference, values, "right")`` against the reference
    #: array ``ranked_against`` (kept up to date by the window's summarizer), else None
    reference_ranks: IntArray | None = None
    ranked_against: FloatArray | None = None

    @classmethod
    def from_raw(cls, raw: npt.ArrayLike) -> NumericData:
        arr = np.asarray(raw, dtype=np.float64)
        return cls.from_sorted(
            np.sort(arr[np.isfinite(arr)]), int(arr.size - np.isfinite(arr).sum())
        )

    @classmethod
    def from_sorted(
        cls,
        values: FloatArray,
        n_missing: int,
        reference_ranks: IntArray | None = None,
        ranked_against: FloatArray | None = None,
    ) -> NumericData:
        """Wrap already sorted finite values (not copied; made read-only)."""
        values.setflags(write=False)
        return cls(values, n_missing, reference_ranks, ranked_against)

    def ranks_in(self, reference: FloatArray) -> IntArray:
        """``searchsorted(reference, self.values, "right")``: how many reference values are <=
        each of ours; precomputed by the window's summarizer when it knows the reference."""
        if self.ranked_against is reference and self.reference_ranks is not None:
            return self.reference_ranks
        ranks: IntArray = np.searchsorted(reference, self.values, side="right")
        return ranks

    @cached_property
    def unique_counts(self) -> tuple[FloatArray, IntArray]:
        """Distinct values and their counts, in O(n) from the sorted values."""
        v = self.values
        if v.size == 0:
            return v, np.zeros(0, dtype=np.int64)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(v)) + 1))
        counts = np.diff(np.concatenate((starts, [v.size]))).astype(np.int64)
        return v[starts], counts

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def n_total(self) -> int:
        return self.n + self.n_missing

    @cached_property
    def n_unique(self) -> int:
        return int(self.unique_counts[0].size)

    @cached_property
    def std(self) -> float:
        """Population standard deviation (``np.std``, ddof=0), as evidently uses."""
        return float(np.std(self.values)) if self.values.size else math.nan

    @cached_property
    def centered_prefix_sums(self) -> FloatArray:
        """``S[k]`` = sum of the k smallest values minus their mean offset ``center``; S[0] = 0.
        Lets the Wasserstein distance integrate the CDF without re-sorting the reference."""
        sums = np.zeros(self.values.size + 1)
        np.cumsum(self.values - self.center, out=sums[1:])
        sums.setflags(write=False)
        return sums

    def crossings(self, m: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """For a window of ``m`` values: the levels j/m (j = 1..m-1), where this CDF first
        reaches each level (its ceil(j n/m)-th smallest value, minus ``center``), and the
        integral G of the CDF there. Not cached: m changes with the window's missing values,
        and a cache per m would hold O(window) floats per column."""
        n = self.values.size
        j = np.arange(1, m)
        k_star = -(-(j * n) // m)  # ceil(j n / m), in 1..n
        x_star = self.values[k_star - 1] - self.center
        g_star = (k_star * x_star - self.centered_prefix_sums[k_star]) / n
        return j / m, x_star, g_star

    @cached_property
    def center(self) -> float:
        return float(self.values.mean()) if self.values.size else 0.0

    def value_counts(self) -> dict[Any, int]:
        keys, counts = self.unique_counts
        return {float(k): int(c) for k, c in zip(keys, counts, strict=True)}


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool | np.bool_) and isinstance(value, int | float | np.number)


@dataclass(frozen=True, eq=False)
class CategoricalData:
    """Counts per category and the number of missing values.

    ``categories`` are canonical strings; ``frequencies`` (same length) may hold zeros, e.g. for a
    window whose vocabulary remembers categories no longer present. Two values built over the
    same vocabulary share a ``categories`` prefix, which the tests use to align counts quickly.
    """

    categories: tuple[str, ...]
    frequencies: IntArray
    n_missing: int
    #: every non-missing raw value was a number (not a string or bool): categories sort
    #: numerically, as the raw values would in evidently
    numeric: bool = False

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], n_missing: int, numeric: bool = False
    ) -> CategoricalData:
        """Categories sorted by name, so the same data gives the same value in any row order."""
        categories = tuple(sorted(counts))
        freq = np.fromiter((counts[c] for c in categories), dtype=np.int64, count=len(categories))
        freq.setflags(write=False)
        return cls(categories, freq, n_missing, numeric and bool(counts))

    @classmethod
    def from_raw(cls, raw: npt.ArrayLike) -> CategoricalData:
        counts: dict[str, int] = {}
        missing = 0
        numeric = True
        for value in np.asarray(raw, dtype=object).ravel():
            key = canonical_category(value)
            if key is None:
                missing += 1
                continue
            counts[key] = counts.get(key, 0) + 1
            if numeric and not _is_number(value):
                numeric = False
        return cls.from_counts(counts, missing, numeric)

    @classmethod
    def from_series(cls, series: pd.Series) -> CategoricalData:
        """Vectorized ``from_raw`` for a reference column: counts unique raw values first."""
        raw_counts = series.value_counts(dropna=True, sort=False)
        counts: dict[str, int] = {}
        missing = int(series.isna().sum())
        numeric = True
        for value, count in raw_counts.items():
            key = canonical_category(value)
            if key is None:
                missing += int(count)
                continue
            counts[key] = counts.get(key, 0) + int(count)
            if numeric and not _is_number(value):
                numeric = False
        return cls.from_counts(counts, missing, numeric)

    @cached_property
    def counts(self) -> dict[str, int]:
        """Category -> count, for categories that occur."""
        return {
            cat: int(freq)
            for cat, freq in zip(self.categories, self.frequencies, strict=True)
            if freq > 0
        }

    @cached_property
    def n(self) -> int:
        return int(self.frequencies.sum())

    @property
    def n_total(self) -> int:
        return self.n + self.n_missing

    @cached_property
    def n_unique(self) -> int:
        return int(np.count_nonzero(self.frequencies))

    def value_counts(self) -> dict[Any, int]:
        return dict(self.counts)

    def top(self, max_categories: int) -> CategoricalData:
        """At most ``max_categories`` categories: the most frequent ones (ties by name) and
        ``OTHER`` with the rest. Bounds memory for identifier-like columns."""
        if len(self.categories) <= max_categories:
            return self
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        kept = dict(ranked[: max_categories - 1])
        kept[OTHER] = kept.get(OTHER, 0) + sum(count for _, count in ranked[max_categories - 1 :])
        return CategoricalData.from_counts(kept, self.n_missing, self.numeric)


ColumnData = NumericData | CategoricalData


@dataclass(frozen=True)
class SampleSchema:
    """What a sample of one model must carry."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    prediction: str | None = None
    prediction_type: ColumnType = ColumnType.NUMERICAL

    @property
    def columns(self) -> tuple[str, ...]:
        pred = (self.prediction,) if self.prediction else ()
        return self.numerical + self.categorical + pred

    def type_of(self, column: str) -> ColumnType:
        if column in self.numerical:
            return ColumnType.NUMERICAL
        if column in self.categorical:
            return ColumnType.CATEGORICAL
        return self.prediction_type
