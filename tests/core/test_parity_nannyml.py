"""Parity with NannyML 0.13.1 (the ``dev`` extra) on NannyML's own synthetic data sets.

The same reference and the same analysis chunks go through NannyML's ``CBPE``, ``DLE`` and
``DataReconstructionDriftCalculator`` (``chunk_size=...``) and through ours, fed one chunk at a
time as the service feeds one window. Every number NannyML reports per chunk is compared:
estimate, sampling error, confidence band, both thresholds and the alert.

Tolerances (measured: the worst difference on these data sets is in the comment of each):

- CBPE (binary and multiclass): absolute 1e-12 on every value (measured <= 2.3e-16: the same
  formulas in the same order; isotonic regression is scipy's, as in scikit-learn 1.9);
- DLE: relative 1e-9 (measured 0: the same LightGBM model on the same design matrix);
- reconstruction error: relative 1e-9 (measured <= 1e-11: our PCA is numpy's SVD, NannyML's is
  scikit-learn's, which picks its own LAPACK route);
- domain classifier ROC AUC: absolute 1e-12 (measured 1e-16: the same LightGBM models on the
  same folds).

Where we differ on purpose: NannyML splits a frame into chunks after the fact; the sidecar scores
windows as they fill. The reference chunks that give the thresholds are the same (consecutive
``chunk_size`` rows, the remainder kept as a last chunk), so a window equal to a chunk gets
NannyML's numbers, which is what these tests feed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drift.core.estimation import CBPE_METRICS
from drift.core.multivariate import classify_domain
from tests.core.nannyml_peer import (
    BINARY,
    BINARY_FEATURES,
    CAR_PRICE_FEATURES,
    MULTICLASS,
    nannyml_dle,
    nannyml_domain_classifier,
    nannyml_reconstruction,
    nml,
    our_dle,
    our_reconstruction,
    split,
)

CBPE_ABS = 1e-12
DLE_REL = 1e-9
RECONSTRUCTION_REL = 1e-9
DOMAIN_ABS = 1e-12

#: our field -> NannyML's result column
FIELDS = {
    "value": "value",
    "sampling_error": "sampling_error",
    "upper": "upper_confidence_boundary",
    "lower": "lower_confidence_boundary",
}


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """NannyML and scikit-learn warn about their own internals (FutureWarning and such)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[start : start + size] for start in range(0, len(frame), size)]


def assert_estimates_match(
    ours: Any, row: pd.Series, metric: str, *, abs_tol: float = 0.0, rel_tol: float = 0.0
) -> None:
    for field, column in FIELDS.items():
        assert getattr(ours, field) == pytest.approx(
            row[(metric, column)], abs=abs_tol, rel=rel_tol
        ), (metric, field)
    for bound, theirs in (
        (ours.thresholds.upper, row[(metric, "upper_threshold")]),
        (ours.thresholds.lower, row[(metric, "lower_threshold")]),
    ):
        if theirs is None or pd.isna(theirs):
            assert bound is None, metric
        else:
            assert bound == pytest.approx(theirs, abs=abs_tol, rel=rel_tol), metric
    assert ours.alert == bool(row[(metric, "alert")]), metric


def test_cbpe_binary_matches_nannyml_per_chunk() -> None:
    reference, analysis, _ = BINARY.load()
    size = 5000
    theirs = BINARY.nannyml_cbpe(reference, size)
    table = theirs.estimate(analysis).filter(period="analysis").to_df()
    model = BINARY.our_cbpe(reference, size)
    # NannyML decides this reference needs calibration; so do we
    assert theirs.needs_calibration
    assert model.calibrators[0] is not None
    windows = chunks(analysis, size)
    assert len(windows) == len(table) == 10
    alerts = 0
    for window, (_, row) in zip(windows, table.iterrows(), strict=True):
        estimates = model.estimate(window["y_pred"].to_numpy(), window["y_pred_proba"].to_numpy())
        assert [e.metric for e in estimates] == list(CBPE_METRICS)
        for estimate in estimates:
            assert_estimates_match(estimate, row, estimate.metric, abs_tol=CBPE_ABS)
            alerts += estimate.alert
    assert alerts > 0  # the data set drifts in its second half: the comparison covers alerts


def test_cbpe_multiclass_matches_nannyml_per_chunk() -> None:
    reference, analysis, _ = MULTICLASS.load()
    size = 6000
    theirs = MULTICLASS.nannyml_cbpe(reference, size)
    table = theirs.estimate(analysis).filter(period="analysis").to_df()
    model = MULTICLASS.our_cbpe(reference, size)
    labels = sorted(MULTICLASS.scores)
    assert model.classes == tuple(labels)
    calibrated = {
        label: type(c).__name__ == "IsotonicCalibrator" for label, c in theirs._calibrators.items()
    }
    assert calibrated == {
        label: c is not None for label, c in zip(labels, model.calibrators, strict=True)
    }
    assert len(set(calibrated.values())) == 2  # one class calibrated, one not: both paths run
    windows = chunks(analysis, size)
    assert len(windows) == len(table)
    for window, (_, row) in zip(windows, table.iterrows(), strict=True):
        scores = window[MULTICLASS.score_columns].to_numpy()
        estimates = model.estimate(window["y_pred"].to_numpy(), scores)
        for estimate in estimates:
            assert_estimates_match(estimate, row, estimate.metric, abs_tol=CBPE_ABS)


