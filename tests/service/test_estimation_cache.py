"""Start-up cost of estimation (issue 20): the estimators fitted on a reference are cached beside
its profile, so a restart with a warm cache neither reads the reference rows from the source
nor refits, and estimates what the first start estimated. A real file reference throughout; the
source's reads are counted by a subclass of the real ``FileReference``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drift.config import ModelConfig, settings_from_mapping
from drift.ports import ReferenceVersion
from drift.service.estimation import ModelEstimation
from drift.service.references import LoadedReference, ReferenceLoader
from drift.service.service import DriftService
from drift.sources.cache import ESTIMATORS_SUFFIX
from drift.sources.file import FileReference
from tests.conftest import wait_until
from tests.service.test_estimation import CLASSIFIER, WINDOW, classifier_frame, samples

LOGGERS = ("drift.service.estimation", "drift.service.references", "drift.sources.cache")


@dataclass(frozen=True)
class CountingFile(FileReference):
    """The real file source, counting its reads of the rows."""

    reads: list[ReferenceVersion | None] = field(default_factory=list)

    def load(self, version: ReferenceVersion | None = None) -> pd.DataFrame:
        self.reads.append(version)
        return super().load(version)


def regressor_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, rows)
    kind = rng.choice(["calm", "wild"], rows)
    truth = 2 * x + rng.normal(0, 0.2 + np.abs(x) * np.where(kind == "wild", 1.0, 0.3))
    return pd.DataFrame({"x": x, "kind": kind, "pred": 2 * x, "y": truth})


CLASSIFIER_ALL = {
    **CLASSIFIER,
    "estimation": {
        "cbpe": True,
        "reconstruction": True,
        "domain_classifier": True,
        "domain_classifier_rows": 800,
    },
}
REGRESSOR = {
    "columns": {"numerical": ["x"], "categorical": ["kind"], "prediction": "pred", "target": "y"},
    "performance": {"task": "regression"},
    "estimation": {"dle": True, "reconstruction": True},
}
MODELS = {
    "classifier": (classifier_frame, CLASSIFIER_ALL),
    "regressor": (regressor_frame, REGRESSOR),
}


def model_config(tmp_path: Path, frame: pd.DataFrame, model: dict[str, Any]) -> ModelConfig:
    path = tmp_path / "ref.csv"
    if not path.exists():
        frame.to_csv(path, index=False)
    settings = {
        "reference": {"path": str(path), "cache_dir": str(tmp_path / "cache")},
        "window": {"size": WINDOW, "step": WINDOW},
        **model,
    }
    return settings_from_mapping({"models": {"m": settings}}).models["m"]


def start(config: ModelConfig) -> tuple[ReferenceLoader, CountingFile, ModelEstimation]:
    """What ``DriftService`` does at start for one model: load the reference, then install
    its estimators (with the loader's source counting its reads)."""
    loader = ReferenceLoader("m", config)
    assert config.reference.path is not None
    source = CountingFile(config.reference.path)
    loader.source = source
    loaded = loader.load()
    assert isinstance(loaded, LoadedReference)
    estimation = ModelEstimation("m", config)
    estimation.set_reference(loaded, loader)
    loader.wait_cached()
    return loader, source, estimation


def answers(estimation: ModelEstimation, window: pd.DataFrame) -> str:
    """Every estimate of the window, spelled exactly (CBPE on the window's own scores)."""
    fitted = estimation.estimators
    assert fitted is not None
    result = estimation.evaluate(window.drop(columns=["proba", "truth", "y"], errors="ignore"))
    assert result is not None
    cbpe = (
        ()
        if fitted.cbpe is None
        else fitted.cbpe.estimate(window["pred"].astype(str).to_numpy(), window["proba"].to_numpy())
    )
    return repr((cbpe, result.performance, result.multivariate, result.domain))


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_warm_cache_neither_reads_the_source_nor_refits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    make, model = MODELS[kind]
    config = model_config(tmp_path, make(3000, 1), model)
    with caplog.at_level(logging.INFO, logger="drift.service.estimation"):
        _, cold_source, cold = start(config)
    assert len(cold_source.reads) == 1  # the rows, read once for the profile and the fit
    assert cold.estimators is not None
    assert not cold.estimators.cached
    assert "estimators fitted in" in caplog.text
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="drift.service.estimation"):
        loader, warm_source, warm = start(config)
    assert warm_source.reads == []  # neither for the profile nor for the estimators
    assert warm.estimators is not None
    assert warm.estimators.cached
    assert warm.error is None
    assert "estimators read from the cache" in caplog.text
    assert "estimators fitted" not in caplog.text
    assert warm.export().fit_seconds == warm.estimators.fit_seconds
    assert len(list(loader.cache.dir.glob(f"*{ESTIMATORS_SUFFIX}"))) == 1

    window = make(WINDOW, 2)
    if kind == "classifier":
        window = classifier_frame(WINDOW, 2, rho=-0.8)
    assert answers(warm, window) == answers(cold, window)


