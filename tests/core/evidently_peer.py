"""What the two evidently parity suites share: one column as evidently reports it, the
tolerance of "the same number", and the per-column comparison with our report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from drift.core.report import ColumnStatus, DriftReport

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


@dataclass(frozen=True)
class PeerColumn:
    method: str
    score: float
    threshold: float
    drifted: bool


def close(a: float | None, b: float) -> bool:
    """Equal within 1e-9 (relative or absolute); NaN equals NaN; None equals nothing."""
    if a is None:
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def column_problems(ours: DriftReport, peer: Mapping[str, PeerColumn]) -> list[str]:
    """Every column where our method, score, threshold or decision differs from evidently's."""
    problems: list[str] = []
    for name, theirs in peer.items():
        mine = ours.column(name)
        if mine.status is not ColumnStatus.OK:
            problems.append(f"{name}: status {mine.status}")
            continue
        if mine.method != theirs.method:
            problems.append(f"{name}: method {mine.method} != evidently {theirs.method}")
        if not close(mine.score, theirs.score):
            problems.append(f"{name} ({mine.method}): score {mine.score!r} != {theirs.score!r}")
        if mine.threshold != theirs.threshold:
            problems.append(f"{name}: threshold {mine.threshold} != {theirs.threshold}")
        if mine.drifted != theirs.drifted:
            problems.append(f"{name} ({mine.method}): drifted {mine.drifted} != {theirs.drifted}")
    return problems
