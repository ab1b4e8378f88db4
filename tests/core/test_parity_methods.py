"""Parity with the peer for every method beyond evidently's default five: psi, kl_div, hellinger,
ed, anderson, cramer_von_mises, mannw, t_test, es, empirical_mmd, TVD, fisher_exact, g_test.

Two levels:

* Report level: evidently 0.7's ``Report([DataDriftPreset(num_method=..., cat_method=...,
  per_column_method=...)], include_tests=True)`` against ``drift.compare(...)`` with the same
  options, on synthetic data with and without drift, on scikit-learn's diabetes data set (raw
  units, a real covariate shift) and on a reference of more than 1000 rows. Every column must
  have the same method, threshold, drift decision and score.
* Function level: evidently's ``StatTest`` objects called on pandas Series against our
  ``METHODS[name].score``, for small samples, ties and the degenerate cases where evidently
  raises (ours gives NaN, or a number where noted).

Tolerance: scores agree to 1e-9 (absolute, or relative for large statistics). Most agree
exactly; where evidently sums over a Python set of categories, or over rows in their original
order, the last bits can differ. Decisions and thresholds agree exactly. One known difference:
evidently's exact Cramér-von Mises p-value can exceed 1 by 2^-23 (float32 table); ours is capped
at 1 (test_cramer_von_mises_exact_p_value_above_one_is_capped).

The permutation tests (TVD, empirical_mmd) depend on row order and random draws (see
``drift.core.stattests.permutation``): they are compared on frames whose columns are each sorted,
and evidently's unseeded empirical_mmd gets numpy's global generator seeded with 0 right before
each call (``seeded_evidently_mmd``). fisher_exact and g_test only give a number in evidently
when both samples have the same size, so they are compared on equal-sized samples.

About 75 s, most of it in evidently's permutation tests (each runs three times per column in a
DataDriftPreset).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

import drift
from drift.core.columns import CategoricalData, ColumnType, NumericData
from drift.core.report import DriftReport
from drift.core.stattests import METHODS
from drift.errors import ConfigError
from tests.core.diabetes_data import DIABETES_CATEGORICAL, DIABETES_NUMERICAL, diabetes
from tests.core.evidently_peer import VALUE_DRIFT, PeerColumn, close, column_problems

with warnings.catch_warnings():
    # evidently's UI imports litestar, which deprecates a helper evidently uses at import time
    warnings.simplefilter("ignore", DeprecationWarning)
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.calculations import stattests as peer_stattests
    from evidently.legacy.calculations.stattests import mmd_stattest
    from evidently.legacy.calculations.stattests.registry import StatTestInvalidFeatureTypeError
    from evidently.legacy.core import ColumnType as PeerColumnType
    from evidently.presets import DataDriftPreset

NUM = ColumnType.NUMERICAL
CAT = ColumnType.CATEGORICAL

NUM_METHODS = ["psi", "kl_div", "hellinger", "ed", "anderson", "cramer_von_mises", "mannw"]
NUM_METHODS += ["t_test", "es"]
ORDER_FREE_CAT_METHODS = ["psi", "kl_div", "hellinger"]
NEW_METHODS = {*NUM_METHODS, "empirical_mmd", "TVD", "fisher_exact", "g_test"}

PEER_TESTS = {
    test.name: test
    for test in (
        peer_stattests.anderson_darling_test,
        peer_stattests.chi_stat_test,
        peer_stattests.cramer_von_mises,
        peer_stattests.energy_dist_test,
        peer_stattests.epps_singleton_test,
        peer_stattests.fisher_exact_test,
        peer_stattests.g_test,
        peer_stattests.hellinger_stat_test,
        peer_stattests.jensenshannon_stat_test,
        peer_stattests.kl_div_stat_test,
        peer_stattests.ks_stat_test,
        peer_stattests.mann_whitney_u_stat_test,
        peer_stattests.empirical_mmd,
        peer_stattests.psi_stat_test,
        peer_stattests.t_test,
        peer_stattests.tvd_test,
        peer_stattests.wasserstein_stat_test,
        peer_stattests.z_stat_test,
    )
}
PEER_TYPES = {PeerColumnType.Numerical: NUM, PeerColumnType.Categorical: CAT}


@contextmanager
def peer_warnings() -> Iterator[None]:
    """numpy/scipy warnings raised inside evidently's own calculations (not ours to fix): division
    by zero for unseen categories (g_test, chisquare), scipy's K-S/t-test/Epps-Singleton remarks
    on ties and constant data, numpy's corrcoef on constant columns for evidently's widgets."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.fixture
