"""Drift stat tests under evidently's identifiers, with evidently 0.7's exact definitions.

Each test is a pure function of two ``ColumnData`` values (reference, current) that returns a
score; ``Method`` says whether the score is a p-value or a distance, which way the threshold cuts,
and the default threshold. ``METHODS`` below is the one table a reader needs.

Sources reproduced: ``evidently/legacy/calculations/stattests/*.py`` and ``registry.py`` (default
choice) of evidently 0.7.23.
"""

from __future__ import annotations

import numpy as np

from drift.core.columns import ColumnData, ColumnType, NumericData
from drift.core.stattests.base import Direction, Method, binned_shares
from drift.core.stattests.core import chisquare, jensenshannon, ks, wasserstein, z
from drift.core.stattests.distances import ed, hellinger, kl_div, psi
from drift.core.stattests.permutation import empirical_mmd, tvd
from drift.core.stattests.pvalues import (
    anderson,
    cramer_von_mises,
    es,
    fisher_exact,
    g_test,
    mannw,
    t_test,
)

__all__ = [
    "METHODS",
    "Direction",
    "Method",
    "binned_shares",
    "default_method",
    "union_n_unique",
]

_BOTH = frozenset({ColumnType.NUMERICAL, ColumnType.CATEGORICAL})
_NUM = frozenset({ColumnType.NUMERICAL})
# Column types as evidently's StatTest.allowed_feature_types. chisquare and z may only be configured
# for categorical columns; evidently's default choice still applies them to numerical columns with
# few values.
_CAT = frozenset({ColumnType.CATEGORICAL})

METHODS: dict[str, Method] = {
    # evidently's default choices (registry._get_default_stattest)
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
    # distances (drift.core.stattests.distances); note ed cuts strictly above the threshold
    "psi": Method("psi", "PSI", Direction.DISTANCE_GE, 0.1, _BOTH, psi),
    "kl_div": Method(
        "kl_div", "Kullback-Leibler divergence", Direction.DISTANCE_GE, 0.1, _BOTH, kl_div
    ),
    "hellinger": Method(
        "hellinger", "Hellinger distance", Direction.DISTANCE_GE, 0.1, _BOTH, hellinger
    ),
    "ed": Method("ed", "Energy-distance", Direction.DISTANCE_GT, 0.1, _NUM, ed),
    # p-values (drift.core.stattests.pvalues); note cramer_von_mises drifts at p == threshold
    "anderson": Method("anderson", "Anderson-Darling", Direction.P_LT, 0.1, _NUM, anderson),
    "cramer_von_mises": Method(
        "cramer_von_mises", "Cramer-von Mises", Direction.P_LE, 0.1, _NUM, cramer_von_mises
    ),
    "mannw": Method("mannw", "Mann-Whitney U-rank test", Direction.P_LT, 0.05, _NUM, mannw),
    "t_test": Method("t_test", "t_test", Direction.P_LT, 0.05, _NUM, t_test),
    "es": Method("es", "Epps-Singleton", Direction.P_LT, 0.05, _NUM, es),
    "fisher_exact": Method(
        "fisher_exact", "Fisher's Exact test", Direction.P_LT, 0.1, _CAT, fisher_exact
    ),
    "g_test": Method("g_test", "g_test", Direction.P_LT, 0.1, _CAT, g_test),
    # permutation p-values (drift.core.stattests.permutation)
    "TVD": Method("TVD", "Total-Variation-Distance", Direction.P_LT, 0.1, _CAT, tvd),
    "empirical_mmd": Method(
        "empirical_mmd", "empirical_mmd", Direction.P_LT, 0.1, _NUM, empirical_mmd
    ),
}


def union_n_unique(ref: ColumnData, cur: ColumnData, limit: int) -> int:
    """Unique values of reference and current together, exact up to ``limit`` + 1 (a larger
    count may be returned as ``limit`` + 1)."""
    if isinstance(ref, NumericData) and isinstance(cur, NumericData):
        if ref.n_unique_up_to(limit + 1) > limit:
            return limit + 1
        return int(np.union1d(ref.unique_counts[0], cur.unique_counts[0]).size)
    if ref.n_unique > limit:
        return ref.n_unique
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
