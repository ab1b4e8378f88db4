"""The stat tests beyond evidently's default five (drift.core.stattests.{distances, pvalues,
permutation, cramer_von_mises}): each against scipy/numpy computed here from the raw arrays, the
direction in which each threshold cuts, and Hypothesis properties.

Tolerance: 1e-12 (the same floating-point operations, at most in another order), except the
exact Cramér-von Mises p-value, which evidently (and so we) computes from a float32 table:
1e-6 relative against scipy's integer table. Parity with evidently itself is in
tests/core/test_parity_methods.py.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from drift.core.columns import CategoricalData, ColumnData, ColumnType, NumericData
from drift.core.stattests import METHODS, Direction
from tests import strategies as hs

NUM = ColumnType.NUMERICAL
CAT = ColumnType.CATEGORICAL
TOL = 1e-12

DISTANCES = ["psi", "kl_div", "hellinger", "ed"]
NUM_P_VALUES = ["anderson", "cramer_von_mises", "mannw", "t_test", "es", "empirical_mmd"]
CAT_P_VALUES = ["TVD", "fisher_exact", "g_test"]
BOTH_TYPES = ["psi", "kl_div", "hellinger"]
NEW_METHODS = [*DISTANCES, *NUM_P_VALUES, *CAT_P_VALUES]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def num(values: Any) -> NumericData:
    return NumericData.from_raw(values)


def cat(values: Any) -> CategoricalData:
    return CategoricalData.from_raw(values)


def score(name: str, ref: ColumnData, cur: ColumnData, column_type: ColumnType) -> float:
    return METHODS[name].score(ref, cur, column_type)


def counts(labels: Any, keys: list[Any]) -> np.ndarray:
    labels = np.asarray(labels)
    return np.array([np.count_nonzero(labels == k) for k in keys], dtype=float)


def filled(shares: np.ndarray) -> np.ndarray:
    """evidently's zero filling, written out."""
    smallest = shares[shares > 0].min()
    fill = smallest / 1e6 if smallest <= 1e-4 else 1e-4
    return np.where(shares == 0, fill, shares)


# ------------------------------------------------------------------ distances (psi, kl_div, ...)


def test_psi_numerical_uses_sturges_bins_and_fills_empty_bins(rng: np.random.Generator) -> None:
    ref = rng.normal(0.0, 1.0, 500)
    cur = rng.normal(1.5, 0.5, 200)  # leaves the lower bins of the combined range empty
    edges = np.histogram_bin_edges(np.concatenate((ref, cur)), bins="sturges")
    r = np.histogram(ref, edges)[0] / ref.size
    c = np.histogram(cur, edges)[0] / cur.size
    assert (c == 0).any()  # the filling matters here
    r, c = filled(r), filled(c)
    expected = np.sum((r - c) * np.log(r / c))
    assert score("psi", num(ref), num(cur), NUM) == pytest.approx(expected, abs=TOL)


def test_psi_categorical_unseen_category_is_finite(rng: np.random.Generator) -> None:
    keys = ["a", "b", "c", "new"]
    ref = rng.choice(keys[:3], 400, p=[0.5, 0.3, 0.2])
    cur = rng.choice(keys, 300, p=[0.4, 0.3, 0.2, 0.1])
    r, c = filled(counts(ref, keys) / ref.size), filled(counts(cur, keys) / cur.size)
    assert r[3] == 1e-4
    expected = np.sum((r - c) * np.log(r / c))
    assert score("psi", cat(ref), cat(cur), CAT) == pytest.approx(expected, abs=TOL)


def test_zero_filling_below_one_in_ten_thousand(rng: np.random.Generator) -> None:
    """A share <= 0.0001 (here 1 / 20,000) makes the fill that share / 1e6."""
    ref = [*rng.choice(["a", "b"], 19_999), "rare"]
    cur = rng.choice(["a", "b", "new"], 200)
    keys = ["a", "b", "new", "rare"]
    r = filled(counts(ref, keys) / len(ref))
    c = filled(counts(cur, keys) / cur.size)
    assert r[2] == pytest.approx(1 / 20_000 / 1e6)
    assert c[3] == 1e-4
    assert score("psi", cat(ref), cat(cur), CAT) == pytest.approx(
        np.sum((r - c) * np.log(r / c)), abs=TOL
    )


