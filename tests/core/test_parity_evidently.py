"""Parity with the peer: the same data through evidently 0.7's ``DataDriftPreset`` and through our
engine must give, for every column, the same method, the same score and the same decision, and
the same share of drifted columns.

Tolerance: scores agree to 1e-9 (absolute, or relative for large values such as a Wasserstein
distance normed by the 0.001 floor); thresholds exactly.

How the two are fed:

* evidently gets a pandas frame with +-inf replaced by NaN. evidently's ``ValueDrift`` does that
  itself, but its ``DriftedColumnsCount`` only cleans columns that contain NaN, so a column with
  inf and no NaN would be scored on different data there. Our engine gets the raw frame, inf
  included, through a ``CountWindow`` as in production.
* The features go to one ``DataDriftPreset(columns=features)``, whose ``DriftedColumnsCount`` is
  the dataset share we compare with; the prediction goes to a second preset with the same options,
  because our engine scores the prediction but leaves it out of the share.

evidently is imported here only (about 4 s); the module runs in well under a minute.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest

from drift.config import ColumnsConfig, DriftConfig, MethodChoice
from drift.core.engine import evaluate
from drift.core.reference import build_profile
from drift.core.report import DriftReport
from drift.core.stattests import METHODS
from drift.core.window import CountWindow
from tests.core.diabetes_data import DIABETES_CATEGORICAL, DIABETES_NUMERICAL, diabetes
from tests.core.evidently_peer import VALUE_DRIFT, PeerColumn, close, column_problems

with warnings.catch_warnings():
    # evidently imports its UI, which imports litestar; litestar >= 2.23 warns that its
    # `Dependency` helper (used by evidently at import time) is deprecated
    # (LitestarDeprecationWarning, a DeprecationWarning attributed to litestar, not evidently)
    warnings.simplefilter("ignore", DeprecationWarning)
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

# evidently names an auto-chosen method by its display name, an explicit one by its identifier
EVIDENTLY_DISPLAY_NAMES = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
}
DRIFTED_COLUMNS_COUNT = "evidently:metric_v2:DriftedColumnsCount"
SMALL_PATH = {"ks", "chisquare", "z"}  # reference <= 1000 rows
LARGE_PATH = {"wasserstein", "jensenshannon"}  # reference > 1000 rows
LARGE_REFERENCE_ROWS = 3000


@contextmanager
def known_third_party_warnings() -> Iterator[None]:
    """Warnings numpy and scipy raise inside evidently's calculations (not ours to fix):

    * ``RuntimeWarning: divide by zero encountered in divide`` from scipy's chisquare when the
      current window has a category the reference never had (expected count 0, p-value 0);
    * ``RuntimeWarning: ks_2samp: Exact calculation unsuccessful`` when scipy's exact K-S
      computation falls back to the asymptotic one;
    * ``RuntimeWarning: invalid value encountered in divide`` from numpy's ``corrcoef`` when
      evidently correlates a constant numerical column for its widgets.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "divide by zero encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
        yield


# --------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Case:
    reference: pd.DataFrame
    current: pd.DataFrame
    numerical: list[str]
    categorical: list[str]
    prediction: str
    prediction_type: Literal["numerical", "categorical"]

    @property
    def features(self) -> list[str]:
        return [*self.numerical, *self.categorical]


SYN_NUMERICAL = ["num_normal", "num_skewed", "num_uniform", "num_few", "num_int"]
SYN_CATEGORICAL = ["cat_binary", "cat_multi", "cat_int"]
# half of the eight features move in the drifted data set
SYN_DRIFTING = {"num_normal", "num_few", "cat_multi", "cat_int"}


