"""Multivariate drift: PCA reconstruction error, as NannyML's DataReconstructionDriftCalculator.

A change of the joint distribution that leaves every marginal alone (a correlation that flips)
escapes every univariate test; it does not escape a PCA fitted on the reference, whose
components encode the reference's correlations. Computed as NannyML 0.13 computes it
(tests/core/test_parity_nannyml.py):

1. missing values imputed with the reference's mean (numerical) or most frequent value
   (categorical, ties to the smallest);
2. categories replaced by their share of the reference (``CountEncoder(normalize=True)``;
   a category the reference never saw counts 0);
3. every column standardised with the reference's mean and population std (a constant column
   keeps scale 1);
4. a PCA of the standardised reference keeping the fewest components whose cumulative explained
   variance exceeds ``n_components`` (NannyML's default 0.65), or exactly that many when it is an
   integer;
5. per row, the Euclidean distance between the standardised row and its reconstruction from
   those components; per window, the mean of that distance, its sampling error
   ``std(ddof=1) / sqrt(n)`` and the band mean ± 3 sampling errors (lower clipped at 0);
6. thresholds: mean ± 3 std (population) of the error of reference chunks of the window size; a
   lower threshold at or below 0 is dropped. A window alerts outside (lower, upper).

Pure: numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from drift.core.estimation import (
    SAMPLING_ERROR_RANGE,
    STD_MULTIPLIER,
    Thresholds,
    chunk_bounds,
    std_thresholds,
)

FloatArray = npt.NDArray[np.float64]

#: NannyML's default share of variance the kept components explain
DEFAULT_EXPLAINED_VARIANCE = 0.65


@dataclass(frozen=True, slots=True)
class ReconstructionError:
    """The reconstruction error of one window."""

    value: float
    sampling_error: float
    lower: float
    upper: float
    thresholds: Thresholds
    alert: bool


@dataclass(frozen=True, slots=True)
class ReconstructionModel:
    """Encoding, scaling and PCA fitted on a reference; read-only."""

    columns: tuple[str, ...]
    categorical: tuple[str, ...]
    fill: Mapping[str, Any]
    frequencies: Mapping[str, Mapping[Any, float]]
    mean: FloatArray
    scale: FloatArray
    pca_mean: FloatArray
    components: FloatArray
    thresholds: Thresholds
    chunk_size: int

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def encode(self, frame: pd.DataFrame) -> FloatArray:
        """Imputed, frequency-encoded and standardised rows (n x columns)."""
        columns = []
        for name in self.columns:
            values = frame[name]
            if name in self.frequencies:
                shares = self.frequencies[name]
                filled = values.astype(object).where(values.notna(), self.fill[name])
                encoded = np.fromiter(
                    (shares.get(v, 0.0) for v in filled), dtype=np.float64, count=len(filled)
                )
            else:
                encoded = values.to_numpy(dtype=np.float64, na_value=np.nan)
                encoded = np.where(np.isnan(encoded), float(self.fill[name]), encoded)
            columns.append(encoded)
        matrix = np.column_stack(columns) if columns else np.empty((len(frame), 0))
        scaled: FloatArray = (matrix - self.mean) / self.scale
        return scaled

    def row_errors(self, frame: pd.DataFrame) -> FloatArray:
        """Each row's distance to its reconstruction from the kept components."""
        data = self.encode(frame)
        reconstructed = (data - self.pca_mean) @ self.components.T @ self.components + self.pca_mean
        errors: FloatArray = np.linalg.norm(data - reconstructed, axis=1)
        return errors

    def score(self, frame: pd.DataFrame) -> ReconstructionError:
        """The reconstruction error of one window, its band, thresholds and verdict."""
        errors = self.row_errors(frame)
        value = float(np.mean(errors))
        error = float(np.std(errors, ddof=1) / np.sqrt(len(errors))) if len(errors) > 1 else np.nan
        lower = max(value - SAMPLING_ERROR_RANGE * error, 0.0)
        upper = value + SAMPLING_ERROR_RANGE * error
        low = -np.inf if self.thresholds.lower is None else self.thresholds.lower
        high = np.inf if self.thresholds.upper is None else self.thresholds.upper
        alert = not (low < value < high)
        return ReconstructionError(value, error, lower, upper, self.thresholds, alert)


