"""evidently's default tests: ks, chisquare, z, wasserstein, jensenshannon (evidently 0.7.23
``legacy/calculations/stattests/{ks_stattest, chisquare_stattest, z_stattest,
wasserstein_distance_norm, jensenshannon}.py``)."""

from __future__ import annotations

import numpy as np

from drift.core.columns import ColumnData, ColumnType, NumericData
from drift.core.stattests.base import (
    aligned_counts,
    binned_shares,
    ignoring_warnings,
    numeric_values,
    sort_keys,
)


def ks(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (scipy ``ks_2samp``, default exact/asymp choice).

    With heavy ties scipy's exact computation can fail and it falls back to the asymptotic
    p-value with a RuntimeWarning, as in evidently; the value is kept, the warning is not.
    """
    from scipy.stats import ks_2samp

    a, b = numeric_values(ref), numeric_values(cur)
    # scipy's axis / nan_policy wrapper costs ~4x the test on small samples (calibration scores
    # hundreds of them per column); our values hold no NaN and are 1-D, where the wrapped
    # function gives the same statistic and p-value (tests/core/test_stattests.py)
    test = getattr(ks_2samp, "__wrapped__", ks_2samp) if a.size and b.size else ks_2samp
    with ignoring_warnings(("ks_2samp: Exact calculation unsuccessful", RuntimeWarning)):
        return float(test(a, b)[1])


def wasserstein(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Wasserstein-1 distance divided by the reference's population std (at least 0.001).

    Equals ``scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)`` (tested to
    1e-12 relative) without re-sorting the reference: see ``wasserstein_distance_sorted``."""
    if not isinstance(ref, NumericData) or not isinstance(cur, NumericData):
        raise TypeError("wasserstein needs numerical columns")
    norm = max(ref.std, 0.001)
    return wasserstein_distance_sorted(ref, cur.values, cur.ranks_in(ref.values)) / norm


def wasserstein_distance_sorted(
    ref: NumericData, cur: np.ndarray, cur_ranks: np.ndarray | None = None
) -> float:
    """W1 between the empirical distributions of ``ref`` and sorted ``cur``, in O(m log n).

    Between consecutive current values F_cur is constant (j/m) and F_ref crosses that level at
    most once, at its ceil(j n / m)-th smallest value; each interval's integral of
    |F_ref - F_cur| then follows from G(t) = (K(t) t - S_K(t)) / n, the integral of F_ref up to
    t, with K(t) = #{ref <= t} and S the reference's prefix sums (values shifted by their mean,
    for precision). Ties contribute t - r = 0 to G, so any K that counts them works."""
    values, sums, center = ref.values, ref.centered_prefix_sums, ref.center
    n, m = values.size, cur.size
    # equal samples; the ends first, which tell most windows apart without a pass over them
    same_ends = n == m and (m == 0 or (values[0] == cur[0] and values[-1] == cur[-1]))
    if same_ends and np.array_equal(values, cur):
        return 0.0
    c = cur - center
    k_c = cur_ranks if cur_ranks is not None else np.searchsorted(values, cur, side="right")
    # the arithmetic below is done in place where that gives the same numbers (fewer passes
    # over memory): (k c - S[k]) / n; clip(x, a, b) = min(max(x, a), b); 2 s - a - b
    g_c = k_c * c
    g_c -= sums[k_c]
    g_c /= n
    total = float(g_c[0])  # F_cur = 0 before the first current value: integral of F_ref
    if m > 1:
        level, x_star, g_star = ref.crossings(m)
        a, b, ga, gb = c[:-1], c[1:], g_c[:-1], g_c[1:]
        s = np.maximum(x_star, a)
        np.minimum(s, b, out=s)
        # G(s): G(a) or G(b) when the crossing lies outside the interval, else G(x_star)
        gs = np.where(s == b, gb, g_star)
        np.copyto(gs, ga, where=s == a)
        s *= 2
        s -= a
        s -= b
        # sum(level * s) as numpy's pairwise sum, not np.dot: BLAS splits a dot product of
        # more than 10k values over its own threads, which then spin on a core the column
        # threads need (and the last bits depended on the BLAS thread count)
        s *= level
        total += float(s.sum() + ga.sum() + gb.sum() - 2 * gs.sum())
    top = values[-1] - center
    if top > c[-1]:  # F_cur = 1 after the last current value: integral of 1 - F_ref
        total += float((top - c[-1]) - ((n * top - sums[n]) / n - g_c[-1]))
    return max(total, 0.0)


def chisquare(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Pearson chi-square p-value of current counts against reference counts scaled to n_cur."""
    from scipy.stats import chisquare as chisquare_test

    r, c = aligned_counts(ref, cur)
    k_norm = cur.n / ref.n
    # a category unseen in the reference has expected count 0: statistic inf, p-value 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(chisquare_test(c, r * k_norm)[1])


def z(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Two-proportion Z-test p-value for "is the first category (sorted)" vs the rest."""
    from scipy.stats import norm

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
    return float(2 * (1 - norm.cdf(np.abs(z_stat))))


def jensenshannon(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Jensen-Shannon distance (natural log) of the binned shares."""
    ref_share, cur_share = binned_shares(ref, cur, column_type)
    return jensenshannon_distance(ref_share, cur_share)


def jensenshannon_distance(p: np.ndarray, q: np.ndarray) -> float:
    """``scipy.spatial.distance.jensenshannon(p, q)`` for 1-d ``p`` and ``q``, operation for
    operation (so bit for bit), without importing ``scipy.spatial`` (~0.1 s, with its qhull
    and k-d tree extensions): only ``scipy.special.rel_entr``, on first use."""
    from scipy.special import rel_entr

    p = p / np.sum(p, axis=0, keepdims=True)
    q = q / np.sum(q, axis=0, keepdims=True)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m), axis=0) + np.sum(rel_entr(q, m), axis=0)
    return float(np.sqrt(js / 2.0))
