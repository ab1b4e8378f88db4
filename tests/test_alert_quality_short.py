"""``benchmarks/alert_quality.py --short`` in the test suite: the real sidecar process, real
windows and steps, the native alert state machine, on statsmodels' bundled ``fair`` data set.

It proves the benchmark runs end to end and produces its table, and that thresholds
calibrated to 1% keep clean traffic within the binomial bound of that rate: each column,
pooled over the columns, and the dataset and prediction verdicts (non-overlapping windows in
the short mode, so the evaluations are independent draws), while a large mean shift is found.
The full run (every data set, drift and configuration) is on demand: see benchmarks/README.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.components import require

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "alert_quality.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("alert_quality", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["alert_quality"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, Any]:
    require("sklearn", "dev", quiet=True)
    require("statsmodels", "dev", quiet=True)
    bench = _benchmark()
    results = bench.run(short=True, workdir=tmp_path_factory.mktemp("alert-quality"))
    return bench, results


def test_the_short_run_produces_the_table(short_run: tuple[ModuleType, Any]) -> None:
    _, results = short_run
    table = results.table
    assert "### No drift: false alarms on clean traffic" in table
    assert "### Injected drift: samples after the onset until detection" in table
    for config in ("evidently", "calibrated"):
        assert f"| fair (200/200) | {config} | 40 |" in table
    assert len(results.no_drift) == 2
    assert len(results.detections) == 6


def test_calibrated_clean_traffic_stays_within_the_binomial_bound(
    short_run: tuple[ModuleType, Any],
) -> None:
    bench, results = short_run
    (calibrated,) = [r for r in results.no_drift if r.config == "calibrated"]
    n = calibrated.evaluations
    assert n == 40
    bound = bench.binomial_upper(bench.RATE, n)  # 1% + 4 sigma: 7.3% of 40 evaluations
    assert calibrated.calibrated_columns == len(
        calibrated.thresholds
    )  # every column and the prediction
    rates = calibrated.column_rates
    assert max(rates.values()) <= bound, rates
    assert sum(rates.values()) / len(rates) <= bench.binomial_upper(bench.RATE, n * len(rates))
    assert calibrated.dataset_rate <= bound
    assert calibrated.prediction_rate <= bound
    assert calibrated.firings == 0  # three false alarms in a row at <= 7%: not in 40


def test_a_large_mean_shift_is_flagged_in_the_first_window_after_it(
    short_run: tuple[ModuleType, Any],
) -> None:
    _, results = short_run
    shifts = [d for d in results.detections if d.drift == "mean_shift"]
    assert {d.config for d in shifts} == {"evidently", "calibrated"}
    for detection in shifts:
        assert detection.column_delay == 200  # the first evaluation wholly after the onset
        assert not detection.false_firing
