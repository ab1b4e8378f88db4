"""What users of evidently and NannyML expect of a report in a notebook: ``to_dataframe()`` (one
row per column) and ``save_html(path)`` (evidently's page, with our methods and thresholds).
The page is drawn by the adapter ``drift.compare`` attaches, so ``drift.core`` stays pure."""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drift
from drift.core.comparison import compare as engine_compare
from drift.core.report import FRAME_COLUMNS, DriftReport, PageUnavailable
from tests.components import require


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 1200),
            "city": rng.choice(["a", "b", "c"], 1200),
            "constant": np.ones(1200),
            "score": rng.random(1200),
        }
    )
    cur = pd.DataFrame(
        {
            "age": rng.normal(48, 10, 400),
            "city": rng.choice(["a", "b", "c"], 400, p=[0.6, 0.3, 0.1]),
            "constant": np.ones(400),
            "score": rng.random(400),
        }
    )
    return ref, cur


@pytest.fixture(scope="module")
def report() -> DriftReport:
    ref, cur = frames()
    return drift.compare(
        ref, cur, numerical=["age", "constant"], categorical=["city"], prediction="score"
    )


def test_to_dataframe_has_one_row_per_column_with_the_reports_numbers(
    report: DriftReport,
) -> None:
    frame = report.to_dataframe()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert list(frame["column"]) == ["age", "constant", "city", "score"]
    assert list(frame["role"]) == ["feature", "feature", "feature", "prediction"]
    assert frame["drift_detected"].dtype == bool
    assert frame["score"].dtype == np.float64
    body = report.to_dict()
    columns = {**body["columns"], "score": body["prediction"]}
    for row in frame.itertuples(index=False):
        expected = columns[row.column]
        assert row.type == expected["type"]
        assert row.method == expected["method"]
        assert row.drift_detected == expected["drifted"]
        assert row.status == expected["status"]
        assert row.current_count == expected["current_count"]
        assert row.threshold == expected["threshold"]
        if expected["score"] is None:  # undefined (NaN/inf in the engine): NaN here
            assert math.isnan(row.score) or not math.isfinite(row.score)
        else:
            assert row.score == pytest.approx(expected["score"])
    assert frame.loc[frame["column"] == "age", "drift_detected"].item() is True
    assert int(frame.loc[frame["role"] == "feature", "drift_detected"].sum()) == (
        report.drifted_columns
    )


def test_to_dataframe_of_a_report_without_verdict_is_empty_with_the_columns() -> None:
    empty = DriftReport.without_verdict("m", 0.0, 3, 3, 100, 60.0, 10, 50, "ref.csv", 0.5)
    frame = empty.to_dataframe()
    assert frame.empty
    assert list(frame.columns) == list(FRAME_COLUMNS)


def test_the_api_report_equals_the_engines_and_keeps_its_plain_value(report: DriftReport) -> None:
    ref, cur = frames()
    plain = engine_compare(
        ref, cur, numerical=["age", "constant"], categorical=["city"], prediction="score"
    )
    assert plain.page is None
    assert report.page is not None
    # the page is not part of the value: equal numbers, equal reports; the state has no frames
    assert report.to_dict() | {"evaluated_at": 0, "evaluation_seconds": 0} == plain.to_dict() | {
        "evaluated_at": 0,
        "evaluation_seconds": 0,
    }
    state = report.to_state()
    assert "page" not in state
    json.dumps(state)
    restored = DriftReport.from_state(state)
    assert restored == report
    assert restored.page is None
    assert pickle.loads(pickle.dumps(report)).to_dataframe().equals(report.to_dataframe())


def test_save_html_of_a_report_without_data_says_where_pages_come_from(tmp_path: Path) -> None:
    restored = DriftReport.from_state(drift.compare(*frames(), numerical=["age"]).to_state())
    with pytest.raises(PageUnavailable, match=r"reports of drift.compare\(\.\.\.\) can be saved"):
        restored.save_html(tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_save_html_writes_evidentlys_page_with_our_decisions(
    report: DriftReport, tmp_path: Path
) -> None:
    require("evidently", "report", quiet=True)
    path = report.save_html(tmp_path / "report.html")
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert "<title>Drift report: compare</title>" in page
    assert (
        f"{report.drifted_columns} of {report.evaluated_columns} evaluated feature columns "
        "drifted" in page
    )
    assert "400 current rows against the reference reference (1200 rows)" in page
    # evidently tested each feature with our method, and the prediction on its own
    methods = dict(
        re.findall(
            r'"column_name": "(\w+)", "column_type": "\w+", "stattest_name": "([^"]+)"', page
        )
    )
    assert methods["age"] == "Wasserstein distance (normed)"
    assert methods["city"] == "Jensen-Shannon distance"
    assert set(methods) == {"age", "constant", "city"}
    assert "Drift in column 'score'" in page
