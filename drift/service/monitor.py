"""Per-model state owned by the service: reference profile, window, latest result."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pandas as pd

from drift.config import ModelConfig
from drift.core.columns import SampleSchema
from drift.core.engine import evaluate
from drift.core.reference import ReferenceProfile
from drift.core.report import DriftReport
from drift.ingest.samples import Batch

if TYPE_CHECKING:
    from drift.service.references import ReferenceInfo
from drift.core.window import CountWindow, Summarizer


class ReferenceState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class RestoredWindow:
    """A window and latest report restored from a snapshot, ready to install."""

    window: CountWindow
    latest: DriftReport | None


class ModelMonitor:
    """Thread-safe: ingestion (request threads) and evaluation (the evaluator) share it.

    The lock is held only to append to the window or to copy it; statistics run outside it.
    """

    def __init__(self, name: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.state = ReferenceState.LOADING
        self.error: str | None = None
        self._lock = threading.Lock()
        self._profile: ReferenceProfile | None = None
        self._reference_info: ReferenceInfo | None = None
        self._schema: SampleSchema | None = None
        self._window: CountWindow | None = None
        self._since_eval = 0
        self._latest: DriftReport | None = None
        self._summarizer = Summarizer()

    @property
    def profile(self) -> ReferenceProfile | None:
        return self._profile

    @property
    def reference_info(self) -> ReferenceInfo | None:
        """Source, version and age of the installed reference (swapped with the profile)."""
        return self._reference_info

    @property
    def schema(self) -> SampleSchema | None:
        return self._schema

    @property
    def latest(self) -> DriftReport | None:
        return self._latest

    @property
    def window_samples(self) -> int:
        """Samples in the window now (for a time window: those of the last duration)."""
        window, seconds = self._window, self.config.window.duration_seconds
        if window is None:
            return 0
        if seconds is None:
            return len(window)
        with self._lock:
            return window.count_since(time.monotonic() - seconds)

    @property
    def generation(self) -> tuple[int, float | None]:
        """Changes when the window takes samples or a new report is made (snapshots skip a
        model whose generation is unchanged)."""
        window, latest = self._window, self._latest
        seen = 0 if window is None else window.total_seen
        return seen, None if latest is None else latest.evaluated_at

    def to_state(self, wall_offset: float) -> dict[str, Any] | None:
        """The window and the latest report as plain data for a snapshot (None before the
        first reference): the lock is held only to copy the window (memcpy)."""
        with self._lock:
            window, latest = self._window, self._latest
            if window is None:
                return None
            saved = window.to_state(wall_offset)
        return {"window": saved, "latest": None if latest is None else latest.to_state()}

    def restored(
        self, state: Mapping[str, Any], profile: ReferenceProfile, wall_offset: float
    ) -> RestoredWindow:
        """What ``to_state`` saved, rebuilt against ``profile`` for ``install_reference``.
        Raises ValueError (or KeyError, TypeError) when it does not fit."""
        window = CountWindow.from_state(
            state["window"], profile.column_types, self.config.window.size, wall_offset
        )
        latest = state["latest"]
        report = None if latest is None else DriftReport.from_state(latest)
        if report is not None and report.model != self.name:
            raise ValueError(f"the saved report is of model {report.model!r}")
        return RestoredWindow(window, report)

    def install_reference(
        self,
        profile: ReferenceProfile,
        info: ReferenceInfo | None = None,
        restored: RestoredWindow | None = None,
    ) -> None:
        """Swap in a reference; the window is kept when the column types are unchanged. The
        first reference may come with a window and report restored from a snapshot (made by
        ``restored`` against the same profile): then /drift answers the saved verdict at once."""
        with self._lock:
            if restored is not None and self._window is None:
                self._window = restored.window
                self._latest = restored.latest
                self._since_eval = 0
            if self._window is None or dict(self._window.column_types) != profile.column_types:
                self._window = CountWindow(
                    profile.column_types,
                    self.config.window.size,
                    vocabularies=profile.vocabularies,
                    max_new_categories=self.config.drift.max_categories,
                )
                self._since_eval = 0
            self._profile = profile
            self._reference_info = info
            self._schema = profile.sample_schema()
            # carried ranks are relative to the reference: a new reference starts afresh
            self._summarizer = Summarizer(rank_against=profile.numeric_values)
            self.state = ReferenceState.READY
            self.error = None

    def mark_failed(self, error: str) -> None:
        with self._lock:
            if self._profile is None:
                self.state = ReferenceState.FAILED
            self.error = error

    def ingest(self, batch: Batch, at: float | None = None) -> bool:
        """Append accepted samples (arrived at monotonic time ``at``, default now); True when
        an evaluation is due."""
        n = len(batch)
        with self._lock:
            window = self._window
            if window is None:
                raise RuntimeError(f"model {self.name!r} has no window yet")
            window.append(batch.columns, n, at=time.monotonic() if at is None else at)
            self._since_eval += n
            return self._due(window)

    def window_bounds(self) -> tuple[int, int]:
        """``(samples seen, samples held)``: the window holds samples number ``seen - held + 1``
        to ``seen`` (1-based, over all time)."""
        with self._lock:
            window = self._window
            return (0, 0) if window is None else (window.total_seen, len(window))

    def reset_window(self) -> None:
        """An empty window and no report (a fleet aggregator losing or taking over the
        model); the reference stays."""
        with self._lock:
            window, profile = self._window, self._profile
            if window is None or profile is None:
                return
            self._window = CountWindow(
                profile.column_types,
                self.config.window.size,
                vocabularies=profile.vocabularies,
                max_new_categories=self.config.drift.max_categories,
            )
            self._latest = None
            self._since_eval = 0
            self._summarizer = Summarizer(rank_against=profile.numeric_values)

    def evaluable(self) -> bool:
        """Whether an evaluation now would be one that ingestion could have asked for: a time
        window always (the clock asks), a count window once it holds ``min_samples``."""
        with self._lock:
            window = self._window
            if window is None or self._profile is None:
                return False
            return self.timed or len(window) >= self.config.window.first_evaluation_after

    def _due(self, window: CountWindow) -> bool:
        cfg = self.config.window
        if cfg.duration_seconds is not None:  # also evaluated by the clock (service ticker)
            return self._since_eval >= cfg.step
        if len(window) < cfg.first_evaluation_after:
            return False
        return self._latest is None or self._since_eval >= cfg.step

    @property
    def timed(self) -> bool:
        """A time window: evaluated every ``window.evaluate_every_seconds`` as well."""
        return self.config.window.duration_seconds is not None

    def window_frame(self) -> pd.DataFrame:
        """A copy of the window as a frame, in arrival order (numerical columns as float,
        categorical ones as canonical strings with None for missing)."""
        with self._lock:
            window = self._window
            raw = {} if window is None else window.raw()
        return pd.DataFrame(raw)

    def evaluate(self, now: float | None = None) -> DriftReport | None:
        """Evaluate the current window (called by the evaluator thread only). A time window
        holding fewer than ``min_samples`` samples gives a report without verdict."""
        cfg = self.config.window
        now = time.monotonic() if now is None else now
        with self._lock:
            window, profile, info = self._window, self._profile, self._reference_info
            if window is None or profile is None:
                return None
            if cfg.duration_seconds is None:
                if len(window) == 0:
                    return None
                view = window.view()
            else:
                view = window.view(since=now - cfg.duration_seconds)
            self._since_eval = 0
        if cfg.duration_seconds is not None and view.samples < cfg.first_evaluation_after:
            report = DriftReport.without_verdict(
                model=self.name,
                evaluated_at=time.time(),
                samples=view.samples,
                samples_seen=view.total_seen,
                window_size=cfg.size,
                window_seconds=cfg.duration_seconds,
                min_samples=cfg.first_evaluation_after,
                reference_rows=profile.rows,
                reference_source=public_source(info, profile),
                share_threshold=self.config.drift.share_threshold,
            )
        else:
            snapshot = self._summarizer.summarize(view)
            report = dataclasses.replace(
                evaluate(self.name, profile, snapshot, self.config.drift, cfg.size),
                window_seconds=cfg.duration_seconds,
                min_samples=cfg.first_evaluation_after,
                reference_source=public_source(info, profile),
            )
        self._latest = report
        return report


def public_source(info: ReferenceInfo | None, profile: ReferenceProfile) -> str:
    """What reports, alerts and the API say about the reference: its kind and version
    (``file 18c2d9e0-4f1``, ``clearml 1.2.0``), never a filesystem path or a URL; the full
    location is in the start-up log."""
    if info is None:  # a profile installed without source information (tests, compare)
        return profile.source
    return f"{info.source} {info.version}"
