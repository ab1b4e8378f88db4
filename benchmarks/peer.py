"""The peer: evidently 0.7's ``DataDriftPreset``, run as a user writes it, and the comparison of
its per-column results with ours (see tests/core/test_parity_evidently.py for the same reading)."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from workload import CATEGORICAL, NUMERICAL, PREDICTED_CLASS, SCORE

from drift.core.report import ColumnStatus, DriftReport
from drift.core.stattests import METHODS

TOLERANCE = 1e-9
# evidently names an auto-chosen method by its display name, an explicit one by its identifier;
# our METHODS table carries both (tests/core/test_parity_evidently.py checks the display names)
EVIDENTLY_DISPLAY_NAMES = {m.display_name: m.name for m in METHODS.values()}
VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


@dataclass(frozen=True)
class Evidently:
    """evidently's entry points, imported once; ``import_seconds`` is kept out of the timings."""

    report: Any
    preset: Any
    dataset: Any
    definition: Any
    import_seconds: float


def import_evidently() -> Evidently:
    started = time.perf_counter()
    with warnings.catch_warnings():
        # evidently's UI imports litestar, which warns about its own deprecated helpers
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    seconds = time.perf_counter() - started
    definition = DataDefinition(
        numerical_columns=[*NUMERICAL, SCORE], categorical_columns=[*CATEGORICAL, PREDICTED_CLASS]
    )
    return Evidently(Report, DataDriftPreset, Dataset, definition, seconds)


@contextmanager
def third_party_warnings() -> Iterator[None]:
    """numpy / scipy / pandas warnings raised inside evidently's calculations."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "divide by zero encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def run_evidently(ev: Evidently, reference: pd.DataFrame, current: pd.DataFrame) -> Any:
    """One evaluation (frames already free of +-inf): Report construction, both Datasets, run."""
    report = ev.report([ev.preset()], include_tests=True)
    with third_party_warnings():
        return report.run(
            ev.dataset.from_pandas(current, ev.definition),
            ev.dataset.from_pandas(reference, ev.definition),
        )


@dataclass(frozen=True)
class ColumnResult:
    method: str
    score: float
    threshold: float
    drifted: bool


def evidently_columns(snapshot: Any) -> dict[str, ColumnResult]:
    """Per-column method, score, threshold and decision (the ValueDrift test) of a snapshot."""
    decisions: dict[str, bool] = {}
    for test in snapshot.tests_results:
        params = test.metric_config.params
        if params.get("type") == VALUE_DRIFT:
            decisions[params["column"]] = test.status.value == "FAIL"
    columns: dict[str, ColumnResult] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"] == VALUE_DRIFT:
            columns[config["column"]] = ColumnResult(
                method=EVIDENTLY_DISPLAY_NAMES.get(config["method"], config["method"]),
                score=float(metric["value"]),
                threshold=float(config["threshold"]),
                drifted=decisions[config["column"]],
            )
    return columns


def our_columns(report: DriftReport) -> dict[str, ColumnResult]:
    """The same for our report: the features and the prediction."""
    columns = {}
    for col in (*report.columns, *([report.prediction] if report.prediction else [])):
        if col.status is ColumnStatus.OK and col.score is not None:
            columns[col.column] = ColumnResult(col.method, col.score, col.threshold, col.drifted)
    return columns


def agreement(
    theirs: dict[str, ColumnResult], ours: dict[str, ColumnResult], peer: str = "evidently"
) -> tuple[float, list[str]]:
    """Max |score difference| and the disagreements: method, score (1e-9 absolute or
    relative), threshold, decision."""
    problems: list[str] = []
    max_diff = 0.0
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours or name not in theirs:
            problems.append(f"{name}: only in {peer if name in theirs else 'ours'}")
            continue
        t, o = theirs[name], ours[name]
        if o.method != t.method:
            problems.append(f"{name}: method {o.method} != {peer} {t.method}")
        if math.isnan(t.score) or math.isnan(o.score):
            if not (math.isnan(t.score) and math.isnan(o.score)):
                problems.append(f"{name}: score {o.score!r} != {peer} {t.score!r}")
        else:
            max_diff = max(max_diff, abs(o.score - t.score))
            if not math.isclose(o.score, t.score, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                problems.append(f"{name}: score {o.score!r} != {peer} {t.score!r}")
        if o.threshold != t.threshold:
            problems.append(f"{name}: threshold {o.threshold} != {peer} {t.threshold}")
        if o.drifted != t.drifted:
            problems.append(f"{name}: drifted {o.drifted} != {peer} {t.drifted}")
    return max_diff, problems
