"""drift.service.state: the snapshot file format (zip of JSON and .npy, no pickle, atomic,
versioned) and restarts of the service: what is restored, what a config change discards (with
the reason logged), and files that are truncated, corrupt or of another version (the model
starts empty, the start goes on, the outcome is counted)."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from drift.config import Settings, settings_from_mapping
from drift.service.service import DriftService
from drift.service.state import (
    FORMAT,
    VERSION,
    SnapshotUnreadable,
    read_snapshot,
    write_snapshot,
)
from tests.conftest import reference_frame, wait_until
from tests.service.conftest import start

MODEL = "m"


# the file format -------------------------------------------------------------------------------


def test_a_document_round_trips_with_its_arrays(tmp_path: Path) -> None:
    path = tmp_path / "m.zip"
    document = {
        "model": "m",
        "nan": float("nan"),
        "nested": {"x": np.arange(5, dtype=np.float64), "list": [1, "a", None]},
        "codes": np.array([0, -1, 2], dtype=np.int32),
        "empty": np.zeros(0),
    }
    size = write_snapshot(path, document)
    assert size == path.stat().st_size
    again = read_snapshot(path)
    assert again["model"] == "m"
    assert again["nested"]["list"] == [1, "a", None]
    np.testing.assert_array_equal(again["nested"]["x"], np.arange(5.0))
    assert again["codes"].dtype == np.int32
    assert again["codes"].tolist() == [0, -1, 2]
    assert again["empty"].shape == (0,)
    with zipfile.ZipFile(path) as archive:  # inspectable with unzip and a JSON viewer
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
        header = json.loads(archive.read("header.json"))
    assert (header["format"], header["version"]) == (FORMAT, VERSION)
    assert ["nested", "x"] in header["arrays"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_arrays_of_python_objects_are_never_written(tmp_path: Path) -> None:
    path = tmp_path / "m.zip"
    write_snapshot(path, {"model": "old"})
    with pytest.raises(ValueError, match="pickle"):
        write_snapshot(path, {"model": "new", "x": np.array([{"a": 1}], dtype=object)})
    assert read_snapshot(path)["model"] == "old"  # the old snapshot stands
    assert [p.name for p in tmp_path.iterdir()] == ["m.zip"]  # no temporary file left


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


class Boom:
    def __reduce__(self) -> tuple[Any, ...]:
        return (pytest.fail, ("a snapshot was unpickled",))


def _header(**changes: Any) -> bytes:
    header = {"format": FORMAT, "version": VERSION, "document": {"x": None}, "arrays": [["x"]]}
    return json.dumps(header | changes).encode()


@pytest.mark.parametrize(
    ("data", "outcome"),
    [
        (b"", "corrupt"),
        (b"not a zip at all", "corrupt"),
        (_zip({"header.json": _header(version=VERSION + 1)}), "unsupported_version"),
        (_zip({"header.json": _header(version="1")}), "unsupported_version"),
        (_zip({"header.json": _header(format="something-else")}), "corrupt"),
        (_zip({"header.json": b"{not json"}), "corrupt"),
        (_zip({"header.json": _header()}), "corrupt"),  # the array is missing
        (_zip({"header.json": _header(), "arrays/0.npy": _npy(np.array([Boom()]))}), "corrupt"),
        (_zip({"header.json": _header(), "arrays/0.npy": _npy(np.zeros(4))[:-8]}), "corrupt"),
        (_zip({"header.json": _header(arrays=[["y", "z"]]), "arrays/0.npy": _npy(np.zeros(1))}),
         "corrupt"),
    ],
)  # fmt: skip
def test_unusable_files_are_reported_not_raised(tmp_path: Path, data: bytes, outcome: str) -> None:
    path = tmp_path / "m.zip"
    path.write_bytes(data)
    with pytest.raises(SnapshotUnreadable) as caught:
        read_snapshot(path)
    assert caught.value.outcome == outcome


def test_a_flipped_bit_or_a_cut_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "m.zip"
    write_snapshot(path, {"model": "m", "x": np.arange(1000, dtype=np.float64)})
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], data[:-1], data[:300] + b"\xff" + data[301:]):
        path.write_bytes(damaged)
        with pytest.raises(SnapshotUnreadable):
            read_snapshot(path)


# the service across restarts ---------------------------------------------------------------------


def make_settings(
    tmp_path: Path,
    window: dict[str, Any] | None = None,
    performance: dict[str, Any] | None = None,
    state: bool = True,
) -> Settings:
    reference = tmp_path / "reference.csv"
    if not reference.exists():
        reference_frame().to_csv(reference, index=False)
    model = {
        "reference": {"path": str(reference)},
        "columns": {"numerical": ["age", "income"], "categorical": ["city"], "prediction": "score"},
        "window": {"size": 200, "step": 50, "min_seconds_between_evaluations": 0, **(window or {})},
        "performance": {"label_ttl_seconds": 3600, **(performance or {})},
    }
    return settings_from_mapping(
        {
            **(
                {"state": {"dir": str(tmp_path / "state"), "snapshot_seconds": 3600}}
                if state
                else {}
            ),
            "models": {MODEL: model},
        }
    )


def samples(n: int, prefix: str, drifted: bool = True) -> dict[str, Any]:
    rng = np.random.default_rng(len(prefix) + n)
    rows = []
    for i in range(n):
        age = float(rng.normal(70 if drifted else 40, 5))
        city = "tokyo" if drifted and i % 2 else "paris"  # a category the reference lacks
        features = {"age": age, "income": float(rng.lognormal(10, 0.5)), "city": city}
        rows.append({"id": f"{prefix}{i}", "features": features, "prediction": float(i % 10)})
    return {"samples": rows}


def restores(svc: DriftService, outcome: str) -> float | None:
    return svc.registry.get_sample_value(
        "drift_state_restore_total", {"model": MODEL, "outcome": outcome}
    )


def filled(services: list[DriftService], settings: Settings) -> DriftService:
    """A service with a drifted window of 150 samples, a verdict, labels waiting both ways."""
    svc = start(services, settings)
    svc.ingest(MODEL, samples(150, "s"))
    wait_until(lambda: svc.latest(MODEL) is not None and svc.latest(MODEL).samples_seen == 150)
    svc.ingest_labels(MODEL, {"labels": [{"id": "s1", "label": 1.0}, {"id": "later", "label": 2}]})
    return svc


def test_a_restart_restores_window_verdict_and_label_join(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    old = filled(services, settings)
    assert old.state is not None
    assert old.state.snapshot(MODEL)
    # kill -9: no stop, the periodic snapshot is what is left
    new = start(services, settings)
    assert new.readiness()[0]
    assert restores(new, "restored") == 1
    latest = new.latest(MODEL)
    assert latest is not None
    assert latest == old.latest(MODEL)
    assert latest.dataset_drift
    pd.testing.assert_frame_equal(
        new.monitors[MODEL].window_frame(), old.monitors[MODEL].window_frame()
    )
    assert new.monitors[MODEL].window_samples == 150
    view = new.performance[MODEL].view()
    assert (view.pending_predictions, view.pending_labels) == (149, 1)
    # labels for ids sent before the restart join; a label held before it joins its prediction
    outcome = new.ingest_labels(
        MODEL, {"labels": [{"id": f"s{i}", "label": 1.0} for i in range(2, 40)]}
    )
    assert outcome.outcome.matched == 38
    (held,) = samples(1, "x")["samples"]
    new.ingest(MODEL, {"samples": [{**held, "id": "later"}]})
    assert new.performance[MODEL].view().counters.matched == 38 + 1
    # the restored window keeps filling as before: a category first seen before keeps its code
    new.ingest(MODEL, samples(50, "t"))
    assert new.monitors[MODEL].window_samples == 200
    wait_until(lambda: new.latest(MODEL) is not None and new.latest(MODEL).samples_seen == 201)


def test_stop_writes_a_final_snapshot(tmp_path: Path, services: list[DriftService]) -> None:
    settings = make_settings(tmp_path)
    old = filled(services, settings)
    old.stop(5.0)
    new = start(services, settings)
    assert new.monitors[MODEL].window_samples == 150
    assert new.latest(MODEL) == old.latest(MODEL)


def test_snapshots_skip_an_unchanged_model_and_export_time_and_size(
    tmp_path: Path, services: list[DriftService]
) -> None:
    svc = filled(services, make_settings(tmp_path))
    assert svc.state is not None
    assert svc.state.snapshot(MODEL)
    assert not svc.state.snapshot(MODEL)  # nothing changed
    svc.ingest_labels(MODEL, {"labels": [{"id": "s5", "label": 0.5}]})
    assert svc.state.snapshot(MODEL)
    registry = svc.registry
    size = registry.get_sample_value("drift_state_snapshot_bytes", {"model": MODEL})
    assert size == svc.state.path(MODEL).stat().st_size
    count = registry.get_sample_value("drift_state_snapshot_seconds_count", {"model": MODEL})
    assert count == 2


def test_the_snapshot_thread_writes_every_period(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    assert settings.state is not None
    fast = settings.model_copy(
        update={"state": settings.state.model_copy(update={"snapshot_seconds": 0.05})}
    )
    svc = start(services, fast)
    path = tmp_path / "state" / "models" / f"{MODEL}.zip"
    wait_until(path.exists, what="the first snapshot")
    svc.ingest(MODEL, samples(10, "s"))
    wait_until(lambda: read_snapshot(path)["drift"]["state"]["window"]["samples"] == 10)


def _discarded(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "discarded" in r.getMessage()]


def test_a_changed_window_size_discards_the_window_and_says_why(
    tmp_path: Path, services: list[DriftService], caplog: pytest.LogCaptureFixture
) -> None:
    old = filled(services, make_settings(tmp_path))
    old.stop(5.0)
    with caplog.at_level(logging.INFO, logger="drift.service.state"):
        new = start(services, make_settings(tmp_path, window={"size": 300}))
    assert new.readiness()[0]
    assert new.monitors[MODEL].window_samples == 0
    assert new.latest(MODEL) is None
    assert restores(new, "config_changed") == 1
    (message,) = _discarded(caplog)
    assert "window.size changed (200 -> 300)" in message
    # the label join does not depend on the window: it is kept
    assert new.performance[MODEL].view().pending_predictions == 149


def test_a_time_window_instead_of_a_count_window_discards_it(
    tmp_path: Path, services: list[DriftService], caplog: pytest.LogCaptureFixture
) -> None:
    filled(services, make_settings(tmp_path)).stop(5.0)
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        new = start(services, make_settings(tmp_path, window={"duration_seconds": 600}))
    assert new.monitors[MODEL].window_samples == 0
    assert "window.duration_seconds changed (None -> 600.0)" in _discarded(caplog)[0]


def test_changed_reference_data_discards_the_window(
    tmp_path: Path, services: list[DriftService], caplog: pytest.LogCaptureFixture
) -> None:
    filled(services, make_settings(tmp_path)).stop(5.0)
    reference_frame(seed=9).to_csv(tmp_path / "reference.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        new = start(services, make_settings(tmp_path))
    assert new.monitors[MODEL].window_samples == 0
    (message,) = _discarded(caplog)
    assert "reference data changed" in message
    assert "reference file" in message


def test_the_same_reference_data_in_a_newer_file_is_still_restored(
    tmp_path: Path, services: list[DriftService]
) -> None:
    filled(services, make_settings(tmp_path)).stop(5.0)
    path = tmp_path / "reference.csv"
    path.write_bytes(path.read_bytes())  # a new mtime: another file version, the same data
    new = start(services, make_settings(tmp_path))
    assert new.monitors[MODEL].window_samples == 150


def test_a_changed_performance_task_discards_only_the_label_join(
    tmp_path: Path, services: list[DriftService], caplog: pytest.LogCaptureFixture
) -> None:
    filled(services, make_settings(tmp_path)).stop(5.0)
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        new = start(services, make_settings(tmp_path, performance={"task": "regression"}))
    assert new.monitors[MODEL].window_samples == 150
    assert new.performance[MODEL].view().pending_predictions == 0
    assert "performance.task changed ('auto' -> 'regression')" in _discarded(caplog)[0]
    assert restores(new, "config_changed") == 1
    assert restores(new, "restored") == 0


@pytest.mark.parametrize(
    ("damage", "outcome"),
    [
        (lambda data: data[: len(data) // 2], "corrupt"),  # truncated
        (lambda data: data[:200] + bytes(b ^ 0xFF for b in data[200:260]) + data[260:], "corrupt"),
        (lambda data: b"\x00" * len(data), "corrupt"),
        (lambda data: _zip({"header.json": _header(version=99)}), "unsupported_version"),
    ],
)
def test_an_unusable_snapshot_never_stops_the_start(
    tmp_path: Path,
    services: list[DriftService],
    caplog: pytest.LogCaptureFixture,
    damage: Any,
    outcome: str,
) -> None:
    settings = make_settings(tmp_path)
    old = filled(services, settings)
    old.stop(5.0)
    path = tmp_path / "state" / "models" / f"{MODEL}.zip"
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        new = start(services, settings)
    assert new.readiness()[0]
    assert new.monitors[MODEL].window_samples == 0
    assert new.performance[MODEL].view().pending_predictions == 0
    assert restores(new, outcome) == 1
    assert any("starting empty" in r.getMessage() for r in caplog.records)
    # the next snapshot replaces the damaged file
    new.ingest(MODEL, samples(5, "n"))
    assert new.state is not None
    assert new.state.snapshot(MODEL)
    assert read_snapshot(path)["drift"]["state"]["window"]["samples"] == 5


def test_a_damaged_part_inside_a_valid_file_starts_the_model_empty(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    filled(services, settings).stop(5.0)
    path = tmp_path / "state" / "models" / f"{MODEL}.zip"
    document = read_snapshot(path)
    document["drift"]["state"]["window"]["samples"] = 9999  # more than the window holds
    write_snapshot(path, document)
    new = start(services, settings)
    assert new.monitors[MODEL].window_samples == 0
    assert restores(new, "corrupt") == 1


def test_a_first_start_counts_a_missing_snapshot(
    tmp_path: Path, services: list[DriftService]
) -> None:
    svc = start(services, make_settings(tmp_path))
    assert restores(svc, "missing") == 1
    assert restores(svc, "restored") == 0


def test_without_state_nothing_is_written_or_exported(
    tmp_path: Path, services: list[DriftService]
) -> None:
    svc = filled(services, make_settings(tmp_path, state=False))
    svc.stop(5.0)
    assert svc.state is None
    assert not (tmp_path / "state").exists()
    assert (
        svc.registry.get_sample_value(
            "drift_state_restore_total", {"model": MODEL, "outcome": "missing"}
        )
        is None
    )


def test_a_window_waiting_for_its_reference_is_carried_over(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    filled(services, settings).stop(5.0)
    reference = tmp_path / "reference.csv"
    hidden = reference.rename(tmp_path / "hidden.csv")
    waiting = DriftService(settings)
    waiting.start()  # the reference cannot load: the model is not ready
    services.append(waiting)
    waiting.ingest_labels(MODEL, {"labels": [{"id": "s7", "label": 3.0}]})
    assert waiting.state is not None
    assert waiting.state.snapshot(MODEL)
    waiting.stop(2.0)
    hidden.rename(reference)
    new = start(services, settings)
    assert new.monitors[MODEL].window_samples == 150  # the saved window survived
    assert new.performance[MODEL].view().counters.matched == 0
    assert new.performance[MODEL].view().pending_predictions == 148  # s7 joined meanwhile


def test_leftover_temporary_files_are_removed(tmp_path: Path, services: list[DriftService]) -> None:
    models = tmp_path / "state" / "models"
    models.mkdir(parents=True)
    (models / ".tmp-abc.zip").write_bytes(b"half a snapshot")
    start(services, make_settings(tmp_path))
    assert not (models / ".tmp-abc.zip").exists()


def test_a_service_stopped_without_a_start_leaves_the_snapshots_alone(
    tmp_path: Path, services: list[DriftService]
) -> None:
    settings = make_settings(tmp_path)
    filled(services, settings).stop(5.0)
    DriftService(settings).stop(1.0)  # e.g. an app built without its lifespan
    assert start(services, settings).monitors[MODEL].window_samples == 150


def test_an_unwritable_state_directory_is_counted_and_the_service_runs_on(
    tmp_path: Path, services: list[DriftService], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "models").write_text("a file where the directory should be")
    with caplog.at_level(logging.WARNING, logger="drift.service.state"):
        svc = filled(services, make_settings(tmp_path))
        assert svc.state is not None
        assert not svc.state.snapshot(MODEL)
        svc.ingest(MODEL, samples(1, "more"))
        assert not svc.state.snapshot(MODEL)
    failures = svc.registry.get_sample_value(
        "drift_state_snapshot_failures_total", {"model": MODEL}
    )
    assert failures == 2
    assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1  # logged once
    assert svc.readiness()[0]
    assert restores(svc, "corrupt") == 1  # what is there is no snapshot
