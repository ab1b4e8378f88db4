"""Snapshots that survive a restart (``state:`` configured): written every
``state.snapshot_seconds`` off the request path and at a stop, restored at start-up.

Layout of ``state.dir`` (one volume, beside the reference cache)::

    models/<model>.zip    one snapshot per model, replaced atomically
    cloudevents.zip       the CloudEvents halves waiting for their other half (all models)
    alerts/queue.json     notifications not delivered by the last stop (read back at start)

A model's snapshot is an uncompressed zip: ``header.json`` (format name and version, the model,
its parts as JSON) and ``arrays/<i>.npy`` (numpy's format, read with ``allow_pickle=False``);
``header.json`` lists where each array belongs. Nothing is pickled. Writes go to a temporary
file in the same directory, are fsynced, renamed over the old file, and the directory is
fsynced: a crash leaves the old snapshot or the new one, never half of one.

A snapshot has two parts, each with the config that shapes it:

- ``drift``: the window, the latest report, the dataset / prediction alert trackers and the
  batch arrival times; shaped by the columns, the window (size, time or count), the category
  limit and the reference data (a content hash of the profile). Restored when the model's first
  reference is installed, in the same step (``/drift`` answers the saved verdict at once);
  until then the saved part is carried over unchanged into new snapshots.
  With an ``estimation`` section, the drift part also holds the model's estimation state
  (``estimation``: the predictions and scores CBPE keeps beside the window, and the latest
  estimate), shaped in addition by the ``estimation`` settings: a changed section discards it
  alone (the window is still restored), and the first window after the restart is estimated
  over the whole saved window.
- ``labels``: the label join (pending predictions and labels with their TTL clocks as Unix
  time, joined pairs), the latest performance metrics and the performance alert tracker;
  shaped by the prediction column and the performance task. Restored at start-up, before the
  service takes requests.

``cloudevents.zip`` (same format) holds the request / response halves waiting in the
CloudEvents pending table (``drift.service.cloudevents``), in their compact form (feature
values, float64 numbers in one array), with their TTL clocks as Unix time; shaped per model by
the columns, the ``kserve`` / ``seldon`` mapping and the server limits that cut what a half
keeps. Restored at start-up (a response after the restart pairs with a request before it); the
halves of a model whose shaping config changed are discarded with a log line; counted once per
start under ``model="(cloudevents)"``.

A part whose shaping config changed is discarded with a log line naming what changed. A file
that is truncated, corrupt or of another format version is logged and the model starts empty:
it never stops the start. Each model's restore is counted once per start in
``drift_state_restore_total{model,outcome}``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
import threading
import time
import zipfile
from array import array
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np
import numpy.typing as npt

from drift.alerting.engine import reference_version
from drift.config import ModelConfig, ServerConfig, StateConfig
from drift.core.reference import ReferenceProfile
from drift.service.monitor import ModelMonitor, RestoredWindow
from drift.service.performance import ModelPerformance
from drift.service.references import ReferenceInfo
from exporters.alerts.delivery import AlertDelivery
from exporters.prometheus.collector import CLOUDEVENTS_PART, StateMetrics

if TYPE_CHECKING:
    from drift.ingest.pairing import Restored
    from drift.service.estimation import ModelEstimation

log = logging.getLogger(__name__)

FORMAT = "drift-sidecar-state"
VERSION = 1
PERFORMANCE_KIND = "performance"
#: worse outcomes win when a model's parts end differently
_RANK = {"restored": 0, "config_changed": 1, "corrupt": 2}


class SnapshotUnreadable(Exception):
    """A snapshot file that cannot be used; ``outcome`` is ``corrupt`` or
    ``unsupported_version``."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


# the file format -----------------------------------------------------------------------------


def _split(tree: Any, path: list[str], arrays: list[npt.NDArray[Any]], paths: list[Any]) -> Any:
    """``tree`` with every numpy array (a value of a dict, at any depth; lists are not looked
    into) replaced by null, the arrays and their paths collected."""
    if isinstance(tree, np.ndarray):
        arrays.append(tree)
        paths.append(path)
        return None
    if isinstance(tree, dict):
        return {key: _split(value, [*path, key], arrays, paths) for key, value in tree.items()}
    return tree


