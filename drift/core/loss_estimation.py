"""Direct loss estimation (DLE): a regressor's MAE / MSE / RMSE before its labels arrive.

NannyML 0.13's method: a gradient-boosted model (LightGBM's ``LGBMRegressor`` with its default
hyperparameters) learns, on the labelled reference, the absolute error and the squared error of
each row from the features and the prediction; a window's estimate is the mean of the predicted
errors (negative predictions clipped to 0; RMSE = sqrt of the estimated MSE). Categorical
features are imputed with their most frequent reference value and coded by their sorted
position + 1 (0 for a category the reference never saw), and passed to LightGBM as categorical.

Sampling error (NannyML's formulas): MAE ``std(|e|) / sqrt(n)``, MSE ``std(e^2) / sqrt(n)``, RMSE
``sqrt(std(e^2)^2 / (4 n mean(e^2)))`` over the reference errors ``e``; the band is ± 3 of them,
lower clipped at 0. Thresholds: mean ± 3 std of the *realized* metric on reference chunks of the
window size, lower clipped at 0.

Assumption: no concept drift (``P(error | features, prediction)`` is the reference's).

LightGBM is an optional dependency (``pip install drift-sidecar[estimation]``), imported when a
model is fitted; nothing here imports it at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from drift.core.estimation import (
    STD_MULTIPLIER,
    Estimate,
    Thresholds,
    chunk_bounds,
    std_thresholds,
)

FloatArray = npt.NDArray[np.float64]

DLE_METRICS: tuple[str, ...] = ("mae", "mse", "rmse")
#: LightGBM options that do not change the fitted model: one thread (the evaluator's CPU share;
#: LightGBM's default of all cores is many times slower on a busy 2-core pod), no console output
QUIET_ONE_THREAD: Mapping[str, Any] = {"n_jobs": 1, "verbose": -1}
INSTALL_HINT = "{} needs LightGBM: pip install 'drift-sidecar[estimation]'"


def _lightgbm(purpose: str = "direct loss estimation") -> Any:
    """The lightgbm module; ImportError naming ``purpose`` and the extra when it is missing."""
    try:
        import lightgbm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT.format(purpose)) from exc
    return lightgbm


@dataclass(frozen=True, slots=True)
class LoadedRegressor:
    """A fitted regressor read back from LightGBM's model text (drift/core/estimation_codec.py):
    predicts what the ``LGBMRegressor`` it was saved from predicts, bit for bit, on one thread."""

    booster: Any

    def predict(self, x: pd.DataFrame) -> FloatArray:
        return np.asarray(self.booster.predict(x, num_threads=1, verbose=-1), dtype=np.float64)


def regressor_text(regressor: Any) -> str:
    """LightGBM's model text of a fitted regressor (an ``LGBMRegressor`` or a loaded one);
    thresholds and leaf values are written with 17 significant digits: read back exactly."""
    booster = regressor.booster if isinstance(regressor, LoadedRegressor) else regressor.booster_
    return str(booster.model_to_string())


def regressor_from_text(text: str) -> LoadedRegressor:
    """The regressor ``regressor_text`` wrote; ``ValueError`` when LightGBM cannot read it."""
    lightgbm = _lightgbm()
    try:
        return LoadedRegressor(lightgbm.Booster(model_str=text))
    except lightgbm.basic.LightGBMError as exc:
        raise ValueError(f"not a LightGBM model: {exc}") from None


@dataclass(frozen=True, slots=True)
class DLEModel:
    """DLE fitted on a labelled reference; read-only. ``regressors`` holds one fitted
    ``LGBMRegressor`` per loss (``"absolute"``, ``"squared"``), or the ``LoadedRegressor`` read
    back from the cache."""

    features: tuple[str, ...]
    categorical: tuple[str, ...]
    prediction: str
    categories: Mapping[str, tuple[Any, ...]]
    fill: Mapping[str, Any]
    regressors: Mapping[str, Any]
    metrics: tuple[str, ...]
    components: Mapping[str, tuple[float, float]]
    thresholds: Mapping[str, Thresholds]
    chunk_size: int

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The regressors' input: features then the prediction, categories coded."""
        return _design(frame, self.features, self.prediction, self.categories, self.fill)

    def point_estimates(self, frame: pd.DataFrame) -> dict[str, float]:
        x = self.design(frame)
        out: dict[str, float] = {}
        squared = None
        for metric in self.metrics:
            if metric == "mae":
                out[metric] = float(np.mean(np.maximum(0, self.regressors["absolute"].predict(x))))
                continue
            if squared is None:
                squared = float(np.mean(np.maximum(0, self.regressors["squared"].predict(x))))
            out[metric] = squared if metric == "mse" else math.sqrt(squared)
        return out

    def sampling_error(self, metric: str, n: int) -> float:
        spread, mean = self.components[metric]
        if metric == "rmse":
            return math.sqrt(spread**2 / (4 * n * mean))
        return spread / math.sqrt(n)

    def estimate(self, frame: pd.DataFrame) -> tuple[Estimate, ...]:
        values = self.point_estimates(frame)
        out = []
        for metric in self.metrics:
            value = values[metric]
            error = self.sampling_error(metric, len(frame))
            thresholds = self.thresholds[metric]
            out.append(
                Estimate(
                    metric,
                    value,
                    error,
                    max(0.0, value - 3 * error),
                    value + 3 * error,
                    thresholds,
                    thresholds.breached(value),
                )
            )
        return tuple(out)


