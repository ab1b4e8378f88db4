"""What every stat test shares: the ``Method`` record, drift directions, count alignment and
evidently's binning. Pure functions of ``ColumnData``; no I/O."""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from drift.core.columns import CategoricalData, ColumnData, ColumnType, NumericData


class Direction(StrEnum):
    """How a score and a threshold decide drift."""

    P_LE = "p_value<=threshold"  # ks
    P_LT = "p_value<threshold"  # chisquare, z
    DISTANCE_GE = "distance>=threshold"
    DISTANCE_GT = "distance>threshold"  # ed (energy distance)


@dataclass(frozen=True)
class Method:
    name: str
    display_name: str
    direction: Direction
    default_threshold: float
    column_types: frozenset[ColumnType]
    score: Callable[[ColumnData, ColumnData, ColumnType], float]

    def drifted(self, score: float, threshold: float) -> bool:
        if math.isnan(score):
            return False
        if self.direction is Direction.P_LE:
            return score <= threshold
        if self.direction is Direction.P_LT:
            return score < threshold
        if self.direction is Direction.DISTANCE_GT:
            return score > threshold
        return score >= threshold

    @property
    def is_p_value(self) -> bool:
        return self.direction in (Direction.P_LE, Direction.P_LT)


_WARNINGS_LOCK = threading.Lock()


@contextmanager
def ignoring_warnings(*filters: tuple[str, type[Warning]]) -> Iterator[None]:
    """Ignore the warnings matching these (message regex, category) pairs inside the block.

    ``warnings.catch_warnings`` saves and restores process-wide state; columns are scored in
    threads (``drift.core.columns.map_columns``), so these blocks take one lock: two of them
    never interleave and restore each other's filters out of order."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        for message, category in filters:
            warnings.filterwarnings("ignore", message, category)
        yield


def numeric_values(data: ColumnData) -> np.ndarray:
    if not isinstance(data, NumericData):
        raise TypeError("this test needs a numerical column")
    return data.values


def sort_keys(keys: set[Any], reference: ColumnData) -> list[Any]:
    """Sort categories as evidently sorts the raw values: numbers numerically, strings as
    strings. Numeric-ness is the reference's (the window holds canonical strings)."""
    if isinstance(reference, NumericData):
        return sorted(keys)
    if reference.numeric:
        try:
            return sorted(keys, key=float)
        except ValueError:
            pass  # a window value that is not a number: fall back to string order
    return sorted(keys, key=str)


def union_counts(ref: ColumnData, cur: ColumnData) -> tuple[list[Any], np.ndarray, np.ndarray]:
    ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
    keys = sort_keys(set(ref_counts) | set(cur_counts), ref)
    r = np.array([ref_counts.get(k, 0) for k in keys], dtype=np.float64)
    c = np.array([cur_counts.get(k, 0) for k in keys], dtype=np.float64)
    return keys, r, c


def aligned_counts(ref: ColumnData, cur: ColumnData) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts over the categories that occur in either (for tests that
    only sum over categories: chisquare, jensenshannon). The order depends on the category
    names only, never on row order, so results are bit-for-bit reproducible."""
    if isinstance(ref, CategoricalData) and isinstance(cur, CategoricalData):
        nr, nc = len(ref.categories), len(cur.categories)
        # built over one vocabulary (the window's is seeded with the reference's categories,
        # which are sorted); categories first seen in the window follow in arrival order
        if nr <= nc and cur.categories[:nr] == ref.categories:
            r = np.zeros(nc)
            r[:nr] = ref.frequencies
            c = cur.frequencies.astype(np.float64)
            if nc > nr:
                tail = np.argsort(np.array(cur.categories[nr:], dtype=object), kind="stable")
                order = np.concatenate((np.arange(nr), nr + tail))
                r, c = r[order], c[order]
            keep = (r > 0) | (c > 0)
            return r[keep], c[keep]
    _, r, c = union_counts(ref, cur)
    return r, c


def sturges_edges(lo: float, hi: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(x, bins="sturges")`` for data of ``size`` values spanning
    [lo, hi], without the data (numpy 2's arithmetic, step by step)."""
    first, last = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    width = np.subtract(hi, lo) / (np.log2(size) + 1.0)
    n_bins = int(np.ceil(np.subtract(last, first) / width)) if width else 1
    edges: np.ndarray = np.linspace(first, last, n_bins + 1, endpoint=True)
    return edges


def sorted_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` for sorted ``values`` within the edges: bins are
    [e_i, e_i+1), the last one closed."""
    inner = np.searchsorted(values, edges[1:-1], side="left")
    counts: np.ndarray = np.diff(np.concatenate(([0], inner, [values.size])))
    return counts


def binned_shares(
    ref: ColumnData, cur: ColumnData, column_type: ColumnType
) -> tuple[np.ndarray, np.ndarray]:
    """evidently's ``get_binned_data`` without zero filling: Sturges bins over the combined
    range for numerical columns with > 20 unique reference values, else shares per category."""
    if column_type is ColumnType.NUMERICAL and isinstance(ref, NumericData) and ref.n_unique > 20:
        ref_values, cur_values = ref.values, numeric_values(cur)
        edges = sturges_edges(
            min(ref_values[0], cur_values[0]),
            max(ref_values[-1], cur_values[-1]),
            ref_values.size + cur_values.size,
        )
        ref_share = sorted_histogram(ref_values, edges) / ref_values.size
        cur_share = sorted_histogram(cur_values, edges) / cur_values.size
        return ref_share, cur_share
    r, c = aligned_counts(ref, cur)
    return r / ref.n, c / cur.n


def filled_binned_shares(
    ref: ColumnData, cur: ColumnData, column_type: ColumnType
) -> tuple[np.ndarray, np.ndarray]:
    """evidently's ``get_binned_data(..., feel_zeroes=True)`` (psi, kl_div): ``binned_shares``
    with every zero share replaced, per sample, by the smallest non-zero share / 1e6 if that is
    <= 0.0001, else by 0.0001."""
    filled = []
    for shares in binned_shares(ref, cur, column_type):
        out = np.array(shares, dtype=np.float64)  # a copy: binned_shares may share its arrays
        smallest = out[out != 0].min()
        np.place(out, out == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
        filled.append(out)
    return filled[0], filled[1]


def evidently_raw_keys(keys: Sequence[Any], reference: ColumnData) -> list[Any]:
    """The values evidently holds for these categories: numbers for a numerical column or a
    numeric categorical reference, else the strings. Python sets of them iterate in the order
    evidently's sets of raw values do (same hashes), which fixes the order in which evidently
    sums over categories; see ``drift.core.stattests.permutation.tvd``."""
    if isinstance(reference, NumericData) or not reference.numeric:
        return list(keys)
    raw: list[Any] = []
    for key in keys:
        try:
            raw.append(float(key))  # hash(1.0) == hash(1): one spelling for ints and floats
        except ValueError:
            raw.append(key)  # a window value that is not a number
    return raw
