"""`drift-sidecar compare` on two files, and `drift.compare` for notebooks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drift
from drift.cli import main
from drift.errors import ConfigError
from tests.components import require

ROOT = Path(__file__).resolve().parents[1]


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


# errors name the right input; html, progress and --output (issue 18) -----------------------------


def run_compare(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``drift-sidecar compare ...`` as a real process (stderr is a pipe: not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "drift.cli", "compare", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_a_missing_current_file_is_named_as_the_current_one(tmp_path: Path) -> None:
    ref, _ = write(tmp_path, shift=0.0)
    result = run_compare(ref.name, "missing.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: current missing.csv: file not found\n"
    result = run_compare("missing.csv", ref.name, cwd=tmp_path)
    assert result.stderr == "error: reference missing.csv: file not found\n"


def test_a_file_of_unknown_format_names_the_extensions_not_a_config_key(tmp_path: Path) -> None:
    ref, _ = write(tmp_path, shift=0.0)
    (tmp_path / "current.txt").write_text("age\n1\n")
    result = run_compare(ref.name, "current.txt", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: current current.txt: cannot tell the format")
    assert ".csv or .parquet" in result.stderr
    assert "reference.format" not in result.stderr


def test_an_unreadable_current_file_is_named(tmp_path: Path) -> None:
    ref, _ = write(tmp_path, shift=0.0)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    result = run_compare(ref.name, "broken.parquet", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: current broken.parquet: cannot read parquet")
    assert len(result.stderr.splitlines()) == 1


def test_progress_lines_name_each_stage_with_its_time(tmp_path: Path) -> None:
    ref, cur = write(tmp_path, shift=1.0)
    quiet = run_compare(str(ref), str(cur), cwd=tmp_path)
    assert quiet.returncode == 0
    assert quiet.stderr == ""  # stderr is not a terminal: no progress unless asked
    result = run_compare(str(ref), str(cur), "--progress", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(
        rf"drift-sidecar: reading reference {ref} \.\.\. 1500 rows \(\d+\.\d\d s\)", lines[0]
    )
    assert re.fullmatch(
        rf"drift-sidecar: reading current {cur} \.\.\. 500 rows \(\d+\.\d\d s\)", lines[1]
    )
    assert re.fullmatch(
        r"drift-sidecar: profiling the reference and scoring the current data \.\.\. "
        r"3 columns scored in \d+\.\d\d s \(\d+\.\d\d s\)",
        lines[2],
    )
    assert json.loads(result.stdout)["dataset"]["drifted"] is True  # stdout stays the report


def test_output_writes_the_report_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = write(tmp_path, shift=1.0)
    out = tmp_path / "report.json"
    code = main(["compare", str(ref), str(cur), "--format", "json", "-o", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(out.read_text())["reference"]["rows"] == 1500
    assert f"{out}: json report written" in captured.err


def test_format_html_writes_evidentlys_page(tmp_path: Path) -> None:
    require("evidently", "report", quiet=True)
    ref, cur = write(tmp_path, shift=1.0)
    out = tmp_path / "report.html"
    result = run_compare(
        str(ref), str(cur), "--format", "html", "-o", str(out), "--progress", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert "<title>Drift report: compare</title>" in page
    assert "2 of 3 evaluated feature columns drifted" in page
    for column in ("age", "income", "city"):
        assert f'"{column}"' in page
    assert "drawing the HTML report (evidently) ..." in result.stderr


def test_format_html_without_evidently_says_what_to_install(tmp_path: Path) -> None:
    ref, cur = write(tmp_path, shift=1.0)
    blocker = tmp_path / "no-evidently" / "evidently"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'evidently'\", name='evidently')\n"
    )
    path = os.pathsep.join((str(blocker.parent), str(ROOT)))
    result = run_compare(
        str(ref), str(cur), "--format", "html", "-o", "r.html", cwd=tmp_path,
        env={"PYTHONPATH": path},
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the HTML report needs evidently")
    assert line.endswith("pip install 'drift-sidecar[report]'")
    assert not (tmp_path / "r.html").exists()


def test_progress_is_on_by_default_when_stderr_is_a_terminal(tmp_path: Path) -> None:
    ref, cur = write(tmp_path, shift=1.0)
    controller, terminal = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "drift.cli", "compare", str(ref), str(cur)],
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            check=False,
            cwd=tmp_path,
            timeout=180,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert result.returncode == 0
    assert "dataset:" in result.stdout
    text = shown.decode()
    assert "drift-sidecar: reading reference" in text
    assert "drift-sidecar: profiling the reference and scoring the current data ..." in text
