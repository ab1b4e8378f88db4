"""drift.core.engine: which method and threshold each column gets, insufficient data, the dataset
decision, and the config problems only visible once the reference is known."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drift.config import ColumnsConfig, DriftConfig, MethodChoice
from drift.core.columns import NumericData
from drift.core.engine import adjusted_p_values, check_options, choose_method, evaluate
from drift.core.reference import ReferenceProfile, build_profile
from drift.core.report import ColumnStatus, DriftReport
from drift.core.stattests import default_method
from drift.core.window import CountWindow

ROWS = 400


def reference_frame(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(0.0, 1.0, rows),
            "b": rng.normal(5.0, 2.0, rows),
            "c": rng.choice(["x", "y", "z"], rows),
            "d": rng.choice(["p", "q"], rows),
            "pred": rng.random(rows),
        }
    )


def make_profile(frame: pd.DataFrame | None = None) -> ReferenceProfile:
    return build_profile(
        reference_frame() if frame is None else frame,
        ColumnsConfig(
            numerical=["a", "b"],
            categorical=["c", "d"],
            prediction="pred",
            prediction_type="numerical",
        ),
        source="test",
    )


def run(
    profile: ReferenceProfile, current: pd.DataFrame | dict[str, list[Any]], options: DriftConfig
) -> DriftReport:
    columns = {k: list(v) for k, v in dict(current).items()}
    n = len(next(iter(columns.values())))
    window = CountWindow(profile.column_types, size=max(n, 1))
    window.append(columns, n)
    return evaluate("m", profile, window.snapshot(), options, window_size=window.size, now=0.0)


# ------------------------------------------------------------------------------ choose_method


def current_for(profile: ReferenceProfile, name: str) -> Any:
    return profile.columns[name].data  # identical data is enough to resolve the method


def resolved(profile: ReferenceProfile, options: DriftConfig) -> dict[str, tuple[str, float]]:
    out = {}
    for name, col in profile.columns.items():
        method, threshold = choose_method(col, current_for(profile, name), options)
        out[name] = (method.name, threshold)
    return out


def test_defaults_are_evidentlys_choice_and_the_methods_threshold() -> None:
    profile = make_profile()
    got = resolved(profile, DriftConfig())
    for name, col in profile.columns.items():
        expected = default_method(col.data, col.data, col.column_type)
        assert got[name] == (expected.name, expected.default_threshold)
    assert got["a"] == ("ks", 0.05)
    assert got["c"] == ("chisquare", 0.05)
    assert got["d"] == ("z", 0.05)


def test_method_precedence_per_column_over_per_type_over_global() -> None:
    options = DriftConfig(
        method="jensenshannon",
        threshold=0.3,
        numerical=MethodChoice(method="wasserstein", threshold=0.2),
        categorical=MethodChoice(method="chisquare"),
        columns={
            "a": MethodChoice(method="ks", threshold=0.01),
            "d": MethodChoice(threshold=0.07),
            "pred": MethodChoice(method="jensenshannon"),
        },
    )
    got = resolved(make_profile(), options)
    assert got["a"] == ("ks", 0.01)  # per column method and threshold
    assert got["b"] == ("wasserstein", 0.2)  # per type method and threshold
    assert got["c"] == ("chisquare", 0.3)  # per type method, global threshold
    assert got["d"] == ("chisquare", 0.07)  # per type method, per column threshold
    assert got["pred"] == ("jensenshannon", 0.2)  # per column method, per type threshold


def test_global_method_applies_where_nothing_more_specific_is_set() -> None:
    options = DriftConfig(method="jensenshannon", numerical=MethodChoice(threshold=0.25))
    got = resolved(make_profile(), options)
    assert got["a"] == ("jensenshannon", 0.25)
    assert got["c"] == ("jensenshannon", 0.1)  # the method's default threshold


def test_threshold_falls_back_to_the_chosen_methods_default() -> None:
    options = DriftConfig(
        numerical=MethodChoice(method="wasserstein"),
        columns={"c": MethodChoice(method="jensenshannon")},
    )
    got = resolved(make_profile(), options)
    assert got["a"] == ("wasserstein", 0.1)
    assert got["c"] == ("jensenshannon", 0.1)
    assert got["d"] == ("z", 0.05)  # untouched: default method and its default threshold


def test_threshold_alone_keeps_the_default_method() -> None:
    options = DriftConfig(threshold=0.2, categorical=MethodChoice(threshold=0.01))
    got = resolved(make_profile(), options)
    assert got["a"] == ("ks", 0.2)
    assert got["c"] == ("chisquare", 0.01)


# ------------------------------------------------------------------------- insufficient data


def same_as_reference(rows: int = 100) -> dict[str, list[Any]]:
    frame = reference_frame(rows, seed=99)
    return {name: frame[name].tolist() for name in frame.columns}


def test_all_missing_window_column_is_insufficient_data() -> None:
    profile = make_profile()
    current = same_as_reference()
    current["a"] = [math.nan] * 50 + [math.inf] * 50
    current["c"] = [None] * 100
    report = run(profile, current, DriftConfig())
    for name in ("a", "c"):
        col = report.column(name)
        assert col.status is ColumnStatus.INSUFFICIENT_DATA
        assert col.drifted is False
        assert col.score is None
        assert col.current_count == 0
        assert col.current_missing_share == 1.0
    assert report.column("b").status is ColumnStatus.OK
    assert report.evaluated_columns == 2  # b and d; a and c are not in the denominator
    assert report.drift_share == report.drifted_columns / 2


def test_insufficient_columns_leave_the_share_denominator() -> None:
    profile = make_profile()
    current = same_as_reference()
    current["a"] = [math.nan] * 100
    current["b"] = [v + 100.0 for v in current["b"]]  # b drifts
    report = run(profile, current, DriftConfig(share_threshold=0.3))
    assert report.column("b").drifted
    assert report.evaluated_columns == 3
    assert report.drifted_columns == 1
    assert report.drift_share == pytest.approx(1 / 3)
    assert report.dataset_drift  # 1/3 >= 0.3; it would be 1/4 < 0.3 with `a` counted


def test_empty_window_is_all_insufficient_without_error() -> None:
    profile = make_profile()
    window = CountWindow(profile.column_types, size=10)
    report = evaluate("m", profile, window.snapshot(), DriftConfig(), window_size=10, now=0.0)
    assert all(c.status is ColumnStatus.INSUFFICIENT_DATA for c in report.columns)
    assert report.prediction is not None
    assert report.prediction.status is ColumnStatus.INSUFFICIENT_DATA
    assert report.evaluated_columns == 0
    assert report.drift_share == 0.0
    assert report.dataset_drift is False
    assert report.window_samples == 0


def test_reference_column_without_values_is_insufficient_data() -> None:
    frame = reference_frame()
    frame["a"] = np.nan
    report = run(make_profile(frame), same_as_reference(), DriftConfig())
    assert report.column("a").status is ColumnStatus.INSUFFICIENT_DATA
    assert report.column("a").reference_missing_share == 1.0
    assert report.evaluated_columns == 3


def test_insufficient_column_reports_the_configured_method_and_threshold() -> None:
    """An insufficient-data column shows the method and threshold that would apply, resolved like
    ``choose_method`` (per column > per type > global), so the JSON and the metrics do not show
    a threshold that nobody configured.

    Fails today: ``column_drift``'s insufficient-data branch skips the per-type choice
    (``options.numerical`` / ``options.categorical``) and reports method "" and threshold 0.0.
    """
    profile = make_profile()
    current = same_as_reference()
    current["a"] = [math.nan] * 100
    options = DriftConfig(numerical=MethodChoice(method="wasserstein", threshold=0.2))
    col = run(profile, current, options).column("a")
    assert col.status is ColumnStatus.INSUFFICIENT_DATA
    assert (col.method, col.threshold) == ("wasserstein", 0.2)


# --------------------------------------------------------------------------- dataset decision


def shifted(names: set[str]) -> dict[str, list[Any]]:
    """The reference's own rows, with the listed columns moved far away (certain drift)."""
    frame = reference_frame()
    if "c" in names:
        frame.loc[: ROWS // 2, "c"] = "x"
    if "d" in names:
        frame.loc[: ROWS * 9 // 10, "d"] = "p"
    for name in {"a", "b", "pred"} & names:
        frame[name] = frame[name] + 50.0
    return {name: frame[name].tolist() for name in frame.columns}


@pytest.mark.parametrize(
    ("drifting", "share_threshold", "dataset_drift"),
    [
        (set(), 0.5, False),
        ({"a"}, 0.5, False),
        ({"a", "c"}, 0.5, True),  # 2/4 == 0.5: the threshold is included
        ({"a", "c"}, 0.51, False),
        ({"a", "b", "c", "d"}, 1.0, True),
        ({"a"}, 0.25, True),
    ],
)
def test_dataset_drift_when_share_reaches_threshold(
    drifting: set[str], share_threshold: float, dataset_drift: bool
) -> None:
    report = run(make_profile(), shifted(drifting), DriftConfig(share_threshold=share_threshold))
    assert {c.column for c in report.columns if c.drifted} == drifting
    assert report.evaluated_columns == 4
    assert report.drift_share == len(drifting) / 4
    assert report.dataset_drift is dataset_drift


def test_prediction_is_evaluated_but_not_counted_in_the_share() -> None:
    report = run(make_profile(), shifted({"pred"}), DriftConfig(share_threshold=0.25))
    assert report.prediction is not None
    assert report.prediction.column == "pred"
    assert report.prediction.drifted
    assert [c.column for c in report.columns] == ["a", "b", "c", "d"]
    assert report.drifted_columns == 0
    assert report.dataset_drift is False


def test_identical_window_drifts_nowhere() -> None:
    profile = make_profile()
    frame = reference_frame()
    report = run(profile, {n: frame[n].tolist() for n in frame.columns}, DriftConfig())
    assert not any(c.drifted for c in report.columns)
    assert report.prediction is not None
    assert not report.prediction.drifted
    assert report.samples_seen == ROWS
    assert report.reference_rows == ROWS


def test_evaluate_leaves_the_profile_alone() -> None:
    profile = make_profile()
    before = {n: (c.data.n, c.data.n_missing) for n, c in profile.columns.items()}
    a_values = profile.columns["a"].data
    assert isinstance(a_values, NumericData)
    copy = a_values.values.copy()
    first = run(profile, shifted({"a"}), DriftConfig())
    second = run(profile, shifted({"a"}), DriftConfig())
    assert {n: (c.data.n, c.data.n_missing) for n, c in profile.columns.items()} == before
    assert np.array_equal(a_values.values, copy)
    assert [c.score for c in first.columns] == [c.score for c in second.columns]


def test_undefined_score_still_gives_a_json_report() -> None:
    """chisquare on a column with one category in both samples has zero degrees of freedom: the
    score is NaN (as in scipy and evidently) and the column is not drifted. The report must still
    serialize as strict JSON (FastAPI/starlette's JSONResponse uses ``allow_nan=False``).

    Fails today: ``ColumnDrift.to_dict`` passes the NaN score through, so ``GET
    /v1/models/{model}/drift`` would fail with "Out of range float values are not JSON compliant".
    """
    frame = reference_frame()
    frame["c"] = "x"
    current = same_as_reference()
    current["c"] = ["x"] * 100
    options = DriftConfig(columns={"c": MethodChoice(method="chisquare")})
    report = run(make_profile(frame), current, options)
    col = report.column("c")
    assert col.method == "chisquare"
    assert col.drifted is False
    json.dumps(report.to_dict(), allow_nan=False)


# ------------------------------------------------------------------------------ check_options


def test_valid_options_have_no_problems() -> None:
    options = DriftConfig(
        method="jensenshannon",
        numerical=MethodChoice(method="ks"),
        categorical=MethodChoice(method="chisquare"),
        columns={"a": MethodChoice(method="wasserstein"), "c": MethodChoice(threshold=0.1)},
    )
    assert check_options("m", make_profile(), options) == []


def test_check_options_names_unknown_columns() -> None:
    options = DriftConfig(columns={"nope": MethodChoice(method="ks"), "a": MethodChoice()})
    assert check_options("m", make_profile(), options) == [
        ("models.m.drift.columns.nope", "not a monitored column of the reference")
    ]


def test_check_options_names_methods_that_do_not_apply() -> None:
    options = DriftConfig(
        method="wasserstein",
        categorical=MethodChoice(method="ks"),
        columns={"c": MethodChoice(method="wasserstein"), "a": MethodChoice(method="z")},
    )
    problems = check_options("m", make_profile(), options)
    assert sorted(problems) == sorted(
        [
            (
                "models.m.drift.columns.c.method",
                "wasserstein does not apply to categorical columns",
            ),
            ("models.m.drift.categorical.method", "ks does not apply to categorical columns"),
            ("models.m.drift.method", "wasserstein does not apply to categorical columns"),
            # as in evidently, z and chisquare can only be configured for categorical columns
            ("models.m.drift.columns.a.method", "z does not apply to numerical columns"),
        ]
    )


def test_method_that_does_not_apply_is_an_error_not_a_wrong_number() -> None:
    # check_options catches this at start-up; evaluate refuses rather than computing nonsense
    options = DriftConfig(columns={"c": MethodChoice(method="ks")})
    with pytest.raises(ValueError, match="ks does not apply to categorical column 'c'"):
        run(make_profile(), same_as_reference(), options)


# ------------------------------------------------------------------ multiple-testing correction


@pytest.mark.parametrize(
    ("ours", "theirs"), [("bonferroni", "bonferroni"), ("benjamini_hochberg", "fdr_bh")]
)
def test_adjusted_p_values_match_statsmodels(ours: str, theirs: str) -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(size=20), rng.uniform(0, 0.01, size=5), [0.0, 1.0, 0.02, 0.02]])
    expected = multipletests(p, method=theirs)[1]
    np.testing.assert_allclose(adjusted_p_values(p, ours), expected, rtol=1e-12, atol=0)


