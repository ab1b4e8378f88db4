"""On-disk cache of reference profiles, keyed by source + version.

Layout: ``<cache_dir>/<model>/<key>/<version-hash>.npz`` (``drift.core.profile_codec`` bytes) and a
``.json`` of metadata beside each, plus ``latest.json`` naming the version last installed. The
``key`` hashes everything that shapes a profile (the source settings, column roles, sampling,
``max_categories`` and the codec format; with ``drift.calibration``, the drift options and the
window size its thresholds are calibrated for), so changing the config never serves a stale
profile.
Writes go to a temp file and are renamed, so a crash leaves no half-written entry. A cache that
cannot be written (read-only volume) is logged and otherwise ignored. Each directory keeps the
``KEEP_VERSIONS`` versions written last (a refreshed source adds one per new version), and each
model the ``KEEP_KEYS`` configurations written last (a changed config, or another file, is a
new key): the cache does not grow with every file or config a host has seen.
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
from drift.core.profile_codec import FORMAT, ProfileFormatError, dump_profile, load_profile
from drift.core.reference import ReferenceProfile
from drift.ports import ReferenceVersion

log = logging.getLogger(__name__)
DEFAULT_DIR = Path("/var/lib/drift-sidecar/cache")
KEEP_VERSIONS = 3
KEEP_KEYS = 3


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

    def _prune(self, keep: str) -> None:
        """Remove all but the ``KEEP_VERSIONS`` entries written last (``keep`` always stays)."""
        try:
            entries = sorted(
                (p for p in self.dir.glob("*.npz") if p.stem != keep),
                key=lambda p: p.stat().st_mtime_ns,
                reverse=True,
            )
            for old in entries[KEEP_VERSIONS - 1 :]:
                old.unlink(missing_ok=True)
                old.with_suffix(".json").unlink(missing_ok=True)
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
