"""The ``fleet`` section: the contract's names and defaults, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from drift.config import settings_from_mapping
from drift.config.secrets import secret_values
from drift.errors import ConfigError

MODELS = {"m": {"reference": {"path": "ref.csv"}, "columns": {"numerical": ["a"]}}}


def settings(fleet: dict[str, Any], **more: Any) -> Any:
    return settings_from_mapping({"fleet": fleet, "models": MODELS, **more})


def test_the_contract_names_and_defaults() -> None:
    fleet = settings({"role": "shipper", "bootstrap_servers": "kafka:9092"}).fleet
    assert fleet.role == "shipper"
    assert (fleet.samples_topic, fleet.labels_topic) == ("drift.samples", "drift.labels")
    assert fleet.group_id == "drift-aggregators"
    assert fleet.client == {}
    assert (fleet.state_topic, fleet.sample_rate) == ("drift.fleet-state", 1.0)


def test_absent_is_stand_alone() -> None:
    assert settings_from_mapping({"models": MODELS}).fleet is None


@pytest.mark.parametrize(
    ("fleet", "field"),
    [
        ({"role": "judge", "bootstrap_servers": "k:1"}, "role"),
        ({"role": "shipper"}, "bootstrap_servers"),
        ({"role": "shipper", "bootstrap_servers": "k:1", "samples_topic": "a b"}, "samples_topic"),
        ({"role": "shipper", "bootstrap_servers": "k:1", "labels_topic": "drift.samples"}, "fleet"),
        ({"role": "shipper", "bootstrap_servers": "k:1", "client": {"group.id": "x"}}, "client"),
        ({"role": "shipper", "bootstrap_servers": "k:1", "sample_rate": 0}, "sample_rate"),
        ({"role": "aggregator", "bootstrap_servers": "k:1", "session_timeout_ms": 10}, "session"),
    ],
)
def test_what_it_refuses_names_the_field(fleet: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings(fleet)
    assert field in str(error.value)


def test_an_aggregator_keeps_no_local_state(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="rebuilds its windows from Kafka"):
        settings({"role": "aggregator", "bootstrap_servers": "k:1"}, state={"dir": str(tmp_path)})
    shipper = settings(
        {"role": "shipper", "bootstrap_servers": "k:1"}, state={"dir": str(tmp_path)}
    )
    assert shipper.state is not None


def test_client_credentials_are_redacted() -> None:
    fleet = {
        "role": "shipper",
        "bootstrap_servers": "k:1",
        "client": {"sasl.password": "hunter2-secret", "sasl.username": "svc"},
    }
    values = secret_values(settings(fleet), environ={})
    assert "hunter2-secret" in values
    assert "svc" not in values
