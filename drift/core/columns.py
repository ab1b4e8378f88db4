"""Column data as the statistics see it: finite numbers, or category counts.

Both the reference and the current window are turned into these value objects, so every stat test
is a pure function of two of them.

From a frame (a reference, or the current data of ``drift.compare``) a column is summarized at
about the cost of sorting it: numerical columns are sorted once from a float64 view of the
frame's data, categorical ones coded with ``pandas.factorize`` (hashing in C, pyarrow's
dictionary encoding for Arrow-backed strings) so that only the distinct values pass through
Python. ``map_columns`` spreads such per-column work over a small thread pool sized to the
cores the process may use (numpy's sorts and most array passes release the GIL); with one core
it is a plain loop.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
T = TypeVar("T")
R = TypeVar("R")


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


def sorted_ranks(reference: FloatArray, values: FloatArray) -> IntArray:
    """``np.searchsorted(reference, values, side="right")``, how many reference values are <=
    each value, for sorted finite ``values`` and a sorted finite ``reference``.

    With at least half as many values as reference values, through ``np.interp`` (whose
    search starts from the previous answer; a third faster at 100k against 100k):
    interpolating the positions 0..n-1 over the reference gives j + f (0 <= f < 1) for a value
    after the j-th reference value and before the next, exactly j for one equal to the last of
    a run of equal reference values, -1 before the first; truncated, that is the rank minus
    one. Rounding can only carry j + f up to j + 1, which one comparison with the reference
    corrects; a non-finite interpolation (spacings overflowing near the ends of the float
    range) falls back to the binary search. Equal to it, tested on any values."""
    if reference.size == 0 or 2 * values.size < reference.size:
        ranks: IntArray = np.searchsorted(reference, values, side="right")
        return ranks
    position = np.interp(values, reference, np.arange(reference.size, dtype=np.float64), left=-1.0)
    if not np.isfinite(position).all():
        ranks = np.searchsorted(reference, values, side="right")
        return ranks
    ranks = position.astype(np.int64)  # truncation: j + f -> j, -1.0 -> -1
    ranks += 1
    over = np.take(reference, ranks - 1, mode="clip") > values
    over &= ranks > 0
    ranks -= over
    return ranks


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
        return cls.from_values(np.asarray(raw, dtype=np.float64))

    @classmethod
    def from_values(cls, raw: FloatArray) -> NumericData:
        """From float64 values in any order, NaN and +-inf missing; ``raw`` is not modified.

        One sort (a copy), and the finite values are a slice of it: numpy sorts -inf first and
        +inf then NaN last, and its binary search orders NaN the same way."""
        ordered = np.sort(raw)
        lo = int(np.searchsorted(ordered, -np.inf, side="right"))
        hi = int(np.searchsorted(ordered, np.inf, side="left"))
        return cls.from_sorted(ordered[lo:hi], int(raw.size - (hi - lo)))

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
        return sorted_ranks(reference, self.values)

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

    def n_unique_up_to(self, limit: int) -> int:
        """``min(n_unique, limit)`` in O(limit log n): jumps from each distinct value to the
        next by binary search, instead of a pass over every value."""
        v = self.values
        count, i = 0, 0
        while i < v.size and count < limit:
            count += 1
            i = int(np.searchsorted(v, v[i], side="right"))
        return count

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
        # ceil(j n / m), in 1..n; j (n / m) exactly when m divides n
        k_star = j * (n // m) if n % m == 0 else (j * n + (m - 1)) // m
        x_star = self.values[k_star - 1]
        x_star -= self.center
        g_star = k_star * x_star
        g_star -= self.centered_prefix_sums[k_star]
        g_star /= n
        return j / m, x_star, g_star

    @cached_property
    def center(self) -> float:
        return float(self.values.mean()) if self.values.size else 0.0

    def value_counts(self) -> dict[Any, int]:
        keys, counts = self.unique_counts
        return {float(k): int(c) for k, c in zip(keys, counts, strict=True)}


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool | np.bool_) and isinstance(value, int | float | np.number)


#: ``pandas.api.types.infer_dtype`` of object columns whose equal values have one spelling
_ONE_SPELLING = frozenset(
    {"empty", "string", "boolean", "integer", "floating", "mixed-integer-float", "bytes"}
    | {"datetime", "datetime64", "date", "timedelta", "timedelta64", "time", "period"}
)


def _factorized(series: pd.Series) -> tuple[IntArray, list[Any], bool] | None:
    """``pandas.factorize`` of a column: the codes (-1: missing), the distinct raw values and
    whether those are all ``str`` (their own canonical spelling). None when the raw values
    cannot be coded that way: factorize merges values that are equal in Python
    (``True == 1 == 1.0``, ``Decimal("1.0") == 1``), which is right only when equal values have
    one canonical spelling. Object columns that mix such types are spelled value by value
    instead (``canonical_category``). A ``str`` is equal to no other type's value, so a column
    whose distinct values are all ``str`` needs no look at its rows."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = uniques.tolist()
    strings = all(type(v) is str for v in values)
    mixed = not strings and series.dtype == object
    if mixed and pd.api.types.infer_dtype(series, skipna=True) not in _ONE_SPELLING:
        return None
    return codes, values, strings


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
        """Vectorized ``from_raw`` for a reference column: ``pandas.factorize`` codes the rows,
        only the distinct raw values are turned into categories."""
        factorized = _factorized(series)
        if factorized is None:
            return cls.from_raw(series.to_numpy(dtype=object))
        codes, uniques, strings = factorized
        present = codes[codes >= 0]
        raw_counts = np.bincount(present, minlength=len(uniques)).tolist()
        missing = int(codes.size - present.size)
        if strings:  # each its own category, and not a number
            return cls.from_counts(dict(zip(uniques, raw_counts, strict=True)), missing)
        counts: dict[str, int] = {}
        numeric = True
        for value, count in zip(uniques, raw_counts, strict=True):
            key = canonical_category(value)
            if key is None:
                missing += count
                continue
            counts[key] = counts.get(key, 0) + count
            if numeric and not _is_number(value):
                numeric = False
        return cls.from_counts(counts, missing, numeric)

    @classmethod
    def coded(cls, series: pd.Series, vocabulary: Sequence[str], max_new: int) -> CategoricalData:
        """Counts of a current column against the reference's ``vocabulary``, as a window
        seeded with it counts them (``drift.core.window.Vocabulary``): categories in code
        order, the vocabulary's first, then new ones in order of first appearance, at most
        ``max_new`` of them; beyond that, and for every new one when the vocabulary was cut to
        its top categories (it holds ``OTHER``), they count as ``OTHER``.

        ``pandas.factorize`` codes the rows; only the distinct values pass through Python."""
        factorized = _factorized(series)
        if factorized is None:  # spell every value first, as the window does
            spelled = [v if type(v) is str else canonical_category(v) for v in series.tolist()]
            factorized = _factorized(pd.Series(spelled, dtype=object))
            assert factorized is not None  # strings and None
        codes, uniques, _ = factorized
        categories = list(vocabulary)
        index = {category: code for code, category in enumerate(categories)}
        closed = OTHER in index
        limit = len(categories) + max_new
        lookup = np.empty(len(uniques) + 1, dtype=np.int64)  # the last entry: code -1 (missing)
        lookup[-1] = -1
        for i, value in enumerate(uniques):
            key = value if type(value) is str else canonical_category(value)
            if key is None:
                lookup[i] = -1
                continue
            code = index.get(key)
            if code is None:
                if closed or len(categories) >= limit:
                    key = OTHER
                    code = index.get(key)
                if code is None:
                    code = index[key] = len(categories)
                    categories.append(key)
            lookup[i] = code
        mapped = lookup[codes]
        present = mapped[mapped >= 0]
        freq = np.bincount(present, minlength=len(categories)).astype(np.int64)
        freq.setflags(write=False)
        return cls(tuple(categories), freq, int(mapped.size - present.size))

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


