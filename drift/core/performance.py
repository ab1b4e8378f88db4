"""Model performance from labelled predictions, with the numbers scikit-learn gives.

Pure functions of (ground truth, prediction[, scores]) arrays; numpy only. Each metric equals its
scikit-learn 1.9 counterpart on the same pairs (tested to 1e-12 relative):

- ``accuracy`` = ``accuracy_score``; ``precision``, ``recall``, ``f1`` = ``*_score(average=
  "binary", pos_label=positive, zero_division=0)``; for more than two classes, the same
  one-vs-rest numbers for the positive class (``labels=[positive], average="macro"``).
- ``precision_macro``, ``recall_macro``, ``f1_macro`` = ``average="macro", zero_division=0``
  over the labels present in ground truth or predictions.
- ``roc_auc`` = ``roc_auc_score`` on the positive-class column for two score classes, else
  ``multi_class="ovr", average="macro"`` over the score classes; ``log_loss`` = ``log_loss(...,
  labels=scores.classes)`` (probabilities clipped to [eps, 1 - eps], rows not renormalised).
- ``mae``, ``rmse`` (sqrt of MSE), ``mape`` (a fraction, ``|y - p| / max(|y|, eps)``), ``r2``
  (``force_finite``: 1.0 for a perfect fit, 0.0 for an imperfect fit of a constant target).

A metric that is undefined for the data (ROC AUC with one class in the ground truth, log loss for
a label that has no score column, R2 of fewer than two pairs, anything on zero pairs) is left
out of ``Performance.metrics`` rather than reported as NaN. Where scikit-learn raises on input
it considers invalid (multiclass score rows not summing to 1) we compute the metric anyway.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import compress

import numpy as np
import numpy.typing as npt

from drift.core.columns import FloatArray, canonical_category

BoolArray = npt.NDArray[np.bool_]
_EPS = float(np.finfo(np.float64).eps)
#: integer-valued numeric targets with at most this many distinct values are class labels
MAX_INFERRED_CLASSES = 20


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


METRICS: dict[Task, tuple[str, ...]] = {
    Task.CLASSIFICATION: (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc",
        "log_loss",
    ),
    Task.REGRESSION: ("mae", "rmse", "mape", "r2"),
}

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "precision_macro": True,
    "recall_macro": True,
    "f1_macro": True,
    "roc_auc": True,
    "log_loss": False,
    "mae": False,
    "rmse": False,
    "mape": False,
    "r2": True,
}


@dataclass(frozen=True, eq=False)
class Scores:
    """Predicted probabilities: ``matrix[i, j]`` is sample i's probability of ``classes[j]``.

    Classes are canonical category strings (at least two, distinct, any order); every value is in
    [0, 1] (so finite). The matrix is copied and made read-only.
    """

    classes: tuple[str, ...]
    matrix: FloatArray

    def __post_init__(self) -> None:
        matrix = np.array(self.matrix, dtype=np.float64)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"scores need at least two distinct classes, got {self.classes}")
        if matrix.ndim != 2 or matrix.shape[1] != len(self.classes):
            raise ValueError(f"scores matrix must be n x {len(self.classes)}, got {matrix.shape}")
        if not bool(np.all((matrix >= 0.0) & (matrix <= 1.0))):
            raise ValueError("scores must be probabilities in [0, 1]")
        matrix.setflags(write=False)
        object.__setattr__(self, "matrix", matrix)

    @classmethod
    def binary(cls, positive: npt.ArrayLike, negative_label: str, positive_label: str) -> Scores:
        """From the positive class's probability per sample (1 - p for the negative class)."""
        p = np.asarray(positive, dtype=np.float64)
        if p.ndim != 1:
            raise ValueError(f"binary scores must be a vector, got shape {p.shape}")
        return cls((negative_label, positive_label), np.column_stack((1.0 - p, p)))


@dataclass(frozen=True)
class Performance:
    """Metrics (name -> value, in ``METRICS`` order, undefined ones absent) over ``samples``
    pairs; ``skipped`` pairs had a missing label or prediction."""

    task: Task
    metrics: Mapping[str, float]
    samples: int
    skipped: int


def positive_class(classes: Iterable[str], explicit: str | None = None) -> str | None:
    """The explicit positive label, else "1" for classes within {"0", "1"} and "true" within
    {"false", "true"}; None when the task has no natural positive class."""
    if explicit is not None:
        return explicit
    present = set(classes)
    if present <= {"0", "1"}:
        return "1"
    if present <= {"false", "true"}:
        return "true"
    return None


def _canonical(values: Sequence[object]) -> list[str | None]:
    return [v if type(v) is str else canonical_category(v) for v in values]


