"""Per-model estimation: CBPE / DLE estimates and the multivariate score, per window.

``ModelEstimation`` is the service's adapter around the pure statistics
(drift/core/estimation.py, loss_estimation.py, multivariate.py):

- **fit** (``set_reference``): on the labelled reference, in the reference loader's thread, off
  the request path, before the reference is installed (so the first window after the install
  is estimated; readiness waits for the fit). The fitted estimators are cached beside the
  reference's profile (drift/sources/cache.py, ``drift.core.estimation_codec``): a version
  whose estimators are cached is neither read again from its source nor refitted. Otherwise
  the fit needs the reference rows: a reference just read from its source hands them over; one
  served from the profile cache is read again from its source (the profile holds summaries,
  not rows). The time the estimators took to be ready (the fit, or the cache read) is logged,
  saying which, and exported (``drift_estimation_fit_seconds``). A failed cache read costs a
  fit, a failed cache write is logged; a failed fit is logged and shown, and never fails the
  reference load: drift monitoring goes on without estimates.
- **record**: each accepted batch's predictions and scores (CBPE only), the last
  ``window.size`` of them, as compact floats (bounded by entries and by classes x 8 bytes).
- **evaluate**: on the evaluator thread after each drift evaluation, over the window.

Categories are compared in their canonical spelling (``drift.core.columns.canonical_category``)
on both sides, as the window stores them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from drift.config import ModelConfig
from drift.core.columns import canonical_category
from drift.core.estimation import CBPEModel, Estimate, Thresholds, fit_cbpe
from drift.core.estimation_codec import FittedEstimators
from drift.core.loss_estimation import DLEModel, _lightgbm, fit_dle
from drift.core.multivariate import (
    DOMAIN_CLASSIFIER_NEEDS,
    DomainClassification,
    ReconstructionError,
    ReconstructionModel,
    classify_domain,
    fit_reconstruction,
)
from drift.ingest.samples import Batch, Scores
from exporters.prometheus.estimation import EstimationExport, MultivariateScore

if TYPE_CHECKING:
    from drift.service.references import LoadedReference, ReferenceLoader

log = logging.getLogger(__name__)

#: the multivariate methods' label values in metrics and responses
RECONSTRUCTION = "pca_reconstruction"
DOMAIN_CLASSIFIER = "domain_classifier"
#: the domain classifier's folds: a window needs at least this many rows
DOMAIN_FOLDS = 5
#: a multiclass CBPE's averaged metrics under the names of the realized macro averages
#: (drift.core.performance), so that a dashboard graph pairs an estimate with its realized value
#: (the realized ``precision`` of a multiclass model is one class's, with ``positive_label``)
MULTICLASS_NAMES = {
    "precision": "precision_macro",
    "recall": "recall_macro",
    "f1": "f1_macro",
    "specificity": "specificity_macro",
}
#: the methods whose metrics are better higher (CBPE's) and lower (DLE's errors): an estimate
#: alerts natively, as the rule DriftModelPerformanceEstimatedDegraded, on its worse side only
HIGHER_IS_BETTER = {"cbpe": True, "dle": False}


@dataclass(frozen=True)
class Estimators:
    """What was fitted on one reference."""

    cbpe: CBPEModel | None
    dle: DLEModel | None
    reconstruction: ReconstructionModel | None
    fit_seconds: float
    #: the domain classifier's reference sample (feature columns in the window's spelling)
    domain_reference: pd.DataFrame | None = None
    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    #: read from the reference cache (``fit_seconds``: the read's time), not fitted
    cached: bool = False

    def fitted(self) -> FittedEstimators:
        """What the cache stores (drift.core.estimation_codec)."""
        return FittedEstimators(
            self.cbpe,
            self.dle,
            self.reconstruction,
            self.domain_reference,
            self.numerical,
            self.categorical,
        )

    @classmethod
    def from_cache(cls, fitted: FittedEstimators, seconds: float) -> Estimators:
        """The estimators read from the cache in ``seconds``."""
        return cls(
            fitted.cbpe,
            fitted.dle,
            fitted.reconstruction,
            seconds,
            fitted.domain_reference,
            fitted.numerical,
            fitted.categorical,
            cached=True,
        )


@dataclass(frozen=True)
class EstimationResult:
    """The estimates of one window."""

    evaluated_at: float
    samples: int  # rows the performance estimate used (CBPE: those that carried scores)
    method: str | None  # cbpe | dle | None
    performance: tuple[Estimate, ...]
    multivariate: ReconstructionError | None
    multivariate_samples: int
    domain: DomainClassification | None = None

    def multivariate_scores(self) -> tuple[MultivariateScore, ...]:
        out = []
        if self.multivariate is not None:
            m = self.multivariate
            out.append(MultivariateScore(RECONSTRUCTION, m.value, m.thresholds, m.alert))
        if self.domain is not None:
            d = self.domain
            out.append(MultivariateScore(DOMAIN_CLASSIFIER, d.value, d.thresholds, d.alert))
        return tuple(out)

    def degraded(self) -> tuple[Estimate, ...]:
        """The estimates on the worse side of their thresholds (below the lower one for CBPE's
        metrics, above the upper one for DLE's errors)."""
        if self.method is None:
            return ()
        higher = HIGHER_IS_BETTER[self.method]
        out = []
        for e in self.performance:
            limit = self._worse_limit(e)
            worse = limit is not None and (e.value < limit if higher else e.value > limit)
            if worse and math.isfinite(e.value):
                out.append(e)
        return tuple(out)

    def _worse_limit(self, estimate: Estimate) -> float | None:
        """The threshold on the estimate's worse side: the lower one for CBPE's metrics (higher
        is better), the upper one for DLE's errors."""
        assert self.method is not None
        thresholds = estimate.thresholds
        return thresholds.lower if HIGHER_IS_BETTER[self.method] else thresholds.upper

    def conditions(self) -> list[tuple[str, bool, str]]:
        """(alert kind, condition met, what was measured) for the native alerts of this window:
        ``estimated_performance`` when performance is estimated, ``multivariate`` when a
        multivariate method ran."""
        out: list[tuple[str, bool, str]] = []
        if self.method is not None and self.performance:
            degraded = self.degraded()
            basis = (
                f"{self.method} over {self.samples} samples; an estimate, assuming no concept drift"
            )
            if degraded:
                side = "lower" if HIGHER_IS_BETTER[self.method] else "upper"
                parts = [
                    f"estimated {e.metric} {e.value:.4g} beyond its {side} threshold "
                    f"{self._worse_limit(e):.4g}"
                    for e in degraded
                ]
            else:
                parts = [f"estimated {e.metric} {e.value:.4g}" for e in self.performance]
                parts[-1] += " within the thresholds"
            out.append(("estimated_performance", bool(degraded), f"{', '.join(parts)} ({basis})"))
        scores = self.multivariate_scores()
        if scores:
            drifted = [m for m in scores if m.drift]
            shown = drifted or list(scores)
            parts = [
                f"{m.method.replace('_', ' ')} {m.value:.4g} (thresholds "
                f"{_bound(m.thresholds.lower)} to {_bound(m.thresholds.upper)})"
                for m in shown
            ]
            verdict = "outside" if drifted else "inside"
            samples = self.multivariate_samples
            detail = f"{', '.join(parts)}: {verdict} the reference's range over {samples} samples"
            out.append(("multivariate", bool(drifted), detail))
        return out

    def to_dict(self) -> dict[str, Any]:
        def number(value: float | None) -> float | None:
            return None if value is None or not math.isfinite(value) else value

        out: dict[str, Any] = {
            "evaluated_at": self.evaluated_at,
            "performance": None,
            "multivariate": None,
        }
        if self.method is not None:
            out["performance"] = {
                "method": self.method,
                "samples": self.samples,
                "metrics": {
                    e.metric: {
                        "value": number(e.value),
                        "lower": number(e.lower),
                        "upper": number(e.upper),
                        "sampling_error": number(e.sampling_error),
                        "lower_threshold": number(e.thresholds.lower),
                        "upper_threshold": number(e.thresholds.upper),
                        "alert": e.alert,
                    }
                    for e in self.performance
                },
            }
        out["multivariate"] = {
            m.method: {
                "samples": self.multivariate_samples,
                "value": number(m.value),
                "lower_threshold": number(m.thresholds.lower),
                "upper_threshold": number(m.thresholds.upper),
                "drift": m.drift,
            }
            for m in self.multivariate_scores()
        } or None
        if self.multivariate is not None:
            band = out["multivariate"][RECONSTRUCTION]
            band["lower"] = number(self.multivariate.lower)
            band["upper"] = number(self.multivariate.upper)
        return out


def _bound(value: float | None) -> str:
    return "none" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _canonical(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    return np.array([canonical_category(v) for v in values], dtype=object)


def _score_classes(config: ModelConfig) -> tuple[bool, tuple[str, ...], str | None]:
    """(multiclass, classes in model order, positive label for binary) from columns.scores."""
    labels = [canonical_category(label) or "" for label in config.columns.scores]
    if len(labels) >= 3:
        return True, tuple(sorted(labels)), None
    positive = labels[-1]
    wanted = config.performance.positive_label
    if len(labels) == 2 and wanted is not None and canonical_category(wanted) in labels:
        positive = canonical_category(wanted) or positive
    return False, tuple(labels), positive


def _encoded(
    frame: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """The reference in the window's spelling: floats, and canonical strings (None missing)."""
    out = {}
    for name in numerical:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype(np.float64).to_numpy()
    for name in categorical:
        out[name] = _canonical(frame[name].tolist())
    return pd.DataFrame(out)


def fit_estimators(
    config: ModelConfig,
    frame: pd.DataFrame,
    schema_columns: tuple[tuple[str, ...], tuple[str, ...], str | None, bool],
) -> Estimators:
    """Fit what ``config.estimation`` enables on a reference ``frame``. ``schema_columns``:
    (numerical features, categorical features, prediction column, prediction is numerical)."""
    started = time.perf_counter()
    settings = config.estimation
    numerical, categorical, prediction, prediction_numeric = schema_columns
    size = config.window.size
    cbpe = dle = reconstruction = None
    features = _encoded(frame, numerical, categorical)
    if settings.reconstruction:
        reconstruction = fit_reconstruction(
            features,
            numerical=numerical,
            categorical=categorical,
            chunk_size=size,
            n_components=settings.explained_variance,
            std_multiplier=settings.threshold_std,
        )
    target = config.columns.target
    if settings.cbpe and target is not None and prediction is not None:
        multiclass, classes, positive = _score_classes(config)
        columns = dict(
            zip(
                (canonical_category(k) or "" for k in config.columns.scores),
                config.columns.scores.values(),
                strict=True,
            )
        )
        # rows CBPE can learn from: a target, a prediction and every score
        labelled = frame.dropna(subset=[target, prediction, *columns.values()])
        truth = _canonical(labelled[target].tolist())
        predicted = _canonical(labelled[prediction].tolist())
        unseen = sorted(set(classes) - set(truth.tolist()))
        if unseen:
            raise ValueError(
                f"columns.scores names the classes {unseen}, which the reference's "
                f"{target!r} column never takes (its classes: {sorted(set(truth.tolist()))})"
            )
        if multiclass:
            scores = labelled[[columns[c] for c in classes]].to_numpy(dtype=np.float64)
            cbpe = fit_cbpe(
                truth,
                predicted,
                scores,
                chunk_size=size,
                classes=classes,
                metrics=settings.cbpe_metrics,
                std_multiplier=settings.threshold_std,
            )
        else:
            assert positive is not None
            positive_scores = labelled[columns[positive]].to_numpy(dtype=np.float64)
            negative = next((c for c in classes if c != positive), f"not {positive}")
            cbpe = fit_cbpe(
                truth,
                predicted,
                positive_scores,
                chunk_size=size,
                classes=(negative, positive),
                metrics=settings.cbpe_metrics,
                std_multiplier=settings.threshold_std,
            )
    if settings.dle and target is not None and prediction is not None:
        design = features.copy()
        design[prediction] = (
            pd.to_numeric(frame[prediction], errors="coerce").to_numpy(dtype=np.float64)
            if prediction_numeric
            else _canonical(frame[prediction].tolist())
        )
        design[target] = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=np.float64)
        dle = fit_dle(
            design,
            features=[*numerical, *categorical],
            categorical=list(categorical),
            prediction=prediction,
            target=target,
            chunk_size=size,
            metrics=settings.dle_metrics,
            std_multiplier=settings.threshold_std,
        )
    domain_reference = None
    if settings.domain_classifier:
        _lightgbm(DOMAIN_CLASSIFIER_NEEDS)  # missing: the fit fails, not every window
        rows = settings.domain_classifier_rows
        domain_reference = (
            features.sample(n=rows, random_state=0) if len(features) > rows else features
        )
        domain_reference = domain_reference.reset_index(drop=True)
    return Estimators(
        cbpe,
        dle,
        reconstruction,
        time.perf_counter() - started,
        domain_reference,
        tuple(numerical),
        tuple(categorical),
    )


class ModelEstimation:
    """Thread-safe: ingestion appends scores, the evaluator reads them, the loader swaps the
    fitted models; the lock is held only to append, copy or swap."""

    def __init__(self, name: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.enabled = config.estimation.enabled
        #: why the estimators of the installed reference cannot be fitted (None: fitted)
        self.fit_error: str | None = None
        #: why the latest window's estimation failed (None: it worked)
        self.evaluate_error: str | None = None
        #: failures by stage (fit, evaluate), exported as drift_estimation_errors_total
        self.errors = {"fit": 0, "evaluate": 0}
        self._lock = threading.Lock()
        self._estimators: Estimators | None = None
        self._latest: EstimationResult | None = None
        self._predictions: deque[str | None] = deque(maxlen=config.window.size)
        self._scores: deque[float | tuple[float, ...]] = deque(maxlen=config.window.size)
        self._generation = 0  # changes with the recorded scores and the latest result

    @property
    def generation(self) -> int:
        """Changes when scores are recorded, a window is estimated or the state is reset or
        restored (snapshots skip a model whose generations are unchanged)."""
        return self._generation

    @property
    def error(self) -> str | None:
        """Why the estimation is not ready (None: it is), as /estimation shows it: a failed fit
        on the installed reference first (old estimators may still run), else the latest
        window's failure."""
        return self.fit_error or self.evaluate_error

    @property
    def estimators(self) -> Estimators | None:
        return self._estimators

    @property
    def latest(self) -> EstimationResult | None:
        return self._latest

    def set_reference(self, loaded: LoadedReference, loader: ReferenceLoader) -> None:
        """Install the estimators of the reference just loaded (the loader's thread): read from
        the cache when they were cached with this version, else fitted and cached; never raises."""
        if not self.enabled:
            return
        started = time.perf_counter()
        cached = loader.cached_estimators(loaded.info.version_id)
        if cached is not None:
            ready = Estimators.from_cache(cached, time.perf_counter() - started)
            log.info(
                "model %s: estimators read from the cache in %.3fs (version %s, not refitted)",
                self.name,
                ready.fit_seconds,
                loaded.info.version,
            )
        else:
            try:
                version_id, ready = self._fit(loaded, loader)
            except Exception as exc:  # estimation is an addition: drift monitoring goes on
                log.exception("model %s: cannot fit the estimators", self.name)
                with self._lock:
                    self.fit_error = f"cannot fit the estimators: {type(exc).__name__}: {exc}"
                    self.errors["fit"] += 1
                return
            log.info(
                "model %s: estimators fitted in %.2fs (not in the cache)",
                self.name,
                ready.fit_seconds,
            )
            loader.cache_estimators(version_id, ready.fitted())
        with self._lock:
            self._estimators = ready
            self._latest = None
            self.fit_error = self.evaluate_error = None

    def _fit(self, loaded: LoadedReference, loader: ReferenceLoader) -> tuple[str, Estimators]:
        """(the version the rows were read as, the estimators fitted on them)."""
        from drift.service.references import sample_rows

        frame, version_id = loaded.frame, loaded.info.version_id
        if frame is None:  # the profile came from the cache: read the rows again
            version = loader.source.current()
            frame, version_id = loader.source.load(version), version.id
        ref = self.config.reference
        frame = sample_rows(frame, ref.sample_rows, ref.sample_seed)
        schema = loaded.profile.sample_schema()
        pred = loaded.profile.prediction
        numeric_prediction = pred is not None and pred.column_type.value == "numerical"
        fitted = fit_estimators(
            self.config,
            frame,
            (
                tuple(schema.numerical),
                tuple(schema.categorical),
                schema.prediction,
                numeric_prediction,
            ),
        )
        return version_id, fitted

    def record(self, batch: Batch, prediction_column: str | None) -> None:
        """Keep the batch's predictions and scores for CBPE (samples without scores skipped)."""
        fitted = self._estimators
        if fitted is None or fitted.cbpe is None or prediction_column is None:
            return
        model = fitted.cbpe
        predictions = batch.columns[prediction_column]
        rows = []
        for prediction, scores in zip(predictions, batch.scores, strict=True):
            value = _read_scores(scores, model)
            if value is not None:
                rows.append((canonical_category(prediction), value))
        if rows:
            with self._lock:
                for prediction, value in rows:
                    self._predictions.append(prediction)
                    self._scores.append(value)
                self._generation += 1

    def reset(self) -> None:
        with self._lock:
            self._predictions.clear()
            self._scores.clear()
            self._latest = None
            self._generation += 1

    def to_state(self) -> dict[str, Any] | None:
        """The recorded predictions and scores (CBPE's half of the window) and the latest
        result, as plain data for a snapshot (drift/service/state.py); None when there is
        neither. The lock is held only to copy."""
        with self._lock:
            predictions = list(self._predictions)
            scores = list(self._scores)
            latest = self._latest
        if not predictions and latest is None:
            return None
        return {
            "predictions": predictions,
            "scores": np.asarray(scores, dtype=np.float64),  # (n,) binary, (n, classes) multiclass
            "latest": None if latest is None else _result_state(latest),
        }

    def restore(self, state: Mapping[str, Any]) -> int:
        """Take back what ``to_state`` saved (after ``set_reference``: the estimators fitted on
        the reference the snapshot was made with); how many scores. All or nothing: raises
        ValueError (or KeyError, TypeError) when the state does not fit this model."""
        predictions = state["predictions"]
        scores = np.asarray(state["scores"], dtype=np.float64)
        if not isinstance(predictions, list) or any(
            p is not None and not isinstance(p, str) for p in predictions
        ):
            raise ValueError("predictions must be a list of strings or nulls")
        if len(scores) != len(predictions):
            raise ValueError(f"{len(scores)} scores for {len(predictions)} predictions")
        if len(predictions) > self.config.window.size:
            raise ValueError(f"{len(predictions)} scores, more than window.size")
        cbpe = None if self._estimators is None else self._estimators.cbpe
        if predictions and cbpe is None:
            raise ValueError("scores were saved, but this model has no fitted CBPE")
        if cbpe is not None and len(scores):
            fits = (len(scores), len(cbpe.classes)) if cbpe.multiclass else (len(scores),)
            if scores.shape != fits:
                raise ValueError(f"scores of shape {scores.shape} do not fit the model's classes")
        rows: list[float | tuple[float, ...]] = (
            [tuple(float(v) for v in row) for row in scores]
            if scores.ndim == 2
            else [float(v) for v in scores]
        )
        saved = state["latest"]
        latest = None if saved is None else _result_from_state(saved)
        with self._lock:
            self._predictions.clear()
            self._predictions.extend(predictions)
            self._scores.clear()
            self._scores.extend(rows)
            self._latest = latest
            self._generation += 1
        return len(rows)

    def evaluate(self, window: pd.DataFrame) -> EstimationResult | None:
        """The estimates over ``window`` (the monitor's window frame) and the recorded scores."""
        fitted = self._estimators
        if fitted is None:
            return None
        with self._lock:
            predictions = np.array(self._predictions, dtype=object)
            scores = list(self._scores)
        method: str | None = None
        performance: tuple[Estimate, ...] = ()
        samples = 0
        if fitted.cbpe is not None and len(predictions):
            method, samples = "cbpe", len(predictions)
            performance = fitted.cbpe.estimate(predictions, np.asarray(scores, dtype=np.float64))
            if fitted.cbpe.multiclass:
                performance = tuple(
                    replace(e, metric=MULTICLASS_NAMES.get(e.metric, e.metric)) for e in performance
                )
        elif fitted.dle is not None and len(window):
            method, samples = "dle", len(window)
            performance = fitted.dle.estimate(window)
        multivariate = None
        if fitted.reconstruction is not None and len(window) >= 2:
            multivariate = fitted.reconstruction.score(window)
        domain = None
        if fitted.domain_reference is not None and len(window) >= DOMAIN_FOLDS:
            domain = classify_domain(
                fitted.domain_reference,
                window,
                numerical=fitted.numerical,
                categorical=fitted.categorical,
                folds=DOMAIN_FOLDS,
            )
        result = EstimationResult(
            time.time(), samples, method, performance, multivariate, len(window), domain
        )
        with self._lock:
            self._latest = result
            self._generation += 1
        return result

    def after_evaluation(self, window: Callable[[], pd.DataFrame]) -> EstimationResult | None:
        """Evaluate over ``window()`` when estimation is fitted (the evaluator's thread, after
        the drift evaluation); errors are logged, never raised (None)."""
        if not self.enabled or self._estimators is None:
            return None
        try:
            result = self.evaluate(window())
        except Exception as exc:  # an estimation must never kill the evaluator thread
            log.exception("model %s: estimation failed", self.name)
            with self._lock:
                self.evaluate_error = f"estimation failed: {type(exc).__name__}: {exc}"
                self.errors["evaluate"] += 1
            return None
        self.evaluate_error = None  # a failed fit stays shown until a fit works
        return result

    @property
    def ready(self) -> bool:
        """Estimators fitted on the installed reference, and the latest estimation worked."""
        return self._estimators is not None and self.error is None

    def export(self) -> EstimationExport:
        fitted, latest = self._estimators, self._latest
        fit_seconds = None if fitted is None else fitted.fit_seconds
        ready, errors = self.ready, dict(self.errors)
        if latest is None:
            return EstimationExport(self.name, fit_seconds=fit_seconds, ready=ready, errors=errors)
        return EstimationExport(
            self.name,
            latest.performance,
            latest.method,
            latest.multivariate_scores(),
            fit_seconds,
            ready,
            errors,
        )


def _thresholds(saved: Mapping[str, Any]) -> Thresholds:
    def bound(value: Any) -> float | None:
        return None if value is None else float(value)

    return Thresholds(bound(saved["lower"]), bound(saved["upper"]))


def _result_state(result: EstimationResult) -> dict[str, Any]:
    """``result`` as JSON-able data (floats exact: JSON keeps their shortest repr)."""
    return asdict(result)


def _banded(saved: Mapping[str, Any]) -> tuple[float, float, float, float, Thresholds, bool]:
    """The fields an ``Estimate`` (after its metric) and a ``ReconstructionError`` share, in
    their order: value, sampling error, band, thresholds, alert."""
    return (
        float(saved["value"]),
        float(saved["sampling_error"]),
        float(saved["lower"]),
        float(saved["upper"]),
        _thresholds(saved["thresholds"]),
        bool(saved["alert"]),
    )


def _result_from_state(saved: Mapping[str, Any]) -> EstimationResult:
    """What ``_result_state`` gave, rebuilt and type-checked (raises on a damaged part)."""
    method = saved["method"]
    if method not in (None, *HIGHER_IS_BETTER):
        raise ValueError(f"unknown estimation method {method!r}")
    performance = tuple(Estimate(str(e["metric"]), *_banded(e)) for e in saved["performance"])
    m = saved["multivariate"]
    multivariate = None if m is None else ReconstructionError(*_banded(m))
    d = saved["domain"]
    domain = (
        None
        if d is None
        else DomainClassification(float(d["value"]), _thresholds(d["thresholds"]), bool(d["alert"]))
    )
    return EstimationResult(
        float(saved["evaluated_at"]),
        int(saved["samples"]),
        method,
        performance,
        multivariate,
        int(saved["multivariate_samples"]),
        domain,
    )


def _read_scores(scores: Scores | None, model: CBPEModel) -> float | tuple[float, ...] | None:
    """A sample's scores in the model's class order; None when they do not fit it."""
    if scores is None:
        return None
    if not model.multiclass:
        if isinstance(scores, Mapping):
            value = scores.get(str(model.classes[1]))
            return None if value is None else float(value)
        return float(scores)
    if not isinstance(scores, Mapping):
        return None
    values = [scores.get(str(c)) for c in model.classes]
    if any(v is None for v in values):
        return None
    return tuple(float(v) for v in values if v is not None)