def test_correction_changes_decisions_of_p_value_tests_only() -> None:
    rng = np.random.default_rng(11)
    n = 600
    reference = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(10)})
    current = pd.DataFrame({f"x{i}": rng.normal(size=300) for i in range(10)})
    current["x0"] = rng.normal(0.22, 1, 300)  # mild drift: raw p just below 0.05
    roles = ColumnsConfig(numerical=list(reference.columns))
    profile = build_profile(reference, roles, "ref")
    window = CountWindow(profile.column_types, 300)
    window.append({c: current[c].tolist() for c in current.columns}, 300)
    snap = window.snapshot()
    plain = evaluate("m", profile, snap, DriftConfig(), 300)
    bonf = evaluate("m", profile, snap, DriftConfig(correction="bonferroni"), 300)
    bh = evaluate("m", profile, snap, DriftConfig(correction="benjamini_hochberg"), 300)
    for col_plain, col_bonf in zip(plain.columns, bonf.columns, strict=True):
        assert col_plain.score == col_bonf.score  # raw scores are kept
        assert col_plain.adjusted_score is None
        assert col_bonf.adjusted_score == pytest.approx(min(1.0, 10 * col_plain.score))
        assert col_bonf.drifted == (col_bonf.adjusted_score <= 0.05)
    assert sum(c.drifted for c in bonf.columns) <= sum(c.drifted for c in bh.columns)
    assert sum(c.drifted for c in bh.columns) <= sum(c.drifted for c in plain.columns)
    # distances are not corrected
    dist = evaluate(
        "m", profile, snap, DriftConfig(method="wasserstein", correction="bonferroni"), 300
    )
    assert all(c.adjusted_score is None for c in dist.columns)


def test_empirical_mmd_is_refused_when_its_matrix_would_be_huge() -> None:
    profile = make_profile()
    options = DriftConfig(numerical=MethodChoice(method="empirical_mmd"))
    assert check_options("m", profile, options, window_size=100) == []
    problems = dict(check_options("m", profile, options, window_size=10_000))
    assert any(
        field.startswith("models.m.drift.columns.") and "empirical_mmd needs" in reason
        for field, reason in problems.items()
    )
