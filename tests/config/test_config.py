"""Configuration: the documented keys load, errors name the field, env vars override YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.config import Settings, expand_env, load_settings, settings_from_mapping
from drift.errors import ConfigError

CONTRACT = """
models:
  credit-scoring:
    reference: {path: data/reference.parquet}
    columns:
      numerical: [age, income]
      categorical: [city]
      prediction: score
      id: request_id
    window: {size: 1000, step: 100}
    drift: {share_threshold: 0.5}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return dict(exc.value.problems)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONTRACT))
    model = settings.models["credit-scoring"]
    assert model.reference.path == (tmp_path / "data/reference.parquet").resolve()
    assert model.columns.numerical == ["age", "income"]
    assert model.columns.categorical == ["city"]
    assert model.columns.prediction == "score"
    assert model.columns.id == "request_id"
    assert (model.window.size, model.window.step) == (1000, 100)
    assert model.drift.share_threshold == 0.5
    assert settings.server.port == 8000


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "models:\n  m:\n    reference: {path: r.csv}\n"))
    model = settings.models["m"]
    assert model.columns.numerical is None  # inferred from the reference later
    assert (model.window.size, model.window.step) == (1000, 100)
    assert model.window.first_evaluation_after == 100
    assert model.drift.share_threshold == 0.5
    assert model.drift.method is None


@pytest.mark.parametrize(
    ("yaml_text", "field", "fragment"),
    [
        ("models: {}\n", "models", "at least one model"),
        ("models:\n  m: {}\n", "models.m.reference", "Field required"),
        (
            "models:\n  m:\n    reference: {path: r.csv}\n    window: {size: 0}\n",
            "models.m.window.size",
            "greater than 0",
        ),
        (
            "models:\n  m:\n    reference: {path: r.csv}\n    window: {size: 10, step: 20}\n",
            "models.m.window",
            "must not exceed size",
        ),
        (
            "models:\n  m:\n    reference: {path: r.csv}\n    drift: {share_threshold: 1.5}\n",
            "models.m.drift.share_threshold",
            "less than or equal to 1",
        ),
        (
            "models:\n  m:\n    reference: {path: r.csv}\n    drift: {numerical: {method: kss}}\n",
            "models.m.drift.numerical.method",
            "unknown method 'kss'",
        ),
        (
            "models:\n  m:\n    reference: {path: r.csv}\n"
            "    drift: {columns: {a: {method: nope}}}\n",
            "models.m.drift.columns.a.method",
            "unknown method",
        ),
        (
            "models:\n  m:\n    reference: {path: r.csv}\n    windoww: {size: 10}\n",
            "models.m.windoww",
            "Extra inputs are not permitted",
        ),
        (
            "models:\n  m:\n    reference: {path: r.csv}\n"
            "    columns: {numerical: [a], categorical: [a]}\n",
            "models.m.columns",
            "both as numerical and as categorical",
        ),
        ("models:\n  'bad name!':\n    reference: {path: r.csv}\n", "models", "must match"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, yaml_text: str, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, yaml_text))
    found = problems(exc)
    assert field in found, found
    assert fragment in found[field]


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_settings(write(tmp_path, "models: [unclosed\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        settings_from_mapping(["a"])


def test_env_vars_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_SERVER__PORT", "9100")
    monkeypatch.setenv("DRIFT_SERVER__MAX_BODY_BYTES", "1234")
    settings = load_settings(write(tmp_path, "server: {port: 8001}\n" + CONTRACT))
    assert settings.server.port == 9100
    assert settings.server.max_body_bytes == 1234
    assert "credit-scoring" in settings.models


def test_env_override_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_SERVER__PORT", "not-a-port")
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, CONTRACT))
    assert "server.port" in problems(exc)


def test_env_references_in_a_value() -> None:
    assert expand_env("${X}-${Y:-dflt}", {"X": "1"}) == "1-dflt"
    with pytest.raises(ConfigError, match="environment variable MISSING is not set") as exc:
        expand_env("a ${MISSING}", {}, where="alerts.slack.token")
    assert exc.value.problems[0][0] == "alerts.slack.token"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings: Settings = load_settings(write(tmp_path, CONTRACT))
    with pytest.raises(ValueError, match="frozen"):
        settings.server.port = 1  # type: ignore[misc]