def test_kl_div_renormalizes_the_filled_shares(rng: np.random.Generator) -> None:
    keys = [1.0, 2.0, 3.0, 4.0, 5.0]  # <= 20 values: shares per value, not bins
    ref = rng.choice(keys[:4], 700)
    cur = rng.choice(keys, 300)
    r = filled(counts(ref, keys) / ref.size)
    c = filled(counts(cur, keys) / cur.size)
    p, q = r / r.sum(), c / c.sum()
    expected = np.sum(p * np.log(p / q))
    assert score("kl_div", num(ref), num(cur), NUM) == pytest.approx(expected, abs=TOL)


def test_hellinger_categorical(rng: np.random.Generator) -> None:
    keys = ["x", "y", "z", "w"]
    ref = rng.choice(keys[:3], 500, p=[0.5, 0.3, 0.2])
    cur = rng.choice(keys, 250, p=[0.3, 0.3, 0.3, 0.1])
    p, q = counts(ref, keys) / ref.size, counts(cur, keys) / cur.size
    expected = math.sqrt(1 - np.sum(np.sqrt(p * q)))
    assert score("hellinger", cat(ref), cat(cur), CAT) == pytest.approx(expected, abs=TOL)


def test_hellinger_numerical_bins_the_unique_values_of_both(rng: np.random.Generator) -> None:
    """Sturges bins over the *unique* values (their count sets the number of bins), densities,
    Bhattacharyya coefficient = sum sqrt(d_ref d_cur) * width. Heavy ties make the unique count
    much smaller than the row count, which is where this differs from psi's bins."""
    ref = rng.integers(0, 40, 2000).astype(float)
    cur = rng.integers(5, 45, 800).astype(float)
    edges = np.histogram_bin_edges(np.unique(np.concatenate((ref, cur))), bins="sturges")
    d_ref = np.histogram(ref, edges, density=True)[0]
    d_cur = np.histogram(cur, edges, density=True)[0]
    width = (edges[-1] - edges[0]) / (edges.size - 1)
    expected = math.sqrt(1 - min(1.0, np.sum(np.sqrt(d_ref * d_cur)) * width))
    assert score("hellinger", num(ref), num(cur), NUM) == pytest.approx(expected, abs=TOL)


def test_ed_is_scipy_energy_distance(rng: np.random.Generator) -> None:
    ref, cur = rng.gamma(2.0, 1.0, 400), rng.gamma(2.3, 1.0, 300)
    expected = stats.energy_distance(ref, cur)
    assert score("ed", num(ref), num(cur), NUM) == pytest.approx(expected, abs=TOL)


# ------------------------------------------------------------------------------ p-value tests


def test_anderson_is_scipy_anderson_ksamp_midrank(rng: np.random.Generator) -> None:
    ref, cur = rng.normal(0.0, 1.0, 300), rng.normal(0.15, 1.0, 200)
    expected = stats.anderson_ksamp([ref, cur], variant="midrank").pvalue
    got = score("anderson", num(ref), num(cur), NUM)
    assert got == pytest.approx(expected, abs=TOL)
    assert 0.001 < got < 0.25  # interpolated, not capped


