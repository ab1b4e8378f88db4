"""The command line: check-config and the fast failure of serve on a bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.cli import main
from drift.demo import write_demo_files
from tests.conftest import reference_frame


def config(tmp_path: Path, columns: str, drift: str = "{}") -> Path:
    reference_frame().to_csv(tmp_path / "ref.csv", index=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n  m:\n    reference: {path: ref.csv}\n"
        f"    columns: {columns}\n    drift: {drift}\n"
    )
    return path


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, "{numerical: [age, income], categorical: [city], prediction: score}")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "model m: reference" in out
    assert "800 rows" in out
    assert "city (categorical, feature)" in out
    assert "OK (1 model(s))" in out


def test_check_config_names_a_missing_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, "{numerical: [age, salary]}")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'salary'" in err
    assert "columns.numerical" in err
    assert "ref.csv" in err


def test_check_config_names_a_method_that_does_not_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(
        tmp_path, "{categorical: [city], numerical: [age]}", "{columns: {city: {method: ks}}}"
    )
    assert main(["check-config", str(path)]) == 2
    assert (
        "models.m.drift.columns.city.method: ks does not apply to categorical"
        in capsys.readouterr().err
    )


def test_check_config_schema_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  m:\n    reference: {path: r.csv}\n    window: {size: -1}\n")
    assert main(["check-config", str(path)]) == 2
    assert "models.m.window.size" in capsys.readouterr().err


def test_serve_refuses_a_bad_config_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  m:\n    reference: {path: r.csv}\n    drift: {method: nope}\n")
    assert main(["serve", "--config", str(path), "--port", "1"]) == 2
    assert "models.m.drift.method" in capsys.readouterr().err


def test_demo_files_pass_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, frame, model = write_demo_files(tmp_path)
    assert main(["check-config", str(path)]) == 0
    assert "model diabetes" in capsys.readouterr().out
    assert len(frame) == 442
    predictions = model.predict(
        frame[["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]].to_numpy(float)
    )
    residual = frame["target"].to_numpy() - predictions
    assert abs(residual.mean()) < 1e-6  # least squares with intercept: residuals average to zero
