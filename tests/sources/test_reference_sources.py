"""Reference sources without external components: config rules, the profile cache, sampling,
lazy imports of the SDKs, and refresh of a local file (the ClearML and S3 sources run against
real servers in ``tests/integration/test_reference_*.py``)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from drift.config import ClearMLReferenceConfig, S3ReferenceConfig, settings_from_mapping
from drift.core.reference import build_profile
from drift.errors import ConfigError, ReferenceUnavailable
from drift.ports import ReferenceVersion
from drift.service.references import sample_rows
from drift.service.service import DriftService
from drift.sources.cache import CachedEntry, ProfileCache
from tests.conftest import reference_frame, wait_until


def model(reference: dict[str, object], **extra: object) -> dict[str, object]:
    return {"models": {"m": {"reference": reference, **extra}}}


@pytest.mark.parametrize(
    ("reference", "field", "needle"),
    [
        ({}, "models.m.reference", "exactly one of"),
        ({"path": "a.csv", "s3": {"url": "s3://bucket/a.csv"}}, "models.m.reference", "path, s3"),
        ({"clearml": {"project": "p"}}, "models.m.reference.clearml", "project and name"),
        ({"clearml": {"dataset_id": "x", "version": "1"}}, "models.m.reference.clearml", "version"),
        ({"clearml": {"dataset_id": "x", "tag": "a"}}, "models.m.reference.clearml.tag", "Extra"),
        ({"s3": {"url": "https://bucket/a.csv"}}, "models.m.reference.s3.url", "pattern"),
        ({"path": "a.csv", "refresh_minutes": 0}, "models.m.reference.refresh_minutes", ""),
    ],
)
def test_config_errors_name_the_field(
    reference: dict[str, object], field: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(model(reference))
    fields = [f for f, _ in info.value.problems]
    assert field in fields
    assert needle in str(info.value)


def test_the_documented_forms_validate(tmp_path: Path) -> None:
    forms = [
        {"clearml": {"dataset_id": "8c7e", "files": "*.parquet"}},
        {"clearml": {"project": "credit", "name": "training-data", "version": "1.2.0"}},
        {"s3": {"url": "s3://bucket/ref/train.parquet", "endpoint_url": "http://minio:9000"}},
        {"path": "data/reference.parquet", "cache_dir": "cache"},
    ]
    kinds = []
    for form in forms:
        settings = settings_from_mapping(model(form), base_dir=tmp_path)
        kinds.append(settings.models["m"].reference.kind)
    assert kinds == ["clearml", "clearml", "s3", "file"]
    ref = settings.models["m"].reference
    assert ref.path == tmp_path / "data/reference.parquet"
    assert ref.cache_dir == tmp_path / "cache"


def test_the_row_sample_is_deterministic() -> None:
    frame = reference_frame(1000)
    first, again = sample_rows(frame, 100, 3), sample_rows(frame, 100, 3)
    assert len(first) == 100
    assert first.equals(again)
    assert not first.equals(sample_rows(frame, 100, 4))
    assert list(first.index) == sorted(first.index)  # original order kept
    assert sample_rows(frame, 5000, 3) is frame


def _cache(root: Path, numerical: list[str]) -> ProfileCache:
    config = settings_from_mapping(
        model({"s3": {"url": "s3://bucket/x.csv"}}, columns={"numerical": numerical})
    ).models["m"]
    return ProfileCache(root, "m", config)


def test_cache_round_trip_keyed_by_source_version_and_config(tmp_path: Path) -> None:
    profile = build_profile(
        reference_frame(50),
        settings_from_mapping(model({"path": "x"})).models["m"].columns,
        "src v1",
    )
    cache = _cache(tmp_path, ["age"])
    assert cache.latest() is None
    entry = CachedEntry(ReferenceVersion("id-1", "1.0", "src v1"), 123.0)
    cache.put(entry, profile)
    hit = cache.get("id-1")
    assert hit is not None
    assert hit[0] == entry
    assert hit[1].rows == 50
    assert cache.get("id-2") is None
    latest = cache.latest()
    assert latest is not None
    assert latest[0].version.label == "1.0"
    assert _cache(tmp_path, ["income"]).latest() is None  # other columns: other key


def test_a_broken_or_unwritable_cache_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = build_profile(
        reference_frame(20), settings_from_mapping(model({"path": "x"})).models["m"].columns, "s"
    )
    cache = _cache(tmp_path, ["age"])
    cache.put(CachedEntry(ReferenceVersion("v", "v", "s"), 1.0), profile)
    next(cache.dir.glob("*.npz")).write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        assert cache.latest() is None
    assert "unreadable cache entry" in caplog.text
    blocked = tmp_path / "file"
    blocked.write_text("")
    unwritable = _cache(blocked, ["age"])  # its directory cannot be created
    with caplog.at_level(logging.WARNING):
        unwritable.put(CachedEntry(ReferenceVersion("v", "v", "s"), 1.0), profile)
    assert "cannot write the reference cache" in caplog.text


def test_missing_sdks_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from drift.sources.clearml import ClearMLReference
    from drift.sources.s3 import S3Reference

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ReferenceUnavailable, match=r"drift-sidecar\[s3\]"):
        S3Reference(S3ReferenceConfig(url="s3://bucket/a.csv")).current()
    monkeypatch.setitem(sys.modules, "clearml", None)
    with pytest.raises(ReferenceUnavailable, match=r"drift-sidecar\[clearml\]"):
        ClearMLReference(ClearMLReferenceConfig(dataset_id="x")).current()


def test_a_file_refresh_swaps_the_reference_and_records_it(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    reference_frame(300).to_csv(path, index=False)
    settings = settings_from_mapping(
        model({"path": str(path), "refresh_minutes": 0.1 / 60}, columns={"numerical": ["age"]})
    )
    service = DriftService(settings)
    service.start(load_in_background=False)
    try:
        registry = service.registry
        first = service.readiness()[1]["m"]["reference"]["version"]
        assert (
            registry.get_sample_value(
                "drift_reference_info", {"model": "m", "source": "file", "version": first}
            )
            == 1
        )
        reference_frame(400).to_csv(path, index=False)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        wait_until(
            lambda: (
                registry.get_sample_value("drift_reference_switches_total", {"model": "m"}) == 1
            ),
            what="the refresh to switch",
        )
        assert service.monitors["m"].profile is not None
        assert service.monitors["m"].profile.rows == 400
        assert (
            registry.get_sample_value(
                "drift_reference_info", {"model": "m", "source": "file", "version": first}
            )
            is None
        )
        age = registry.get_sample_value("drift_reference_age_seconds", {"model": "m"})
        assert age is not None
        assert age < 60
    finally:
        service.stop()


def test_a_schema_error_names_the_column_and_the_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ref.csv"
    reference_frame(50).to_csv(path, index=False)
    settings = settings_from_mapping(
        model({"path": str(path)}, columns={"numerical": ["age", "city"]})
    )
    service = DriftService(settings)
    service.start(load_in_background=False)
    try:
        error = service.readiness()[1]["m"]["error"]
        assert "'city'" in error
        assert error.startswith("reference file: ")  # the kind, not the path
        assert str(tmp_path) not in error
        assert str(path) in caplog.text  # the path is in the log, for the operator
    finally:
        service.stop()
