"""drift.core.performance: every metric against scikit-learn on the same pairs, the cases where a
metric is undefined (left out, never NaN), missing pairs, and Hypothesis parity properties.

scikit-learn is called on the pairs that remain after dropping missing ones, with labels in their
canonical spelling. Tolerance: 1e-12 relative (ROC AUC: sklearn integrates the ROC curve with the
trapezoid rule, we count pairs exactly; the rest are the same operations).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from drift.core.performance import (
    HIGHER_IS_BETTER,
    METRICS,
    Performance,
    Scores,
    Task,
    classification_performance,
    infer_task,
    regression_performance,
)
from tests import strategies as hs

REL = 1e-12
PROPERTY = settings(max_examples=150, deadline=None)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20251125)


def assert_metrics(perf: Performance, expected: dict[str, float]) -> None:
    """Exactly the expected metrics, in ``METRICS`` order, each within REL."""
    assert list(perf.metrics) == [m for m in METRICS[perf.task] if m in expected]
    assert set(perf.metrics) == set(expected)
    for name, value in expected.items():
        assert perf.metrics[name] == pytest.approx(value, rel=REL, abs=REL), name


def sk_labels(t: Any, p: Any, positive: str | None = None) -> dict[str, float]:
    out = {
        "accuracy": skm.accuracy_score(t, p),
        "precision_macro": skm.precision_score(t, p, average="macro", zero_division=0),
        "recall_macro": skm.recall_score(t, p, average="macro", zero_division=0),
        "f1_macro": skm.f1_score(t, p, average="macro", zero_division=0),
    }
    if positive is not None:
        kw: dict[str, Any] = {"average": "binary", "pos_label": positive, "zero_division": 0}
        if len(set(t) | set(p)) > 2:  # one-vs-rest for the positive class
            kw = {"average": "macro", "labels": [positive], "zero_division": 0}
        out["precision"] = skm.precision_score(t, p, **kw)
        out["recall"] = skm.recall_score(t, p, **kw)
        out["f1"] = skm.f1_score(t, p, **kw)
    return {k: float(v) for k, v in out.items()}


def sk_regression(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    out = {
        "mae": skm.mean_absolute_error(t, p),
        "rmse": skm.root_mean_squared_error(t, p),
        "mape": skm.mean_absolute_percentage_error(t, p),
    }
    if t.size >= 2:
        out["r2"] = skm.r2_score(t, p)
    return {k: float(v) for k, v in out.items()}


def noisy_labels(rng: np.random.Generator, t: np.ndarray, classes: list[Any], flip: float) -> Any:
    return np.where(rng.random(t.size) < flip, rng.choice(classes, t.size), t)


# ---------------------------------------------------------------------------- binary, vs sklearn


def test_binary_01_with_positive_probability_imbalanced(rng: np.random.Generator) -> None:
    t = (rng.random(3000) < 0.1).astype(int)
    p = noisy_labels(rng, t, [0, 1], 0.3)
    prob = np.clip(0.4 * t + 0.6 * rng.random(t.size), 0.0, 1.0)
    # numbers and their spellings are one class: 1, 1.0 and "1"
    spelled = [[1, 1.0, "1"][i % 3] if v else [0, 0.0, "0"][i % 3] for i, v in enumerate(t)]
    perf = classification_performance(spelled, p.tolist(), Scores.binary(prob, "0", "1"))
    ts, ps = t.astype(str), p.astype(str)
    expected = sk_labels(ts, ps, "1")
    expected["roc_auc"] = skm.roc_auc_score(t, prob)
    expected["log_loss"] = skm.log_loss(t, prob, labels=[0, 1])
    assert_metrics(perf, expected)
    assert (perf.task, perf.samples, perf.skipped) == (Task.CLASSIFICATION, 3000, 0)


def test_binary_string_labels_with_explicit_positive(rng: np.random.Generator) -> None:
    t = rng.choice(["no", "yes"], 800, p=[0.7, 0.3])
    p = noisy_labels(rng, t, ["no", "yes"], 0.4)
    matrix = rng.dirichlet([1.0, 1.0], t.size)
    scores = Scores(("no", "yes"), matrix)
    perf = classification_performance(t.tolist(), p.tolist(), scores, positive_label="yes")
    expected = sk_labels(t, p, "yes")
    expected["roc_auc"] = skm.roc_auc_score(t == "yes", matrix[:, 1])
    expected["log_loss"] = skm.log_loss(t, matrix, labels=["no", "yes"])
    assert_metrics(perf, expected)
    # "no" as the positive class: other binary numbers, the same ROC AUC and log loss
    as_no = classification_performance(t.tolist(), p.tolist(), scores, positive_label="no")
    assert as_no.metrics["recall"] == pytest.approx(sk_labels(t, p, "no")["recall"], rel=REL)
    assert as_no.metrics["roc_auc"] == pytest.approx(expected["roc_auc"], rel=1e-9)


def test_binary_without_a_positive_class_gives_macro_metrics_only(
    rng: np.random.Generator,
) -> None:
    t = rng.choice(["cat", "dog"], 300)
    p = noisy_labels(rng, t, ["cat", "dog"], 0.5)
    prob = rng.random(t.size)
    perf = classification_performance(t.tolist(), p.tolist(), Scores.binary(prob, "cat", "dog"))
    expected = sk_labels(t, p)
    expected["roc_auc"] = skm.roc_auc_score(t, prob)  # sklearn: the greater label is positive
    expected["log_loss"] = skm.log_loss(t, prob, labels=["cat", "dog"])
    assert_metrics(perf, expected)


def test_bool_labels_take_true_as_positive(rng: np.random.Generator) -> None:
    t = rng.random(200) < 0.4
    p = noisy_labels(rng, t, [False, True], 0.3).astype(bool)
    perf = classification_performance(t.tolist(), p.tolist())
    assert_metrics(perf, sk_labels(t.astype(str), p.astype(str), "True"))


def test_positive_label_never_seen_scores_zero() -> None:
    perf = classification_performance(["0", "0", "0"], ["0", "0", "0"])
    assert perf.metrics["precision"] == perf.metrics["recall"] == perf.metrics["f1"] == 0.0
    expected = skm.precision_score([0, 0, 0], [0, 0, 0], pos_label=1, zero_division=0)
    assert perf.metrics["precision"] == expected
    assert perf.metrics["accuracy"] == 1.0


def test_one_class_in_truth_omits_roc_auc_but_keeps_log_loss() -> None:
    t = ["1", "1", "1", "1"]
    prob = np.array([0.9, 0.2, 1.0, 0.6])
    perf = classification_performance(t, ["1", "0", "1", "1"], Scores.binary(prob, "0", "1"))
    assert "roc_auc" not in perf.metrics
    assert perf.metrics["log_loss"] == pytest.approx(
        skm.log_loss(t, prob, labels=["0", "1"]), rel=REL
    )
    assert not any(math.isnan(v) for v in perf.metrics.values())


def test_log_loss_clips_certain_probabilities_like_sklearn() -> None:
    t = ["0", "1", "1", "0", "1"]
    prob = np.array([1.0, 0.0, 1.0, 0.0, 0.5])  # two certain mistakes
    perf = classification_performance(t, t, Scores.binary(prob, "0", "1"))
    expected = skm.log_loss(t, prob, labels=["0", "1"])
    assert math.isfinite(perf.metrics["log_loss"])
    assert perf.metrics["log_loss"] == pytest.approx(expected, rel=REL)
    assert perf.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score([0, 1, 1, 0, 1], prob))


# ------------------------------------------------------------------------ multiclass, vs sklearn


def test_multiclass_with_probabilities_and_a_class_never_predicted(
    rng: np.random.Generator,
) -> None:
    classes = ["a", "b", "c", "d"]
    t = rng.choice(classes, 2000, p=[0.5, 0.3, 0.15, 0.05])
    p = noisy_labels(rng, t, ["a", "b", "c"], 0.4)
    p[p == "d"] = "a"  # "d" is never predicted: precision 0 for it, in the macro mean
    matrix = rng.dirichlet([2.0, 1.0, 1.0, 0.5], t.size)
    perf = classification_performance(t.tolist(), p.tolist(), Scores(tuple(classes), matrix))
    expected = sk_labels(t, p)
    expected["roc_auc"] = skm.roc_auc_score(t, matrix, multi_class="ovr", average="macro")
    expected["log_loss"] = skm.log_loss(t, matrix, labels=classes)
    assert_metrics(perf, expected)
    assert "precision" not in perf.metrics


def test_multiclass_score_columns_in_any_order(rng: np.random.Generator) -> None:
    classes = ["x", "y", "z"]
    t = rng.choice(classes, 500)
    matrix = rng.dirichlet([1.0, 1.0, 1.0], t.size)
    shuffled = Scores(("z", "x", "y"), matrix[:, [2, 0, 1]])
    perf = classification_performance(t.tolist(), t.tolist(), shuffled)
    assert perf.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(t, matrix, multi_class="ovr"), rel=REL
    )
    assert perf.metrics["log_loss"] == pytest.approx(
        skm.log_loss(t, matrix, labels=classes), rel=REL
    )


def test_multiclass_explicit_positive_is_one_vs_rest(rng: np.random.Generator) -> None:
    t = rng.choice([1, 2, 3], 400)
    p = noisy_labels(rng, t, [1, 2, 3], 0.5)
    perf = classification_performance(t.tolist(), p.tolist(), positive_label="2")
    assert_metrics(perf, sk_labels(t.astype(str), p.astype(str), "2"))


def test_score_class_absent_from_truth_omits_multiclass_roc_auc(
    rng: np.random.Generator,
) -> None:
    t = rng.choice(["a", "b"], 200)  # "c" has a score column but never occurs
    matrix = rng.dirichlet([1.0, 1.0, 1.0], t.size)
    perf = classification_performance(t.tolist(), t.tolist(), Scores(("a", "b", "c"), matrix))
    assert "roc_auc" not in perf.metrics
    assert perf.metrics["log_loss"] == pytest.approx(
        skm.log_loss(t, matrix, labels=["a", "b", "c"]), rel=REL
    )


def test_label_without_score_column_omits_score_metrics(rng: np.random.Generator) -> None:
    t = ["a", "b", "c", "new"] * 10  # sklearn raises: y_true has a label not in labels
    matrix = rng.dirichlet([1.0, 1.0, 1.0], len(t))
    perf = classification_performance(t, t, Scores(("a", "b", "c"), matrix))
    assert "roc_auc" not in perf.metrics
    assert "log_loss" not in perf.metrics
    assert perf.metrics["accuracy"] == 1.0


# ------------------------------------------------------------------------------ missing pairs


def test_missing_labels_or_predictions_are_skipped_and_counted(
    rng: np.random.Generator,
) -> None:
    t = rng.choice(["0", "1"], 300).astype(object)
    p = rng.choice(["0", "1"], 300).astype(object)
    prob = rng.random(300)
    t[[3, 50, 51]] = None
    p[[7, 50]] = float("nan")
    keep = np.array([a is not None and b == b for a, b in zip(t, p, strict=True)])
    perf = classification_performance(list(t), list(p), Scores.binary(prob, "0", "1"))
    assert (perf.samples, perf.skipped) == (296, 4)
    kt, kp = t[keep].astype(str), p[keep].astype(str)
    expected = sk_labels(kt, kp, "1")
    expected["roc_auc"] = skm.roc_auc_score(kt == "1", prob[keep])
    expected["log_loss"] = skm.log_loss(kt, prob[keep], labels=["0", "1"])
    assert_metrics(perf, expected)


def test_nothing_labelled_gives_no_metrics() -> None:
    perf = classification_performance([None, "a"], ["b", None])
    assert perf == Performance(Task.CLASSIFICATION, {}, 0, 2)
    assert regression_performance([], []) == Performance(Task.REGRESSION, {}, 0, 0)


def test_inputs_must_line_up() -> None:
    with pytest.raises(ValueError, match="predictions"):
        classification_performance(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="rows of scores"):
        classification_performance(["0"], ["0"], Scores.binary([0.1, 0.2], "0", "1"))
    with pytest.raises(ValueError, match="1-D"):
        regression_performance([1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    ("classes", "matrix", "message"),
    [
        (("a",), [[1.0]], "two distinct"),
        (("a", "a"), [[0.5, 0.5]], "two distinct"),
        (("a", "b"), [[0.2, 0.3, 0.5]], "n x 2"),
        (("a", "b"), [[1.2, -0.2]], r"\[0, 1\]"),
        (("a", "b"), [[float("nan"), 0.5]], r"\[0, 1\]"),
    ],
)
def test_scores_are_validated(classes: tuple[str, ...], matrix: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scores(classes, np.array(matrix))


def test_scores_are_read_only_copies() -> None:
    source = np.array([[0.3, 0.7]])
    scores = Scores(("a", "b"), source)
    source[0, 0] = 1.0
    assert scores.matrix[0, 0] == 0.3
    assert not scores.matrix.flags.writeable


# ---------------------------------------------------------------------------- regression


def test_regression_against_sklearn(rng: np.random.Generator) -> None:
    t = rng.lognormal(3.0, 1.0, 5000)
    p = t * rng.normal(1.0, 0.2, t.size)
    perf = regression_performance(t, p)
    assert_metrics(perf, sk_regression(t, p))
    assert (perf.task, perf.samples, perf.skipped) == (Task.REGRESSION, 5000, 0)


def test_mape_with_zero_targets_uses_sklearn_epsilon() -> None:
    t = np.array([0.0, 0.0, 2.0, -4.0, 1e-20])
    p = np.array([0.0, 1e-3, 3.0, -4.0, 0.0])
    perf = regression_performance(t, p)
    assert_metrics(perf, sk_regression(t, p))
    assert perf.metrics["mape"] > 1e11  # (1e-3 / eps) / 5


@pytest.mark.parametrize(
    ("target", "prediction"),
    [
        ([3.0] * 5, [3.0] * 5),  # perfect fit of a constant: 1.0
        ([3.0] * 5, [3.0, 3.0, 3.5, 3.0, 3.0]),  # imperfect fit of a constant: 0.0
        ([0.1] * 7, [0.1] * 6 + [0.2]),  # the mean of 0.1s is not exactly 0.1
        ([1e16, 1e16 + 2.0, 1e16], [1e16, 1e16, 1e16]),
    ],
)
def test_r2_of_constant_target_as_sklearn(target: list[float], prediction: list[float]) -> None:
    t, p = np.array(target), np.array(prediction)
    assert_metrics(regression_performance(t, p), sk_regression(t, p))


def test_r2_of_one_pair_is_omitted() -> None:
    perf = regression_performance([1.0], [2.0])
    assert set(perf.metrics) == {"mae", "rmse", "mape"}


def test_regression_skips_missing_and_infinite_values(rng: np.random.Generator) -> None:
    t = rng.normal(10.0, 3.0, 100).tolist()
    p = rng.normal(10.0, 3.0, 100).tolist()
    t[0], t[5], p[5], p[9], p[10] = None, math.nan, math.inf, -math.inf, math.nan
    perf = regression_performance(t, p)
    keep = [i for i in range(100) if i not in (0, 5, 9, 10)]
    assert (perf.samples, perf.skipped) == (96, 4)
    kt, kp = np.array(t)[keep].astype(float), np.array(p)[keep].astype(float)
    assert_metrics(perf, sk_regression(kt, kp))


# ------------------------------------------------------------------------------ task, tables


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], Task.CLASSIFICATION),
        ([True, False, None], Task.CLASSIFICATION),
        ([0, 1, 1.0, float("nan"), None], Task.CLASSIFICATION),
        (list(range(20)), Task.CLASSIFICATION),
        (list(range(21)), Task.REGRESSION),
        ([float(i) for i in range(21)], Task.REGRESSION),
        ([1.0, 2.5, 3.0], Task.REGRESSION),
        ([1, 2, math.inf], Task.REGRESSION),
        ([1.5, "a"], Task.CLASSIFICATION),  # a string anywhere means labels
        ([np.int64(3), np.float32(4.0)], Task.CLASSIFICATION),
        ([], Task.CLASSIFICATION),
    ],
)
def test_infer_task(values: list[object], task: Task) -> None:
    assert infer_task(values) is task


def test_every_metric_has_a_direction() -> None:
    names = [m for task in Task for m in METRICS[task]]
    assert sorted(names) == sorted(HIGHER_IS_BETTER)
    assert not HIGHER_IS_BETTER["log_loss"]
    assert HIGHER_IS_BETTER["r2"]


# -------------------------------------------------------------------------------- properties


@st.composite
def labelled(draw: st.DrawFn) -> tuple[list[str], list[str], np.ndarray, tuple[str, ...]]:
    """Labels and predictions over 2-4 classes, and probability rows over those classes."""
    classes = tuple(sorted(draw(st.sets(st.sampled_from("abcde"), min_size=2, max_size=4))))
    n = draw(st.integers(min_value=1, max_value=60))
    t = draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n))
    p = draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n))
    # coarse weights, so tied scores are common
    weights = draw(
        st.lists(
            st.lists(st.integers(1, 4), min_size=len(classes), max_size=len(classes)),
            min_size=n,
            max_size=n,
        )
    )
    w = np.array(weights, dtype=np.float64)
    return t, p, w / w.sum(axis=1, keepdims=True), classes


@PROPERTY
@given(data=labelled())
def test_classification_matches_sklearn(
    data: tuple[list[str], list[str], np.ndarray, tuple[str, ...]],
) -> None:
    t, p, matrix, classes = data
    perf = classification_performance(t, p, Scores(classes, matrix))
    expected = sk_labels(t, p)
    expected["log_loss"] = skm.log_loss(t, matrix, labels=list(classes))
    if len(classes) == 2 and len(set(t)) == 2:
        expected["roc_auc"] = skm.roc_auc_score(np.array(t) == classes[1], matrix[:, 1])
    elif len(classes) > 2 and set(t) == set(classes):
        expected["roc_auc"] = skm.roc_auc_score(t, matrix, multi_class="ovr", labels=classes)
    assert_metrics(perf, expected)


@PROPERTY
@given(
    pairs=st.lists(st.tuples(hs.finite_floats, hs.finite_floats), min_size=1, max_size=60),
)
def test_regression_matches_sklearn(pairs: list[tuple[float, float]]) -> None:
    t = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    assert_metrics(regression_performance(t, p), sk_regression(t, p))