def seeded_evidently_mmd(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """evidently's empirical_mmd draws its permutations from numpy's global generator without
    seeding it; seed it with 0 right before each of evidently's calls (ours uses
    RandomState(0)), and restore the global state afterwards."""
    original = mmd_stattest.mmd_pval

    def seeded(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        np.random.seed(0)
        p_value, mmd = original(x, y)
        return p_value, mmd

    state = np.random.get_state()
    monkeypatch.setattr(mmd_stattest, "mmd_pval", seeded)
    yield
    np.random.set_state(state)


# --------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Frames:
    reference: pd.DataFrame
    current: pd.DataFrame
    numerical: list[str]
    categorical: list[str]

    def sorted(self) -> Frames:
        """Each column sorted on its own (missing values last): the row order the permutation
        tests are defined on. Every per-column statistic sees the same values."""

        def by_column(frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame(
                {c: frame[c].sort_values(na_position="last", ignore_index=True) for c in frame}
            )

        return Frames(
            by_column(self.reference), by_column(self.current), self.numerical, self.categorical
        )


SYN_NUMERICAL = ["num_normal", "num_skewed", "num_few", "num_int"]
SYN_CATEGORICAL = ["cat_multi", "cat_int", "cat_binary"]


def synthetic(
    rng: np.random.Generator, n: int, drifted: bool, missing: bool = True
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "num_normal": rng.normal(0.4 if drifted else 0.0, 1.0, n),
            "num_skewed": rng.lognormal(0.0, 0.7, n),
            # 4 values: psi / kl_div on values instead of Sturges bins
            "num_few": rng.choice(
                [1.0, 2.0, 3.0, 4.0], n, p=[0.25] * 4 if drifted else [0.4, 0.3, 0.2, 0.1]
            ),
            "num_int": rng.integers(0, 500, n),  # int dtype
            "cat_multi": rng.choice(
                ["red", "green", "blue", "black", "white"],
                n,
                p=[0.2] * 5 if drifted else [0.35, 0.25, 0.2, 0.15, 0.05],
            ).astype(object),
            "cat_int": rng.choice([1, 2, 3], n, p=[0.2, 0.3, 0.5] if drifted else [0.5, 0.3, 0.2]),
            "cat_binary": rng.choice(["no", "yes"], n, p=[0.6, 0.4] if drifted else [0.7, 0.3]),
        }
    )
    if missing:
        frame.loc[rng.random(n) < 0.03, "num_normal"] = np.nan
        frame.loc[rng.random(n) < 0.01, "num_normal"] = np.inf
        frame.loc[rng.random(n) < 0.01, "num_normal"] = -np.inf
        frame.loc[rng.random(n) < 0.02, "num_skewed"] = np.inf
        frame.loc[rng.random(n) < 0.02, "cat_multi"] = None
    return frame


def synthetic_frames(drifted: bool, reference_rows: int = 800, current_rows: int = 400) -> Frames:
    rng = np.random.default_rng(2024 + drifted + reference_rows)
    reference = synthetic(rng, reference_rows, drifted=False)
    current = synthetic(rng, current_rows, drifted=drifted)
    if drifted:
        current.loc[current.index[:10], "cat_multi"] = "purple"  # unseen in the reference
    return Frames(reference, current, SYN_NUMERICAL, SYN_CATEGORICAL)


def equal_size_frames(drifted: bool, rows: int) -> Frames:
    """Reference and current of the same size without missing values (fisher_exact, g_test)."""
    rng = np.random.default_rng(77 + drifted + rows)
    reference = synthetic(rng, rows, drifted=False, missing=False)
    current = synthetic(rng, rows, drifted=drifted, missing=False)
    return Frames(reference, current, SYN_NUMERICAL, SYN_CATEGORICAL)


def diabetes_frames(drifted: bool, current_rows: int = 180) -> Frames:
    """scikit-learn's diabetes data (``tests/core/diabetes_data.py``). Drifted: older patients
    are over-represented in the current sample."""
    rng = np.random.default_rng(42)  # the missing cells, then the current sample
    frame = diabetes(rng)
    weights = frame["age"].to_numpy() ** 3 if drifted else np.ones(len(frame))
    current_index = rng.choice(len(frame), current_rows, replace=False, p=weights / weights.sum())
    is_current = np.zeros(len(frame), dtype=bool)
    is_current[current_index] = True
    return Frames(
        frame[~is_current].reset_index(drop=True),
        frame[is_current].reset_index(drop=True),
        DIABETES_NUMERICAL,
        DIABETES_CATEGORICAL,
    )


DATA_SETS = {
    "synthetic-no-drift": lambda: synthetic_frames(drifted=False),
    "synthetic-drift": lambda: synthetic_frames(drifted=True),
    "diabetes-older-patients": lambda: diabetes_frames(drifted=True),
    "synthetic-drift-ref1500": lambda: synthetic_frames(drifted=True, reference_rows=1500),
}
EQUAL_SIZE_DATA_SETS = {
    "synthetic-no-drift-500": lambda: equal_size_frames(drifted=False, rows=500),
    "synthetic-drift-500": lambda: equal_size_frames(drifted=True, rows=500),
    "diabetes-221-221": lambda: diabetes_frames(drifted=True, current_rows=221),
    "synthetic-drift-1200": lambda: equal_size_frames(drifted=True, rows=1200),
}


# ------------------------------------------------------------------------- running both sides


def run_evidently(frames: Frames, options: dict[str, Any]) -> dict[str, PeerColumn]:
    """evidently's DataDriftPreset with our drift options spelled as its keyword arguments."""
    kwargs: dict[str, Any] = {}
    for ours, theirs in (("numerical", "num_method"), ("categorical", "cat_method")):
        if ours in options:
            kwargs[theirs] = options[ours]["method"]
    if "columns" in options:
        kwargs["per_column_method"] = {c: o["method"] for c, o in options["columns"].items()}
    definition = DataDefinition(
        numerical_columns=frames.numerical, categorical_columns=frames.categorical
    )
    report = Report(
        [DataDriftPreset(columns=[*frames.numerical, *frames.categorical], **kwargs)],
        include_tests=True,
    )
    # evidently's ValueDrift drops +-inf itself; its DriftedColumnsCount needs them as NaN
    reference = frames.reference.replace([np.inf, -np.inf], np.nan)
    current = frames.current.replace([np.inf, -np.inf], np.nan)
    with peer_warnings():
        snapshot = report.run(
            Dataset.from_pandas(current, definition), Dataset.from_pandas(reference, definition)
        )
    decisions = {
        test.metric_config.params["column"]: test.status.value == "FAIL"
        for test in snapshot.tests_results
        if test.metric_config.params.get("type") == VALUE_DRIFT
    }
    by_display_name = {m.display_name: name for name, m in METHODS.items()}
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"] == VALUE_DRIFT:
            # an auto-chosen method is named by its display name, an explicit one by identifier
            method = by_display_name.get(config["method"], config["method"])
            columns[config["column"]] = PeerColumn(
                method,
                float(metric["value"]),
                float(config["threshold"]),
                decisions[config["column"]],
            )
    return columns


def assert_parity(
    frames: Frames, options: dict[str, Any]
) -> tuple[DriftReport, dict[str, PeerColumn]]:
    """Run both; every column must agree on method, threshold, score and decision."""
    peer = run_evidently(frames, options)
    ours = drift.compare(
        frames.reference,
        frames.current,
        numerical=frames.numerical,
        categorical=frames.categorical,
        drift=options,
    )
    assert set(peer) == {*frames.numerical, *frames.categorical}
    problems = column_problems(ours, peer)
    assert not problems, "parity with evidently broken:\n" + "\n".join(problems)
    return ours, peer


# ------------------------------------------------------------------------ report-level parity


@pytest.mark.parametrize("data", list(DATA_SETS))
@pytest.mark.parametrize("num_method", NUM_METHODS)
def test_order_free_methods_on_rows_as_they_come(data: str, num_method: str) -> None:
    """The numerical method on every numerical column, a binned categorical method (psi, kl_div,
    hellinger in turn) on every categorical column; rows in their original order."""
    frames = DATA_SETS[data]()
    cat_method = ORDER_FREE_CAT_METHODS[NUM_METHODS.index(num_method) % 3]
    options = {"numerical": {"method": num_method}, "categorical": {"method": cat_method}}
    _, peer = assert_parity(frames, options)
    assert {peer[c].method for c in frames.numerical} == {num_method}
    if data == "synthetic-drift":
        # not vacuous: the shifted normal column drifts under every method, the others not all
        assert peer["num_normal"].drifted
        assert not all(col.drifted for col in peer.values())


# per data set: the columns that get a permutation test (evidently runs each test three times
# per column in a DataDriftPreset, and empirical_mmd holds an (n + m)^2 kernel matrix)
PERMUTATION_COLUMNS = {
    "synthetic-no-drift": {"cat_multi": "TVD", "cat_int": "TVD", "num_skewed": "empirical_mmd"},
    "synthetic-drift": {"cat_multi": "TVD", "cat_int": "TVD", "num_few": "empirical_mmd"},
    "diabetes-older-patients": {
        "sex": "TVD",
        "obese": "TVD",
        "age_band": "TVD",
        "age": "empirical_mmd",
        "bmi": "empirical_mmd",
    },
    # empirical_mmd on 1500 + 400 rows: test_empirical_mmd_on_a_reference_of_1500_rows
    "synthetic-drift-ref1500": {"cat_multi": "TVD", "cat_binary": "TVD"},
}


@pytest.mark.usefixtures("seeded_evidently_mmd")
@pytest.mark.parametrize("data", list(DATA_SETS))
def test_permutation_methods_on_sorted_rows(data: str) -> None:
    """TVD and empirical_mmd on frames sorted column by column."""
    frames = DATA_SETS[data]().sorted()
    chosen = PERMUTATION_COLUMNS[data]
    _, peer = assert_parity(frames, {"columns": {c: {"method": m} for c, m in chosen.items()}})
    assert {c: peer[c].method for c in chosen} == chosen
    if data == "synthetic-drift":
        assert peer["num_few"].drifted
        assert peer["cat_multi"].drifted


def test_empirical_mmd_on_a_reference_of_1500_rows() -> None:
    frames = DATA_SETS["synthetic-drift-ref1500"]()
    ref = np.sort(frames.reference["num_skewed"].replace(np.inf, np.nan).dropna()).tolist()
    cur = np.sort(frames.current["num_skewed"].replace(np.inf, np.nan).dropna()).tolist()
    assert len(ref) > 1000
    ours = our_score("empirical_mmd", ref, cur, NUM)
    assert ours == peer_score("empirical_mmd", ref, cur, NUM)
    assert 0.0 < ours < 1.0  # not a trivial 0 or 1


@pytest.mark.parametrize("data", list(EQUAL_SIZE_DATA_SETS))
def test_fisher_exact_and_g_test_on_equal_sizes(data: str) -> None:
    """fisher_exact on the binary columns, g_test on the other categorical ones."""
    frames = EQUAL_SIZE_DATA_SETS[data]()
    binary = [c for c in frames.categorical if frames.reference[c].nunique() == 2]
    assert binary
    options = {
        "categorical": {"method": "g_test"},
        "columns": {c: {"method": "fisher_exact"} for c in binary},
    }
    assert_parity(frames, options)


def test_psi_and_kl_div_zero_filling_below_one_in_ten_thousand() -> None:
    """With more than 10,000 reference rows a share can be <= 0.0001, and evidently fills empty
    bins with the smallest share / 1e6 instead of 0.0001."""
    rng = np.random.default_rng(8)
    n = 12_000
    rare_once = [*rng.choice(["a", "b"], n - 1), "rare"]  # a share of 1 / 12,000 <= 0.0001
    reference = pd.DataFrame({"x": rng.standard_t(3, n), "c": rare_once})
    current = pd.DataFrame(
        {"x": rng.standard_t(3, 300) + 0.3, "c": rng.choice(["a", "b", "new"], 300)}
    )
    frames = Frames(reference, current, ["x"], ["c"])
    for method in ("psi", "kl_div"):
        options = {"numerical": {"method": method}, "categorical": {"method": method}}
        assert_parity(frames, options)


# ---------------------------------------------------------------------- function-level parity


def peer_score(name: str, ref: list[Any], cur: list[Any], column_type: ColumnType) -> float:
    test = PEER_TESTS[name]
    feature_type = PeerColumnType.Numerical if column_type is NUM else PeerColumnType.Categorical
    with peer_warnings():
        if name == "empirical_mmd":
            np.random.seed(0)
        result = test(pd.Series(ref), pd.Series(cur), feature_type, None)
    return float(result.drift_score)


def our_score(name: str, ref: list[Any], cur: list[Any], column_type: ColumnType) -> float:
    data = NumericData.from_raw if column_type is NUM else CategoricalData.from_raw
    return METHODS[name].score(data(ref), data(cur), column_type)


def small_numerical_cases() -> dict[str, tuple[list[float], list[float]]]:
    rng = np.random.default_rng(5)
    return {
        "12-vs-15": (rng.normal(size=12).tolist(), rng.normal(0.8, size=15).tolist()),
        "20-vs-20": (rng.normal(size=20).tolist(), rng.normal(0.3, 2.0, size=20).tolist()),
        "ties": (rng.integers(0, 4, 30).tolist(), rng.integers(0, 5, 25).tolist()),
        "sorted-50": (
            np.sort(rng.exponential(size=50)).tolist(),
            np.sort(rng.exponential(1.5, size=40)).tolist(),
        ),
    }


@pytest.mark.parametrize(
    ("name", "case"),
    # empirical_mmd depends on row order: compared on sorted rows only
    [
        *((n, c) for n in NUM_METHODS for c in small_numerical_cases()),
        ("empirical_mmd", "sorted-50"),
    ],
)
def test_numerical_functions_on_small_samples(name: str, case: str) -> None:
    """Small samples: CvM's exact p-value (evidently's float table), Mann-Whitney's exact
    distribution, Epps-Singleton's small-sample correction; ties; sorted rows."""
    ref, cur = small_numerical_cases()[case]
    assert close(our_score(name, ref, cur, NUM), peer_score(name, ref, cur, NUM))


def test_cramer_von_mises_where_evidentlys_exact_table_fails() -> None:
    """Small samples whose exact table evidently builds as unsigned integers: evidently's
    in-place addition fails under numpy 2; ours casts as scipy does and gives scipy's p-value."""
    from scipy import stats

    ref, cur = [0.1, 0.5, 0.9, 1.3, 2.0], [0.4, 1.1, 1.6, 2.2, 2.9, 3.5, 4.0]
    with pytest.raises(TypeError, match="Cannot cast ufunc 'add' output"):
        peer_score("cramer_von_mises", ref, cur, NUM)
    expected = stats.cramervonmises_2samp(ref, cur, method="exact").pvalue
    assert our_score("cramer_von_mises", ref, cur, NUM) == pytest.approx(expected, rel=1e-12)


def test_cramer_von_mises_exact_p_value_above_one_is_capped() -> None:
    """evidently's float32 table can give p = 1 + 2^-23 (constant column, 20 vs 19 values);
    ours is capped at 1. Never a drift either way."""
    ref, cur = [2.5] * 20, [2.5] * 19
    assert peer_score("cramer_von_mises", ref, cur, NUM) == 1 + 2**-23
    assert our_score("cramer_von_mises", ref, cur, NUM) == 1.0


@pytest.mark.parametrize("seed", range(8))
def test_tvd_ties_are_broken_as_in_evidently(seed: int) -> None:
    """Sorted rows with 3-6 string categories: splits often tie the observed distance, and only
    evidently's order of summation (Python set order) decides them the same way."""
    rng = np.random.default_rng(seed)
    categories = ["alpha", "beta", "gamma", "delta", "eps", "zeta"][: 3 + seed % 4]
    ref = sorted(rng.choice(categories, 60 + 7 * seed).tolist())
    cur = sorted(rng.choice(categories, 40 + 3 * seed).tolist())
    assert our_score("TVD", ref, cur, CAT) == peer_score("TVD", ref, cur, CAT)


@pytest.mark.parametrize("name", ["psi", "kl_div", "hellinger", "TVD", "g_test", "fisher_exact"])
def test_categorical_functions_on_numeric_codes(name: str) -> None:
    """Integer category codes (evidently keeps the ints; we keep canonical strings), equal
    sizes so that g_test and fisher_exact answer in evidently."""
    rng = np.random.default_rng(21)
    codes = [0, 1] if name == "fisher_exact" else [10, 2, 7, 33]
    ref = sorted(rng.choice(codes, 150).tolist())
    cur = sorted(rng.choice(codes, 150).tolist())
    assert close(our_score(name, ref, cur, CAT), peer_score(name, ref, cur, CAT))


@pytest.mark.parametrize(
    ("name", "ref", "cur", "peer"),
    [
        ("anderson", [1.0, 1.0, 1.0], [1.0, 1.0], "raises"),  # one distinct value
        ("anderson", [1.0], [2.0, 3.0], "nan"),  # three values
        ("cramer_von_mises", [1.0], [1.0, 2.0, 3.0], "raises"),  # fewer than two values
        ("es", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 5.0], "nan"),  # fewer than five values
        ("es", [1.0] * 8 + [2.0], [1.0] * 6, "raises"),  # IQR 0
        ("t_test", [1.0], [2.0], "nan"),  # no degrees of freedom
        ("t_test", [3.0, 3.0, 3.0], [3.0, 3.0], "nan"),  # no variance
        ("empirical_mmd", [1.0, 2.0, 3.0], [2.0], "raises"),  # one current value
    ],
)
def test_degenerate_samples_give_nan(
    name: str, ref: list[float], cur: list[float], peer: str
) -> None:
    """Where evidently returns NaN we do too; where it raises (failing the whole report) we
    give NaN, which never counts as drift."""
    if peer == "raises":
        with pytest.raises((ValueError, ZeroDivisionError)):
            peer_score(name, ref, cur, NUM)
    else:
        assert math.isnan(peer_score(name, ref, cur, NUM))
    assert math.isnan(our_score(name, ref, cur, NUM))


def test_fisher_exact_more_than_two_categories_is_nan() -> None:
    with pytest.raises(ValueError, match="unique categories > 2"):
        peer_score("fisher_exact", ["a", "b", "c"], ["a", "b", "b"], CAT)
    assert math.isnan(our_score("fisher_exact", ["a", "b", "c"], ["a", "b", "b"], CAT))


@pytest.mark.parametrize("name", ["fisher_exact", "g_test"])
def test_unequal_sizes_evidently_refuses_we_test(name: str) -> None:
    """evidently's fisher_exact and g_test raise unless both samples have the same size; ours
    answer (g_test with the reference counts scaled to the current size)."""
    from scipy import stats

    ref, cur = ["a"] * 70 + ["b"] * 30, ["a"] * 20 + ["b"] * 20
    with pytest.raises(ValueError, match=r"equal length|must agree"):
        peer_score(name, ref, cur, CAT)
    if name == "fisher_exact":
        expected = stats.fisher_exact([[20, 20], [30, 70]]).pvalue
    else:
        expected = stats.power_divergence([20, 20], [28.0, 12.0], lambda_="log-likelihood").pvalue
    assert our_score(name, ref, cur, CAT) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------- the method table


def test_table_holds_evidentlys_tabular_tests() -> None:
    assert set(METHODS) == set(PEER_TESTS)
    assert set(METHODS) >= NEW_METHODS


@pytest.mark.parametrize("name", sorted(NEW_METHODS))
def test_method_record_is_evidentlys(name: str) -> None:
    peer, ours = PEER_TESTS[name], METHODS[name]
    assert ours.display_name == peer.display_name
    assert ours.default_threshold == peer.default_threshold
    assert ours.column_types == {PEER_TYPES[t] for t in peer.allowed_feature_types}


DIRECTION_DATA: dict[str, tuple[list[Any], list[Any], ColumnType]] = {
    "num": (
        np.sort(np.random.default_rng(1).normal(size=60)).tolist(),
        np.sort(np.random.default_rng(2).normal(0.3, size=60)).tolist(),
        NUM,
    ),
    "cat": (sorted(["a"] * 30 + ["b"] * 30), sorted(["a"] * 40 + ["b"] * 20), CAT),
}


@pytest.mark.parametrize("name", sorted(NEW_METHODS))
def test_decision_at_the_threshold_edge_is_evidentlys(name: str) -> None:
    """With the threshold set to the score itself, and one ulp either side, evidently's test and
    ours decide the same: this pins '<' against '<=' and '>' against '>=' for every method."""
    ref, cur, column_type = DIRECTION_DATA["cat" if CAT in METHODS[name].column_types else "num"]
    score = our_score(name, ref, cur, column_type)
    test = PEER_TESTS[name]
    feature_type = PeerColumnType.Numerical if column_type is NUM else PeerColumnType.Categorical
    for threshold in (math.nextafter(score, -math.inf), score, math.nextafter(score, math.inf)):
        with peer_warnings():
            if name == "empirical_mmd":
                np.random.seed(0)
            peer = test(pd.Series(ref), pd.Series(cur), feature_type, threshold)
        assert float(peer.drift_score) == pytest.approx(score, rel=1e-9)
        assert METHODS[name].drifted(score, threshold) == bool(peer.drifted), threshold


@pytest.mark.parametrize(
    "name", sorted(n for n in NEW_METHODS if len(METHODS[n].column_types) == 1)
)
def test_method_on_a_column_type_it_does_not_apply_to_is_refused(name: str) -> None:
    """Both refuse a method configured for a column type evidently does not allow it for."""
    kind = CAT if NUM in METHODS[name].column_types else NUM
    frames = Frames(
        pd.DataFrame({"x": np.arange(20.0), "c": ["a", "b"] * 10}),
        pd.DataFrame({"x": np.arange(20.0) + 1, "c": ["a", "b"] * 10}),
        ["x"],
        ["c"],
    )
    key = "categorical" if kind is CAT else "numerical"
    options = {key: {"method": name}}
    with pytest.raises(ConfigError, match=f"{name} does not apply"):
        drift.compare(
            frames.reference,
            frames.current,
            numerical=frames.numerical,
            categorical=frames.categorical,
            drift=options,
        )
    with pytest.raises(StatTestInvalidFeatureTypeError, match="isn't applicable"):
        run_evidently(frames, options)
