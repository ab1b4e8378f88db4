"""The command line: check-config and the fast failure of serve on a bad config; --version,
help and defaults for every option, documented exit codes, every problem of a config in one
run, one-line network errors, the configuration's JSON Schema."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from drift.cli import EXIT_CODES, build_parser, main
from drift.demo import write_demo_files
from tests.components import require
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


# the CLI explains itself (issue 18) --------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script (``python -m drift.cli`` where it is missing), as a user
    runs it: a real process, its exit code, stdout and stderr."""
    script = Path(sys.executable).with_name("drift-sidecar")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "drift.cli"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and nested command of the parser, with its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from subcommands(sub, (*path, name))


def test_version_is_the_installed_distributions() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"drift-sidecar {version('drift-sidecar')}"


COMMANDS = [" ".join(path) for path, _ in subcommands(build_parser())]


def test_the_commands_are_all_covered() -> None:
    assert {"serve", "check-config", "compare", "demo", "config schema"} <= set(COMMANDS)
    assert {"dashboards provision", "rules export"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_and_shows_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = dict((" ".join(p), sub) for p, sub in subcommands(build_parser()))[command]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{command}: {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit) as stop:
        main([*command.split(), "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "exit codes: 0 " in text
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
            assert f"default: {action.default}" in text or "(default" in (action.help or ""), (
                f"{command} {action.option_strings[0]}: default {action.default!r} not shown"
            )


def test_top_level_help_documents_the_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for code in ("0  success", "1  the command ran and its check failed", "2  usage", "3  serve"):
        assert code in result.stdout
    assert EXIT_CODES["compare"][1][0] == 1  # --fail-on-drift, as test_compare_cli checks


def test_a_usage_error_exits_2() -> None:
    result = run_cli("compare", "only-one.csv")
    assert result.returncode == 2
    assert "the following arguments are required: current" in result.stderr


BROKEN = """\
server: {port: 0}
models:
  a:
    reference: {path: ref.csv}
    columns: {numerical: [age, salary, wage], categorical: [city]}
    window: {size: -1}
    drift: {method: chisquare}
    kserve: {inference_service: svc}
  b:
    reference: {path: missing.csv}
    kserve: {inference_service: svc}
  c:
    reference: {path: ref.csv}
    columns: {numerical: [age]}
    drift: {columns: {age: {method: chisquare}}}
    window: {size: 10, step: 20}
  d:
    reference: {path: ref.csv}
    columns: {numerical: [age]}
"""


def test_check_config_lists_the_problems_of_every_stage_in_one_run(tmp_path: Path) -> None:
    """Schema errors, cross-field errors (within a model and across models), a reference that
    does not load, columns the reference lacks and methods that do not apply (found with the
    absent columns set aside): one run."""
    reference_frame().to_csv(tmp_path / "ref.csv", index=False)
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    problems = result.stderr.splitlines()
    assert problems[0] == "configuration error:"
    expected = [
        "server.port: Input should be greater than 0",  # schema, outside the models
        "models.a.window.size: Input should be greater than 0",  # schema
        "models.c.window: Value error, step (20) must not exceed size (10)",  # cross-field
        "(root): Value error, models 'a' and 'b' both take kserve events of 'svc'",  # across
        f"models.a.columns.numerical: 'salary' is not in the reference {tmp_path / 'ref.csv'}",
        f"models.a.columns.numerical: 'wage' is not in the reference {tmp_path / 'ref.csv'}",
        "models.a.drift.method: chisquare does not apply to numerical columns",  # columns
        f"models.b.reference: reference {tmp_path / 'missing.csv'}: file not found",
        "models.c.drift.columns.age.method: chisquare does not apply to numerical columns",
    ]
    assert [line.strip() for line in problems[1:]] == expected
    assert "model d: reference" in result.stdout  # the valid model is checked and summarized
    assert "OK" not in result.stdout


def test_check_config_names_every_missing_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, "{numerical: [age, salary], categorical: [town], prediction: p}")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    for field, column in (("numerical", "salary"), ("categorical", "town"), ("prediction", "p")):
        assert f"models.m.columns.{field}: {column!r} is not in the reference" in err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connections are refused


def test_an_unreachable_reference_store_is_one_line_with_url_and_cause(tmp_path: Path) -> None:
    require("boto3", "s3", quiet=True)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n  m:\n    reference:\n      s3: {url: 's3://bucket/ref.csv', "
        f"endpoint_url: '{endpoint}', retries: 0, timeout_seconds: 2}}\n"
    )
    keys = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    result = run_cli("check-config", str(path), env=keys)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "configuration error:"
    (problem,) = lines[1:]
    assert problem.strip().startswith("models.m.reference: reference s3://bucket/ref.csv")
    assert endpoint in problem
    assert "Could not connect" in problem


def test_an_unreachable_grafana_is_one_line_with_url_and_cause() -> None:
    require("grafana_client", "grafana", quiet=True)
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_cli("dashboards", "provision", "--grafana-url", url, env={"GRAFANA_TOKEN": "t"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: Grafana at {url}: cannot connect: Connection refused"
    ]


def test_config_schema_validates_a_real_config_and_rejects_a_broken_one(tmp_path: Path) -> None:
    import jsonschema
    import yaml

    result = run_cli("config", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator = jsonschema.Draft202012Validator(schema)
    path, _, _ = write_demo_files(tmp_path)
    validator.validate(yaml.safe_load(path.read_text()))
    broken = yaml.safe_load(BROKEN)
    found = {"/".join(map(str, error.absolute_path)) for error in validator.iter_errors(broken)}
    assert {"server/port", "models/a/window/size"} <= found
    out = tmp_path / "schema.json"
    assert main(["config", "schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == schema
