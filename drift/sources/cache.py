"""On-disk cache of reference profiles, and of the estimators fitted on them, keyed by source +
version.

Layout: ``<cache_dir>/<model>/<key>/<version-hash>.npz`` (``drift.core.profile_codec`` bytes) and a
``.json`` of metadata beside each, plus ``latest.json`` naming the version last installed. The
``key`` hashes everything that shapes a profile (the source settings, column roles, sampling,
``max_categories`` and the codec format; with ``drift.calibration``, the drift options, the
window size its thresholds are calibrated for and the ladder of smaller sizes calibrated with
it), so changing the config never serves a stale profile.

With ``estimation`` enabled, ``<version-hash>.estimators.npz`` (``drift.core.estimation_codec``
bytes) holds what was fitted on that version (CBPE, DLE, the reconstruction, the domain
classifier's reference sample), and the key also hashes the ``estimation`` section and
``window.size`` (the reference chunks the thresholds come from); a model without estimation
keeps its key. A restart with a warm cache reads them (milliseconds) instead of reading the
reference rows again from the source and refitting (seconds): docs/estimation.md, "Start-up
cost and the cache". Estimators of another codec format, or unreadable, are ignored (logged):
the caller fits again and overwrites them.

Writes go to a temp file and are renamed, so a crash leaves no half-written entry. A cache that
cannot be written (read-only volume) is logged and otherwise ignored. Each directory keeps the
``KEEP_VERSIONS`` versions written last (a refreshed source adds one per new version; a version's
profile and estimators go together), and each model the ``KEEP_KEYS`` configurations written
last (a changed config, or another file, is a new key): the cache does not grow with every file
or config a host has seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from drift.config import ModelConfig
from drift.core.calibration import calibration_sizes
from drift.core.estimation_codec import (
    EstimatorFormatError,
    FittedEstimators,
    dump_estimators,
    load_estimators,
)
from drift.core.profile_codec import FORMAT, ProfileFormatError, dump_profile, load_profile
from drift.core.reference import ReferenceProfile
from drift.ports import ReferenceVersion

log = logging.getLogger(__name__)
DEFAULT_DIR = Path("/var/lib/drift-sidecar/cache")
KEEP_VERSIONS = 3
KEEP_KEYS = 3
#: the file of a version's fitted estimators: ``<version-hash>`` + this
ESTIMATORS_SUFFIX = ".estimators.npz"


@dataclass(frozen=True)
class CachedEntry:
    version: ReferenceVersion
    loaded_at: float  # unix time the profile was built from the source


def default_cache_dir() -> Path:
    """``/var/lib/drift-sidecar/cache`` when writable (the image's WORKDIR), else a temp dir."""
    for candidate in (DEFAULT_DIR, Path(tempfile.gettempdir()) / "drift-sidecar-cache"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.mkdtemp(prefix="drift-sidecar-cache-"))


def cache_key(config: ModelConfig) -> str:
    ref = config.reference
    shaping = {
        "format": FORMAT,
        "source": ref.model_dump(
            mode="json",
            exclude={"retry_seconds", "refresh_minutes", "cache_dir"},
        ),
        "columns": config.columns.model_dump(mode="json"),
        "max_categories": config.drift.max_categories,
        "performance": config.performance.model_dump(
            mode="json", include={"task", "positive_label"}
        ),
    }
    if config.drift.calibration is not None:  # calibrated thresholds are cached with it
        shaping["calibration"] = {
            "drift": config.drift.model_dump(mode="json"),
            "window_size": config.window.size,
            "sizes": list(calibration_sizes(config.window.size)),
        }
    if config.estimation.enabled:  # the fitted estimators are cached with the profile
        shaping["estimation"] = {
            "settings": config.estimation.model_dump(mode="json"),
            "window_size": config.window.size,
        }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ProfileCache:
    def __init__(self, root: Path, model: str, config: ModelConfig) -> None:
        self.dir = root / model / cache_key(config)

    def _stem(self, version_id: str) -> str:
        return hashlib.sha256(version_id.encode()).hexdigest()[:24]

    def put(self, entry: CachedEntry, profile: ReferenceProfile) -> None:
        meta = json.dumps({"version": asdict(entry.version), "loaded_at": entry.loaded_at})
        stem = self._stem(entry.version.id)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.dir / f"{stem}.npz", dump_profile(profile))
            _atomic_write(self.dir / f"{stem}.json", meta.encode())
            _atomic_write(self.dir / "latest.json", meta.encode())
        except OSError as exc:
            log.warning("cannot write the reference cache in %s: %s", self.dir, exc)
            return
        self._prune(keep=stem)
        self._prune_keys()

    def put_estimators(self, version_id: str, fitted: FittedEstimators) -> None:
        """Cache the estimators fitted on ``version_id`` beside its profile."""
        stem = self._stem(version_id)
        try:
            data = dump_estimators(fitted)
        except ValueError as exc:  # a value the codec cannot hold: fitted again next time
            log.warning("cannot cache the estimators in %s: %s", self.dir, exc)
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.dir / f"{stem}{ESTIMATORS_SUFFIX}", data)
        except OSError as exc:
            log.warning("cannot write the reference cache in %s: %s", self.dir, exc)
            return
        self._prune(keep=stem)

    def get_estimators(self, version_id: str) -> FittedEstimators | None:
        """The estimators cached with ``version_id``; None when there are none, or (logged) when
        they cannot be read."""
        path = self.dir / f"{self._stem(version_id)}{ESTIMATORS_SUFFIX}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("ignoring unreadable cached estimators %s: %s", path, exc)
            return None
        try:
            return load_estimators(data)
        except (EstimatorFormatError, ImportError) as exc:
            log.warning("ignoring unreadable cached estimators %s: %s", path, exc)
            return None

    def _prune(self, keep: str) -> None:
        """Remove all but the ``KEEP_VERSIONS`` versions written last, each with its profile,
        metadata and estimators (``keep`` always stays)."""
        try:
            written: dict[str, int] = {}
            for path in self.dir.glob("*.npz"):
                stem = path.name.split(".", 1)[0]
                try:
                    mtime = path.stat().st_mtime_ns
                except FileNotFoundError:  # pruned meanwhile by the other writer of this version
                    continue
                written[stem] = max(written.get(stem, 0), mtime)
            written.pop(keep, None)
            for old in sorted(written, key=written.__getitem__, reverse=True)[KEEP_VERSIONS - 1 :]:
                for suffix in (".npz", ".json", ESTIMATORS_SUFFIX):
                    (self.dir / f"{old}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot prune the reference cache in %s: %s", self.dir, exc)

    def _prune_keys(self) -> None:
        """Remove all but the ``KEEP_KEYS`` key directories of this model written last (this
        one always stays)."""
        try:
            others = sorted(
                (d for d in self.dir.parent.iterdir() if d.is_dir() and d != self.dir),
                key=lambda d: d.stat().st_mtime_ns,
                reverse=True,
            )
            for old in others[KEEP_KEYS - 1 :]:
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            log.warning("cannot prune the reference cache in %s: %s", self.dir.parent, exc)

    def get(self, version_id: str) -> tuple[CachedEntry, ReferenceProfile] | None:
        stem = self._stem(version_id)
        return self._read(self.dir / f"{stem}.json", self.dir / f"{stem}.npz")

    def latest(self) -> tuple[CachedEntry, ReferenceProfile] | None:
        try:
            meta = json.loads((self.dir / "latest.json").read_text())
            stem = self._stem(meta["version"]["id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return self._read(self.dir / "latest.json", self.dir / f"{stem}.npz")

    def mark_latest(self, entry: CachedEntry) -> None:
        meta = json.dumps({"version": asdict(entry.version), "loaded_at": entry.loaded_at})
        try:
            _atomic_write(self.dir / "latest.json", meta.encode())
        except OSError as exc:
            log.warning("cannot write the reference cache in %s: %s", self.dir, exc)

    @staticmethod
    def _read(meta_path: Path, npz: Path) -> tuple[CachedEntry, ReferenceProfile] | None:
        try:
            meta = json.loads(meta_path.read_text())
            entry = CachedEntry(ReferenceVersion(**meta["version"]), float(meta["loaded_at"]))
            return entry, load_profile(npz.read_bytes())
        except (OSError, ValueError, KeyError, TypeError, ProfileFormatError) as exc:
            if meta_path.exists():
                log.warning("ignoring unreadable cache entry %s: %s", npz, exc)
            return None