def float_values(series: pd.Series) -> FloatArray:
    """A numerical column as float64 with NaN for missing values: the frame's own data (a
    view, not a copy) when it already is a numpy float64 column, else one conversion."""
    if series.dtype == np.float64:
        values: FloatArray = series.to_numpy()
        return values
    converted: FloatArray = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return converted


# ----------------------------------------------------------------- per-column work in threads

#: at most this many threads, whatever the machine: per-column work is short, and a sidecar
#: shares its pod with the model server
MAX_WORKERS = 4
#: a window's columns go to the threads from this many samples on: below it a column's work
#: (a few numpy passes of tens of microseconds, each taking the GIL back) gains nothing from a
#: second core (benchmarks/README.md: 10k windows, equal medians with and without threads;
#: 30k, 1.3x faster with them when the second core is free)
PARALLEL_MIN_SAMPLES = 20_000
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_worker = threading.local()


def _cgroup_cpu_limit() -> float | None:
    """The container's CPU quota in cores (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``
    over ``cpu.cfs_period_us``), None without one."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        v1 = Path("/sys/fs/cgroup/cpu")
        quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
        period_us = int((v1 / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


@cache
def worker_count() -> int:
    """Threads for per-column work: the cores this process may run on (its CPU affinity and its
    container's CPU quota, rounded down), at most ``MAX_WORKERS``. 1: no threads at all. Read
    once per process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, min(cores, MAX_WORKERS))


def _mark_worker() -> None:
    _in_worker.active = True


def _shared_pool(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                workers, thread_name_prefix="drift-columns", initializer=_mark_worker
            )
        return _pool


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when needed."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def map_columns(fn: Callable[[T], R], items: Sequence[T], parallel: bool = True) -> list[R]:
    """``[fn(item) for item in items]``, spread over the shared thread pool when ``parallel``,
    the process may use more than one core and there is more than one item. Results come in
    the order of ``items`` (so sums over them do not depend on the threads); the first
    exception, in that order, is raised. ``fn`` must not mutate shared state. Called from a
    pool thread it runs in that thread (no nested waiting on the pool)."""
    workers = worker_count()
    if not parallel or workers <= 1 or len(items) <= 1 or getattr(_in_worker, "active", False):
        return [fn(item) for item in items]
    return list(_shared_pool(workers).map(fn, items))


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