def synthetic(rng: np.random.Generator, n: int, drift: set[str]) -> pd.DataFrame:
    def moved(name: str) -> bool:
        return name in drift

    frame = pd.DataFrame(
        {
            "num_normal": rng.normal(0.5 if moved("num_normal") else 0.0, 1.0, n),
            "num_skewed": rng.lognormal(0.3 if moved("num_skewed") else 0.0, 0.7, n),
            "num_uniform": rng.uniform(0.0, 10.0, n),
            # a numerical column with 4 values: chi-square / Jensen-Shannon on values
            "num_few": rng.choice(
                [1.0, 2.0, 3.0, 4.0],
                n,
                p=[0.25, 0.25, 0.25, 0.25] if moved("num_few") else [0.4, 0.3, 0.2, 0.1],
            ),
            "num_int": rng.integers(0, 500, n),  # int dtype, many values: numerical
            "cat_binary": rng.choice(["no", "yes"], n, p=[0.7, 0.3]),
            "cat_multi": rng.choice(
                ["red", "green", "blue", "black", "white"],
                n,
                p=[0.2] * 5 if moved("cat_multi") else [0.35, 0.25, 0.2, 0.15, 0.05],
            ).astype(object),
            "cat_int": rng.choice(
                [1, 2, 3], n, p=[0.2, 0.3, 0.5] if moved("cat_int") else [0.5, 0.3, 0.2]
            ),
        }
    )
    # missing values: NaN and +-inf in numerical columns, None in a string column
    frame.loc[rng.random(n) < 0.03, "num_normal"] = np.nan
    frame.loc[rng.random(n) < 0.01, "num_normal"] = np.inf
    frame.loc[rng.random(n) < 0.01, "num_normal"] = -np.inf
    frame.loc[rng.random(n) < 0.02, "num_skewed"] = np.inf  # inf but no NaN
    frame.loc[rng.random(n) < 0.02, "cat_multi"] = None
    # the prediction follows the first feature, so it drifts with it
    score = np.nan_to_num(frame["num_normal"].to_numpy(), nan=0.0, posinf=3.0, neginf=-3.0)
    frame["label"] = np.where(score > 0.8, "reject", np.where(score > -0.5, "approve", "review"))
    return frame


