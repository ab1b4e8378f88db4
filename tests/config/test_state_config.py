"""The ``state`` section: optional (absent: nothing is kept), ``dir`` required, errors named by
their dotted path, overridable by ``DRIFT_STATE__*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drift.config import Settings, StateConfig, settings_from_mapping
from drift.errors import ConfigError


def settings(**extra: Any) -> Settings:
    model = {"reference": {"path": "r.csv"}, "columns": {"numerical": ["a"]}}
    return settings_from_mapping({"models": {"m": model}, **extra})


def test_absent_by_default_with_a_ten_second_period_when_set() -> None:
    assert settings().state is None
    assert settings(state={"dir": "/var/lib/drift-sidecar/state"}).state == StateConfig(
        dir=Path("/var/lib/drift-sidecar/state"), snapshot_seconds=10.0
    )


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ({"snapshot_seconds": 5}, r"state\.dir: Field required"),
        ({"dir": "/s", "snapshot_seconds": 0}, r"state\.snapshot_seconds"),
        ({"dir": "/s", "every": 5}, r"state\.every: Extra inputs"),
    ],
)
def test_errors_name_the_field(state: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        settings(state=state)


def test_environment_variables_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_STATE__DIR", "/mnt/state")
    monkeypatch.setenv("DRIFT_STATE__SNAPSHOT_SECONDS", "2.5")
    assert settings().state == StateConfig(dir=Path("/mnt/state"), snapshot_seconds=2.5)
