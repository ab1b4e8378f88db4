"""drift.core.report ``to_state`` / ``from_state``: lossless through JSON, NaN scores included."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

import drift
from drift.core.report import ColumnDrift, DriftReport


def _report() -> DriftReport:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 300), "c": rng.choice(["a", "b"], 300)})
    current = pd.DataFrame({"x": rng.normal(1, 1, 200), "c": ["a"] * 200, "p": rng.random(200)})
    reference["p"] = rng.random(300)
    return drift.compare(
        reference, current, numerical=["x"], categorical=["c"], prediction="p", model="m"
    )


def test_a_report_round_trips_through_json() -> None:
    report = _report()
    nan_column = dataclasses.replace(report.columns[0], score=math.nan, adjusted_score=None)
    report = dataclasses.replace(report, columns=(nan_column, *report.columns[1:]))
    again = DriftReport.from_state(json.loads(json.dumps(report.to_state())))
    assert math.isnan(again.columns[0].score or 0.0)
    assert dataclasses.replace(again, columns=report.columns) == report
    assert again.columns[1:] == report.columns[1:]
    assert again.to_dict() == report.to_dict()


def test_a_report_without_verdict_round_trips() -> None:
    report = DriftReport.without_verdict("m", 1.5, 3, 10, 100, 60.0, 50, 300, "file v1", 0.5)
    assert DriftReport.from_state(json.loads(json.dumps(report.to_state()))) == report


def test_a_damaged_report_is_refused() -> None:
    state = _report().to_state()
    state["columns"][0]["status"] = "sideways"
    with pytest.raises(ValueError, match="sideways"):
        DriftReport.from_state(state)
    del state["prediction"]
    with pytest.raises(KeyError):
        DriftReport.from_state(state)
    with pytest.raises(KeyError):
        ColumnDrift.from_state({"column": "x"})
