"""Distances between the two samples: psi, kl_div, hellinger and ed (energy distance), as
evidently 0.7.23 defines them (``legacy/calculations/stattests/{psi, kl_div,
hellinger_distance, energy_distance}.py``). Drift when the distance is at least (``ed``: above)
the threshold.

None of them depends on row order: they see counts per bin or category, or sorted values. Where
evidently sums over a Python set of categories the order of the terms can differ from ours, which
moves the result by rounding only (about 1e-16 relative), except as noted in ``hellinger``.
"""

from __future__ import annotations

import math

import numpy as np

from drift.core.columns import ColumnData, ColumnType
from drift.core.stattests.base import (
    evidently_raw_keys,
    filled_binned_shares,
    numeric_values,
    union_counts,
)


def psi(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Population stability index, sum((r - c) * ln(r / c)), over evidently's binned shares
    with zero shares filled (``filled_binned_shares``), so it is always finite."""
    r, c = filled_binned_shares(ref, cur, column_type)
    return float(np.sum((r - c) * np.log(r / c)))


def kl_div(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Kullback-Leibler divergence KL(reference || current), natural log, of the same filled
    shares: ``scipy.stats.entropy``, which renormalizes both (the filling adds a little mass)."""
    from scipy.stats import entropy

    r, c = filled_binned_shares(ref, cur, column_type)
    return float(entropy(r, c))


def hellinger(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Hellinger distance sqrt(1 - BC), BC the Bhattacharyya coefficient clipped to [0, 1].

    Categorical: BC = sum over categories of sqrt(p_ref * p_cur). Numerical (any number of
    values, unlike psi): Sturges bins over the *unique* values of both samples together, BC =
    sum over bins of sqrt(density_ref * density_cur) * bin width.

    Near-identical samples: BC is 1 up to rounding and sqrt(1 - BC) lifts that rounding to
    about 1e-8 (identical samples can score ~1e-8 instead of 0, in evidently as here). The
    numerical sum runs over bins, in evidently's order. The categorical one runs, in evidently,
    in the iteration order of a Python set of the raw values; we add the terms in the order such
    a set has when the rows arrive sorted (``evidently_raw_keys``), which is evidently's unless
    hash collisions make its order depend on the order of the rows. Only there can a
    difference beyond 1e-12 show: for samples whose distance is below ~1e-6.
    """
    if column_type is ColumnType.CATEGORICAL:
        keys, r, c = union_counts(ref, cur)
        p_ref = dict(zip(keys, (r / ref.n).tolist(), strict=True))
        p_cur = dict(zip(keys, (c / cur.n).tolist(), strict=True))
        raw = evidently_raw_keys(keys, ref)
        by_raw = dict(zip(raw, keys, strict=True))
        in_ref = {raw[i] for i, count in enumerate(r) if count}
        in_cur = {raw[i] for i, count in enumerate(c) if count}
        coefficient = 0.0
        for raw_key in in_ref | in_cur:
            key = by_raw[raw_key]
            coefficient += math.sqrt(p_ref[key] * p_cur[key])
        return math.sqrt(1 - float(np.clip(coefficient, 0, 1)))
    ref_values, cur_values = numeric_values(ref), numeric_values(cur)
    bins = np.histogram_bin_edges(np.union1d(ref_values, cur_values), bins="sturges")
    h1 = np.histogram(ref_values, bins=bins, density=True)[0]
    h2 = np.histogram(cur_values, bins=bins, density=True)[0]
    bin_width = (max(bins) - min(bins)) / (len(bins) - 1)
    coefficient = 0.0
    for p1, p2 in zip(h1.tolist(), h2.tolist(), strict=True):
        coefficient += math.sqrt(p1 * p2) * bin_width
    return math.sqrt(1 - float(np.clip(coefficient, 0, 1)))


def ed(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Energy distance (``scipy.stats.energy_distance``): sqrt(2) times the L2 distance between
    the two empirical CDFs. Drift when strictly above the threshold (evidently's ``>``)."""
    from scipy.stats import energy_distance

    return float(energy_distance(numeric_values(ref), numeric_values(cur)))
