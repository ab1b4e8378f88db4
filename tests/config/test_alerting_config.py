"""The ``alerts`` config section: defaults, validation messages that name the field, secrets
from the environment, and producer settings for Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drift.config import KafkaConfig, load_settings, settings_from_mapping
from drift.errors import ConfigError
from exporters.alerts.kafka import producer_config

MODEL = {"m": {"reference": {"path": "ref.csv"}}}


def problems(alerts: dict[str, Any], models: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"alerts": alerts, "models": models or MODEL})
    return str(info.value)


def test_defaults_need_no_alerts_section() -> None:
    alerts = settings_from_mapping({"models": MODEL}).alerts
    assert (alerts.fire_after, alerts.resolve_after, alerts.native) == (3, 3, True)
    assert alerts.slack is None
    assert alerts.kafka is None
    assert alerts.delivery.max_age_seconds == 3600
    assert alerts.delivery.queue_bytes == 16 * 1024 * 1024
    assert (alerts.max_text_bytes, alerts.max_labels, alerts.runbook_base_url) == (4096, 32, None)
    am = alerts.alertmanager
    assert (am.max_per_minute, am.burst, am.max_receivers) == (60, None, 4)


def test_the_hardening_keys_are_described() -> None:
    from drift.config.alerts import AlertmanagerConfig, AlertsConfig, DeliveryConfig

    for model, names in (
        (AlertsConfig, ("runbook_base_url", "max_text_bytes", "max_labels")),
        (DeliveryConfig, ("queue_bytes",)),
        (AlertmanagerConfig, ("max_per_minute", "burst", "max_receivers")),
    ):
        for name in names:
            assert model.model_fields[name].description, f"{model.__name__}.{name}"


def test_issue_example_keys_work() -> None:
    settings = settings_from_mapping(
        {
            "alerts": {
                "fire_after": 3,
                "resolve_after": 3,
                "slack": {"token": "xoxb-1-2-3", "channel": "#ml-oncall"},
                "kafka": {"bootstrap_servers": "kafka:9092", "topic": "drift-alerts"},
            },
            "models": {"m": {"reference": {"path": "r.csv"}, "alerts": {"fire_after": 5}}},
        }
    )
    assert settings.alerts.slack is not None
    assert settings.alerts.slack.channel == "#ml-oncall"
    assert settings.models["m"].alerts.fire_after == 5


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ({"fire_after": 0}, "alerts.fire_after"),
        ({"slack": {}}, "set webhook_url, or token and channel"),
        ({"slack": {"token": "xoxb-1"}}, "channel is required with token"),
        ({"slack": {"webhook_url": "changeme"}}, "placeholder"),
        ({"slack": {"webhook_url": "ftp://x"}}, "http(s) URL"),
        ({"slack": {"webhook_url": "https://x", "token": "t", "channel": "#c"}}, "not both"),
        ({"kafka": {"topic": "t"}}, "alerts.kafka.bootstrap_servers"),
        ({"kafka": {"bootstrap_servers": "k:9092", "acks": "most"}}, "alerts.kafka.acks"),
        (
            {"kafka": {"bootstrap_servers": "k:9092", "security_protocol": "SASL_SSL"}},
            "SASL_SSL needs sasl_mechanism, sasl_username, sasl_password",
        ),
        ({"delivery": {"queue_size": 0}}, "alerts.delivery.queue_size"),
        ({"delivery": {"queue_bytes": 1000}}, "alerts.delivery.queue_bytes"),
        ({"max_text_bytes": 10}, "alerts.max_text_bytes"),
        ({"max_labels": -1}, "alerts.max_labels"),
        ({"runbook_base_url": "ftp://git.example.com/"}, "absolute http(s) URL"),
        ({"runbook_base_url": "docs/"}, "alerts.runbook_base_url"),
        ({"runbook_base_url": "https://u:p@git.example.com/"}, "no query, fragment or credentials"),
        ({"alertmanager": {"max_per_minute": 0}}, "alerts.alertmanager.max_per_minute"),
        ({"alertmanager": {"burst": 0}}, "alerts.alertmanager.burst"),
        ({"alertmanager": {"max_receivers": 0}}, "alerts.alertmanager.max_receivers"),
        ({"alertmanager": {"typo": 1}}, "alerts.alertmanager.typo"),
        (
            {"max_text_bytes": 65536, "delivery": {"queue_bytes": 65536}},
            "queue_bytes (65536) must be at least 8 x max_text_bytes (65536)",
        ),
        ({"kinds": ["column"]}, "alerts.kinds"),
        ({"typo": 1}, "alerts.typo"),
    ],
)
def test_invalid_alerts_name_the_field(alerts: dict[str, Any], message: str) -> None:
    assert message in problems(alerts)


def test_per_model_section_is_validated_too() -> None:
    models = {"m": {"reference": {"path": "r.csv"}, "alerts": {"slack": {"channel": "#x"}}}}
    assert "models.m.alerts.slack.channel" in problems({}, models)


def test_webhook_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/abc")
    path = tmp_path / "c.yaml"
    path.write_text(
        "alerts:\n  slack: {webhook_url: '${SLACK_WEBHOOK_URL}'}\n"
        "models:\n  m: {reference: {path: r.csv}}\n",
        encoding="utf-8",
    )
    slack = load_settings(path).alerts.slack
    assert slack is not None
    assert slack.webhook_url == "https://hooks.slack.com/services/T0/B0/abc"


def test_producer_settings_come_from_the_config() -> None:
    config = KafkaConfig(
        bootstrap_servers="k1:9093,k2:9093",
        topic="drift",
        acks=1,  # type: ignore[arg-type]  # YAML gives an int; it is read as "1"
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="drift",
        sasl_password="s3cret-from-env",
        ssl_ca_location="/etc/ssl/ca.pem",
        message_timeout_seconds=7.5,
        extra={"linger.ms": "5"},
    )
    assert producer_config(config) == {
        "bootstrap.servers": "k1:9093,k2:9093",
        "client.id": "drift-sidecar",
        "acks": "1",
        "security.protocol": "SASL_SSL",
        "message.timeout.ms": 7500,
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "drift",
        "sasl.password": "s3cret-from-env",
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "linger.ms": "5",
    }


def test_producer_settings_are_accepted_by_librdkafka() -> None:
    from confluent_kafka import Producer

    config = KafkaConfig(bootstrap_servers="127.0.0.1:1", acks="all", extra={"linger.ms": "5"})
    Producer(producer_config(config)).flush(0)
