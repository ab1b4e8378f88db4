"""Estimation through the service: fitted when the reference loads, fed by the samples route
(predictions and scores), evaluated with the window, exported to Prometheus; the numbers are the
core's on the same reference and window (the core's parity with NannyML:
tests/core/test_parity_nannyml.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drift.config import settings_from_mapping
from drift.core.estimation import CBPE_METRICS, fit_cbpe
from drift.core.loss_estimation import fit_dle
from drift.core.multivariate import classify_domain, fit_reconstruction
from drift.errors import ConfigError
from drift.service.service import DriftService
from tests.conftest import wait_until

WINDOW = 500


def classifier_frame(rows: int, seed: int, rho: float = 0.8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, rows)
    income = rho * (age - 40) / 10 + np.sqrt(1 - rho**2) * rng.normal(size=rows)
    proba = rng.beta(2, 2, rows)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "city": rng.choice(["berlin", "paris", "rome"], rows),
            "pred": (proba >= 0.5).astype(int),
            "proba": proba,
            "truth": (rng.random(rows) < proba).astype(int),
        }
    )


def start(tmp_path: Path, frame: pd.DataFrame, model: dict[str, Any]) -> DriftService:
    path = tmp_path / "ref.csv"
    if not path.exists():
        frame.to_csv(path, index=False)
    model = {
        "reference": {"path": str(path), "cache_dir": str(tmp_path / "cache")},
        "window": {"size": WINDOW, "step": WINDOW},
        **model,
    }
    service = DriftService(settings_from_mapping({"models": {"m": model}}))
    service.start(load_in_background=False)
    return service


CLASSIFIER = {
    "columns": {
        "numerical": ["age", "income"],
        "categorical": ["city"],
        "prediction": "pred",
        "prediction_type": "categorical",
        "target": "truth",
        "scores": {"1": "proba"},
    },
    "estimation": {"cbpe": True, "reconstruction": True},
}


def samples(frame: pd.DataFrame, scores: bool = True) -> dict[str, Any]:
    return {
        "samples": [
            {
                "features": {"age": r.age, "income": r.income, "city": r.city},
                "prediction": int(r.pred),
                **({"scores": float(r.proba)} if scores else {}),
            }
            for r in frame.itertuples()
        ]
    }


@pytest.fixture
def classifier(tmp_path: Path) -> Iterator[tuple[DriftService, pd.DataFrame]]:
    reference = classifier_frame(5000, 1)
    service = start(tmp_path, reference, CLASSIFIER)
    try:
        yield service, reference
    finally:
        service.stop()


def value(service: DriftService, name: str, **labels: str) -> float | None:
    return service.registry.get_sample_value(name, {"model": "m", **labels})


def test_a_classifier_window_is_estimated_as_the_core_estimates_it(
    classifier: tuple[DriftService, pd.DataFrame],
) -> None:
    service, reference = classifier
    estimation = service.estimation["m"]
    assert estimation.estimators is not None
    assert estimation.estimators.cbpe is not None
    window = classifier_frame(WINDOW, 2, rho=-0.8)  # the joint distribution flips
    service.ingest("m", samples(window))
    wait_until(lambda: estimation.latest is not None, what="an estimation")

    truth = reference["truth"].astype(str).to_numpy()
    predicted = reference["pred"].astype(str).to_numpy()
    cbpe = fit_cbpe(
        truth, predicted, reference["proba"].to_numpy(), chunk_size=WINDOW, classes=("0", "1")
    )
    expected = {
        e.metric: e
        for e in cbpe.estimate(window["pred"].astype(str).to_numpy(), window["proba"].to_numpy())
    }
    assert set(expected) == set(CBPE_METRICS)
    for metric, e in expected.items():
        labels = {"metric": metric, "method": "cbpe"}
        assert value(service, "drift_model_performance_estimated", **labels) == pytest.approx(
            e.value, abs=1e-12
        )
        assert value(service, "drift_model_performance_estimated_lower", **labels) == pytest.approx(
            e.lower, abs=1e-12
        )
        assert value(service, "drift_model_performance_estimated_upper", **labels) == pytest.approx(
            e.upper, abs=1e-12
        )
        assert value(service, "drift_model_performance_estimated_alert", **labels) == float(e.alert)
        if e.thresholds.lower is not None:
            assert value(
                service, "drift_model_performance_estimated_threshold", bound="lower", **labels
            ) == pytest.approx(e.thresholds.lower, abs=1e-12)

    features = reference[["age", "income", "city"]]
    multivariate = fit_reconstruction(
        features, numerical=["age", "income"], categorical=["city"], chunk_size=WINDOW
    ).score(window[["age", "income", "city"]])
    method = {"method": "pca_reconstruction"}
    assert value(service, "drift_multivariate_score", **method) == pytest.approx(
        multivariate.value, rel=1e-9
    )
    assert multivariate.alert  # the flipped correlation is flagged
    assert value(service, "drift_multivariate_drift", **method) == 1.0
    assert multivariate.thresholds.upper is not None
    assert value(service, "drift_multivariate_threshold", bound="upper", **method) == pytest.approx(
        multivariate.thresholds.upper, rel=1e-9
    )
    fit_seconds = value(service, "drift_estimation_fit_seconds")
    assert fit_seconds is not None
    assert fit_seconds > 0

    body = estimation.latest.to_dict() if estimation.latest is not None else {}
    assert body["performance"]["method"] == "cbpe"
    assert body["performance"]["samples"] == WINDOW
    assert body["multivariate"]["pca_reconstruction"]["drift"] is True
    assert body["multivariate"]["pca_reconstruction"]["upper"] >= multivariate.value


def test_samples_without_scores_feed_the_multivariate_score_only(
    classifier: tuple[DriftService, pd.DataFrame],
) -> None:
    service, _ = classifier
    service.ingest("m", samples(classifier_frame(WINDOW, 3), scores=False))
    estimation = service.estimation["m"]
    wait_until(lambda: estimation.latest is not None, what="an estimation")
    assert estimation.latest is not None
    assert estimation.latest.method is None
    assert estimation.latest.multivariate is not None
    assert not estimation.latest.multivariate.alert  # same distribution as the reference
    assert value(service, "drift_model_performance_estimated", metric="f1", method="cbpe") is None


def test_a_reference_served_from_the_cache_comes_with_its_estimators(tmp_path: Path) -> None:
    """The second start installs the cached profile with estimators (read from the cache:
    tests/service/test_estimation_cache.py shows that the source is not read again)."""
    reference = classifier_frame(3000, 4)
    first = start(tmp_path, reference, CLASSIFIER)
    first.stop()
    first._references["m"].wait_cached()
    second = start(tmp_path, reference, CLASSIFIER)
    try:
        assert any((tmp_path / "cache").rglob("*")), "the profile was cached"
        fitted = second.estimation["m"].estimators
        assert fitted is not None
        assert fitted.cached
        assert fitted.cbpe is not None
        assert fitted.reconstruction is not None
    finally:
        second.stop()


def test_a_regressor_window_is_estimated_with_dle(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = 4000
    x = rng.normal(0, 1, rows)
    kind = rng.choice(["calm", "wild"], rows)
    truth = 2 * x + rng.normal(0, 0.2 + np.abs(x) * np.where(kind == "wild", 1.0, 0.3))
    reference = pd.DataFrame({"x": x, "kind": kind, "pred": 2 * x, "y": truth})
    model = {
        "columns": {
            "numerical": ["x"],
            "categorical": ["kind"],
            "prediction": "pred",
            "target": "y",
        },
        "performance": {"task": "regression"},
        "estimation": {"dle": True},
    }
    service = start(tmp_path, reference, model)
    try:
        window = reference.sample(WINDOW, random_state=6)
        window = window.assign(x=window["x"] + 1.0, pred=window["pred"] + 2.0)
        payload = {
            "samples": [
                {"features": {"x": r.x, "kind": r.kind}, "prediction": r.pred}
                for r in window.itertuples()
            ]
        }
        service.ingest("m", payload)
        estimation = service.estimation["m"]
        wait_until(lambda: estimation.latest is not None, timeout=30, what="an estimation")
        dle = fit_dle(
            reference,
            features=["x", "kind"],
            categorical=["kind"],
            prediction="pred",
            target="y",
            chunk_size=WINDOW,
        )
        for e in dle.estimate(window):
            got = value(service, "drift_model_performance_estimated", metric=e.metric, method="dle")
            assert got == pytest.approx(e.value, rel=1e-9)
    finally:
        service.stop()


def test_the_domain_classifier_tells_a_flipped_correlation_from_the_reference(
    tmp_path: Path,
) -> None:
    reference = classifier_frame(3000, 7)
    model = {
        "columns": {"numerical": ["age", "income"], "categorical": ["city"], "prediction": "pred"},
        "estimation": {"domain_classifier": True, "domain_classifier_rows": 1000},
    }
    service = start(tmp_path, reference, model)
    try:
        window = classifier_frame(WINDOW, 8, rho=-0.8)
        service.ingest("m", samples(window, scores=False))
        estimation = service.estimation["m"]
        wait_until(lambda: estimation.latest is not None, timeout=30, what="an estimation")
        sample = reference.sample(n=1000, random_state=0)
        expected = classify_domain(
            sample, window, numerical=["age", "income"], categorical=["city"]
        )
        method = {"method": "domain_classifier"}
        assert value(service, "drift_multivariate_score", **method) == pytest.approx(
            expected.value, abs=1e-12
        )
        assert expected.value > 0.65  # separable: the correlation flipped
        assert value(service, "drift_multivariate_drift", **method) == 1.0
        assert value(
            service, "drift_multivariate_threshold", bound="upper", **method
        ) == pytest.approx(0.65)
    finally:
        service.stop()


def test_a_fit_that_fails_keeps_its_reason_and_drift_monitoring_goes_on(tmp_path: Path) -> None:
    reference = classifier_frame(2000, 9)
    model = {**CLASSIFIER, "columns": {**CLASSIFIER["columns"], "scores": {"yes": "proba"}}}
    service = start(tmp_path, reference, model)
    try:
        estimation = service.estimation["m"]
        assert estimation.estimators is None
        assert estimation.error is not None
        assert "'yes'" in estimation.error
        assert "never takes" in estimation.error
        service.ingest("m", samples(classifier_frame(WINDOW, 10)))
        wait_until(lambda: service.latest("m") is not None, what="a drift report")
        assert (
            value(service, "drift_model_performance_estimated", metric="f1", method="cbpe") is None
        )
        # shown: not ready, the failure counted by stage, the reason on /estimation
        assert value(service, "drift_estimation_ready") == 0
        assert value(service, "drift_estimation_errors_total", stage="fit") == 1
        assert value(service, "drift_estimation_errors_total", stage="evaluate") == 0
        from fastapi.testclient import TestClient

        from drift.service.app import create_app

        with TestClient(create_app(service, manage_lifecycle=False)) as client:
            answer = client.get("/v1/models/m/estimation")
        assert answer.status_code == 503
        assert answer.json()["error"] == "estimation_failed"
        assert "never takes" in answer.json()["detail"]
    finally:
        service.stop()


def test_a_failing_window_estimation_is_shown_next_to_the_last_good_estimate(
    classifier: tuple[DriftService, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window whose estimation raises (injected: the reconstruction's scoring fails once)
    leaves the last estimate in place, sets ready to 0 with the reason on /estimation and
    counts it; the next window that works clears it."""
    from fastapi.testclient import TestClient

    from drift.service.app import create_app

    service, _reference = classifier
    estimation = service.estimation["m"]
    service.ingest("m", samples(classifier_frame(WINDOW, 2)))
    wait_until(lambda: estimation.latest is not None, what="an estimation")
    good = estimation.latest
    assert value(service, "drift_estimation_ready") == 1
    fitted = estimation.estimators
    assert fitted is not None
    assert fitted.reconstruction is not None
    reconstruction = type(fitted.reconstruction)

    def broken(self: object, window: pd.DataFrame) -> None:
        raise FloatingPointError("injected")

    monkeypatch.setattr(reconstruction, "score", broken)
    service.ingest("m", samples(classifier_frame(WINDOW, 3)))
    wait_until(lambda: estimation.errors["evaluate"] == 1, what="the failed estimation")
    assert estimation.latest is good
    assert value(service, "drift_estimation_ready") == 0
    assert value(service, "drift_estimation_errors_total", stage="evaluate") == 1
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        body = client.get("/v1/models/m/estimation").json()
    assert body["failure"] == "estimation failed: FloatingPointError: injected"
    assert body["evaluated_at"] == good.evaluated_at

    monkeypatch.undo()
    service.ingest("m", samples(classifier_frame(WINDOW, 4)))
    wait_until(lambda: estimation.latest is not good, what="the next estimation")
    assert estimation.error is None
    assert value(service, "drift_estimation_ready") == 1
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        assert client.get("/v1/models/m/estimation").json()["failure"] is None


