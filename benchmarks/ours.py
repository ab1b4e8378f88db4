"""Our side, set up as the sidecar sets it up: a reference profile built once, a ``CountWindow``
seeded with the reference's categories and filled by appends, a ``ModelMonitor`` for the
service's per-step evaluation (``drift/service/monitor.py``)."""

from __future__ import annotations

import pandas as pd
from workload import ROLES, column_lists

from drift.config import DriftConfig, ModelConfig, ReferenceConfig, WindowConfig
from drift.core.reference import ReferenceProfile, build_profile
from drift.core.window import CountWindow
from drift.ingest.samples import Batch
from drift.service.monitor import ModelMonitor

OPTIONS = DriftConfig()  # evidently's defaults: default methods and thresholds, share 0.5
APPEND_BATCH = 1_000  # samples per append: one POST of 1000 samples
MODEL = "bench"


def reference_profile(frame: pd.DataFrame) -> ReferenceProfile:
    """As ``drift.service.service.load_profile`` builds it (after reading the file)."""
    return build_profile(frame, ROLES, "benchmark", OPTIONS.max_categories)


def new_window(profile: ReferenceProfile, size: int) -> CountWindow:
    """As ``ModelMonitor.install_reference`` creates it."""
    return CountWindow(
        profile.column_types,
        size,
        vocabularies=profile.vocabularies,
        max_new_categories=OPTIONS.max_categories,
    )


def batches(frame: pd.DataFrame, start: int = 0, stop: int | None = None) -> list[Batch]:
    """Rows ``start:stop`` as the ``Batch`` values ``validate_samples`` makes, 1000 at a time."""
    stop = len(frame) if stop is None else stop
    out = []
    for first in range(start, stop, APPEND_BATCH):
        last = min(first + APPEND_BATCH, stop)
        out.append(Batch(columns=column_lists(frame, first, last), ids=[None] * (last - first)))
    return out


def filled_window(profile: ReferenceProfile, current: pd.DataFrame) -> CountWindow:
    """A window of ``len(current)`` samples holding ``current``, filled by appends."""
    window = new_window(profile, len(current))
    for batch in batches(current):
        window.append(batch.columns, len(batch))
    return window


def new_monitor(profile: ReferenceProfile, size: int, step: int) -> ModelMonitor:
    """One model's state in the service: reference, window, carried summaries, latest result."""
    config = ModelConfig(
        reference=ReferenceConfig(path="reference.parquet"),  # not read: the profile is given
        columns=ROLES,
        window=WindowConfig(size=size, step=step),
        drift=OPTIONS,
    )
    monitor = ModelMonitor(MODEL, config)
    monitor.install_reference(profile)
    return monitor
