"""Two-sample hypothesis tests returning p-values: anderson, cramer_von_mises, mannw, t_test,
es (Epps-Singleton), fisher_exact and g_test, as evidently 0.7.23 defines them
(``legacy/calculations/stattests/{anderson_darling_stattest, cramer_von_mises_stattest,
mann_whitney_urank_stattest, t_test, epps_singleton_stattest, fisher_exact_stattest,
g_stattest}.py``).

None of them depends on row order (ranks, sorted values, moments or counts; moments are sums, so
row order moves them by rounding only). None is a paired test, although evidently's
fisher_exact and g_test only accept samples of equal size (see there).

Where evidently raises on degenerate data (too few values, no spread, more than two categories
for fisher_exact) the score is NaN, which never counts as drift, instead of failing the whole
evaluation.
"""

from __future__ import annotations

import math

import numpy as np

from drift.core.columns import ColumnData, ColumnType
from drift.core.stattests.base import ignoring_warnings, numeric_values, union_counts
from drift.core.stattests.cramer_von_mises import cvm_2samp


def anderson(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """k-sample Anderson-Darling p-value, midrank variant (scipy's ``anderson_ksamp``). scipy
    interpolates it from a table, so it is capped to [0.001, 0.25] (with a warning, which is
    expected here and dropped). NaN when both samples together hold a single distinct value or
    at most three values (scipy raises, or returns NaN for three)."""
    from scipy import stats

    ref_values, cur_values = numeric_values(ref), numeric_values(cur)
    if ref_values.size + cur_values.size < 3:
        return math.nan
    if ref_values[0] == ref_values[-1] == cur_values[0] == cur_values[-1]:
        return math.nan
    with (
        np.errstate(divide="ignore", invalid="ignore"),
        ignoring_warnings(("p-value (capped|floored)", UserWarning)),
    ):
        result = stats.anderson_ksamp([ref_values, cur_values], variant="midrank")
    return float(result.pvalue)


def cramer_von_mises(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Two-sample Cramér-von Mises p-value with evidently's own implementation (an older copy of
    scipy's: exact when both samples have <= 20 values, else asymptotic); see
    ``drift.core.stattests.cramer_von_mises``. NaN when a sample has fewer than two values."""
    ref_values, cur_values = numeric_values(ref), numeric_values(cur)
    if ref_values.size <= 1 or cur_values.size <= 1:
        return math.nan
    return cvm_2samp(ref_values, cur_values)


def mannw(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Mann-Whitney U p-value, one-sided as in evidently (``alternative="less"``: small when the
    reference tends to be smaller than the current sample; a shift the other way is not
    drift). scipy's default method (exact for small samples without ties, else normal
    approximation with continuity correction)."""
    from scipy import stats

    result = stats.mannwhitneyu(numeric_values(ref), numeric_values(cur), alternative="less")
    return float(result.pvalue)


def t_test(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Student's two-sample t-test p-value, pooled variance (``ttest_ind`` defaults). NaN when
    it is undefined (one value per sample, or no variance at all)."""
    from scipy import stats

    # scipy warns when the samples are (nearly) constant; the p-value it returns stands
    with (
        np.errstate(divide="ignore", invalid="ignore"),
        ignoring_warnings(
            ("Precision loss occurred", RuntimeWarning), ("Degrees of freedom <= 0", RuntimeWarning)
        ),
    ):
        result = stats.ttest_ind(numeric_values(ref), numeric_values(cur))
    return float(result.pvalue)


def es(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Epps-Singleton p-value (``epps_singleton_2samp``, t = (0.4, 0.8) scaled by the pooled
    semi-IQR). NaN where evidently or scipy refuse: IQR of both samples together is 0, or a
    sample has fewer than 5 values. scipy's warning that the estimated covariance matrix is
    rank deficient (few distinct values) is dropped; its p-value (with the rank as degrees of
    freedom) is kept, as in evidently."""
    from scipy import stats

    ref_values, cur_values = numeric_values(ref), numeric_values(cur)
    if ref_values.size < 5 or cur_values.size < 5:
        return math.nan
    if stats.iqr(np.concatenate((ref_values, cur_values))) == 0:
        return math.nan
    with ignoring_warnings(("Estimated covariance matrix does not", UserWarning)):
        result = stats.epps_singleton_2samp(ref_values, cur_values)
    return float(result.pvalue)


def fisher_exact(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """Fisher's exact test p-value (two-sided) of the 2x2 table sample x category.

    As in evidently: NaN (evidently raises) when either sample has more than two categories;
    with a single category in both samples the p-value is 1. Different from evidently: a union
    of three or four categories (two per sample) is NaN, where evidently maps two of them, picked
    by Python set order, and counts the others as the second one; and samples of different
    sizes are tested (evidently refuses them, a check the 2x2 table does not need), so the test
    is usable on a window smaller than the reference. Equal sizes give evidently's number.
    """
    from scipy import stats

    _, r, c = union_counts(ref, cur)
    if r.size > 2:  # includes either sample having more than two
        return math.nan
    if r.size == 1:
        return 1.0
    # evidently's table: [[current "one", current "zero"], [reference "one", reference "zero"]];
    # which category is "one" does not change the two-sided p-value
    table = np.array([[c[1], c[0]], [r[1], r[0]]], dtype=np.int64)
    return float(stats.fisher_exact(table).pvalue)


def g_test(ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    """G-test (log-likelihood ratio) p-value of the current counts against the reference
    counts, ``power_divergence(f_obs=current, f_exp=reference, lambda_="log-likelihood")``.

    evidently passes the raw reference counts as expected frequencies, which scipy accepts only
    when both samples have the same size (else ValueError: the sums must agree). We scale the
    reference counts to the current size first (the factor is exactly 1 for equal sizes, so
    those give evidently's number), which makes the test usable on a window. A category the
    reference never had gives statistic inf, p-value 0; a single category gives NaN (zero
    degrees of freedom)."""
    from scipy import stats

    _, r, c = union_counts(ref, cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.power_divergence(c, r * (cur.n / ref.n), lambda_="log-likelihood")
    return float(result.pvalue)