def _design(
    frame: pd.DataFrame,
    features: Sequence[str],
    prediction: str,
    categories: Mapping[str, tuple[Any, ...]],
    fill: Mapping[str, Any],
) -> pd.DataFrame:
    x = frame[[*features, prediction]].copy()
    for name, known in categories.items():
        values = x[name].astype(object)
        values = values.where(values.notna(), fill[name])
        codes = pd.Categorical(values, categories=list(known)).codes  # -1: never seen
        x[name] = codes.astype(np.float64) + 1
    return x


def _most_frequent(values: pd.Series) -> Any:
    counts = values.dropna().value_counts()
    return sorted(counts[counts == counts.max()].index)[0] if not counts.empty else None


def _realized(metric: str, truth: FloatArray, predicted: FloatArray) -> float:
    if len(truth) == 0:
        return math.nan
    errors = truth - predicted
    if metric == "mae":
        return float(np.mean(np.abs(errors)))
    mse = float(np.mean(errors**2))
    return mse if metric == "mse" else math.sqrt(mse)


def fit_dle(
    reference: pd.DataFrame,
    *,
    features: Sequence[str],
    categorical: Sequence[str],
    prediction: str,
    target: str,
    chunk_size: int,
    metrics: Sequence[str] = DLE_METRICS,
    hyperparameters: Mapping[str, Any] | None = None,
    std_multiplier: float = STD_MULTIPLIER,
) -> DLEModel:
    """Fit DLE on a labelled reference (rows with a missing target or prediction left out).

    ``categorical`` lists which of ``features`` are categorical; ``hyperparameters`` go to
    ``LGBMRegressor`` on top of ``QUIET_ONE_THREAD`` (NannyML's default: LightGBM's defaults)."""
    unknown = [m for m in metrics if m not in DLE_METRICS]
    if unknown:
        raise ValueError(f"unknown DLE metrics {unknown}; known: {list(DLE_METRICS)}")
    lightgbm = _lightgbm()
    data = reference.dropna(subset=[target, prediction])
    if data.empty:
        raise ValueError("DLE needs reference rows with both a target and a prediction")
    fill = {name: _most_frequent(data[name].astype(object)) for name in categorical}
    categories = {
        name: tuple(
            sorted(data[name].astype(object).where(data[name].notna(), fill[name]).unique())
        )
        for name in categorical
    }
    x = _design(data, features, prediction, categories, fill)
    truth = data[target].to_numpy(dtype=np.float64)
    predicted = data[prediction].to_numpy(dtype=np.float64)
    absolute = np.abs(truth - predicted)
    squared = (truth - predicted) ** 2
    regressors: dict[str, Any] = {}
    losses: dict[str, FloatArray] = {}
    if "mae" in metrics:
        losses["absolute"] = absolute
    if "mse" in metrics or "rmse" in metrics:
        losses["squared"] = squared
    for loss, y in losses.items():
        model = lightgbm.LGBMRegressor(**{**QUIET_ONE_THREAD, **(hyperparameters or {})})
        model.fit(x, y, categorical_feature=list(categorical))
        regressors[loss] = model
    components = {
        "mae": (float(np.std(absolute)), 0.0),
        "mse": (float(np.std(squared)), 0.0),
        "rmse": (float(np.std(squared)), float(np.mean(squared))),
    }
    bounds = chunk_bounds(len(data), chunk_size)
    thresholds = {
        m: std_thresholds(
            [_realized(m, truth[a:b], predicted[a:b]) for a, b in bounds],
            std_multiplier,
            limits=(0.0, None),
        )
        for m in metrics
    }
    return DLEModel(
        tuple(features),
        tuple(categorical),
        prediction,
        categories,
        fill,
        regressors,
        tuple(metrics),
        {m: components[m] for m in metrics},
        thresholds,
        chunk_size,
    )