def test_anderson_capped_and_floored_p_values_come_out_silently(rng: np.random.Generator) -> None:
    """scipy caps the p-value to [0.001, 0.25] and warns; the capped value is evidently's."""
    ref = rng.normal(size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert score("anderson", num(ref), num(ref), NUM) == 0.25
        assert score("anderson", num(ref), num(ref + 2.0), NUM) == 0.001


def test_cramer_von_mises_asymptotic_is_scipys(rng: np.random.Generator) -> None:
    ref, cur = rng.normal(size=300), rng.normal(0.2, 1.0, 120)
    expected = stats.cramervonmises_2samp(ref, cur, method="asymptotic").pvalue
    got = score("cramer_von_mises", num(ref), num(cur), NUM)
    assert got == pytest.approx(expected, abs=TOL)


def test_cramer_von_mises_exact_for_small_samples(rng: np.random.Generator) -> None:
    """Both samples <= 20: the exact distribution, from evidently's float32 frequency table
    (hence 1e-6 relative against scipy's exact integer table)."""
    ref, cur = rng.normal(size=12), rng.normal(0.8, 1.0, 15)
    expected = stats.cramervonmises_2samp(ref, cur, method="exact").pvalue
    got = score("cramer_von_mises", num(ref), num(cur), NUM)
    assert got == pytest.approx(expected, rel=1e-6)
    assert got != pytest.approx(
        stats.cramervonmises_2samp(ref, cur, method="asymptotic").pvalue, rel=1e-6
    )


def test_mannw_is_one_sided_mann_whitney(rng: np.random.Generator) -> None:
    ref, cur = rng.normal(0.0, 1.0, 200), rng.normal(0.3, 1.0, 150)
    got = score("mannw", num(ref), num(cur), NUM)
    assert got == pytest.approx(stats.mannwhitneyu(ref, cur, alternative="less").pvalue, abs=TOL)
    assert got < 0.05
    # a shift the other way is not drift for this test (evidently's alternative="less")
    assert score("mannw", num(cur), num(ref), NUM) > 0.95


def test_t_test_is_pooled_variance_ttest_ind(rng: np.random.Generator) -> None:
    ref, cur = rng.normal(0.0, 1.0, 250), rng.normal(0.1, 2.0, 90)
    expected = stats.ttest_ind(ref, cur).pvalue
    assert score("t_test", num(ref), num(cur), NUM) == pytest.approx(expected, abs=TOL)


def test_es_is_scipy_epps_singleton(rng: np.random.Generator) -> None:
    ref, cur = rng.normal(size=200), rng.standard_t(3, 180)
    expected = stats.epps_singleton_2samp(ref, cur).pvalue
    assert score("es", num(ref), num(cur), NUM) == pytest.approx(expected, abs=TOL)


def test_es_few_distinct_values_comes_out_silently(rng: np.random.Generator) -> None:
    """Three distinct values: scipy warns that the covariance matrix is rank deficient and
    uses the rank as degrees of freedom; the p-value is kept, the warning is not."""
    ref = rng.choice([1.0, 2.0, 3.0], 100)
    cur = rng.choice([1.0, 2.0, 3.0], 80, p=[0.2, 0.3, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = stats.epps_singleton_2samp(ref, cur).pvalue
    assert score("es", num(ref), num(cur), NUM) == pytest.approx(expected, abs=TOL)


def test_fisher_exact_two_by_two_with_unequal_sizes(rng: np.random.Generator) -> None:
    ref = rng.choice(["no", "yes"], 300, p=[0.7, 0.3])
    cur = rng.choice(["no", "yes"], 80, p=[0.55, 0.45])
    ref_no, ref_yes = counts(ref, ["no", "yes"]).astype(int)
    cur_no, cur_yes = counts(cur, ["no", "yes"]).astype(int)
    expected = stats.fisher_exact([[cur_yes, cur_no], [ref_yes, ref_no]]).pvalue
    assert score("fisher_exact", cat(ref), cat(cur), CAT) == pytest.approx(expected, abs=TOL)


def test_fisher_exact_one_category_is_p_one_and_three_is_nan() -> None:
    assert score("fisher_exact", cat(["a"] * 9), cat(["a"] * 4), CAT) == 1.0
    assert math.isnan(score("fisher_exact", cat(["a", "b"]), cat(["b", "c"]), CAT))


def test_g_test_equal_sizes_uses_reference_counts(rng: np.random.Generator) -> None:
    keys = [1, 2, 3]
    ref = rng.choice(keys, 300)
    cur = rng.choice(keys, 300, p=[0.25, 0.35, 0.4])
    expected = stats.power_divergence(
        counts(cur, keys), counts(ref, keys), lambda_="log-likelihood"
    ).pvalue
    assert score("g_test", cat(ref.tolist()), cat(cur.tolist()), CAT) == pytest.approx(
        expected, abs=TOL
    )


def test_g_test_unequal_sizes_scales_reference_counts(rng: np.random.Generator) -> None:
    keys = ["a", "b", "c"]
    ref = rng.choice(keys, 500)
    cur = rng.choice(keys, 120, p=[0.2, 0.3, 0.5])
    f_exp = counts(ref, keys) * cur.size / ref.size
    expected = stats.power_divergence(counts(cur, keys), f_exp, lambda_="log-likelihood").pvalue
    assert score("g_test", cat(ref), cat(cur), CAT) == pytest.approx(expected, abs=TOL)


def test_g_test_unseen_category_is_p_zero_without_runtime_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = score("g_test", cat(["a"] * 50 + ["b"] * 50), cat(["a"] * 20 + ["new"]), CAT)
    assert got == 0.0


def test_numerical_only_methods_refuse_categorical_data() -> None:
    data = cat(["a", "b", "a"])
    for name in ["ed", *NUM_P_VALUES]:
        with pytest.raises(TypeError):
            score(name, data, data, CAT)


# ------------------------------------------------------------------------- permutation tests


def plain_mmd_p_value(ref: np.ndarray, cur: np.ndarray) -> float:
    """evidently's empirical_mmd written plainly: RBF kernel with the reference's median
    heuristic, unbiased MMD^2, 100 permutations of the pooled (sorted) rows drawn by
    RandomState(0)."""
    pooled = np.concatenate((np.sort(ref), np.sort(cur)))
    n, m = ref.size, cur.size
    sq = np.subtract.outer(pooled, pooled) ** 2
    median = np.sort(sq[:n, :n].ravel())[round(0.5 * (n * n - 1))]
    sigma = math.sqrt(0.5 * median) or math.sqrt(0.5)
    kernel = np.exp(-sq / (2 * sigma**2))
    np.fill_diagonal(kernel, 0.0)

    def mmd(k: np.ndarray) -> float:
        return float(
            k[:n, :n].sum() / (n * (n - 1)) + k[n:, n:].sum() / (m * (m - 1)) - 2 * k[n:, :n].mean()
        )

    observed = mmd(kernel)
    draws = np.random.RandomState(0)
    permuted = []
    for _ in range(100):
        index = draws.permutation(n + m)
        permuted.append(mmd(kernel[np.ix_(index, index)]))
    return float(np.mean(observed <= np.array(permuted)))


def test_empirical_mmd_is_the_plain_permutation_test(rng: np.random.Generator) -> None:
    """Continuous data: no split ties the observed MMD, so the p-value is robust to rounding."""
    ref, cur = rng.normal(0.0, 1.0, 120), rng.normal(0.25, 1.0, 80)
    got = score("empirical_mmd", num(ref), num(cur), NUM)
    assert got == plain_mmd_p_value(ref, cur)
    assert got * 100 == round(got * 100)


def test_tvd_is_a_share_of_1000_permutations(rng: np.random.Generator) -> None:
    ref = rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c"], 200, p=[0.45, 0.3, 0.25])
    got = score("TVD", cat(ref), cat(cur), CAT)
    assert got * 1000 == round(got * 1000)
    assert 0.0 < got < 1.0
    assert score("TVD", cat(ref), cat(ref), CAT) == 1.0  # every split is at least 0
    assert score("TVD", cat(["a"] * 50), cat(["b"] * 50), CAT) == 0.0  # no split is that far


@pytest.mark.parametrize(
    ("name", "make"),
    [("TVD", lambda v: cat([f"k{int(x) % 4}" for x in v])), ("empirical_mmd", num)],
)
def test_permutation_tests_leave_numpys_global_generator_alone(
    rng: np.random.Generator, name: str, make: Callable[[np.ndarray], ColumnData]
) -> None:
    """Private RandomState(0): the same p-value whatever the global state, and the global state
    untouched (evidently seeds or draws from numpy's global generator)."""
    ref, cur = make(rng.normal(size=80) * 3), make(rng.normal(size=60) * 3)
    column_type = CAT if name == "TVD" else NUM
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = score(name, ref, cur, column_type)
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(456)
    assert score(name, ref, cur, column_type) == first


# ------------------------------------------------------------------------ direction of the cut


@pytest.mark.parametrize(
    ("name", "direction", "default_threshold", "column_types"),
    [
        ("psi", Direction.DISTANCE_GE, 0.1, {NUM, CAT}),
        ("kl_div", Direction.DISTANCE_GE, 0.1, {NUM, CAT}),
        ("hellinger", Direction.DISTANCE_GE, 0.1, {NUM, CAT}),
        ("ed", Direction.DISTANCE_GT, 0.1, {NUM}),
        ("anderson", Direction.P_LT, 0.1, {NUM}),
        ("cramer_von_mises", Direction.P_LE, 0.1, {NUM}),
        ("mannw", Direction.P_LT, 0.05, {NUM}),
        ("t_test", Direction.P_LT, 0.05, {NUM}),
        ("es", Direction.P_LT, 0.05, {NUM}),
        ("empirical_mmd", Direction.P_LT, 0.1, {NUM}),
        ("TVD", Direction.P_LT, 0.1, {CAT}),
        ("fisher_exact", Direction.P_LT, 0.1, {CAT}),
        ("g_test", Direction.P_LT, 0.1, {CAT}),
    ],
)
def test_method_table(
    name: str, direction: Direction, default_threshold: float, column_types: set[ColumnType]
) -> None:
    method = METHODS[name]
    assert method.name == name
    assert method.direction is direction
    assert method.default_threshold == default_threshold
    assert method.column_types == column_types
    assert method.is_p_value is (direction in (Direction.P_LE, Direction.P_LT))


@pytest.mark.parametrize(
    ("name", "below", "equal", "above"),
    [
        ("psi", False, True, True),
        ("kl_div", False, True, True),
        ("hellinger", False, True, True),
        ("ed", False, False, True),  # strictly above
        ("anderson", True, False, False),
        ("cramer_von_mises", True, True, False),  # p <= threshold
        ("mannw", True, False, False),
        ("t_test", True, False, False),
        ("es", True, False, False),
        ("empirical_mmd", True, False, False),
        ("TVD", True, False, False),
        ("fisher_exact", True, False, False),
        ("g_test", True, False, False),
    ],
)
def test_drift_direction_and_equality_edge(
    name: str, below: bool, equal: bool, above: bool
) -> None:
    method = METHODS[name]
    threshold = 0.1
    assert method.drifted(math.nextafter(threshold, 0.0), threshold) is below
    assert method.drifted(threshold, threshold) is equal
    assert method.drifted(math.nextafter(threshold, 1.0), threshold) is above
    assert method.drifted(math.nan, threshold) is False


# -------------------------------------------------------------------------------- properties

PROPERTY = settings(max_examples=100, deadline=None)
SLOW_PROPERTY = settings(max_examples=20, deadline=None)  # 100-1000 permutations per example


def undefined(name: str, ref: ColumnData, cur: ColumnData) -> bool:
    """Where a test has no p-value (NaN, never drift), as documented on each function."""
    n_ref, n_cur = ref.n, cur.n
    values = set(ref.value_counts()) | set(cur.value_counts())
    if name == "anderson":
        return n_ref + n_cur <= 3 or len(values) == 1
    if name == "cramer_von_mises":
        return n_ref < 2 or n_cur < 2
    if name == "t_test":
        return n_ref + n_cur <= 2 or (ref.std == 0 and cur.std == 0)
    if name == "es":
        pooled = np.concatenate((np.asarray(ref.values), np.asarray(cur.values)))
        return n_ref < 5 or n_cur < 5 or stats.iqr(pooled) == 0
    if name == "empirical_mmd":
        return n_ref < 2 or n_cur < 2
    if name == "fisher_exact":
        return len(values) > 2
    if name == "g_test":
        return len(values) == 1
    return False


@PROPERTY
@given(pair=hs.column_pair(NUM), name=st.sampled_from(NUM_P_VALUES[:-1]))
def test_numerical_p_values_in_unit_interval(
    pair: tuple[NumericData, NumericData], name: str
) -> None:
    p = score(name, *pair, NUM)
    if math.isnan(p):
        assert undefined(name, *pair)
        assert not METHODS[name].drifted(p, METHODS[name].default_threshold)
    else:
        assert 0.0 <= p <= 1.0


@PROPERTY
@given(ref=hs.categorical_data(), cur=hs.categorical_data(), name=st.sampled_from(CAT_P_VALUES[1:]))
def test_categorical_p_values_in_unit_interval(
    ref: CategoricalData, cur: CategoricalData, name: str
) -> None:
    p = score(name, ref, cur, CAT)
    if math.isnan(p):
        assert undefined(name, ref, cur)
    else:
        assert 0.0 <= p <= 1.0


@SLOW_PROPERTY
@given(num_pair=hs.column_pair(NUM, max_size=40), cat_pair=hs.column_pair(CAT, max_size=40))
def test_permutation_p_values_in_unit_interval(
    num_pair: tuple[NumericData, NumericData], cat_pair: tuple[CategoricalData, CategoricalData]
) -> None:
    mmd = score("empirical_mmd", *num_pair, NUM)
    assert (0.0 <= mmd <= 1.0) or (math.isnan(mmd) and undefined("empirical_mmd", *num_pair))
    assert 0.0 <= score("TVD", *cat_pair, CAT) <= 1.0


@PROPERTY
@given(pair=hs.column_pair(NUM), name=st.sampled_from(DISTANCES))
def test_numerical_distances_are_non_negative(
    pair: tuple[NumericData, NumericData], name: str
) -> None:
    d = score(name, *pair, NUM)
    assert d >= 0.0
    if name == "hellinger":
        assert d <= 1.0


@PROPERTY
@given(ref=hs.categorical_data(), cur=hs.categorical_data(), name=st.sampled_from(BOTH_TYPES))
def test_categorical_distances_are_non_negative(
    ref: CategoricalData, cur: CategoricalData, name: str
) -> None:
    d = score(name, ref, cur, CAT)
    assert d >= 0.0
    if name == "hellinger":
        assert d <= 1.0


def assert_no_drift_on_identical(
    name: str, ref: ColumnData, cur: ColumnData, kind: ColumnType
) -> None:
    method = METHODS[name]
    s = method.score(ref, cur, kind)
    assert not method.drifted(s, method.default_threshold), s
    if name == "hellinger":
        # 1 - sum(sqrt(p * p)) is 0 up to rounding, which the square root lifts to ~1e-8
        assert s < 1e-7
    elif not method.is_p_value:
        assert s == 0.0


@PROPERTY
@given(values=hs.numeric_values(), name=st.sampled_from([*DISTANCES, *NUM_P_VALUES[:-1]]))
def test_identical_numerical_samples_do_not_drift(values: list[float], name: str) -> None:
    assert_no_drift_on_identical(name, num(values), num(values), NUM)


@SLOW_PROPERTY
@given(values=hs.numeric_values(min_size=1, max_size=40))
def test_identical_numerical_samples_do_not_drift_mmd(values: list[float]) -> None:
    assert_no_drift_on_identical("empirical_mmd", num(values), num(values), NUM)


@PROPERTY
@given(values=hs.categorical_values(), name=st.sampled_from([*BOTH_TYPES, *CAT_P_VALUES]))
def test_identical_categorical_samples_do_not_drift(values: list[Any], name: str) -> None:
    assert_no_drift_on_identical(name, cat(values), cat(values), CAT)


@PROPERTY
@given(
    data=st.data(),
    ref=hs.numeric_values(max_size=40),
    cur=hs.numeric_values(max_size=40),
    name=st.sampled_from([*DISTANCES, *NUM_P_VALUES]),
)
def test_permuting_numerical_rows_changes_nothing(
    data: st.DataObject, ref: list[float], cur: list[float], name: str
) -> None:
    ref2, cur2 = data.draw(st.permutations(ref)), data.draw(st.permutations(cur))
    a = score(name, num(ref), num(cur), NUM)
    b = score(name, num(ref2), num(cur2), NUM)
    assert a == b or (math.isnan(a) and math.isnan(b))


@PROPERTY
@given(
    data=st.data(),
    pair=hs.column_pair(CAT, max_size=40),
    name=st.sampled_from([*BOTH_TYPES, *CAT_P_VALUES]),
)
def test_permuting_categorical_rows_changes_nothing(
    data: st.DataObject, pair: tuple[CategoricalData, CategoricalData], name: str
) -> None:
    """Exact, except psi and kl_div: their shares come from ``binned_shares``, whose category
    order follows the counts (first appearance), so the sum may round differently (1e-12)."""
    ref, cur = pair
    ref_raw = [k for k, c in ref.value_counts().items() for _ in range(c)]
    cur_raw = [k for k, c in cur.value_counts().items() for _ in range(c)]
    ref2, cur2 = data.draw(st.permutations(ref_raw)), data.draw(st.permutations(cur_raw))
    a = score(name, ref, cur, CAT)
    b = score(name, cat(ref2), cat(cur2), CAT)
    if name in ("psi", "kl_div"):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    else:
        assert a == b or (math.isnan(a) and math.isnan(b))
