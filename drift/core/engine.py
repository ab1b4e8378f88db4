"""Evaluate a window against a reference profile. Pure: no I/O, inputs are never mutated."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from drift.core.calibration import Calibration, applied, dataset_false_alarm_rate
from drift.core.columns import PARALLEL_MIN_SAMPLES, ColumnData, ColumnType, map_columns
from drift.core.options import DriftConfig
from drift.core.reference import ColumnProfile, ReferenceProfile
from drift.core.report import ColumnDrift, ColumnStatus, DriftReport
from drift.core.stattests import METHODS, Method, default_method
from drift.core.window import WindowSnapshot


def configured_choice(
    column: ColumnProfile, options: DriftConfig
) -> tuple[str | None, float | None]:
    """The method and threshold the config sets for a column, with evidently's precedence:
    per column > per column type > all columns (None where nothing is configured)."""
    per_column = options.columns.get(column.name)
    per_type = (
        options.numerical if column.column_type is ColumnType.NUMERICAL else options.categorical
    )
    name = (per_column.method if per_column else None) or per_type.method or options.method
    threshold = (
        (per_column.threshold if per_column else None) or per_type.threshold or options.threshold
    )
    return name, threshold


def choose_method(
    column: ColumnProfile, current: ColumnData, options: DriftConfig
) -> tuple[Method, float]:
    """Method and threshold for one column: the configured ones, else evidently's default choice
    and the method's default threshold."""
    name, threshold = configured_choice(column, options)
    if name is not None:
        method = METHODS[name]
        if column.column_type not in method.column_types:
            raise ValueError(
                f"method {name} does not apply to {column.column_type} column {column.name!r}"
            )
    else:
        method = default_method(column.data, current, column.column_type)
    return method, threshold if threshold is not None else method.default_threshold


def column_drift(
    column: ColumnProfile,
    current: ColumnData,
    options: DriftConfig,
    calibration: Calibration | None = None,
) -> ColumnDrift:
    missing_share = current.n_missing / current.n_total if current.n_total else 0.0
    if column.data.n == 0 or current.n == 0:
        name, threshold = configured_choice(column, options)
        if threshold is None:
            threshold = METHODS[name].default_threshold if name is not None else math.nan
        return ColumnDrift(
            column=column.name,
            column_type=column.column_type,
            method=name or "",
            score=None,
            threshold=threshold,
            drifted=False,
            status=ColumnStatus.INSUFFICIENT_DATA,
            current_count=current.n,
            current_missing_share=missing_share,
            reference_missing_share=column.missing_share,
        )
    method, threshold = choose_method(column, current, options)
    tuned = applied(calibration, column, method, options, current)
    if tuned is not None:
        threshold = tuned.threshold
    score = method.score(column.data, current, column.column_type)
    return ColumnDrift(
        column=column.name,
        column_type=column.column_type,
        method=method.name,
        score=score,
        threshold=threshold,
        drifted=method.drifted(score, threshold),
        status=ColumnStatus.OK,
        current_count=current.n,
        current_missing_share=missing_share,
        reference_missing_share=column.missing_share,
        calibrated=tuned is not None,
        false_alarm_rate=None if tuned is None else tuned.rate,
        calibration_size=None if tuned is None else tuned.size,
    )


def adjusted_p_values(p_values: np.ndarray, correction: str) -> np.ndarray:
    """Bonferroni: min(1, m p). Benjamini-Hochberg: the step-up adjusted p-values of
    ``scipy.stats.false_discovery_control`` (equal to ``statsmodels``' ``fdr_bh``)."""
    if correction == "bonferroni":
        bonferroni: np.ndarray = np.minimum(1.0, p_values * p_values.size)
        return bonferroni
    from scipy.stats import false_discovery_control

    adjusted: np.ndarray = false_discovery_control(p_values, method="bh")
    return adjusted


def correct(columns: tuple[ColumnDrift, ...], correction: str) -> tuple[ColumnDrift, ...]:
    """Apply a multiple-testing correction across the feature columns scored by p-value tests
    (an opt-in beyond evidently); distances are left as they are."""
    if correction == "none":
        return columns
    tested = [
        i
        for i, col in enumerate(columns)
        if col.status is ColumnStatus.OK
        and col.score is not None
        and not math.isnan(col.score)
        and METHODS[col.method].is_p_value
        and not col.calibrated  # its threshold already states its false-alarm rate
    ]
    if not tested:
        return columns
    adjusted = adjusted_p_values(np.array([columns[i].score for i in tested]), correction)
    out = list(columns)
    for i, p_adj in zip(tested, adjusted, strict=True):
        col = columns[i]
        drifted = METHODS[col.method].drifted(float(p_adj), col.threshold)
        out[i] = dataclasses.replace(col, adjusted_score=float(p_adj), drifted=drifted)
    return tuple(out)