def _most_frequent(values: pd.Series) -> Any:
    counts = values.dropna().value_counts()
    if counts.empty:
        return None
    top = counts[counts == counts.max()].index
    return sorted(top)[0]


def fit_reconstruction(
    reference: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    chunk_size: int,
    n_components: float | int = DEFAULT_EXPLAINED_VARIANCE,
    std_multiplier: float = STD_MULTIPLIER,
) -> ReconstructionModel:
    """Fit the reconstruction on ``reference``; ``chunk_size`` sizes the reference chunks the
    thresholds come from (the window size in the service)."""
    columns = tuple(list(numerical) + list(categorical))
    if not columns:
        raise ValueError("the reconstruction needs at least one column")
    if len(reference) < 2:
        raise ValueError("the reconstruction needs a reference of at least 2 rows")
    fill: dict[str, Any] = {}
    frequencies: dict[str, dict[Any, float]] = {}
    for name in numerical:
        fill[name] = float(np.nanmean(reference[name].to_numpy(dtype=np.float64, na_value=np.nan)))
    for name in categorical:
        fill[name] = _most_frequent(reference[name])
        filled = reference[name].astype(object).where(reference[name].notna(), fill[name])
        frequencies[name] = {k: float(v) for k, v in filled.value_counts(normalize=True).items()}
    draft = ReconstructionModel(
        columns,
        tuple(categorical),
        fill,
        frequencies,
        np.zeros(len(columns)),
        np.ones(len(columns)),
        np.zeros(len(columns)),
        np.zeros((0, len(columns))),
        Thresholds(None, None),
        chunk_size,
    )
    raw = draft.encode(reference)
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    scale = np.where(std == 0, 1.0, std)
    data = (raw - mean) / scale
    pca_mean = data.mean(axis=0)
    _, singular, vt = np.linalg.svd(data - pca_mean, full_matrices=False)
    variance = singular**2 / (len(data) - 1)
    if isinstance(n_components, float) and 0 < n_components < 1:
        ratio = np.cumsum(variance / variance.sum())
        kept = int(np.searchsorted(ratio, n_components, side="right")) + 1
    else:
        kept = int(n_components)
    kept = min(kept, len(singular))
    fitted = ReconstructionModel(
        columns,
        tuple(categorical),
        fill,
        frequencies,
        mean,
        scale,
        pca_mean,
        vt[:kept],
        Thresholds(None, None),
        chunk_size,
    )
    chunk_errors = [
        float(np.mean(fitted.row_errors(reference.iloc[a:b])))
        for a, b in chunk_bounds(len(reference), chunk_size)
    ]
    thresholds = std_thresholds(
        chunk_errors, std_multiplier, limits=(0.0, None), drop_at_limit=True
    )
    return replace(fitted, thresholds=thresholds)


# ----------------------------------------------------------------------------- domain classifier

#: NannyML 0.13's ``DomainClassifierCalculator`` defaults: LightGBM's classifier with these
#: options (one thread and no console output added: neither changes the model), 5 folds, and
#: constant thresholds on the cross-validated ROC AUC
DOMAIN_CLASSIFIER_PARAMS: Mapping[str, Any] = {
    "boosting_type": "gbdt",
    "class_weight": None,
    "colsample_bytree": 1.0,
    "importance_type": "split",
    "learning_rate": 0.1,
    "max_depth": -1,
    "min_child_samples": 20,
    "min_child_weight": 0.001,
    "min_split_gain": 0.0,
    "n_estimators": 100,
    "num_leaves": 31,
    "objective": None,
    "random_state": 13,
    "reg_alpha": 0.0,
    "reg_lambda": 0.0,
    "subsample": 1.0,
    "subsample_for_bin": 200000,
    "subsample_freq": 0,
    "n_jobs": 1,
    "verbose": -1,
}
DOMAIN_CLASSIFIER_THRESHOLDS = Thresholds(0.45, 0.65)


