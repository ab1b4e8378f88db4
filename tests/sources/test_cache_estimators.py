"""The estimators in the profile cache (drift/sources/cache.py): keyed by the estimation settings
and the window size only when estimation is enabled, stored per version beside the profile,
pruned with it, and ignored (logged) when unreadable or unwritable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drift.config import ModelConfig, settings_from_mapping
from drift.core.estimation import fit_cbpe
from drift.core.estimation_codec import FittedEstimators
from drift.core.reference import build_profile
from drift.ports import ReferenceVersion
from drift.sources.cache import (
    ESTIMATORS_SUFFIX,
    KEEP_VERSIONS,
    CachedEntry,
    ProfileCache,
    cache_key,
)
from tests.conftest import reference_frame
from tests.service.test_estimation import CLASSIFIER

COLUMNS = CLASSIFIER["columns"]


def config(window: int = 500, **estimation: Any) -> ModelConfig:
    model: dict[str, Any] = {
        "reference": {"s3": {"url": "s3://bucket/ref.csv"}},
        "columns": COLUMNS,
        "window": {"size": window, "step": window},
    }
    if estimation:
        model["estimation"] = estimation
    return settings_from_mapping({"models": {"m": model}}).models["m"]


def test_a_model_without_estimation_keeps_its_key() -> None:
    plain = cache_key(config())
    assert cache_key(config(window=300)) == plain  # the window shapes no uncalibrated profile
    assert cache_key(config(explained_variance=0.8, threshold_std=2.0)) == plain  # all off
    assert cache_key(config(cbpe=False, dle=False)) == plain


def test_the_key_hashes_the_estimation_settings_and_the_window_when_enabled() -> None:
    keys = {
        cache_key(config()),
        cache_key(config(cbpe=True)),
        cache_key(config(cbpe=True, threshold_std=2.0)),
        cache_key(config(cbpe=True, reconstruction=True)),
        cache_key(config(window=300, cbpe=True)),
        cache_key(config(reconstruction=True)),
        cache_key(config(reconstruction=True, explained_variance=0.8)),
    }
    assert len(keys) == 7
    assert cache_key(config(cbpe=True)) == cache_key(config(cbpe=True))


def fitted(seed: int) -> FittedEstimators:
    rng = np.random.default_rng(seed)
    scores = rng.random(300)
    truth = (rng.random(300) < scores).astype(np.int64)
    return FittedEstimators(
        cbpe=fit_cbpe(truth, (scores >= 0.5).astype(np.int64), scores, chunk_size=100)
    )


def put_version(cache: ProfileCache, version: str) -> None:
    profile = build_profile(
        reference_frame(30),
        config().columns.model_copy(update={"prediction": None, "target": None, "scores": {}}),
        version,
    )
    cache.put(CachedEntry(ReferenceVersion(version, version, "s"), 1.0), profile)
    cache.put_estimators(version, fitted(len(version)))


def test_estimators_are_stored_per_version_and_read_back(tmp_path: Path) -> None:
    cache = ProfileCache(tmp_path, "m", config(cbpe=True))
    assert cache.get_estimators("v1") is None  # nothing cached: no log, nothing to read
    put_version(cache, "v1")
    read = cache.get_estimators("v1")
    assert read is not None
    assert read.cbpe is not None
    scores = np.linspace(0, 1, 50)
    expected = fitted(2).cbpe
    assert expected is not None
    assert repr(read.cbpe.estimate(scores >= 0.5, scores)) == repr(
        expected.estimate(scores >= 0.5, scores)
    )
    assert cache.get_estimators("v2") is None
    assert len(list(cache.dir.glob(f"*{ESTIMATORS_SUFFIX}"))) == 1
    assert not list(cache.dir.glob(".tmp-*"))  # written whole, then renamed


def test_a_versions_estimators_are_pruned_with_its_profile(tmp_path: Path) -> None:
    cache = ProfileCache(tmp_path, "m", config(cbpe=True))
    versions = [f"v{i}" for i in range(KEEP_VERSIONS + 2)]
    for version in versions:
        put_version(cache, version)
    assert len(list(cache.dir.glob(f"*{ESTIMATORS_SUFFIX}"))) == KEEP_VERSIONS
    assert len(list(cache.dir.glob("*.npz"))) == 2 * KEEP_VERSIONS  # a profile and estimators each
    for version in versions[:2]:
        assert cache.get(version) is None
        assert cache.get_estimators(version) is None
    for version in versions[2:]:
        assert cache.get(version) is not None
        assert cache.get_estimators(version) is not None


def test_unreadable_estimators_are_ignored_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ProfileCache(tmp_path, "m", config(cbpe=True))
    put_version(cache, "v1")
    path = next(cache.dir.glob(f"*{ESTIMATORS_SUFFIX}"))
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    with caplog.at_level(logging.WARNING, logger="drift.sources.cache"):
        assert cache.get_estimators("v1") is None
    assert len(caplog.records) == 1
    assert "ignoring unreadable cached estimators" in caplog.text
    assert cache.get("v1") is not None  # the profile is not affected


def test_an_unwritable_cache_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    cache = ProfileCache(blocked, "m", config(cbpe=True))  # its directory cannot be created
    with caplog.at_level(logging.WARNING, logger="drift.sources.cache"):
        cache.put_estimators("v1", fitted(1))
    assert "cannot write the reference cache" in caplog.text
    assert cache.get_estimators("v1") is None