def score_columns(
    columns: list[ColumnProfile],
    window: WindowSnapshot,
    options: DriftConfig,
    parallel: bool = True,
    calibration: Calibration | None = None,
) -> list[ColumnDrift]:
    """``column_drift`` of each column; with ``parallel``, spread over the column threads
    (``map_columns``; the results do not depend on it)."""
    pairs = [(col, window.columns[col.name]) for col in columns]
    return map_columns(
        lambda pair: column_drift(pair[0], pair[1], options, calibration), pairs, parallel
    )


def evaluate(
    model: str,
    profile: ReferenceProfile,
    window: WindowSnapshot,
    options: DriftConfig,
    window_size: int,
    now: float | None = None,
    parallel: bool | None = None,
) -> DriftReport:
    """One evaluation of ``window`` against ``profile``. ``parallel`` scores the columns in
    the column threads (``map_columns``: as many as the process's CPU affinity and quota
    allow, at most 4; none on one core); None: when the window holds at least
    ``PARALLEL_MIN_SAMPLES`` samples (below that, handing the columns to threads costs more
    than it saves). The results do not depend on it. At window 100k this takes the
    Wasserstein passes from ~65 ms to ~40 ms on two cores (benchmarks/README.md)."""
    if parallel is None:
        parallel = window.samples >= PARALLEL_MIN_SAMPLES
    started = time.perf_counter()
    pred_profile = profile.prediction
    scored = score_columns(
        [*profile.features, *([pred_profile] if pred_profile is not None else [])],
        window,
        options,
        parallel,
        profile.calibration,
    )
    prediction = scored.pop() if pred_profile is not None else None
    features = correct(tuple(scored), options.correction)
    evaluated = [c for c in features if c.status is ColumnStatus.OK]
    rates = [c.false_alarm_rate for c in evaluated]
    expected_rate = (
        dataset_false_alarm_rate([r for r in rates if r is not None], options.share_threshold)
        if rates and None not in rates
        else None
    )
    return DriftReport(
        model=model,
        evaluated_at=time.time() if now is None else now,
        evaluation_seconds=time.perf_counter() - started,
        window_samples=window.samples,
        window_size=window_size,
        samples_seen=window.total_seen,
        reference_rows=profile.rows,
        reference_source=profile.source,
        columns=features,
        prediction=prediction,
        share_threshold=options.share_threshold,
        drifted_columns=sum(c.drifted for c in evaluated),
        evaluated_columns=len(evaluated),
        expected_false_alarm_rate=expected_rate,
    )


#: empirical_mmd holds (n + m)^2 floats, as evidently's does: refuse sizes that would take
#: more than ~200 MB rather than let the sidecar run out of memory beside the model server
MMD_MAX_SAMPLES = 5_000


def check_options(
    model: str, profile: ReferenceProfile, options: DriftConfig, window_size: int | None = None
) -> list[tuple[str, str]]:
    """Config problems only visible once the reference is known (unknown column, wrong type)."""
    problems: list[tuple[str, str]] = []
    base = f"models.{model}.drift"
    for name, choice in options.columns.items():
        if name not in profile.columns:
            problems.append((f"{base}.columns.{name}", "not a monitored column of the reference"))
            continue
        col_type = profile.columns[name].column_type
        if choice.method and col_type not in METHODS[choice.method].column_types:
            problems.append(
                (
                    f"{base}.columns.{name}.method",
                    f"{choice.method} does not apply to {col_type} columns",
                )
            )
    for kind, choice in (
        (ColumnType.NUMERICAL, options.numerical),
        (ColumnType.CATEGORICAL, options.categorical),
    ):
        if choice.method and kind not in METHODS[choice.method].column_types:
            problems.append(
                (f"{base}.{kind}.method", f"{choice.method} does not apply to {kind} columns")
            )
    if window_size is not None:
        for col in profile.columns.values():
            configured, _ = configured_choice(col, options)
            if configured == "empirical_mmd" and col.data.n + window_size > MMD_MAX_SAMPLES:
                problems.append(
                    (
                        f"{base}.columns.{col.name}.method",
                        f"empirical_mmd needs (reference + window)^2 floats: "
                        f"{col.data.n} + {window_size} samples exceed {MMD_MAX_SAMPLES}; "
                        "use a smaller window or another method",
                    )
                )
    if options.method:
        kinds = {c.column_type for c in profile.columns.values()}
        for kind in kinds - METHODS[options.method].column_types:
            problems.append(
                (f"{base}.method", f"{options.method} does not apply to {kind} columns")
            )
    return problems
