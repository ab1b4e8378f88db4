"""CBPE building blocks (drift/core/estimation.py) against scikit-learn, and the estimator's
behaviour on data where the truth is known. Parity with NannyML itself:
tests/core/test_parity_nannyml.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

from drift.core.estimation import (
    CBPE_METRICS,
    Thresholds,
    chunk_bounds,
    expected_confusion,
    fit_cbpe,
    fit_isotonic,
    realized_confusion,
    roc_auc,
    std_thresholds,
    stratified_splits,
)

scores_and_targets = st.integers(min_value=4, max_value=300).flatmap(
    lambda n: st.tuples(
        st.lists(
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]) | st.floats(0, 1),
            min_size=n,
            max_size=n,
        ),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=40, deadline=None)
@given(scores_and_targets, st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=30))
def test_isotonic_calibration_is_scikit_learns(
    data: tuple[list[float], list[int]], new: list[float]
) -> None:
    scores, targets = np.array(data[0]), np.array(data[1], dtype=float)
    theirs = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(scores, targets)
    ours = fit_isotonic(scores, targets)
    points = np.concatenate([scores, np.array(new)])
    np.testing.assert_allclose(ours.calibrate(points), theirs.predict(points), rtol=0, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=30, max_size=200), st.integers(0, 99))
def test_stratified_splits_are_scikit_learns(labels: list[str], seed: int) -> None:
    y = np.array(labels)
    if min(np.unique(y, return_counts=True)[1]) < 2 or len(set(labels)) < 2:
        return  # scikit-learn refuses a class with one member
    theirs = StratifiedShuffleSplit(n_splits=5, test_size=0.1, random_state=seed).split(y, y)
    ours = stratified_splits(y, n_splits=5, seed=seed)
    for (train, test), (our_train, our_test) in zip(theirs, ours, strict=True):
        assert train.tolist() == our_train.tolist()
        assert test.tolist() == our_test.tolist()


@settings(max_examples=40, deadline=None)
@given(scores_and_targets)
def test_roc_auc_is_scikit_learns(data: tuple[list[float], list[int]]) -> None:
    scores, targets = np.array(data[0]), np.array(data[1])
    if len(set(data[1])) < 2:
        assert np.isnan(roc_auc(targets, scores))
        return
    assert roc_auc(targets, scores) == pytest.approx(roc_auc_score(targets, scores), abs=1e-12)


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=100))
def test_the_expected_confusion_matrix_accounts_for_every_row(
    rows: list[tuple[bool, float]],
) -> None:
    predicted = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    cm = expected_confusion(predicted, p)
    assert cm.tp + cm.fp + cm.fn + cm.tn == pytest.approx(len(rows))
    assert cm.tp + cm.fp == pytest.approx(predicted.sum())
    for metric in ("accuracy", "precision", "recall", "specificity", "f1"):
        assert 0.0 <= cm.metric(metric) <= 1.0 + 1e-12


def test_with_certain_scores_the_expected_confusion_is_the_counted_one() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 500).astype(bool)
    predicted = rng.integers(0, 2, 500).astype(bool)
    assert expected_confusion(predicted, truth.astype(float)) == realized_confusion(
        truth, predicted
    )


def test_chunks_keep_the_remainder_and_thresholds_respect_their_limits() -> None:
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert std_thresholds([0.5, 0.9, 0.1], limits=(0.0, 1.0)) == Thresholds(0.0, 1.0)
    dropped = std_thresholds([0.5, 0.9, 0.1], limits=(0.0, None), drop_at_limit=True)
    assert dropped.lower is None
    assert dropped.upper == pytest.approx(0.5 + 3 * np.std([0.5, 0.9, 0.1]))
    assert std_thresholds([np.nan, np.nan]) == Thresholds(None, None)


def calibrated_population(n: int, rng: np.random.Generator, a: float, b: float):  # type: ignore[no-untyped-def]
    """Scores that are true probabilities (``y ~ Bernoulli(score)``); a, b shape their spread."""
    scores = rng.beta(a, b, n)
    truth = (rng.random(n) < scores).astype(int)
    predicted = (scores >= 0.5).astype(int)
    return truth, predicted, scores


def test_the_estimate_tracks_realized_performance_under_covariate_shift() -> None:
    """No concept drift, only a shift of the score distribution: the realized metric of each
    window (its labels arriving later) lies within the estimate's ±3 sampling-error band."""
    rng = np.random.default_rng(20)
    truth, predicted, scores = calibrated_population(20_000, rng, 2.0, 2.0)
    model = fit_cbpe(truth, predicted, scores, chunk_size=2000)
    misses = 0
    checks = 0
    # moderate shifts: the band comes from the reference (NannyML's formulas), so it does not
    # widen when a window holds far fewer positive predictions than the reference did
    for a, b in [(2.0, 2.0), (0.7, 0.7), (4.0, 1.5), (1.5, 3.0)]:  # balanced to skewed
        for _ in range(5):
            t, p, s = calibrated_population(2000, rng, a, b)
            realized = {
                "accuracy": float(np.mean(t == p)),
                "roc_auc": roc_auc(t, s),
                **{
                    m: realized_confusion(t == 1, p == 1).metric(m)
                    for m in ("precision", "recall", "specificity", "f1")
                },
            }
            for estimate in model.estimate(p, s):
                checks += 1
                misses += not (estimate.lower <= realized[estimate.metric] <= estimate.upper)
    assert checks == 4 * 5 * len(CBPE_METRICS)
    assert misses <= 2  # a ±3 sigma band: about 0.3 % of checks fall outside by chance


