"""Loading a model's reference: source version -> on-disk cache -> profile, with fallback.

``ReferenceLoader.load`` asks the source for its current version (cheap), reuses the cached
profile of that version when there is one, else downloads and profiles the data and caches the
result. When the source is unreachable and nothing is installed yet, it serves the profile
cached last (``ReferenceInfo.cached``), so a restart during a ClearML/S3 outage still monitors.

Local files are cached too, keyed by path, size and modification time (their version), so a
restart, a rolling update or a new replica with the same file and config reads the profile
(milliseconds) instead of the file and its profiling. A local file that is missing or unreadable
is an error, never served from the cache: the file is what the operator configured. Its profile
is written to the cache in a thread of its own, off the path to ready (a missed entry only costs
the next start a profiling); the process waits for that write when it exits, at most
``CACHE_WRITE_EXIT_SECONDS``. A remote source's profile is cached before it is installed: the
fallback above relies on it.

The estimators fitted on a version (drift/service/estimation.py) are cached beside its profile,
written the same way (``cache_estimators``: in the background for a local file, before the
install for a remote source) and read back with ``cached_estimators``: a restart with a warm
cache neither reads the rows again nor refits.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from drift.config import ModelConfig
from drift.core.calibration import calibrate
from drift.core.engine import check_options
from drift.core.estimation_codec import FittedEstimators
from drift.core.reference import ReferenceProfile, build_profile
from drift.errors import ConfigError, ReferenceUnavailable
from drift.ports import ReferenceSource, ReferenceVersion
from drift.redact import redact
from drift.sources.cache import CachedEntry, ProfileCache, default_cache_dir
from drift.sources.file import FileReference

log = logging.getLogger(__name__)
CACHE_WRITE_EXIT_SECONDS = 5.0


@dataclass(frozen=True)
class ReferenceInfo:
    """Which reference a model is using, for /readyz, metrics and logs."""

    source: str  # file | s3 | clearml
    version: str  # short human label, e.g. the ClearML dataset version
    version_id: str  # identity of the data (ClearML dataset id, S3 ETag hash, ...)
    description: str
    loaded_at: float  # unix time the profile was built from the source
    cached: bool = False  # True: the source is unreachable, this is the last cached profile
    note: str | None = None  # why the cached profile is served


@dataclass(frozen=True)
class LoadedReference:
    profile: ReferenceProfile
    info: ReferenceInfo
    #: the rows just read from the source (None when the profile came from the cache), for
    #: what needs rows rather than the profile (drift/service/estimation.py)
    frame: pd.DataFrame | None = field(default=None, compare=False, repr=False)


def reference_source(config: ModelConfig) -> ReferenceSource:
    """The adapter for the configured source; heavy SDKs are imported on first use only."""
    ref = config.reference
    if ref.clearml is not None:
        from drift.sources.clearml import ClearMLReference

        return ClearMLReference(ref.clearml, ref.format)
    if ref.s3 is not None:
        from drift.sources.s3 import S3Reference

        return S3Reference(ref.s3, ref.format)
    assert ref.path is not None  # the config validator guarantees exactly one source
    return FileReference(ref.path, ref.format)


def sample_rows(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    """A deterministic sample (same data and seed: same rows, in their original order)."""
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).sort_index()


def profile_frame(
    model: str, config: ModelConfig, frame: pd.DataFrame, where: str
) -> ReferenceProfile:
    """Profile a reference frame; schema errors name the column and ``where`` (the version)."""
    ref = config.reference
    frame = sample_rows(frame, ref.sample_rows, ref.sample_seed)
    perf = config.performance
    profile = build_profile(
        frame, config.columns, where, config.drift.max_categories, perf.task, perf.positive_label
    )
    _check(model, config, profile)
    return calibrated(model, config, profile)


def calibrated(model: str, config: ModelConfig, profile: ReferenceProfile) -> ReferenceProfile:
    """The profile with thresholds calibrated to the window when ``drift.calibration`` is set
    (and the profile's, e.g. a cached one's, are not for these settings); else as it is."""
    settings, size = config.drift.calibration, config.window.size
    if settings is None:
        if profile.calibration is None:
            return profile
        return dataclasses.replace(profile, calibration=None)
    if profile.calibration is not None and profile.calibration.matches(settings, size):
        return profile
    started = time.perf_counter()
    calibration = calibrate(profile, config.drift, size)
    log.info(
        "model %s: thresholds of %d columns calibrated to windows of %d (false-alarm rate %g, "
        "%d resamples) in %.2fs%s",
        model,
        len(calibration.columns),
        size,
        settings.false_alarm_rate,
        settings.resamples,
        time.perf_counter() - started,
        "".join(f"; {name}: {why}" for name, why in calibration.skipped.items()),
    )
    return dataclasses.replace(profile, calibration=calibration)


def _check(model: str, config: ModelConfig, profile: ReferenceProfile) -> None:
    problems = check_options(model, profile, config.drift, window_size=config.window.size)
    if problems:
        raise ConfigError(problems)


class ReferenceLoader:
    def __init__(self, model: str, config: ModelConfig) -> None:
        self.model = model
        self.config = config
        self.source = reference_source(config)
        ref = config.reference
        self.cache = ProfileCache(ref.cache_dir or default_cache_dir(), model, config)
        #: serve the profile cached last while the source is down (not for local files)
        self.fallback = ref.kind != "file"
        self._writing: list[threading.Thread] = []

    def public(self, text: str) -> str:
        """``text`` for responses: a local file's path replaced by ``file`` (paths stay in the
        log), secrets redacted (an S3 URL or a ClearML dataset stays: it names what is missing,
        and credentials in an endpoint URL are masked by ``redact``)."""
        if self.source.kind == "file" and self.source.description:
            text = text.replace(self.source.description, self.source.kind)
        return redact(text)

    def _info(
        self, entry: CachedEntry, cached: bool = False, note: str | None = None
    ) -> ReferenceInfo:
        v = entry.version
        return ReferenceInfo(
            self.source.kind, v.label, v.id, v.description, entry.loaded_at, cached, note
        )

    def load(self, installed: ReferenceInfo | None = None) -> LoadedReference | None:
        """The source's current reference; None when ``installed`` already is that version.

        Raises ``ReferenceUnavailable`` (source down, bad id, no such file), or a schema/config
        error naming the column and the version."""
        self.wait_cached()
        try:
            version = self.source.current()
        except ReferenceUnavailable as exc:
            if installed is None and self.fallback:
                hit = self.cache.latest()
                if hit is not None:
                    entry, profile = hit
                    _check(self.model, self.config, profile)
                    profile = calibrated(self.model, self.config, profile)
                    cause = self.public(str(exc))
                    note = f"source unavailable, serving the cached profile: {cause}"
                    return LoadedReference(profile, self._info(entry, True, note))
            raise
        if installed is not None and not installed.cached and installed.version_id == version.id:
            return None
        hit = self.cache.get(version.id)
        if hit is not None:
            entry, profile = hit
            _check(self.model, self.config, profile)
            profile = calibrated(self.model, self.config, profile)
            self.cache.mark_latest(entry)
            return LoadedReference(profile, self._info(entry))
        return self._fetch(version)

    def _fetch(self, version: ReferenceVersion) -> LoadedReference:
        frame = self.source.load(version)
        profile = profile_frame(self.model, self.config, frame, version.description)
        entry = CachedEntry(version, time.time())
        if self.fallback:
            self.cache.put(entry, profile)
        else:
            self._put_in_background(entry, profile)
        return LoadedReference(profile, self._info(entry), frame)

    def wait_cached(self, timeout: float | None = None) -> None:
        """Wait until what was loaded and fitted last is in the cache (or its write failed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._writing):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def cached_estimators(self, version_id: str) -> FittedEstimators | None:
        """The estimators cached with ``version_id``; None when there are none or they cannot
        be read (logged once: the caller fits instead)."""
        try:
            return self.cache.get_estimators(version_id)
        except Exception:  # the cache is an optimization: a failed read costs a fit
            log.warning("model %s: cannot read the cached estimators", self.model, exc_info=True)
            return None

    def cache_estimators(self, version_id: str, fitted: FittedEstimators) -> None:
        """Cache the estimators fitted on ``version_id`` beside its profile, as the profile is
        (a failed write is logged and otherwise ignored)."""

        def write() -> None:
            self.cache.put_estimators(version_id, fitted)

        if self.fallback:  # before the install, as the profile of a remote source
            self._guarded("the estimators", write)
        else:
            self._in_background("the estimators", write)

    def _put_in_background(self, entry: CachedEntry, profile: ReferenceProfile) -> None:
        self._in_background("the reference profile", lambda: self.cache.put(entry, profile))

    def _guarded(self, what: str, write: Callable[[], None]) -> None:
        """``write()``, a failure logged: the cache is an optimization, never fail a load for it."""
        try:
            write()
        except Exception:
            log.warning("model %s: cannot cache %s", self.model, what, exc_info=True)

    def _in_background(self, what: str, write: Callable[[], None]) -> None:
        def run() -> None:
            try:
                self._guarded(what, write)
            finally:
                atexit.unregister(wait)

        def wait() -> None:
            thread.join(CACHE_WRITE_EXIT_SECONDS)

        thread = threading.Thread(target=run, name=f"drift-cache-{self.model}", daemon=True)
        atexit.register(wait)
        self._writing = [t for t in self._writing if t.is_alive()]
        self._writing.append(thread)
        thread.start()