#: what an ImportError says LightGBM is needed for (drift.core.loss_estimation._lightgbm)
DOMAIN_CLASSIFIER_NEEDS = "the domain classifier"


@dataclass(frozen=True, slots=True)
class DomainClassification:
    """How well a classifier tells the window from the reference: cross-validated ROC AUC
    (0.5: indistinguishable, 1: fully separable)."""

    value: float
    thresholds: Thresholds
    alert: bool


def stratified_folds(labels: npt.ArrayLike, n_splits: int) -> list[npt.NDArray[np.intp]]:
    """The test indices of scikit-learn's ``StratifiedKFold(n_splits)`` (no shuffle)."""
    y = np.asarray(labels)
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    _, order = np.unique(first, return_inverse=True)
    encoded = order[inverse]
    n_classes = len(first)
    ordered = np.sort(encoded)
    allocation = np.asarray(
        [np.bincount(ordered[i::n_splits], minlength=n_classes) for i in range(n_splits)]
    )
    test_folds = np.empty(len(y), dtype=np.intp)
    for k in range(n_classes):
        test_folds[encoded == k] = np.arange(n_splits).repeat(allocation[:, k])
    return [np.flatnonzero(test_folds == i) for i in range(n_splits)]


def _ordinal(values: pd.Series) -> FloatArray:
    """scikit-learn's ``OrdinalEncoder`` fitted on ``values`` themselves: sorted categories,
    missing values stay NaN."""
    present = values.notna()
    codes = np.full(len(values), np.nan)
    categories = sorted(values[present].unique().tolist())
    lookup = {v: float(i) for i, v in enumerate(categories)}
    codes[present.to_numpy()] = [lookup[v] for v in values[present]]
    return codes


def domain_classifier_auroc(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    folds: int = 5,
    hyperparameters: Mapping[str, Any] | None = None,
) -> float:
    """NannyML's domain classifier: LightGBM learns to tell window rows (1) from reference rows
    (0), ``folds``-fold stratified cross-validation, ROC AUC of the pooled out-of-fold
    probabilities (0.5 when one side is empty). Categories are ordinal-coded over both frames;
    columns in NannyML's order (categorical then numerical, each sorted by name).

    LightGBM (``pip install 'drift-sidecar[estimation]'``) is imported here, on first use."""
    from drift.core.estimation import roc_auc
    from drift.core.loss_estimation import _lightgbm

    lightgbm = _lightgbm(DOMAIN_CLASSIFIER_NEEDS)
    cats, nums = sorted(categorical), sorted(numerical)
    both = pd.concat([reference[[*cats, *nums]], window[[*cats, *nums]]], ignore_index=True)
    x = pd.DataFrame({name: _ordinal(both[name].astype(object)) for name in cats})
    for name in nums:
        x[name] = both[name].to_numpy(dtype=np.float64, na_value=np.nan)
    y = np.concatenate([np.zeros(len(reference)), np.ones(len(window))])
    if len(window) == 0 or len(reference) == 0:
        return 0.5
    params = {**DOMAIN_CLASSIFIER_PARAMS, **(hyperparameters or {})}
    predictions, truths = [], []
    for test in stratified_folds(y, folds):
        train = np.setdiff1d(np.arange(len(y)), test, assume_unique=True)
        model = lightgbm.LGBMClassifier(**params)
        model.fit(x.iloc[train], y[train], categorical_feature=cats)
        predictions.append(model.predict_proba(x.iloc[test])[:, 1])
        truths.append(y[test])
    return roc_auc(np.concatenate(truths), np.concatenate(predictions))


def classify_domain(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    thresholds: Thresholds = DOMAIN_CLASSIFIER_THRESHOLDS,
    folds: int = 5,
    hyperparameters: Mapping[str, Any] | None = None,
) -> DomainClassification:
    """``domain_classifier_auroc`` with NannyML's constant thresholds (alert outside 0.45-0.65)."""
    value = domain_classifier_auroc(
        reference,
        window,
        numerical=numerical,
        categorical=categorical,
        folds=folds,
        hyperparameters=hyperparameters,
    )
    return DomainClassification(value, thresholds, thresholds.breached(value))