def test_a_shift_that_lowers_performance_alerts() -> None:
    rng = np.random.default_rng(7)
    truth, predicted, scores = calibrated_population(20_000, rng, 0.5, 0.5)  # confident model
    model = fit_cbpe(truth, predicted, scores, chunk_size=2000)
    _, p, s = calibrated_population(2000, rng, 6.0, 6.0)  # scores pile up near 0.5
    accuracy = next(e for e in model.estimate(p, s) if e.metric == "accuracy")
    assert accuracy.thresholds.lower is not None
    assert accuracy.value < accuracy.thresholds.lower
    assert accuracy.alert


def test_a_miscalibrated_reference_is_calibrated_and_the_estimate_is_corrected() -> None:
    rng = np.random.default_rng(11)
    truth, predicted, probability = calibrated_population(20_000, rng, 2.0, 2.0)
    overconfident = np.clip(0.5 + 1.8 * (probability - 0.5), 0, 1)
    model = fit_cbpe(truth, predicted, overconfident, chunk_size=2000)
    assert model.calibrators[0] is not None
    t, p, s = calibrated_population(2000, rng, 2.0, 2.0)
    shown = np.clip(0.5 + 1.8 * (s - 0.5), 0, 1)
    accuracy = next(e for e in model.estimate(p, shown) if e.metric == "accuracy")
    assert accuracy.lower <= float(np.mean(t == p)) <= accuracy.upper
    uncalibrated = float(np.mean(np.where(p == 1, shown, 1 - shown)))
    assert uncalibrated > accuracy.upper  # the raw scores would have overstated accuracy


def test_multiclass_scores_are_renormalised_after_calibration() -> None:
    rng = np.random.default_rng(5)
    n = 6000
    logits = rng.normal(size=(n, 3)) * 2
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(["a", "b", "c"], p=row) for row in probabilities])
    predicted = np.array(["a", "b", "c"])[probabilities.argmax(axis=1)]
    model = fit_cbpe(truth, predicted, probabilities**2, chunk_size=1000)  # miscalibrated
    calibrated = model.calibrate(probabilities[:100] ** 2)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    estimates = {e.metric: e for e in model.estimate(predicted[:1000], probabilities[:1000] ** 2)}
    realized = float(np.mean(truth[:1000] == predicted[:1000]))
    assert estimates["accuracy"].lower <= realized <= estimates["accuracy"].upper


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="unknown CBPE metrics"):
        fit_cbpe([0, 1], [0, 1], np.array([0.1, 0.9]), chunk_size=1, metrics=["auc"])
    with pytest.raises(ValueError, match="one length"):
        fit_cbpe([0, 1, 1], [0, 1], np.array([0.1, 0.9]), chunk_size=1)
    with pytest.raises(ValueError, match="score columns"):
        fit_cbpe(["a", "b", "c"], ["a", "b", "c"], np.eye(3)[:, :2], chunk_size=1)


def test_the_band_is_the_references_and_does_not_widen_under_a_strong_shift() -> None:
    """NannyML's sampling error depends on the reference and the window size only. Where a
    window holds far fewer positive predictions than the reference (scores ~ Beta(1.2, 5)),
    the real spread of the precision estimate's error is several times that sampling error:
    the limit docs/estimation.md states."""
    rng = np.random.default_rng(20)
    truth, predicted, scores = calibrated_population(20_000, rng, 2.0, 2.0)
    model = fit_cbpe(truth, predicted, scores, chunk_size=2000)
    spread = {}
    errors = set()
    for a, b in [(2.0, 2.0), (1.2, 5.0)]:
        misses = []
        for _ in range(20):
            t, p, s = calibrated_population(2000, rng, a, b)
            precision = next(e for e in model.estimate(p, s) if e.metric == "precision")
            errors.add(precision.sampling_error)
            misses.append(realized_confusion(t == 1, p == 1).metric("precision") - precision.value)
        spread[(a, b)] = float(np.std(misses))
    (error,) = errors  # the same for every window of 2,000 rows, shifted or not
    assert error == pytest.approx(model.sampling_error("precision", 2000))
    assert spread[(2.0, 2.0)] < 1.2 * error  # like the reference: the band holds
    assert spread[(1.2, 5.0)] > 2.0 * error  # few positive predictions: it does not
