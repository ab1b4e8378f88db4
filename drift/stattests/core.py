"""evidently's default tests: ks, chisquare, z, wasserstein, jensenshannon (evidently 0.7.23
``legacy/calculations/stattests/{ks_stattest, chisquare_stattest, z_stattest,
wasserstein_distance_norm, jensenshannon}.py``)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from scipy.spatial import distance

from drift.columns import ColumnData, ColumnType
from drift.stattests.base import binned_shares, numeric_values, sort_keys, union_counts


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
        return float(stats.ks_2samp(numeric_values(ref), numeric_values(cur))[1])


def wasserstein(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Wasserstein-1 distance divided by the reference's population std (at least 0.001)."""
    ref_values = numeric_values(ref)
    norm = max(float(np.std(ref_values)), 0.001)
    return float(stats.wasserstein_distance(ref_values, numeric_values(cur)) / norm)


def chisquare(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Pearson chi-square p-value of current counts against reference counts scaled to n_cur."""
    _, r, c = union_counts(ref, cur)
    k_norm = cur.n / ref.n
    # a category unseen in the reference has expected count 0: statistic inf, p-value 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(c, r * k_norm)[1])


def z(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Two-proportion Z-test p-value for "is the first category (sorted)" vs the rest."""
    ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
    if len(ref_counts) == 1 and len(cur_counts) == 1 and set(ref_counts) == set(cur_counts):
        return 1.0
    first = sort_keys(set(ref_counts) | set(cur_counts), ref)[0]
    n1, n2 = ref.n, cur.n
    p1 = float(n1 - ref_counts.get(first, 0)) / n1
    p2 = float(n2 - cur_counts.get(first, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_stat = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z_stat))))


def jensenshannon(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Jensen-Shannon distance (natural log) of the binned shares."""
    ref_share, cur_share = binned_shares(ref, cur, column_type)
    return float(distance.jensenshannon(ref_share, cur_share))