def test_unreadable_cached_estimators_cost_one_log_line_and_a_fit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = model_config(tmp_path, classifier_frame(2000, 3), CLASSIFIER)
    loader, _, cold = start(config)
    stored = next(loader.cache.dir.glob(f"*{ESTIMATORS_SUFFIX}"))
    stored.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        _, source, refitted = start(config)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["drift.sources.cache"]
    assert "ignoring unreadable cached estimators" in warnings[0].getMessage()
    assert len(source.reads) == 1  # the profile is cached: the rows are read again for the fit
    assert refitted.estimators is not None
    assert not refitted.estimators.cached
    _, source, warm = start(config)  # the fit was written again
    assert source.reads == []
    assert warm.estimators is not None
    assert warm.estimators.cached
    window = classifier_frame(WINDOW, 4)
    assert answers(warm, window) == answers(cold, window)


def test_an_unwritable_cache_is_logged_and_the_estimators_are_fitted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("")  # a file where the cache directory would be
    config = model_config(tmp_path, classifier_frame(2000, 5), CLASSIFIER)
    with caplog.at_level(logging.WARNING):
        _, source, estimation = start(config)
    assert "cannot write the reference cache" in caplog.text
    assert estimation.error is None
    assert estimation.estimators is not None
    assert len(source.reads) == 1
    _, source, again = start(config)  # nothing cached: read and fitted again
    assert len(source.reads) == 1
    assert again.estimators is not None
    assert not again.estimators.cached


def test_a_restarted_service_is_ready_without_the_reference_rows(tmp_path: Path) -> None:
    """The whole service: after a first start, the reference file's contents are destroyed
    (same size and modification time, so the same version): the second start installs the
    cached profile and estimators, and estimates a window as the first start did."""
    reference = classifier_frame(3000, 6)
    path = tmp_path / "ref.csv"
    reference.to_csv(path, index=False)
    model = {
        "reference": {"path": str(path), "cache_dir": str(tmp_path / "cache")},
        "window": {"size": WINDOW, "step": WINDOW},
        **CLASSIFIER,
    }
    settings = settings_from_mapping({"models": {"m": model}})
    window = classifier_frame(WINDOW, 7, rho=-0.8)

    def run() -> tuple[dict[str, Any], float | None, bool]:
        service = DriftService(settings)
        service.start(load_in_background=False)
        try:
            estimation = service.estimation["m"]
            assert estimation.error is None
            assert estimation.estimators is not None
            service.ingest("m", samples(window))
            wait_until(lambda: estimation.latest is not None, what="an estimation")
            assert estimation.latest is not None
            body = estimation.latest.to_dict()
            body.pop("evaluated_at")
            seconds = service.registry.get_sample_value(
                "drift_estimation_fit_seconds", {"model": "m"}
            )
            return body, seconds, estimation.estimators.cached
        finally:
            service.stop()

    def cached() -> bool:  # the profile, its metadata and the estimators: written in background
        names = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
        return len(names) == 4 and not any(n.startswith(".tmp-") for n in names)

    first, first_seconds, first_cached = run()
    assert not first_cached
    wait_until(cached, what="the cache written")
    stat = path.stat()
    path.write_bytes(b"x" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second, second_seconds, second_cached = run()
    assert second_cached
    assert second == first
    assert first_seconds is not None
    assert second_seconds is not None
