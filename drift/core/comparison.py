"""The engine as a function for notebooks and pipelines: two frames in, a ``DriftReport`` out.

Cheap to import: no evidently, no web framework, no scipy.stats until a method needs it.

``compare`` summarizes the current frame straight from its columns (``snapshot_from_frame``),
with the numbers a window filled with the same rows would give: numerical columns sorted from
a float64 view, categorical ones coded against the reference's vocabulary with
``pandas.factorize``; columns in parallel where the process has more than one core.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import ValidationError

from drift.core.calibration import calibrate
from drift.core.columns import (
    CategoricalData,
    ColumnData,
    NumericData,
    float_values,
    map_columns,
)
from drift.core.engine import check_options, evaluate
from drift.core.options import ColumnsConfig, DriftConfig
from drift.core.reference import ColumnProfile, ReferenceProfile, build_profile
from drift.core.report import DriftReport
from drift.core.window import CountWindow, WindowSnapshot
from drift.errors import ConfigError

_ROLE_SHORTCUTS = frozenset(ColumnsConfig.model_fields)
_DRIFT_SHORTCUTS = frozenset(
    {"method", "threshold", "share_threshold", "max_categories", "correction"}
)


def build_options(
    columns: ColumnsConfig | Mapping[str, Any] | None,
    drift: DriftConfig | Mapping[str, Any] | None,
    shortcuts: Mapping[str, Any],
) -> tuple[ColumnsConfig, DriftConfig]:
    """The ``columns`` and ``drift`` sections of a model's config, from sections or shortcuts."""
    unknown = set(shortcuts) - _ROLE_SHORTCUTS - _DRIFT_SHORTCUTS
    if unknown:
        known = ", ".join(sorted(_ROLE_SHORTCUTS | _DRIFT_SHORTCUTS | {"columns", "drift"}))
        raise ConfigError([(key, f"unknown option; known: {known}") for key in sorted(unknown)])
    roles = dict(columns.model_dump() if isinstance(columns, ColumnsConfig) else columns or {})
    roles.update({k: v for k, v in shortcuts.items() if k in _ROLE_SHORTCUTS})
    options = dict(drift.model_dump() if isinstance(drift, DriftConfig) else drift or {})
    options.update({k: v for k, v in shortcuts.items() if k in _DRIFT_SHORTCUTS})
    try:
        return ColumnsConfig(**roles), DriftConfig(**options)
    except ValidationError as exc:
        raise ConfigError(
            [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()]
        ) from None


def _check_columns(profile: ReferenceProfile, current: pd.DataFrame) -> None:
    missing = [name for name in profile.columns if name not in current.columns]
    if missing:
        raise ConfigError([(name, "not in the current data") for name in missing])


def window_from_frame(
    profile: ReferenceProfile, current: pd.DataFrame, max_categories: int = 10_000
) -> CountWindow:
    """A window holding every row of ``current`` (in order) for the profile's columns."""
    _check_columns(profile, current)
    window = CountWindow(
        profile.column_types,
        max(1, len(current)),
        vocabularies=profile.vocabularies,
        max_new_categories=max_categories,
    )
    window.append({name: current[name].tolist() for name in profile.columns}, len(current))
    return window


def snapshot_from_frame(
    profile: ReferenceProfile, current: pd.DataFrame, max_categories: int = 10_000
) -> WindowSnapshot:
    """What ``window_from_frame(...).snapshot()`` gives, without the window: each column
    summarized from the frame's data (``NumericData.from_values`` of a float64 view,
    ``CategoricalData.coded`` against the reference's categories), columns in parallel."""
    _check_columns(profile, current)
    work = [(col, current[col.name]) for col in profile.columns.values()]

    def summarize(item: tuple[ColumnProfile, pd.Series]) -> ColumnData:
        col, series = item
        if isinstance(col.data, CategoricalData):
            return CategoricalData.coded(series, col.data.categories, max_categories)
        return NumericData.from_values(float_values(series))

    summaries = map_columns(summarize, work)
    columns = {col.name: data for (col, _), data in zip(work, summaries, strict=True)}
    return WindowSnapshot(columns=columns, samples=len(current), total_seen=len(current))


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: ColumnsConfig | Mapping[str, Any] | None = None,
    drift: DriftConfig | Mapping[str, Any] | None = None,
    model: str = "compare",
    source: str = "reference",
    **shortcuts: Any,
) -> DriftReport:
    """Drift of ``current`` against ``reference``, as the sidecar would report it.

    ``columns`` and ``drift`` take the same keys as a model's config sections. Shortcuts: the
    role keys (``numerical=[...]``, ``categorical=[...]``, ``prediction=...``, ``id``, ...) and
    ``method``, ``threshold``, ``share_threshold``. Example::

        compare(ref, cur, numerical=["age"], categorical=["city"], prediction="score",
                drift={"columns": {"age": {"method": "ks"}}}, share_threshold=0.3)
    """
    roles, options = build_options(columns, drift, shortcuts)
    profile = build_profile(reference, roles, source, options.max_categories)
    problems = check_options(model, profile, options, window_size=len(current))
    if problems:
        raise ConfigError(problems)
    snapshot = snapshot_from_frame(profile, current, options.max_categories)
    window_size = max(1, len(current))
    if options.calibration is not None:  # thresholds calibrated to a window of this size
        profile = dataclasses.replace(
            profile, calibration=calibrate(profile, options, window_size, smallest=window_size)
        )
    return evaluate(model, profile, snapshot, options, window_size=window_size, parallel=True)