def _place(document: dict[str, Any], path: Any, array: npt.NDArray[Any]) -> None:
    if not isinstance(path, list) or not path or not all(type(k) is str for k in path):
        raise ValueError(f"bad array path {path!r}")
    node: Any = document
    for key in path[:-1]:
        node = node[key]
    if not isinstance(node, dict) or node.get(path[-1], 0) is not None:
        raise ValueError(f"no place for an array at {path!r}")
    node[path[-1]] = array


def _read_npy(data: bytes) -> npt.NDArray[Any]:
    """One ``.npy`` entry; its header must announce exactly the bytes that follow (a corrupt
    shape cannot make us allocate more than the file holds), and no Python objects."""
    fp = io.BytesIO(data)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"npy format {version}")
    if dtype.hasobject:
        raise ValueError("an array of Python objects")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data) - fp.tell():
        raise ValueError(f"array of shape {shape} does not match its {len(data)} bytes")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=fp.tell())
    return flat.reshape(shape, order="F" if fortran else "C")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse to fsync a directory
        pass
    finally:
        os.close(fd)


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> int:
    """``write`` into a temporary file beside ``path``, fsync it, rename it over ``path`` and
    fsync the directory; returns the file's size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return size


def write_snapshot(path: Path, document: Mapping[str, Any]) -> int:
    """Write ``document`` (JSON-able values and numpy arrays as dict values) atomically to
    ``path``; returns the file's size in bytes."""
    arrays: list[npt.NDArray[Any]] = []
    paths: list[Any] = []
    body = _split(dict(document), [], arrays, paths)
    header = {"format": FORMAT, "version": VERSION, "document": body, "arrays": paths}
    text = json.dumps(header, separators=(",", ":")).encode()

    def write(handle: BinaryIO) -> None:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("header.json", text)
            for i, array in enumerate(arrays):
                big = array.nbytes > 1 << 30
                with archive.open(f"arrays/{i}.npy", "w", force_zip64=big) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)

    return write_atomically(path, write)


def read_snapshot(path: Path) -> dict[str, Any]:
    """The document ``write_snapshot`` wrote. Raises FileNotFoundError, or
    ``SnapshotUnreadable`` for anything else (truncated, corrupt, not ours, another version)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SnapshotUnreadable("corrupt", f"cannot read it: {exc}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            header = json.loads(archive.read("header.json"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise SnapshotUnreadable("corrupt", "not a drift-sidecar state file")
            if header.get("version") != VERSION:
                raise SnapshotUnreadable(
                    "unsupported_version",
                    f"format version {header.get('version')!r}; this sidecar reads {VERSION}",
                )
            document = header["document"]
            if not isinstance(document, dict):
                raise ValueError("no document")
            for i, where in enumerate(header["arrays"]):
                _place(document, where, _read_npy(archive.read(f"arrays/{i}.npy")))
            return document
    except SnapshotUnreadable:
        raise
    except Exception as exc:  # whatever a damaged file makes zipfile, json or numpy raise
        raise SnapshotUnreadable("corrupt", f"{type(exc).__name__}: {exc}") from None


# what shapes a snapshot ----------------------------------------------------------------------


def drift_shape(config: ModelConfig, fingerprint: str) -> dict[str, Any]:
    """The config a window, its report and its drift alerts depend on; named as in the file."""
    return {
        "columns": config.columns.model_dump(mode="json"),
        "window.size": config.window.size,
        "window.duration_seconds": config.window.duration_seconds,
        "drift.max_categories": config.drift.max_categories,
        "reference data": fingerprint,
    }


def estimation_shape(config: ModelConfig) -> dict[str, Any]:
    """The config the saved estimation state depends on beyond the drift part's shape (the
    columns, the window and the reference data, which the estimators are fitted on)."""
    return {
        "estimation": config.estimation.model_dump(mode="json"),
        "performance.positive_label": config.performance.positive_label,
    }


def labels_shape(config: ModelConfig) -> dict[str, Any]:
    """The config the label join and the performance metrics depend on."""
    return {
        "columns.prediction": config.columns.prediction,
        "performance.task": config.performance.task,
        "performance.positive_label": config.performance.positive_label,
    }


def cloudevents_shape(config: ModelConfig, server: ServerConfig | None) -> dict[str, Any]:
    """The config the waiting CloudEvents halves of a model depend on: which features and
    prediction a half keeps and how (columns), how the payload was read (kserve / seldon), and
    the limits that cut it (strings to max_value_bytes + 1, count-only past max_samples)."""
    return {
        "columns": config.columns.model_dump(mode="json"),
        "kserve": None if config.kserve is None else config.kserve.model_dump(mode="json"),
        "seldon": None if config.seldon is None else config.seldon.model_dump(mode="json"),
        "server.max_value_bytes": None if server is None else server.max_value_bytes,
        "server.max_samples_per_request": (
            None if server is None else server.max_samples_per_request
        ),
    }


def changes(saved: Any, now: Mapping[str, Any]) -> list[str]:
    """What differs between a saved shape and today's, one phrase per setting."""
    if not isinstance(saved, dict):
        return ["the saved config is unreadable"]
    out = []
    for key, value in now.items():
        old = saved.get(key)
        if old != value:
            short = key in ("columns", "reference data", "kserve", "seldon")
            out.append(f"{key} changed" if short else f"{key} changed ({old!r} -> {value!r})")
    return out


