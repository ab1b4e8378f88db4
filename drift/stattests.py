"""Drift stat tests under evidently's identifiers, with evidently 0.7's exact definitions.

Each test is a pure function of two ``ColumnData`` values (reference, current) that returns a
score; ``Method`` says whether the score is a p-value or a distance, which way the threshold cuts,
and the default threshold. ``METHODS`` is the one table a reader needs.

Sources reproduced: ``evidently/legacy/calculations/stattests/{ks_stattest, chisquare_stattest,
z_stattest, wasserstein_distance_norm, jensenshannon, utils}.py`` and ``registry.py`` (default
choice) of evidently 0.7.23.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import distance

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


def _values(data: ColumnData) -> np.ndarray:
    if not isinstance(data, NumericData):
        raise TypeError("this test needs a numerical column")
    return data.values


def _sort_keys(keys: set[Any], reference: ColumnData) -> list[Any]:
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


def _union_counts(ref: ColumnData, cur: ColumnData) -> tuple[list[Any], np.ndarray, np.ndarray]:
    ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
    keys = _sort_keys(set(ref_counts) | set(cur_counts), ref)
    r = np.array([ref_counts.get(k, 0) for k in keys], dtype=np.float64)
    c = np.array([cur_counts.get(k, 0) for k in keys], dtype=np.float64)
    return keys, r, c


def ks(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (scipy ``ks_2samp``, default exact/asymp choice).

    With heavy ties scipy's exact computation can fail and it falls back to the asymptotic
    p-value with a RuntimeWarning, as in evidently; the value is kept, the warning is not.
    (``catch_warnings`` is process-wide; the service evaluates in a single thread.)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="ks_2samp: Exact calculation unsuccessful", category=RuntimeWarning
        )
        return float(stats.ks_2samp(_values(ref), _values(cur))[1])


def wasserstein(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Wasserstein-1 distance divided by the reference's population std (at least 0.001)."""
    ref_values = _values(ref)
    norm = max(float(np.std(ref_values)), 0.001)
    return float(stats.wasserstein_distance(ref_values, _values(cur)) / norm)


def chisquare(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Pearson chi-square p-value of current counts against reference counts scaled to n_cur."""
    _, r, c = _union_counts(ref, cur)
    k_norm = cur.n / ref.n
    # a category unseen in the reference has expected count 0: statistic inf, p-value 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(c, r * k_norm)[1])


def z(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Two-proportion Z-test p-value for "is the first category (sorted)" vs the rest."""
    ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
    if len(ref_counts) == 1 and len(cur_counts) == 1 and set(ref_counts) == set(cur_counts):
        return 1.0
    first = _sort_keys(set(ref_counts) | set(cur_counts), ref)[0]
    n1, n2 = ref.n, cur.n
    p1 = float(n1 - ref_counts.get(first, 0)) / n1
    p2 = float(n2 - cur_counts.get(first, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_stat = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z_stat))))


def binned_shares(
    ref: ColumnData, cur: ColumnData, column_type: ColumnType
) -> tuple[np.ndarray, np.ndarray]:
    """evidently's ``get_binned_data`` without zero filling: Sturges bins over the combined
    range for numerical columns with > 20 unique reference values, else shares per category."""
    if column_type is ColumnType.NUMERICAL and isinstance(ref, NumericData) and ref.n_unique > 20:
        ref_values, cur_values = ref.values, _values(cur)
        bins = np.histogram_bin_edges(np.concatenate((ref_values, cur_values)), bins="sturges")
        ref_share = np.histogram(ref_values, bins)[0] / ref_values.size
        cur_share = np.histogram(cur_values, bins)[0] / cur_values.size
        return ref_share, cur_share
    _, r, c = _union_counts(ref, cur)
    return r / ref.n, c / cur.n


def jensenshannon(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Jensen-Shannon distance (natural log) of the binned shares."""
    ref_share, cur_share = binned_shares(ref, cur, column_type)
    return float(distance.jensenshannon(ref_share, cur_share))


_BOTH = frozenset({ColumnType.NUMERICAL, ColumnType.CATEGORICAL})
_NUM = frozenset({ColumnType.NUMERICAL})
# As in evidently, chisquare and z may only be configured for categorical columns; its default
# choice still applies them to numerical columns with few values.
_CAT = frozenset({ColumnType.CATEGORICAL})

METHODS: dict[str, Method] = {
    "ks": Method("ks", "K-S p_value", Direction.P_LE, 0.05, _NUM, ks),
    "chisquare": Method("chisquare", "chi-square p_value", Direction.P_LT, 0.05, _CAT, chisquare),
    "z": Method("z", "Z-test p_value", Direction.P_LT, 0.05, _CAT, z),
    "wasserstein": Method(
        "wasserstein",
        "Wasserstein distance (normed)",
        Direction.DISTANCE_GE,
        0.1,
        _NUM,
        wasserstein,
    ),
    "jensenshannon": Method(
        "jensenshannon", "Jensen-Shannon distance", Direction.DISTANCE_GE, 0.1, _BOTH, jensenshannon
    ),
}


def union_n_unique(ref: ColumnData, cur: ColumnData, limit: int) -> int:
    """Unique values of reference and current together, exact up to ``limit`` + 1."""
    if ref.n_unique > limit:
        return ref.n_unique
    if isinstance(ref, NumericData) and isinstance(cur, NumericData):
        return int(np.union1d(np.unique(ref.values), np.unique(cur.values)).size)
    return len(set(ref.value_counts()) | set(cur.value_counts()))


def default_method(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> Method:
    """evidently's default choice (``registry._get_default_stattest``), on NaN/inf-free data.

    Reference <= 1000 rows: numerical with > 5 unique values (reference and current together)
    -> ks, else chisquare (3-5 values) or z (<= 2); categorical -> chisquare (> 2 values) or z.
    Reference > 1000 rows: numerical with > 5 unique values -> wasserstein, else jensenshannon.
    """
    n_values = union_n_unique(ref, cur, limit=5)
    if ref.n <= 1000:
        if column_type is ColumnType.NUMERICAL and n_values > 5:
            return METHODS["ks"]
        return METHODS["chisquare"] if n_values > 2 else METHODS["z"]
    if column_type is ColumnType.NUMERICAL and n_values > 5:
        return METHODS["wasserstein"]
    return METHODS["jensenshannon"]