def test_cbpe_without_scores_is_refused_naming_the_field(tmp_path: Path) -> None:
    model = {
        "reference": {"path": str(tmp_path / "ref.csv")},
        "columns": {"numerical": ["age"], "prediction": "pred", "target": "truth"},
        "estimation": {"cbpe": True},
    }
    with pytest.raises(ConfigError, match=r"columns\.scores"):
        settings_from_mapping({"models": {"m": model}})


def test_the_estimation_route_answers_what_the_metrics_export(
    classifier: tuple[DriftService, pd.DataFrame],
) -> None:
    """GET /v1/models/m/estimation: 404 no_result before the first window, then the window's
    estimates and multivariate score, equal to the exported series; 404 estimation_off for a
    model without the section."""
    from fastapi.testclient import TestClient

    from drift.service.app import create_app

    service, _reference = classifier
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        before = client.get("/v1/models/m/estimation")
        assert (before.status_code, before.json()["error"]) == (404, "no_result")
        service.ingest("m", samples(classifier_frame(WINDOW, 2, rho=-0.8)))
        wait_until(lambda: service.estimation["m"].latest is not None, what="an estimation")
        body = client.get("/v1/models/m/estimation").json()
        assert body["performance"]["method"] == "cbpe"
        for metric, got in body["performance"]["metrics"].items():
            labels = {"metric": metric, "method": "cbpe"}
            assert got["value"] == value(service, "drift_model_performance_estimated", **labels)
        reconstruction = body["multivariate"]["pca_reconstruction"]
        assert reconstruction["value"] == value(
            service, "drift_multivariate_score", method="pca_reconstruction"
        )