def bootstrap(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(rows, replace=True, random_state=seed).reset_index(drop=True)


def synthetic_case(drifted: bool, large: bool) -> Case:
    """800 reference rows, or those bootstrapped to LARGE_REFERENCE_ROWS; 400 current rows."""
    rng = np.random.default_rng(1234 if drifted else 5678)
    reference = synthetic(rng, 800, drift=set())
    if large:
        reference = bootstrap(reference, LARGE_REFERENCE_ROWS, seed=1)
    current = synthetic(rng, 400, drift=SYN_DRIFTING if drifted else set())
    if drifted:
        # a category and a value the reference never had
        current.loc[current.index[:12], "cat_multi"] = "purple"
        current.loc[current.index[12:20], "cat_binary"] = "maybe"
    return Case(reference, current, SYN_NUMERICAL, SYN_CATEGORICAL, "label", "categorical")


def diabetes_case(drifted: bool, large: bool) -> Case:
    """180 patients in the current window, the other 262 (or those bootstrapped to
    LARGE_REFERENCE_ROWS) in the reference."""
    frame = diabetes(np.random.default_rng(42))
    rng = np.random.default_rng(7)
    if drifted:
        # older patients are over-represented in the current window: a real covariate shift
        weights = frame["age"].to_numpy() ** 3
        cur_index = rng.choice(len(frame), 180, replace=False, p=weights / weights.sum())
    else:
        cur_index = rng.choice(len(frame), 180, replace=False)
    is_current = np.zeros(len(frame), dtype=bool)
    is_current[cur_index] = True
    reference = frame[~is_current].reset_index(drop=True)
    current = frame[is_current].reset_index(drop=True)
    if drifted:
        current.loc[current.index[:6], "age_band"] = "unknown"  # unseen in the reference
    if large:
        reference = bootstrap(reference, LARGE_REFERENCE_ROWS, seed=3)
    return Case(reference, current, DIABETES_NUMERICAL, DIABETES_CATEGORICAL, "target", "numerical")


# ------------------------------------------------------------------------- running both sides


@dataclass(frozen=True)
class PeerResult:
    columns: dict[str, PeerColumn]
    drifted_count: int
    drift_share: float
    dataset_drift: bool


def preset_options(options: DriftConfig) -> dict[str, Any]:
    """Our drift options spelled as ``DataDriftPreset`` keyword arguments."""
    kwargs: dict[str, Any] = {"drift_share": options.share_threshold}
    for ours, theirs in (
        (options.method, "method"),
        (options.threshold, "threshold"),
        (options.numerical.method, "num_method"),
        (options.numerical.threshold, "num_threshold"),
        (options.categorical.method, "cat_method"),
        (options.categorical.threshold, "cat_threshold"),
    ):
        if ours is not None:
            kwargs[theirs] = ours
    per_method = {n: c.method for n, c in options.columns.items() if c.method is not None}
    per_threshold = {n: c.threshold for n, c in options.columns.items() if c.threshold is not None}
    if per_method:
        kwargs["per_column_method"] = per_method
    if per_threshold:
        kwargs["per_column_threshold"] = per_threshold
    return kwargs


def run_evidently(case: Case, options: DriftConfig) -> PeerResult:
    numerical = [*case.numerical]
    categorical = [*case.categorical]
    (numerical if case.prediction_type == "numerical" else categorical).append(case.prediction)
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    kwargs = preset_options(options)
    report = Report(
        [
            DataDriftPreset(columns=case.features, **kwargs),
            DataDriftPreset(columns=[case.prediction], **kwargs),
        ],
        include_tests=True,
    )
    reference = case.reference.replace([np.inf, -np.inf], np.nan)
    current = case.current.replace([np.inf, -np.inf], np.nan)
    with known_third_party_warnings():
        snapshot = report.run(
            Dataset.from_pandas(current, definition), Dataset.from_pandas(reference, definition)
        )
    decisions: dict[str, bool] = {}
    dataset_drift: bool | None = None
    for test in snapshot.tests_results:
        params = test.metric_config.params
        if params.get("type") == VALUE_DRIFT:
            decisions[params["column"]] = test.status.value == "FAIL"
        elif params.get("type") == DRIFTED_COLUMNS_COUNT and params["columns"] == case.features:
            dataset_drift = test.status.value == "FAIL"
    columns: dict[str, PeerColumn] = {}
    count: dict[str, float] | None = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"] == VALUE_DRIFT:
            method = EVIDENTLY_DISPLAY_NAMES.get(config["method"], config["method"])
            columns[config["column"]] = PeerColumn(
                method=method,
                score=float(metric["value"]),
                threshold=float(config["threshold"]),
                drifted=decisions[config["column"]],
            )
        elif config["type"] == DRIFTED_COLUMNS_COUNT and config["columns"] == case.features:
            count = metric["value"]
    assert count is not None
    assert dataset_drift is not None
    return PeerResult(columns, int(count["count"]), float(count["share"]), dataset_drift)


def run_ours(case: Case, options: DriftConfig) -> DriftReport:
    profile = build_profile(
        case.reference,
        ColumnsConfig(
            numerical=case.numerical,
            categorical=case.categorical,
            prediction=case.prediction,
            prediction_type=case.prediction_type,
        ),
        source="parity",
    )
    n = len(case.current)
    window = CountWindow(profile.column_types, size=n)
    window.append({name: case.current[name].tolist() for name in profile.columns}, n)
    return evaluate("parity", profile, window.snapshot(), options, window_size=n, now=0.0)


def compare(case: Case, options: DriftConfig) -> tuple[DriftReport, PeerResult]:
    """Run both and assert parity for every column and for the dataset; return both results."""
    peer = run_evidently(case, options)
    ours = run_ours(case, options)
    assert set(peer.columns) == {*case.features, case.prediction}
    problems = column_problems(ours, peer.columns)
    if ours.drifted_columns != peer.drifted_count:
        problems.append(f"drifted columns {ours.drifted_columns} != evidently {peer.drifted_count}")
    if not close(ours.drift_share, peer.drift_share):
        problems.append(f"drift share {ours.drift_share} != evidently {peer.drift_share}")
    if ours.dataset_drift != peer.dataset_drift:
        problems.append(f"dataset drift {ours.dataset_drift} != evidently {peer.dataset_drift}")
    assert not problems, "parity with evidently broken:\n" + "\n".join(problems)
    assert ours.evaluated_columns == len(case.features)
    return ours, peer


def methods_used(report: DriftReport) -> set[str]:
    assert report.prediction is not None
    return {c.method for c in (*report.columns, report.prediction)}


# -------------------------------------------------------------------------------- the cases

SIZES = pytest.mark.parametrize(
    ("large", "path"),
    [(False, SMALL_PATH), (True, LARGE_PATH)],
    ids=["small-ref-ks-chisquare-z", "ref3000-wasserstein-jensenshannon"],
)


@SIZES
def test_synthetic_without_drift(large: bool, path: set[str]) -> None:
    case = synthetic_case(drifted=False, large=large)
    ours, _ = compare(case, DriftConfig())
    assert methods_used(ours) == path
    assert not ours.dataset_drift


@SIZES
def test_synthetic_with_drift_in_half_the_columns(large: bool, path: set[str]) -> None:
    case = synthetic_case(drifted=True, large=large)
    ours, peer = compare(case, DriftConfig())
    assert methods_used(ours) <= path
    # the case is not vacuous: some columns drift, some do not
    drifted = {name for name, col in peer.columns.items() if col.drifted}
    assert drifted & SYN_DRIFTING
    assert set(case.features) - drifted
    # the unseen "maybe" turns the binary column into a three-valued one
    if not large:
        assert ours.column("cat_binary").method == "chisquare"


@SIZES
def test_diabetes_random_split(large: bool, path: set[str]) -> None:
    case = diabetes_case(drifted=False, large=large)
    ours, _ = compare(case, DriftConfig())
    assert methods_used(ours) == path


@SIZES
def test_diabetes_older_patients(large: bool, path: set[str]) -> None:
    case = diabetes_case(drifted=True, large=large)
    ours, peer = compare(case, DriftConfig())
    assert methods_used(ours) <= path
    assert peer.columns["age"].drifted
    assert ours.column("age_band").drifted  # the unseen band, and the shift itself


EXPLICIT = [
    pytest.param(
        False,
        DriftConfig(
            share_threshold=0.3,
            numerical=MethodChoice(method="wasserstein", threshold=0.05),
            categorical=MethodChoice(method="jensenshannon", threshold=0.08),
            columns={
                "num_few": MethodChoice(method="jensenshannon"),  # per-type threshold
                "num_int": MethodChoice(method="ks", threshold=0.2),
                "cat_binary": MethodChoice(method="z"),
                "cat_int": MethodChoice(threshold=0.2),  # per-type method, own threshold
                "label": MethodChoice(method="chisquare", threshold=0.01),
            },
        ),
        id="small-ref-per-type-and-per-column",
    ),
    pytest.param(
        False,
        DriftConfig(
            method="jensenshannon",
            threshold=0.05,
            numerical=MethodChoice(threshold=0.12),
            columns={"num_normal": MethodChoice(method="ks"), "cat_multi": MethodChoice()},
        ),
        id="small-ref-global-method-with-overrides",
    ),
    pytest.param(
        True,
        DriftConfig(
            share_threshold=0.6,
            threshold=0.01,
            numerical=MethodChoice(method="ks"),
            categorical=MethodChoice(method="chisquare"),
            columns={"cat_binary": MethodChoice(method="z", threshold=0.1)},
        ),
        id="ref3000-p-value-tests-on-a-large-reference",
    ),
]


@pytest.mark.parametrize(("large", "options"), EXPLICIT)
@pytest.mark.parametrize("drifted", [False, True], ids=["no-drift", "drift"])
def test_explicit_methods_and_thresholds(large: bool, options: DriftConfig, drifted: bool) -> None:
    case = synthetic_case(drifted=drifted, large=large)
    _, peer = compare(case, options)
    # the options were really applied: evidently reports an explicit method by identifier
    for name, choice in options.columns.items():
        if choice.method is not None:
            assert peer.columns[name].method == choice.method
    assert any(col.threshold not in (0.05, 0.1) for col in peer.columns.values())


def test_scores_exactly_at_the_threshold() -> None:
    """The equality edge decided the same way: ks drifts at p == threshold, chisquare and z do
    not, distances drift at score == threshold. Identical samples give p == 1.0 exactly; a
    constant reference (std floored to 0.001) against a constant current 0.001 away gives a
    normed Wasserstein distance of exactly 1.0."""
    n = 300
    rng = np.random.default_rng(11)
    same_num = rng.normal(size=n)
    same_cat = rng.choice(["a", "b", "c"], n)
    same_bin = rng.choice(["a", "b"], n)
    reference = pd.DataFrame(
        {"num": same_num, "const": 0.0, "cat": same_cat, "bin": same_bin, "pred": same_num}
    )
    current = reference.assign(const=0.001)
    case = Case(reference, current, ["num", "const"], ["cat", "bin"], "pred", "numerical")
    options = DriftConfig(
        threshold=1.0,
        columns={
            "num": MethodChoice(method="ks"),
            "const": MethodChoice(method="wasserstein"),
            "cat": MethodChoice(method="chisquare"),
            "bin": MethodChoice(method="z"),
        },
    )
    ours, _ = compare(case, options)
    assert {c.column: (c.score, c.drifted) for c in ours.columns} == {
        "num": (1.0, True),
        "const": (1.0, True),
        "cat": (1.0, False),
        "bin": (1.0, False),
    }


def test_z_first_category_of_numeric_looking_strings() -> None:
    """z compares the share of the first category in sorted order. evidently sorts the raw
    values, so string codes "10" < "2" < "9" (lexicographic); with more than two categories
    (explicit z) the choice changes the p-value.

    Guards ``stattests.base.sort_keys``: sorting the canonical strings numerically whenever they
    all parse as numbers would take "2" as the first category where evidently takes "10"
    (0.0156 against evidently's 0.00113 on this data).
    """
    rng = np.random.default_rng(3)
    n = 300
    codes = ["10", "9", "2"]
    reference = pd.DataFrame(
        {"x": rng.normal(size=n), "code": rng.choice(codes, n, p=[0.3, 0.3, 0.4])}
    )
    current = pd.DataFrame(
        {"x": rng.normal(size=n), "code": rng.choice(codes, n, p=[0.45, 0.3, 0.25])}
    )
    reference["pred"] = reference["x"]
    current["pred"] = current["x"]
    case = Case(reference, current, ["x"], ["code"], "pred", "numerical")
    compare(case, DriftConfig(columns={"code": MethodChoice(method="z")}))


def test_method_column_types_are_evidentlys() -> None:
    """A method configured explicitly must be accepted for the column types evidently accepts it
    for, and refused otherwise, so a config that evidently refuses fails our start-up check.

    Fails today: ``METHODS`` lets chisquare and z apply to numerical columns, evidently allows
    them for categorical columns only (``StatTestInvalidFeatureTypeError: Stattest chisquare
    isn't applicable to feature of type num``). evidently only picks them for a numerical column
    by default (3-5 / <= 2 values), a path that does not check the type.
    """
    from evidently.legacy.calculations.stattests import (
        chi_stat_test,
        jensenshannon_stat_test,
        ks_stat_test,
        wasserstein_stat_test,
        z_stat_test,
    )

    types = {"num": "numerical", "cat": "categorical"}
    peer = {
        test.name: {types[t.value] for t in test.allowed_feature_types}
        for test in (
            ks_stat_test,
            chi_stat_test,
            z_stat_test,
            wasserstein_stat_test,
            jensenshannon_stat_test,
        )
    }
    # the default choices; tests/core/test_parity_methods.py checks every other method of the table
    ours = {
        name: {str(t) for t in method.column_types}
        for name, method in METHODS.items()
        if name in peer
    }
    assert ours == peer


def test_display_names_match_our_table() -> None:
    defaults = set(
        EVIDENTLY_DISPLAY_NAMES.values()
    )  # the others: tests/core/test_parity_methods.py
    ours = {m.display_name: m.name for m in METHODS.values() if m.name in defaults}
    assert ours == EVIDENTLY_DISPLAY_NAMES
