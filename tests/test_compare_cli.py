"""`drift-sidecar compare` on two files, and `drift.compare` for notebooks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drift
from drift.cli import main
from drift.errors import ConfigError


def frames(shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 1500),
            "income": rng.lognormal(10, 0.4, 1500),
            "city": rng.choice(["a", "b", "c"], 1500),
        }
    )
    cur = pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, 500),
            "income": rng.lognormal(10 + shift, 0.4, 500),
            "city": rng.choice(["a", "b", "c"], 500),
        }
    )
    return ref, cur


def write(tmp_path: Path, shift: float) -> tuple[Path, Path]:
    ref, cur = frames(shift)
    ref_path, cur_path = tmp_path / "ref.csv", tmp_path / "cur.parquet"
    ref.to_csv(ref_path, index=False)
    cur.to_parquet(cur_path)
    return ref_path, cur_path


def test_json_output_has_the_drift_endpoint_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = write(tmp_path, shift=1.0)
    assert main(["compare", str(ref), str(cur), "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {
        "model",
        "status",
        "evaluated_at",
        "evaluation_seconds",
        "window",
        "reference",
        "dataset",
        "columns",
        "prediction",
    }
    assert body["status"] == "ok"
    assert body["window"]["samples"] == 500
    assert body["reference"]["rows"] == 1500
    assert body["columns"]["age"]["method"] == "wasserstein"
    assert body["columns"]["city"]["method"] == "jensenshannon"
    assert body["dataset"]["drifted"] is True


def test_fail_on_drift_sets_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = write(tmp_path, shift=1.0)
    assert main(["compare", str(ref), str(cur), "--fail-on-drift"]) == 1
    table = capsys.readouterr().out
    assert "age" in table
    assert "DRIFT" in table
    assert "dataset: 2/3 columns drifted" in table
    ref, cur = write(tmp_path, shift=0.0)
    assert main(["compare", str(ref), str(cur), "--fail-on-drift"]) == 0


def test_config_sections_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = write(tmp_path, shift=0.3)
    config = tmp_path / "drift.yaml"
    config.write_text(
        "columns: {numerical: [age], categorical: [city]}\n"
        "drift: {numerical: {method: ks}, share_threshold: 0.9}\n"
    )
    assert main(["compare", str(ref), str(cur), "--config", str(config), "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body["columns"]) == {"age", "city"}
    assert body["columns"]["age"]["method"] == "ks"
    assert body["dataset"]["share_threshold"] == 0.9


def test_a_sidecar_config_can_be_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = write(tmp_path, shift=0.0)
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "models:\n  m:\n    reference: {path: ref.csv}\n"
        "    columns: {numerical: [income], categorical: []}\n    drift: {method: ks}\n"
    )
    code = main(["compare", str(ref), str(cur), "--config", str(config), "--format", "json"])
    assert code == 0, capsys.readouterr().err
    body = json.loads(capsys.readouterr().out)
    assert list(body["columns"]) == ["income"]


def test_bad_input_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, _ = write(tmp_path, shift=0.0)
    assert main(["compare", str(ref), str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    pd.DataFrame({"x": [1.0]}).to_csv(other, index=False)
    assert main(["compare", str(ref), str(other)]) == 2
    assert "not in the current data" in capsys.readouterr().err


def test_console_script_runs(tmp_path: Path) -> None:
    ref, cur = write(tmp_path, shift=1.0)
    result = subprocess.run(
        [sys.executable, "-m", "drift.cli", "compare", str(ref), str(cur), "--fail-on-drift"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "dataset:" in result.stdout


def test_python_api_matches_the_cli_engine() -> None:
    ref, cur = frames(shift=1.0)
    report = drift.compare(ref, cur, numerical=["age"], categorical=["city"], share_threshold=0.4)
    assert [c.column for c in report.columns] == ["age", "city"]
    assert report.dataset_drift is True
    with pytest.raises(ConfigError, match="unknown option"):
        drift.compare(ref, cur, numerical_columns=["age"])


def test_import_drift_is_cheap() -> None:
    code = (
        "import sys, drift; r = drift.compare; "
        "print(any(m.split('.')[0] in ('evidently', 'fastapi', 'uvicorn') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