def test_the_estimation_route_says_when_a_model_has_none(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from drift.service.app import create_app

    plain = {"columns": {"numerical": ["age", "income"], "categorical": ["city"]}}
    service = start(tmp_path, classifier_frame(500, 1), plain)
    try:
        with TestClient(create_app(service, manage_lifecycle=False)) as client:
            answer = client.get("/v1/models/m/estimation")
            assert (answer.status_code, answer.json()["error"]) == (404, "estimation_off")
            assert client.get("/v1/models/nope/estimation").status_code == 404
    finally:
        service.stop()


def test_the_estimation_counts_against_the_evaluators_cpu_share(
    classifier: tuple[DriftService, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estimation runs inside the model's evaluation on the evaluator thread, so
    ``server.evaluation_cpu_share`` bounds it with the drift evaluation (injected: an estimation
    that takes 0.3 s is in the evaluator's busy time)."""
    import time

    from drift.service.estimation import ModelEstimation

    service, _reference = classifier
    original = ModelEstimation.evaluate

    def slow(self: ModelEstimation, window: pd.DataFrame) -> Any:
        time.sleep(0.3)
        return original(self, window)

    monkeypatch.setattr(ModelEstimation, "evaluate", slow)
    busy = service.evaluator.busy_seconds
    service.ingest("m", samples(classifier_frame(WINDOW, 2)))
    wait_until(lambda: service.estimation["m"].latest is not None, what="an estimation")
    wait_until(lambda: service.evaluator.busy_seconds - busy >= 0.3, what="the busy time")


def test_a_failed_refit_stays_shown_whatever_the_windows_do(
    classifier: tuple[DriftService, pd.DataFrame], tmp_path: Path
) -> None:
    """A newer reference the estimators cannot be fitted on (its target never takes the scored
    class): the previous estimators go on estimating, but the estimation is not ready until a
    fit works, even after windows that work; a window's own failure does not hide it."""
    import os

    service, reference = classifier
    estimation = service.estimation["m"]
    path = tmp_path / "ref.csv"
    reference.assign(truth=0).to_csv(path, index=False)
    os.utime(path, (1e9, 2e9))  # a newer version of the file
    assert service.load_references(["m"]) == {"m"}
    assert service.monitors["m"].reference_info is not None
    assert estimation.fit_error is not None
    assert "never takes" in estimation.fit_error
    assert estimation.estimators is not None  # the previous reference's
    service.ingest("m", samples(classifier_frame(WINDOW, 2)))
    wait_until(lambda: estimation.latest is not None, what="an estimation")
    assert estimation.evaluate_error is None
    assert estimation.error == estimation.fit_error
    assert not estimation.ready
    assert value(service, "drift_estimation_ready") == 0
    # a fit that works (the original reference again) makes it ready
    reference.to_csv(path, index=False)
    os.utime(path, (1e9, 3e9))
    assert service.load_references(["m"]) == {"m"}
    assert estimation.error is None
    assert value(service, "drift_estimation_ready") == 1
