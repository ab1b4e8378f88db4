"""What every stat test shares: the ``Method`` record, drift directions, count alignment and
evidently's binning. Pure functions of ``ColumnData``; no I/O."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from drift.columns import ColumnData, ColumnType, NumericData


class Direction(StrEnum):
    """How a score and a threshold decide drift."""

    P_LE = "p_value<=threshold"  # ks
    P_LT = "p_value<threshold"  # chisquare, z
    DISTANCE_GE = "distance>=threshold"


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
        return score >= threshold

    @property
    def is_p_value(self) -> bool:
        return self.direction is not Direction.DISTANCE_GE


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


def binned_shares(
    ref: ColumnData, cur: ColumnData, column_type: ColumnType
) -> tuple[np.ndarray, np.ndarray]:
    """evidently's ``get_binned_data`` without zero filling: Sturges bins over the combined
    range for numerical columns with > 20 unique reference values, else shares per category."""
    if column_type is ColumnType.NUMERICAL and isinstance(ref, NumericData) and ref.n_unique > 20:
        ref_values, cur_values = ref.values, numeric_values(cur)
        bins = np.histogram_bin_edges(np.concatenate((ref_values, cur_values)), bins="sturges")
        ref_share = np.histogram(ref_values, bins)[0] / ref_values.size
        cur_share = np.histogram(cur_values, bins)[0] / cur_values.size
        return ref_share, cur_share
    _, r, c = union_counts(ref, cur)
    return r / ref.n, c / cur.n