def test_dle_matches_nannyml_per_chunk() -> None:
    reference, analysis, _ = nml.load_synthetic_car_price_dataset()
    size = 6000
    theirs = nannyml_dle(reference, size)
    table = theirs.estimate(analysis).filter(period="analysis").to_df()
    model = our_dle(reference, size)
    windows = chunks(analysis, size)
    assert len(windows) == len(table)
    alerts = 0
    for window, (_, row) in zip(windows, table.iterrows(), strict=True):
        for estimate in model.estimate(window):
            assert_estimates_match(estimate, row, estimate.metric, rel_tol=DLE_REL)
            alerts += estimate.alert
    assert alerts > 0


@pytest.mark.parametrize(
    ("loader", "features", "size"),
    [
        (BINARY.load, BINARY_FEATURES, 5000),
        (nml.load_synthetic_car_price_dataset, CAR_PRICE_FEATURES, 6000),
    ],
    ids=["binary", "car_price"],
)
def test_reconstruction_error_matches_nannyml_per_chunk(
    loader: Any, features: list[str], size: int
) -> None:
    reference, analysis, _ = loader()
    theirs = nannyml_reconstruction(reference, features, size)
    table = theirs.calculate(analysis).filter(period="analysis").to_df()
    model = our_reconstruction(reference, features, size)
    assert model.n_components == theirs._pca.n_components_
    assert model.thresholds.upper == pytest.approx(
        theirs.upper_threshold_value, rel=RECONSTRUCTION_REL
    )
    if theirs.lower_threshold_value is None:
        assert model.thresholds.lower is None
    else:
        assert model.thresholds.lower == pytest.approx(
            theirs.lower_threshold_value, rel=RECONSTRUCTION_REL
        )
    windows = chunks(analysis, size)
    assert len(windows) == len(table)
    verdicts = []
    for window, (_, row) in zip(windows, table.iterrows(), strict=True):
        ours = model.score(window)
        for field, column in FIELDS.items():
            assert getattr(ours, field) == pytest.approx(
                row[("reconstruction_error", column)], rel=RECONSTRUCTION_REL
            ), field
        verdicts.append(ours.alert)
    assert verdicts == table[("reconstruction_error", "alert")].astype(bool).tolist()
    assert any(verdicts)
    assert not all(verdicts)


def test_a_joint_shift_no_univariate_test_sees_is_flagged_as_nannyml_flags_it() -> None:
    """scikit-learn's diabetes data; the window holds the same rows with ``s2`` re-paired so that
    it runs against ``s1`` instead of with it (correlation +0.9 -> about -0.9). Every column
    keeps exactly its reference values, so no univariate test can flag it; the reconstruction
    error does, and NannyML agrees on the number."""
    from sklearn.datasets import load_diabetes

    import drift

    frame = load_diabetes(as_frame=True).frame.drop(columns="target")
    shifted = frame.copy()
    order = np.argsort(frame["s1"].to_numpy())
    shifted.loc[frame.index[order], "s2"] = np.sort(frame["s2"].to_numpy())[::-1]
    assert sorted(shifted["s2"]) == sorted(frame["s2"])
    assert frame["s1"].corr(frame["s2"]) > 0.85
    assert shifted["s1"].corr(shifted["s2"]) < -0.85

    report = drift.compare(
        frame, shifted, numerical=list(frame.columns), categorical=[], method="ks"
    )
    assert not report.dataset_drift
    assert not any(c.drifted for c in report.columns)

    size = 100
    model = our_reconstruction(frame, list(frame.columns), size)  # every column numerical
    assert model.categorical == ()
    theirs = nannyml_reconstruction(frame, list(frame.columns), size)
    table = theirs.calculate(shifted).filter(period="analysis").to_df()
    flagged = [model.score(window).alert for window in chunks(shifted, size)]
    assert flagged == table[("reconstruction_error", "alert")].astype(bool).tolist()
    assert all(flagged)
    whole = model.score(shifted)
    assert whole.alert
    assert whole.value > model.score(frame).upper


def test_domain_classifier_matches_nannyml_per_chunk() -> None:
    """NannyML's DomainClassifierCalculator on a 5,000-row reference and three chunks of 1,000:
    the start of the analysis period, a chunk straddling the change, and the drifted end."""
    reference, analysis, _ = BINARY.load()
    reference = reference.iloc[:5000]
    analysis = analysis.iloc[[*range(0, 1500), *range(40_000, 41_500)]].reset_index(drop=True)
    size = 1000
    theirs = nannyml_domain_classifier(reference, BINARY_FEATURES, size)
    table = theirs.calculate(analysis).filter(period="analysis").to_df()
    numerical, categorical = split(reference, BINARY_FEATURES)
    windows = chunks(analysis, size)
    assert len(windows) == len(table) == 3
    verdicts = []
    for window, (_, row) in zip(windows, table.iterrows(), strict=True):
        ours = classify_domain(reference, window, numerical=numerical, categorical=categorical)
        assert ours.value == pytest.approx(
            row[("domain_classifier_auroc", "value")], abs=DOMAIN_ABS
        )
        assert ours.thresholds.lower == row[("domain_classifier_auroc", "lower_threshold")]
        assert ours.thresholds.upper == row[("domain_classifier_auroc", "upper_threshold")]
        verdicts.append(ours.alert)
    assert verdicts == table[("domain_classifier_auroc", "alert")].astype(bool).tolist()
    assert verdicts == [False, False, True]