def classification_performance(
    y_true: Sequence[object],
    y_pred: Sequence[object],
    scores: Scores | None = None,
    positive_label: str | None = None,
) -> Performance:
    """Classification metrics of the pairs where both label and prediction are present.

    Labels, predictions and ``positive_label`` are compared as canonical categories
    (``drift.core.columns.canonical_category``: 1, 1.0 and "1" are one class; None and NaN are
    missing). ``scores`` has one row per pair (skipped pairs' rows included, then dropped).
    """
    n = len(y_true)
    if len(y_pred) != n:
        raise ValueError(f"{n} labels but {len(y_pred)} predictions")
    if scores is not None and scores.matrix.shape[0] != n:
        raise ValueError(f"{n} labels but {scores.matrix.shape[0]} rows of scores")
    truth, pred = _canonical(y_true), _canonical(y_pred)
    present = [t is not None and p is not None for t, p in zip(truth, pred, strict=True)]
    keep = np.array(present, dtype=bool)
    kept = int(keep.sum())
    if kept == 0:
        return Performance(Task.CLASSIFICATION, {}, 0, n)
    both = [*compress(truth, present), *compress(pred, present)]
    labels, codes = np.unique(np.array(both, dtype=str), return_inverse=True)
    t_codes, p_codes = codes[:kept], codes[kept:]
    k = labels.size
    true_sum = np.bincount(t_codes, minlength=k)
    pred_sum = np.bincount(p_codes, minlength=k)
    tp = np.bincount(t_codes[t_codes == p_codes], minlength=k)
    precision = np.where(pred_sum > 0, tp / np.maximum(pred_sum, 1), 0.0)
    recall = np.where(true_sum > 0, tp / np.maximum(true_sum, 1), 0.0)
    denom = true_sum + pred_sum  # > 0 for every present label
    f1 = 2.0 * tp / denom
    metrics: dict[str, float] = {"accuracy": float(np.mean(t_codes == p_codes))}
    classes: tuple[str, ...] = tuple(str(c) for c in labels)
    score_classes = scores.classes if scores is not None else ()
    positive = positive_class((*classes, *score_classes), canonical_category(positive_label))
    if positive is not None:
        if positive in classes:
            i = classes.index(positive)
            metrics |= {"precision": float(precision[i]), "recall": float(recall[i])}
            metrics["f1"] = float(f1[i])
        else:  # never seen: no true positive, no positive predicted or true
            metrics |= {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    metrics["precision_macro"] = float(np.mean(precision))
    metrics["recall_macro"] = float(np.mean(recall))
    metrics["f1_macro"] = float(np.mean(f1))
    if scores is not None:
        metrics |= _score_metrics(labels[t_codes], scores, scores.matrix[keep], positive)
    return Performance(Task.CLASSIFICATION, metrics, kept, n - kept)


def _score_metrics(
    truth: npt.NDArray[np.str_], scores: Scores, rows: FloatArray, positive: str | None
) -> dict[str, float]:
    classes = np.array(scores.classes, dtype=str)
    order = np.argsort(classes)
    at = np.minimum(np.searchsorted(classes[order], truth), classes.size - 1)
    column = order[at]
    known = classes[column] == truth  # the label has a score column
    metrics: dict[str, float] = {}
    if classes.size == 2:
        j = scores.classes.index(positive) if positive in scores.classes else 1
        auc = _binary_auc(truth == classes[j], rows[:, j])
        if auc is not None:
            metrics["roc_auc"] = auc
    elif bool(known.all()):
        aucs = [_binary_auc(column == j, rows[:, j]) for j in range(classes.size)]
        if all(a is not None for a in aucs):
            metrics["roc_auc"] = float(np.mean(np.array(aucs, dtype=np.float64)))
    if bool(known.all()):
        p_true = np.clip(rows[np.arange(rows.shape[0]), column], _EPS, 1.0 - _EPS)
        metrics["log_loss"] = float(np.mean(-np.log(p_true)))
    return metrics


def _binary_auc(positive: BoolArray, score: FloatArray) -> float | None:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counting
    1/2, from the counts per distinct score (exact integer numerator). None with one class."""
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    pos = np.add.reduceat(positive[order].astype(np.int64), starts)
    neg = np.diff(np.append(starts, s.size)) - pos
    neg_below = np.cumsum(neg) - neg
    numerator = int(np.sum(2 * pos * neg_below + pos * neg))
    return numerator / (2 * n_pos * n_neg)


def regression_performance(
    y_true: FloatArray | Sequence[float | None], y_pred: FloatArray | Sequence[float | None]
) -> Performance:
    """Regression metrics of the pairs where both values are finite (None, NaN and +-inf are
    skipped and counted)."""
    t_all = np.asarray(y_true, dtype=np.float64)
    p_all = np.asarray(y_pred, dtype=np.float64)
    if t_all.ndim != 1 or t_all.shape != p_all.shape:
        raise ValueError(f"targets {t_all.shape} and predictions {p_all.shape} must be 1-D alike")
    keep = np.isfinite(t_all) & np.isfinite(p_all)
    t, p = t_all[keep], p_all[keep]
    n, skipped = int(t.size), int(t_all.size - t.size)
    if n == 0:
        return Performance(Task.REGRESSION, {}, 0, skipped)
    error = p - t
    metrics = {
        "mae": float(np.mean(np.abs(error))),
        "rmse": math.sqrt(float(np.mean((t - p) ** 2))),
        "mape": float(np.mean(np.abs(error) / np.maximum(np.abs(t), _EPS))),
    }
    if n >= 2:
        numerator = float(np.sum((t - p) ** 2))
        denominator = float(np.sum((t - np.mean(t)) ** 2))
        if numerator == 0.0:
            metrics["r2"] = 1.0
        elif denominator == 0.0:
            metrics["r2"] = 0.0
        else:
            metrics["r2"] = 1.0 - numerator / denominator
    return Performance(Task.REGRESSION, metrics, n, skipped)


def infer_task(values: Sequence[object]) -> Task:
    """The task a target column suggests, ignoring missing values (None, NaN):

    1. any string, bool or other non-numeric value -> classification;
    2. else any non-integer number (1.5, inf) -> regression;
    3. else (integer-valued numbers, or nothing) -> classification when at most
       ``MAX_INFERRED_CLASSES`` (20) distinct values, regression above.
    """
    fractional = False
    distinct: set[float] = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
            return Task.CLASSIFICATION
        x = float(v)
        if math.isnan(x):
            continue
        if not x.is_integer():
            fractional = True
        elif len(distinct) <= MAX_INFERRED_CLASSES:
            distinct.add(x)
    if fractional or len(distinct) > MAX_INFERRED_CLASSES:
        return Task.REGRESSION
    return Task.CLASSIFICATION