def wall_offset() -> float:
    """Add to ``time.monotonic()`` to get Unix time (the clocks snapshots are saved in)."""
    return time.time() - time.monotonic()


class PendingHalves(Protocol):
    """What the keeper needs of the CloudEvents collector (``CloudEventsIngest``)."""

    def pending_marker(self) -> tuple[Any, ...]: ...

    def pending_state(self, wall: float) -> tuple[list[list[Any]], array[float]]: ...

    def restore_pending(self, halves: list[Any], floats: array[float], wall: float) -> Restored: ...


# the keeper ----------------------------------------------------------------------------------


class StateKeeper:
    """Restores the models' state at start-up and snapshots it: every ``snapshot_seconds`` on
    its own thread, and once more at ``stop``. Locks: a model's own lock only to copy (see
    ``ModelMonitor.to_state``, ``ModelPerformance.to_state``); ``_lock`` serializes snapshots
    and the install of a model's first reference."""

    def __init__(
        self,
        config: StateConfig,
        models: Mapping[str, ModelConfig],
        monitors: Mapping[str, ModelMonitor],
        performance: Mapping[str, ModelPerformance],
        alerts: AlertDelivery,
        metrics: StateMetrics,
        server: ServerConfig | None = None,
        estimation: Mapping[str, ModelEstimation] | None = None,
    ) -> None:
        self.dir = config.dir
        self.estimation = estimation or {}
        self.server = server
        self.period = config.snapshot_seconds
        self.models = models
        self.monitors = monitors
        self.performance = performance
        self.alerts = alerts
        self.metrics = metrics
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, Any]] = {}  # drift parts waiting for a reference
        self._outcomes: dict[str, str] = {}  # outcome so far of a model not yet counted
        self._saved_at: dict[str, float] = {}  # when the pending snapshots were written
        self._tokens: dict[str, object] = {}  # what the last snapshot of each model held
        self._fingerprints: dict[str, tuple[ReferenceProfile, str]] = {}
        self._failing: set[str] = set()  # models whose last write failed (logged once)
        self._loaded = False  # no snapshot before load(): it would replace the saved ones
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._cloudevents: PendingHalves | None = None
        self._saved_halves: dict[str, Any] | None = None  # read by load(), not yet restored
        self._halves_token: object = None

    def path(self, model: str) -> Path:
        return self.dir / "models" / f"{model}.zip"

    @property
    def cloudevents_path(self) -> Path:
        return self.dir / "cloudevents.zip"

    @property
    def queue_path(self) -> Path:
        return self.dir / "alerts" / "queue.json"

    # restore -----------------------------------------------------------------------------------
    def load(self) -> None:
        """Read every model's snapshot: restore its labels part now, keep its drift part for
        ``install``. Never raises for a bad file or directory (logged, counted)."""
        models_dir = self.dir / "models"
        try:
            models_dir.mkdir(parents=True, exist_ok=True)
            for leftover in models_dir.glob(".tmp-*"):  # a write cut short by a kill
                leftover.unlink(missing_ok=True)
        except OSError as exc:
            log.error("state: cannot use %s (snapshots will fail): %s", models_dir, exc)
        offset = wall_offset()
        for name in self.monitors:
            self._load(name, offset)
        self._load_cloudevents()
        self._requeue()
        self._loaded = True

    def _requeue(self) -> None:
        """Queue the notifications the last stop could not deliver (before the workers
        start), then remove their file: each is sent once more, not at every start."""
        path = self.queue_path
        try:
            saved = json.loads(path.read_bytes())
            if not isinstance(saved, dict) or saved.get("format") != FORMAT:
                raise ValueError("not a drift-sidecar queue file")
            if saved.get("version") != VERSION:
                raise ValueError(f"format version {saved.get('version')!r}")
            notifications = saved["notifications"]
            if not isinstance(notifications, list):
                raise ValueError("no notifications")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError) as exc:
            log.warning("state: saved notifications %s not used: %s", path, exc)
            notifications = []
        queued = self.alerts.requeue(notifications)
        if queued:
            log.info("state: %d notification(s) saved at the last stop queued again", queued)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("state: cannot remove %s (sent again at the next start): %s", path, exc)

    def save_alerts(self) -> int:
        """Save what the alert drain of a stop kept (``AlertDelivery.stop(keep=True)``);
        returns how many."""
        saved = self.alerts.undelivered()
        if not saved:
            return 0
        text = json.dumps({"format": FORMAT, "version": VERSION, "notifications": saved})
        try:
            write_atomically(self.queue_path, lambda handle: handle.write(text.encode()))
        except OSError as exc:
            log.error(
                "state: %d notification(s) lost, cannot write %s: %s",
                len(saved),
                self.queue_path,
                exc,
            )
            return 0
        log.info("state: %d undelivered notification(s) saved for the next start", len(saved))
        return len(saved)

    def _load(self, name: str, offset: float) -> None:
        path = self.path(name)
        try:
            document = read_snapshot(path)
            if document.get("model") != name:
                raise SnapshotUnreadable("corrupt", f"a snapshot of {document.get('model')!r}")
        except FileNotFoundError:
            self._count(name, "missing")
            return
        except SnapshotUnreadable as exc:
            log.warning("model %s: snapshot %s not used, starting empty: %s", name, path, exc)
            self._count(name, exc.outcome)
            return
        written = document.get("written_at")
        self._saved_at[name] = float(written) if isinstance(written, int | float) else 0.0
        outcome = "restored"
        labels = document.get("labels")
        if labels is not None:
            outcome = self._restore_labels(name, labels, offset)
        drift = document.get("drift")
        if drift is not None and outcome != "corrupt":
            self._pending[name] = drift
            self._outcomes[name] = outcome
        else:
            self._count(name, outcome)

    # the CloudEvents halves -----------------------------------------------------------------
    def attach_cloudevents(self, halves: PendingHalves) -> None:
        """The collector whose waiting halves are snapshotted; the halves ``load`` read are
        restored into it now, or by ``load`` when it runs later."""
        with self._lock:
            self._cloudevents = halves
            saved, self._saved_halves = self._saved_halves, None
        if saved is not None:
            self._restore_cloudevents(halves, saved)

    def _load_cloudevents(self) -> None:
        path = self.cloudevents_path
        try:
            document = read_snapshot(path)
            if document.get("part") != "cloudevents":
                raise SnapshotUnreadable("corrupt", "not a snapshot of the CloudEvents halves")
        except FileNotFoundError:
            self._count(CLOUDEVENTS_PART, "missing")
            return
        except SnapshotUnreadable as exc:
            log.warning("state: CloudEvents halves %s not used: %s", path, exc)
            self._count(CLOUDEVENTS_PART, exc.outcome)
            return
        with self._lock:
            halves = self._cloudevents
            if halves is None:  # restored when the collector is attached
                self._saved_halves = document
                return
        self._restore_cloudevents(halves, document)

    def _restore_cloudevents(self, halves: PendingHalves, document: dict[str, Any]) -> None:
        """Restore the saved halves of the models whose shaping config is unchanged (the
        others discarded, logged); counted once under ``CLOUDEVENTS_PART``."""
        outcome = "restored"
        try:
            shapes, saved = document["shapes"], document["halves"]
            floats = document["floats"]
            if not isinstance(shapes, dict) or not isinstance(saved, list):
                raise ValueError("no shapes or halves")
            if not isinstance(floats, np.ndarray) or floats.dtype != np.float64:
                raise ValueError("the saved numbers are not float64")
            keep: set[str] = set()
            for model, shape in shapes.items():
                config = self.models.get(model)
                changed = (
                    ["the model is no longer configured"]
                    if config is None
                    else changes(shape, cloudevents_shape(config, self.server))
                )
                if changed:
                    log.warning(
                        "model %s: saved CloudEvents halves discarded: %s",
                        model,
                        "; ".join(changed),
                    )
                    outcome = "config_changed"
                else:
                    keep.add(model)
            chosen = [h for h in saved if _half_model(h) in keep]
            numbers = array_of(floats)
            done = halves.restore_pending(chosen, numbers, time.time())
        except Exception as exc:  # a damaged part: the table starts empty
            log.warning("state: saved CloudEvents halves not usable, starting without: %r", exc)
            self._count(CLOUDEVENTS_PART, "corrupt")
            return
        log.info(
            "state: restored %d CloudEvents half(s) waiting for their other half "
            "(%d expired while down, %d over the table's limits)",
            done.kept,
            done.expired,
            done.evicted,
        )
        self._count(CLOUDEVENTS_PART, outcome)

    def snapshot_cloudevents(self) -> bool:
        """Write the waiting halves unless nothing changed since the last write; True when
        written. Before the collector is attached, what ``load`` read is kept as it was."""
        halves = self._cloudevents
        if not self._loaded or halves is None:
            return False
        with self._lock:
            started = time.perf_counter()
            token = halves.pending_marker()
            if token == self._halves_token:
                return False
            saved, floats = halves.pending_state(time.time())
            models = sorted({_half_model(h) for h in saved})
            document = {
                "part": "cloudevents",
                "written_at": time.time(),
                "shapes": {
                    m: cloudevents_shape(self.models[m], self.server)
                    for m in models
                    if m in self.models
                },
                "halves": saved,
                "floats": np.frombuffer(floats, dtype=np.float64) if floats else np.zeros(0),
            }
            path = self.cloudevents_path
            try:
                size = write_snapshot(path, document)
            except (OSError, ValueError) as exc:
                self.metrics.snapshot_failures.labels(CLOUDEVENTS_PART).inc()
                if CLOUDEVENTS_PART not in self._failing:
                    self._failing.add(CLOUDEVENTS_PART)
                    log.warning("state: cannot write %s: %s", path, exc)
                return False
            self._failing.discard(CLOUDEVENTS_PART)
            self._halves_token = token
        self.metrics.snapshot_seconds.labels(CLOUDEVENTS_PART).observe(
            time.perf_counter() - started
        )
        self.metrics.snapshot_bytes.labels(CLOUDEVENTS_PART).set(size)
        return True

    def _restore_labels(self, name: str, part: Any, offset: float) -> str:
        try:
            changed = changes(part["shape"], labels_shape(self.models[name]))
            if changed:
                log.warning(
                    "model %s: saved labels and performance discarded: %s",
                    name,
                    "; ".join(changed),
                )
                return "config_changed"
            state = part["state"]
            self.performance[name].restore(state["performance"], offset)
            self.alerts.restore_model(name, state["alerts"], None)
        except Exception as exc:  # a damaged part: the model starts without it
            log.warning("model %s: saved labels not usable, starting without them: %r", name, exc)
            return "corrupt"
        view = self.performance[name].view()
        log.info(
            "model %s: restored %d predictions and %d labels waiting for each other%s",
            name,
            view.pending_predictions,
            view.pending_labels,
            "" if view.current is None else f", performance over {view.current.samples} pairs",
        )
        return "restored"

    def install(
        self, name: str, profile: ReferenceProfile, info: ReferenceInfo | None = None
    ) -> RestoredWindow | None:
        """Install the model's first reference, with the window, report and drift alert state
        of its snapshot when they were shaped by the same config and reference data (one step:
        the model is never ready without them)."""
        monitor = self.monitors[name]
        with self._lock:
            drift = self._pending.pop(name, None)
            restored = None if drift is None else self._restored(name, drift, profile, info)
            monitor.install_reference(profile, info, restored)
        return restored

    def _restored(
        self, name: str, part: Any, profile: ReferenceProfile, info: ReferenceInfo | None
    ) -> RestoredWindow | None:
        outcome = self._outcomes.pop(name, "restored")
        restored = None
        try:
            shape = drift_shape(self.models[name], self._hash(name, profile))
            changed = changes(part["shape"], shape)
            if changed:
                log.warning(
                    "model %s: saved window discarded, starting empty: %s%s",
                    name,
                    "; ".join(changed),
                    _reference_change(part, info) if "reference data changed" in changed else "",
                )
                outcome = _worse(outcome, "config_changed")
            else:
                state = part["state"]
                restored = self.monitors[name].restored(state, profile, wall_offset())
                self.alerts.restore_model(name, state["alerts"], state["clock"])
                self._restore_estimation(name, state.get("estimation"))
                firing = [k for k, t in state["alerts"].items() if t.get("firing")]
                written = datetime.fromtimestamp(self._saved_at.get(name, 0.0), UTC)
                log.info(
                    "model %s: restored the window (%d samples, %d seen)%s%s from the snapshot "
                    "of %s",
                    name,
                    len(restored.window),
                    restored.window.total_seen,
                    "" if restored.latest is None else " and the latest report",
                    f", alerts firing: {', '.join(firing)}" if firing else "",
                    written.isoformat(timespec="seconds"),
                )
        except Exception as exc:  # a damaged part: the model starts without it
            log.warning("model %s: saved window not usable, starting empty: %r", name, exc)
            outcome, restored = "corrupt", None
        self._count(name, outcome)
        return restored

    def _restore_estimation(self, name: str, part: Any) -> None:
        """The model's saved estimation state, when its shape is today's (else logged and
        left out: estimates start again from the next window)."""
        estimation = self.estimation.get(name)
        if part is None or estimation is None or not estimation.enabled:
            return
        try:
            changed = changes(part["shape"], estimation_shape(self.models[name]))
            if changed:
                log.warning(
                    "model %s: saved estimation state discarded: %s", name, "; ".join(changed)
                )
                return
            scores = estimation.restore(part["state"])
        except Exception as exc:  # a damaged part: estimation starts without it
            log.warning("model %s: saved estimation state not usable: %r", name, exc)
            return
        latest = estimation.latest
        log.info(
            "model %s: restored the estimation state (%d scores%s)",
            name,
            scores,
            "" if latest is None else ", the latest estimate",
        )

    def _hash(self, name: str, profile: ReferenceProfile) -> str:
        """The content hash of the model's profile (computed once per installed profile)."""
        cached = self._fingerprints.get(name)
        if cached is None or cached[0] is not profile:
            cached = self._fingerprints[name] = (profile, reference_version(profile))
        return cached[1]

    def _count(self, name: str, outcome: str) -> None:
        self.metrics.restores.labels(name, outcome).inc()

    # snapshots ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drift-state", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """End the thread (within ``timeout``) and write a final snapshot of every model that
        changed since its last one."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.snapshot_all()

    def _run(self) -> None:
        while not self._stopping.wait(self.period):
            self.snapshot_all()

    def snapshot_all(self) -> None:
        for name in self.monitors:
            try:
                self.snapshot(name)
            except Exception:  # never kill the thread; the next round tries again
                self.metrics.snapshot_failures.labels(name).inc()
                log.exception("model %s: snapshot failed", name)
        try:
            self.snapshot_cloudevents()
        except Exception:
            self.metrics.snapshot_failures.labels(CLOUDEVENTS_PART).inc()
            log.exception("state: snapshot of the CloudEvents halves failed")

    def snapshot(self, name: str) -> bool:
        """Write the model's snapshot unless nothing changed since the last one (or ``load``
        has not run: the saved snapshots are not known yet); True when written."""
        monitor, perf = self.monitors[name], self.performance[name]
        if not self._loaded:
            return False
        with self._lock:
            started = time.perf_counter()
            alerts = self.alerts.model_state(name)
            estimation = self.estimation.get(name)
            token = (
                monitor.generation,
                perf.generation,
                None if estimation is None else estimation.generation,
                alerts,
                name in self._pending,
            )
            if self._tokens.get(name) == token:
                return False
            offset = wall_offset()
            trackers = alerts["trackers"]
            document = {
                "model": name,
                "written_at": time.time(),
                "drift": self._drift_part(name, offset, trackers, alerts["clock"]),
                "labels": {
                    "shape": labels_shape(self.models[name]),
                    "state": {
                        "performance": perf.to_state(offset),
                        "alerts": {k: v for k, v in trackers.items() if k == PERFORMANCE_KIND},
                    },
                },
            }
            try:
                size = write_snapshot(self.path(name), document)
            except (OSError, ValueError) as exc:
                self.metrics.snapshot_failures.labels(name).inc()
                if name not in self._failing:  # once per run of failures, not every period
                    self._failing.add(name)
                    log.warning("model %s: cannot write %s: %s", name, self.path(name), exc)
                return False
            if name in self._failing:
                self._failing.discard(name)
                log.info("model %s: snapshots are written again", name)
            self._tokens[name] = token
        self.metrics.snapshot_seconds.labels(name).observe(time.perf_counter() - started)
        self.metrics.snapshot_bytes.labels(name).set(size)
        return True

    def _drift_part(
        self, name: str, offset: float, trackers: dict[str, Any], clock: Any
    ) -> dict[str, Any] | None:
        pending = self._pending.get(name)
        if pending is not None:  # its reference is not installed yet: keep what was saved
            return pending
        monitor = self.monitors[name]
        profile, info = monitor.profile, monitor.reference_info
        state = monitor.to_state(offset)
        if state is None or profile is None:
            return None
        estimation = self.estimation.get(name)
        saved = None if estimation is None or not estimation.enabled else estimation.to_state()
        if saved is not None:
            state["estimation"] = {"shape": estimation_shape(self.models[name]), "state": saved}
        return {
            "shape": drift_shape(self.models[name], self._hash(name, profile)),
            "reference": None if info is None else {"source": info.source, "version": info.version},
            "state": {
                **state,
                "alerts": {k: v for k, v in trackers.items() if k != PERFORMANCE_KIND},
                "clock": clock,
            },
        }


def _half_model(saved: Any) -> str:
    """The model of a saved half (the first element of its pairing key)."""
    try:
        model = saved[3]["key"][0]
    except (TypeError, KeyError, IndexError):
        raise ValueError("a saved half without its pairing key") from None
    if type(model) is not str:
        raise ValueError("a saved half without its model")
    return model


def array_of(floats: npt.NDArray[np.float64]) -> array[float]:
    """A float64 numpy array as an ``array("d")`` (what the pending halves hold)."""
    out: array[float] = array("d")
    out.frombytes(np.ascontiguousarray(floats, dtype=np.float64).tobytes())
    return out


def _worse(a: str, b: str) -> str:
    return a if _RANK.get(a, 2) >= _RANK.get(b, 2) else b


def _reference_change(part: Any, info: ReferenceInfo | None) -> str:
    """Which reference versions the data change is between, as far as known."""
    saved = part.get("reference") if isinstance(part, dict) else None
    old = f"{saved.get('source')} {saved.get('version')}" if isinstance(saved, dict) else "?"
    new = "?" if info is None else f"{info.source} {info.version}"
    return f" (reference {old} -> {new})"
