"""Confidence-based performance estimation (CBPE): a classifier's performance before its labels.

NannyML 0.13's method, computed the way NannyML computes it (tests/core/test_parity_nannyml.py):

- **Calibration.** Scores are recalibrated with isotonic regression fitted on the labelled
  reference when the reference shows miscalibration: NannyML's ``needs_calibration`` (10
  stratified 90/10 splits, seed 42, expected calibration error over 10 equal-count bins before
  and after calibration; no calibration when ROC AUC > 0.999 or one class only). Multiclass:
  one calibrator per class, rows renormalised to sum to 1.
- **Expected confusion matrix.** A calibrated score ``p`` of a row predicted positive counts
  ``p`` true positive and ``1 - p`` false positive; of a row predicted negative, ``p`` false
  negative and ``1 - p`` true negative. Accuracy, precision, recall, F1 and specificity are the
  usual ratios of those sums (multiclass: the macro mean of one-vs-rest values; accuracy: mean
  calibrated probability of the predicted class); ROC AUC is the area under the curve traced by
  cumulative calibrated scores in the order of the uncalibrated ones.
- **Sampling error** of each metric from reference components and the window size only
  (NannyML's ``sampling_error`` formulas); the band is the estimate ± 3 sampling errors, clipped
  to [0, 1].
- **Thresholds** from the *realized* metric on reference chunks of the window size: mean ± 3
  standard deviations (population), clipped to [0, 1].

Assumption (stated in docs/estimation.md): no concept drift, i.e. ``P(y | scores)`` is the same
in production as in the reference; covariate shift alone is what CBPE follows.

Pure: numpy and pandas; scipy's ``isotonic_regression`` imported on first fit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: the metrics CBPE estimates, in report order
CBPE_METRICS: tuple[str, ...] = ("roc_auc", "f1", "precision", "recall", "specificity", "accuracy")
#: NannyML's SAMPLING_ERROR_RANGE: the band is the estimate ± this many sampling errors
SAMPLING_ERROR_RANGE = 3.0
#: NannyML's StandardDeviationThreshold default
STD_MULTIPLIER = 3.0


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where an estimate alerts: below ``lower`` or above ``upper`` (``None``: no bound)."""

    lower: float | None
    upper: float | None

    def breached(self, value: float) -> bool:
        return (self.lower is not None and value < self.lower) or (
            self.upper is not None and value > self.upper
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimated metric of one window, with its sampling-error band and thresholds."""

    metric: str
    value: float
    sampling_error: float
    lower: float
    upper: float
    thresholds: Thresholds
    alert: bool


def std_thresholds(
    values: Sequence[float] | FloatArray,
    multiplier: float = STD_MULTIPLIER,
    *,
    limits: tuple[float | None, float | None] = (None, None),
    drop_at_limit: bool = False,
) -> Thresholds:
    """NannyML's ``StandardDeviationThreshold`` + ``calculate_threshold_values``: mean ± k std
    (NaN-aware, population std) of reference-chunk values. A bound beyond its limit becomes the
    limit (or ``None`` with ``drop_at_limit``, as for the reconstruction error)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0 or bool(np.all(np.isnan(data))):
        return Thresholds(None, None)
    centre, spread = float(np.nanmean(data)), float(np.nanstd(data))
    lower: float | None = centre - multiplier * spread
    upper: float | None = centre + multiplier * spread
    low_limit, high_limit = limits
    if low_limit is not None and lower is not None and lower <= low_limit:
        lower = None if drop_at_limit else low_limit
    if high_limit is not None and upper is not None and upper >= high_limit:
        upper = None if drop_at_limit else high_limit
    return Thresholds(lower, upper)


def chunk_bounds(n_rows: int, chunk_size: int) -> list[tuple[int, int]]:
    """NannyML's ``SizeBasedChunker(chunk_size, incomplete="keep")``: consecutive chunks of
    ``chunk_size`` rows, the remainder (if any) as a last, smaller chunk."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    return [(start, min(start + chunk_size, n_rows)) for start in range(0, n_rows, chunk_size)]


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True, slots=True)
class IsotonicCalibrator:
    """A fitted isotonic map: scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``,
    linear interpolation between the fitted points, constant outside them."""

    x: FloatArray
    y: FloatArray

    def calibrate(self, scores: FloatArray) -> FloatArray:
        values = np.clip(np.asarray(scores, dtype=np.float64), self.x[0], self.x[-1])
        return np.interp(values, self.x, self.y)


def fit_isotonic(scores: FloatArray, targets: FloatArray) -> IsotonicCalibrator:
    """The isotonic regression of ``targets`` on ``scores`` (scikit-learn's algorithm: rows
    sorted, equal scores merged into their mean target weighted by count, pool adjacent
    violators)."""
    from scipy.optimize import isotonic_regression

    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    unique_x, start, counts = np.unique(x, return_index=True, return_counts=True)
    sums = np.add.reduceat(y, start)
    weights = counts.astype(np.float64)
    if np.any(np.diff(unique_x) < _X_RESOLUTION):
        unique_x, sums, weights = _merge_close(unique_x, sums, weights)
    fitted = np.asarray(isotonic_regression(sums / weights, weights=weights).x)
    return IsotonicCalibrator(unique_x, fitted)


#: scikit-learn's ``_make_unique`` treats scores closer than this as one value
_X_RESOLUTION = float(np.finfo(np.float64).resolution)


def _merge_close(
    xs: FloatArray, sums: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Merge each score with the following ones within ``_X_RESOLUTION`` of the first of the
    group (the rare path: denormal or near-equal scores)."""
    out_x: list[float] = []
    out_sum: list[float] = []
    out_weight: list[float] = []
    for value, total, weight in zip(xs.tolist(), sums.tolist(), weights.tolist(), strict=True):
        if out_x and value - out_x[-1] < _X_RESOLUTION:
            out_sum[-1] += total
            out_weight[-1] += weight
        else:
            out_x.append(value)
            out_sum.append(total)
            out_weight.append(weight)
    return np.array(out_x), np.array(out_sum), np.array(out_weight)


def _approximate_mode(counts: IntArray, draws: int, rng: np.random.RandomState) -> IntArray:
    """scikit-learn's ``_approximate_mode`` (same random draws for the same state)."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (indices,) = np.where(remainder == value)
            add_now = min(len(indices), need)
            floored[rng.choice(indices, size=add_now, replace=False)] += 1
            need -= add_now
            if need == 0:
                break
    result: IntArray = floored.astype(np.int64)
    return result


def stratified_splits(
    labels: npt.ArrayLike, n_splits: int = 10, test_size: float = 0.1, seed: int = 42
) -> list[tuple[IntArray, IntArray]]:
    """scikit-learn's ``StratifiedShuffleSplit(n_splits, test_size, random_state=seed)``:
    the same (train, test) index pairs, drawn with numpy's legacy ``RandomState``."""
    y = np.asarray(labels)
    _, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    n_test = math.ceil(test_size * len(y))
    n_train = len(y) - n_test
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    splits: list[tuple[IntArray, IntArray]] = []
    for _ in range(n_splits):
        n_i = _approximate_mode(class_counts, n_train, rng)
        t_i = _approximate_mode(class_counts - n_i, n_test, rng)
        train: list[int] = []
        test: list[int] = []
        for i, count in enumerate(class_counts):
            permuted = class_indices[i].take(rng.permutation(count), mode="clip")
            train.extend(permuted[: n_i[i]])
            test.extend(permuted[n_i[i] : n_i[i] + t_i[i]])
        splits.append((rng.permutation(train), rng.permutation(test)))
    return splits


def expected_calibration_error(targets: FloatArray, scores: FloatArray, bin_count: int) -> float:
    """NannyML's ECE: rows sorted by score, ``bin_count`` equal-count bins (the last takes the
    remainder), the count-weighted mean |mean score - mean target|."""
    n = len(scores)
    if n <= 2 * bin_count:
        bin_count = n // 2
        if bin_count < 2:
            raise ValueError(f"cannot split {n} scores into at least 2 bins")
    width = n // bin_count
    edges = np.asarray(range(0, n + 1, width))
    edges[-1] = n
    order = np.asarray(scores).argsort()
    p, t = np.asarray(scores)[order], np.asarray(targets)[order]
    terms = [
        (right - left) / n * abs(np.mean(p[left:right]) - np.mean(t[left:right]))
        for left, right in itertools.pairwise(edges)
    ]
    return float(np.sum(terms))


def needs_calibration(
    targets: FloatArray, scores: FloatArray, *, bin_count: int = 10, split_count: int = 10
) -> bool:
    """NannyML's ``needs_calibration``: whether isotonic calibration lowers the expected
    calibration error on held-out tenths of the reference."""
    y = np.asarray(targets, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    if np.isnan(y).any() or np.isnan(p).any():
        raise ValueError("reference targets and scores must not contain NaN")
    if len(np.unique(y)) == 1 or roc_auc(y, p) > 0.999:
        return False
    tests, raw, calibrated = [], [], []
    for train, test in stratified_splits(y, split_count):
        calibrator = fit_isotonic(p[train], y[train])
        tests.append(y[test])
        raw.append(p[test])
        calibrated.append(calibrator.calibrate(p[test]))
    truth = np.concatenate(tests)
    before = expected_calibration_error(truth, np.concatenate(raw), bin_count)
    after = expected_calibration_error(truth, np.concatenate(calibrated), bin_count)
    return before > after


# ----------------------------------------------------------------------------- metrics


def roc_auc(targets: FloatArray, scores: FloatArray) -> float:
    """Realized ROC AUC (ties count one half): scikit-learn's ``roc_auc_score``, via ranks."""
    import pandas as pd

    y = np.asarray(targets, dtype=np.float64)
    positives = float(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = pd.Series(np.asarray(scores, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def estimate_roc_auc(calibrated: FloatArray, raw: FloatArray) -> float:
    """NannyML's ``estimate_roc_auc``: cumulative calibrated scores as expected true positives,
    in descending order of the raw scores; trapezoidal area."""
    order = np.argsort(np.asarray(raw))[::-1]
    p = np.asarray(calibrated, dtype=np.float64)[order]
    with np.errstate(divide="ignore", invalid="ignore"):
        cumulative = np.cumsum(p)
        false_cumulative = 1 + np.arange(len(p)) - cumulative
        tps = np.round(np.concatenate(([0.0], cumulative)), 5)
        fps = np.round(np.concatenate(([0.0], false_cumulative)), 5)
        tpr, fpr = tps / tps[-1], fps / fps[-1]
        return float(np.trapezoid(tpr, fpr))


@dataclass(frozen=True, slots=True)
class ExpectedConfusion:
    """The expected confusion matrix of a window (binary, or one class against the rest)."""

    tp: float
    fp: float
    fn: float
    tn: float

    def metric(self, name: str) -> float:
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn
        if name == "accuracy":
            return (tp + tn) / (tp + fp + fn + tn)
        numerator, denominator = {
            "precision": (tp, tp + fp),
            "recall": (tp, tp + fn),
            "specificity": (tn, tn + fp),
            "f1": (tp, tp + 0.5 * (fp + fn)),
        }[name]
        return numerator / denominator if denominator != 0 else 0.0


def expected_confusion(
    predicted_positive: npt.ArrayLike, calibrated: FloatArray
) -> ExpectedConfusion:
    """Sum of calibrated probabilities over the cells each row may fall in."""
    positive = np.asarray(predicted_positive, dtype=bool)
    p = np.asarray(calibrated, dtype=np.float64)
    return ExpectedConfusion(
        tp=float(p[positive].sum()),
        fp=float((1 - p[positive]).sum()),
        fn=float(p[~positive].sum()),
        tn=float((1 - p[~positive]).sum()),
    )


def realized_confusion(
    actual_positive: npt.ArrayLike, predicted_positive: npt.ArrayLike
) -> ExpectedConfusion:
    """The counted confusion matrix (for realized metrics on reference chunks)."""
    y = np.asarray(actual_positive, dtype=bool)
    p = np.asarray(predicted_positive, dtype=bool)
    return ExpectedConfusion(
        tp=float(np.sum(y & p)),
        fp=float(np.sum(~y & p)),
        fn=float(np.sum(y & ~p)),
        tn=float(np.sum(~y & ~p)),
    )


# ----------------------------------------------------------------------------- sampling error
#
# Each metric's sampling error is a function of components measured once on the reference and
# of the window size n. Binary: (std, fraction) -> std / sqrt(n * fraction). Multiclass: one
# (variance, fraction) per class -> sqrt(sum(var / (n * fraction))) / classes (ROC AUC: x 1.2,
# as NannyML). Accuracy: (std, 1) in both cases.

Component = tuple[float, float]


def _auroc_component(targets: FloatArray, scores: FloatArray, *, variance: bool) -> Component:
    y = np.asarray(targets).astype(np.int64)
    p = np.asarray(scores, dtype=np.float64)
    if np.mean(y) > 0.5:
        y, p = np.abs(y - 1), 1 - p
    order = np.argsort(p)
    y = y[order]
    indexes = np.unique(y * np.arange(len(y)))[1:]
    n_pos = float(np.sum(y))
    n_neg = len(y) - n_pos
    ser = (indexes - np.arange(len(indexes))) / n_neg
    spread = float(np.var(ser)) if variance else float(np.std(ser))
    return spread, n_pos / len(y)


def _cells(actual: npt.NDArray[Any], predicted: npt.NDArray[Any]) -> tuple[int, int, int, int]:
    hit = actual == predicted
    return (
        int(np.sum(hit & (predicted == 1))),
        int(np.sum(~hit & (predicted == 1))),
        int(np.sum(~hit & (predicted == 0))),
        int(np.sum(hit & (predicted == 0))),
    )


def _spread(ones: int, zeros: int, variance: bool) -> float:
    values = np.concatenate([np.ones(ones), np.zeros(zeros)])
    if values.size == 0:
        return math.nan
    return float(np.var(values)) if variance else float(np.std(values))


def _label_component(
    metric: str, actual: npt.NDArray[Any], predicted: npt.NDArray[Any], *, variance: bool
) -> Component:
    """NannyML's binary / per-class components of precision, recall, specificity and F1."""
    n = len(predicted)
    tp, fp, fn, tn = _cells(actual, predicted)
    if metric == "precision":
        return _spread(tp, fp, variance), float(np.sum(predicted)) / n
    if metric == "recall":
        return _spread(tp, fn, variance), float(np.sum(actual)) / n
    if metric == "specificity":
        return _spread(tn, fp, variance), (tn + fp) / n
    # f1: observations that are TP (1), FN or FP (0); binary rescales by the F1 denominator
    relevant = tp + fn + fp
    if relevant == 0:
        return math.nan, 0.0
    if variance:
        return _spread(tp, fn + fp, True), relevant / n
    factor = relevant / ((fn + fp) * 0.5 + tp)
    return _spread(tp, fn + fp, False) * factor, relevant / n


# ----------------------------------------------------------------------------- realized metrics


def _realized_binary(
    metric: str, targets: FloatArray, predicted: FloatArray, raw: FloatArray
) -> float:
    """NannyML's realized binary metric of a reference chunk (NaN where NannyML gives NaN)."""
    if metric == "roc_auc":
        return roc_auc(targets, raw)
    if metric == "accuracy":
        return float(np.mean(targets == predicted))
    confusion = realized_confusion(targets == 1, predicted == 1)
    if metric == "specificity":
        denominator = confusion.tn + confusion.fp
        return confusion.tn / denominator if denominator else math.nan
    if len(np.unique(targets)) <= 1 or len(np.unique(predicted)) <= 1:
        return math.nan
    return confusion.metric(metric)


def _realized_multiclass(
    metric: str,
    classes: Sequence[Any],
    targets: npt.NDArray[Any],
    predicted: npt.NDArray[Any],
    raw: FloatArray,
) -> float:
    if metric == "roc_auc":
        if set(np.unique(targets).tolist()) != set(classes):
            return math.nan
        return float(np.mean([roc_auc(targets == c, raw[:, i]) for i, c in enumerate(classes)]))
    if len(np.unique(targets)) <= 1 or len(np.unique(predicted)) <= 1:
        return math.nan
    if metric == "accuracy":
        return float(np.mean(targets == predicted))
    values = []
    for c in classes:
        cm = realized_confusion(targets == c, predicted == c)
        if metric == "specificity":
            denominator = cm.tn + cm.fp
            values.append(cm.tn / denominator if denominator else math.nan)
        elif metric == "f1":
            denominator = 2 * cm.tp + cm.fp + cm.fn
            values.append(2 * cm.tp / denominator if denominator else 0.0)
        else:
            values.append(cm.metric(metric))
    return float(np.mean(values))


# ----------------------------------------------------------------------------- the estimator


@dataclass(frozen=True, slots=True)
class CBPEModel:
    """CBPE fitted on a labelled reference; read-only, cheap to evaluate per window.

    Binary: ``classes`` is ``(negative, positive)``, scores are the positive class's
    probability and predictions are compared with the positive label. Multiclass: ``classes``
    sorted, scores one column per class in that order.
    """

    classes: tuple[Any, ...]
    multiclass: bool
    calibrators: tuple[IsotonicCalibrator | None, ...]
    metrics: tuple[str, ...]
    components: Mapping[str, tuple[Component, ...]]
    thresholds: Mapping[str, Thresholds]
    chunk_size: int

    def calibrate(self, scores: FloatArray) -> FloatArray:
        raw = np.asarray(scores, dtype=np.float64)
        if not self.multiclass:
            calibrator = self.calibrators[0]
            return calibrator.calibrate(raw) if calibrator is not None else raw
        columns = [
            c.calibrate(raw[:, i]) if c is not None else raw[:, i]
            for i, c in enumerate(self.calibrators)
        ]
        calibrated = np.column_stack(columns)
        total = calibrated.sum(axis=1)[:, np.newaxis]
        uniform = np.full_like(calibrated, 1 / len(self.classes))
        normalised: FloatArray = np.divide(calibrated, total, out=uniform, where=total != 0)
        return normalised

    def sampling_error(self, metric: str, n: int) -> float:
        parts = self.components[metric]
        if metric == "accuracy":
            return parts[0][0] / math.sqrt(n)
        if not self.multiclass:
            spread, fraction = parts[0]
            return spread / math.sqrt(n * fraction) if fraction else math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            total = sum(var / (n * fraction) for var, fraction in parts)
        value = math.sqrt(total) / len(parts)
        return value * 1.2 if metric == "roc_auc" else value

    def point_estimates(self, predicted: npt.ArrayLike, scores: FloatArray) -> dict[str, float]:
        """The estimated metrics of one window (no band), keyed by metric name."""
        raw = np.asarray(scores, dtype=np.float64)
        calibrated = self.calibrate(raw)
        labels = np.asarray(predicted)
        if not self.multiclass:
            positive = labels == self.classes[1]
            confusion = expected_confusion(positive, calibrated)
            return {
                m: estimate_roc_auc(calibrated, raw) if m == "roc_auc" else confusion.metric(m)
                for m in self.metrics
            }
        hits = np.column_stack([labels == c for c in self.classes])
        out: dict[str, float] = {}
        for m in self.metrics:
            if m == "accuracy":
                out[m] = float(np.mean(np.max(hits * calibrated, axis=1)))
            elif m == "roc_auc":
                out[m] = float(
                    np.mean(
                        [
                            estimate_roc_auc(calibrated[:, i], raw[:, i])
                            for i in range(len(self.classes))
                        ]
                    )
                )
            else:
                out[m] = float(
                    np.mean(
                        [
                            expected_confusion(hits[:, i], calibrated[:, i]).metric(m)
                            for i in range(len(self.classes))
                        ]
                    )
                )
        return out

    def estimate(self, predicted: npt.ArrayLike, scores: FloatArray) -> tuple[Estimate, ...]:
        """Each metric of one window with its band, thresholds and alert."""
        n = len(np.asarray(predicted))
        values = self.point_estimates(predicted, scores)
        return tuple(
            _with_band(m, values[m], self.sampling_error(m, n), self.thresholds[m], (0.0, 1.0))
            for m in self.metrics
        )


def _with_band(
    metric: str,
    value: float,
    error: float,
    thresholds: Thresholds,
    limits: tuple[float | None, float | None],
) -> Estimate:
    low_limit, high_limit = limits
    upper = value + SAMPLING_ERROR_RANGE * error
    lower = value - SAMPLING_ERROR_RANGE * error
    if high_limit is not None:
        upper = min(high_limit, upper)
    if low_limit is not None:
        lower = max(low_limit, lower)
    return Estimate(metric, value, error, lower, upper, thresholds, thresholds.breached(value))


def fit_cbpe(
    targets: npt.ArrayLike,
    predicted: npt.ArrayLike,
    scores: FloatArray,
    *,
    chunk_size: int,
    classes: Sequence[Any] | None = None,
    metrics: Sequence[str] = CBPE_METRICS,
    std_multiplier: float = STD_MULTIPLIER,
) -> CBPEModel:
    """Fit CBPE on a labelled reference.

    ``scores`` of shape (n,) make a binary model: ``classes`` is ``(negative, positive)``
    (default ``(0, 1)``). Shape (n, k) makes a multiclass model: ``classes`` are the k labels in
    column order (default: the sorted labels of ``targets``). ``chunk_size`` is the size of the
    reference chunks the thresholds come from (the window size in the service); thresholds are
    mean ± ``std_multiplier`` std of the realized metric on them.
    """
    unknown = [m for m in metrics if m not in CBPE_METRICS]
    if unknown:
        raise ValueError(f"unknown CBPE metrics {unknown}; known: {list(CBPE_METRICS)}")
    y = np.asarray(targets)
    pred = np.asarray(predicted)
    raw = np.asarray(scores, dtype=np.float64)
    if not (len(y) == len(pred) == len(raw)) or len(y) == 0:
        raise ValueError("targets, predictions and scores must be non-empty and of one length")
    bounds = chunk_bounds(len(y), chunk_size)
    if raw.ndim == 1:
        negative, positive = tuple(classes) if classes is not None else (0, 1)
        y01 = (y == positive).astype(np.int64)
        p01 = (pred == positive).astype(np.int64)
        calibrator = fit_isotonic(raw, y01) if needs_calibration(y01, raw) else None
        components: dict[str, tuple[Component, ...]] = {}
        for m in metrics:
            if m == "roc_auc":
                components[m] = (_auroc_component(y01, raw, variance=False),)
            elif m == "accuracy":
                components[m] = ((float(np.std(y01 == p01)), 1.0),)
            else:
                components[m] = (_label_component(m, y01, p01, variance=False),)
        thresholds = {
            m: std_thresholds(
                [_realized_binary(m, y01[a:b], p01[a:b], raw[a:b]) for a, b in bounds],
                std_multiplier,
                limits=(0.0, 1.0),
            )
            for m in metrics
        }
        return CBPEModel(
            (negative, positive),
            False,
            (calibrator,),
            tuple(metrics),
            components,
            thresholds,
            chunk_size,
        )
    labels = tuple(classes) if classes is not None else tuple(sorted(np.unique(y).tolist()))
    if raw.shape[1] != len(labels):
        raise ValueError(f"{raw.shape[1]} score columns for {len(labels)} classes")
    truth = np.column_stack([(y == c).astype(np.int64) for c in labels])
    hits = np.column_stack([(pred == c).astype(np.int64) for c in labels])
    calibrators = tuple(
        fit_isotonic(raw[:, i], truth[:, i]) if needs_calibration(truth[:, i], raw[:, i]) else None
        for i in range(len(labels))
    )
    components = {}
    for m in metrics:
        if m == "roc_auc":
            components[m] = tuple(
                _auroc_component(truth[:, i], raw[:, i], variance=True) for i in range(len(labels))
            )
        elif m == "accuracy":
            components[m] = ((float(np.std((truth == hits).all(axis=1))), 1.0),)
        else:
            components[m] = tuple(
                _label_component(m, truth[:, i], hits[:, i], variance=True)
                for i in range(len(labels))
            )
    thresholds = {
        m: std_thresholds(
            [_realized_multiclass(m, labels, y[a:b], pred[a:b], raw[a:b]) for a, b in bounds],
            std_multiplier,
            limits=(0.0, 1.0),
        )
        for m in metrics
    }
    return CBPEModel(labels, True, calibrators, tuple(metrics), components, thresholds, chunk_size)
