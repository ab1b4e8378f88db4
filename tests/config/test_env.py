"""``${VAR}`` expansion after YAML parsing: each corruption that text substitution caused (a
``#`` cutting a value, a newline injecting keys, ``0123`` read as octal, ``yes`` as a boolean, a
commented-out reference failing the load) is gone; flow style works; errors name the value's
path; secrets can come from ``*_file``."""

from __future__ import annotations

from pathlib import Path

import pytest

from drift.config import load_settings, load_yaml
from drift.errors import ConfigError

MODEL = "models:\n  m:\n    reference: {path: r.csv}\n"


def test_a_value_is_taken_as_it_is_never_parsed_as_yaml() -> None:
    env = {"HASH": "abc # def", "NL": "x\ninjected: true", "OCT": "0123", "YES": "yes"}
    text = "a: ${HASH}\nb: ${NL}\nc: ${OCT}\nd: ${YES}\ne: pre-${OCT}-post\n"
    assert load_yaml(text, env) == {
        "a": "abc # def",
        "b": "x\ninjected: true",
        "c": "0123",
        "d": "yes",
        "e": "pre-0123-post",
    }


def test_references_in_comments_are_ignored() -> None:
    text = "# token: ${NOT_SET_ANYWHERE}\na: 1  # ${ALSO_NOT_SET}\n"
    assert load_yaml(text, {}) == {"a": 1}


def test_flow_style_and_quoted_values() -> None:
    env = {"T": "s3cr}t, x: 1", "P": "9000"}
    text = 'auth: {token: ${T}, port: ${P}}\nlist: [${P}, "${T}"]\ndflt: {a: ${U:-x y}}\n'
    assert load_yaml(text, env) == {
        "auth": {"token": "s3cr}t, x: 1", "port": "9000"},
        "list": ["9000", "s3cr}t, x: 1"],
        "dflt": {"a": "x y"},
    }


def test_an_unset_variable_names_the_value_path() -> None:
    with pytest.raises(ConfigError) as exc:
        load_yaml("alerts:\n  slack: {webhook_url: '${HOOK}'}\nitems: [a, '${B}']\n", {"B": "b"})
    assert exc.value.problems == [
        ("alerts.slack.webhook_url", "environment variable HOOK is not set")
    ]
    with pytest.raises(ConfigError) as exc:
        load_yaml("items: [a, '${B}']\n", {})
    assert exc.value.problems[0][0] == "items[1]"


def test_keys_are_not_expanded() -> None:
    assert load_yaml("${K}: 1\n", {"K": "x"}) == {"${K}": 1}


def test_types_come_from_the_settings_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "0123")
    monkeypatch.setenv("TOKEN", "yes")
    config = tmp_path / "c.yaml"
    config.write_text(
        "server: {port: ${PORT}}\n"
        "alerts: {slack: {token: ${TOKEN}, channel: '#c'}}\n"
        "# kafka: {bootstrap_servers: ${UNSET_IN_A_COMMENT}}\n" + MODEL
    )
    settings = load_settings(config)
    assert settings.server.port == 123  # a decimal string, validated as an int by the model
    assert settings.alerts.slack is not None
    assert settings.alerts.slack.token == "yes"  # a string field keeps the string


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "hook").write_text("https://hooks.slack.example/T/B/x\n")
    (tmp_path / "pw").write_text("kafka-pass")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"alerts:\n  slack: {{webhook_url_file: {tmp_path / 'hook'}}}\n"
        f"  kafka: {{bootstrap_servers: 'k:9092', security_protocol: SASL_SSL,"
        f" sasl_mechanism: PLAIN, sasl_username: u, sasl_password_file: {tmp_path / 'pw'}}}\n"
        + MODEL
    )
    alerts = load_settings(config).alerts
    assert alerts.slack is not None
    assert alerts.slack.webhook_url == "https://hooks.slack.example/T/B/x"
    assert alerts.kafka is not None
    assert alerts.kafka.sasl_password == "kafka-pass"


@pytest.mark.parametrize(
    ("slack", "fragment"),
    [
        (
            "{webhook_url_file: /nonexistent/hook}",
            "webhook_url_file /nonexistent/hook: cannot read",
        ),
        ("{webhook_url: 'https://h', webhook_url_file: /x}", "not both"),
    ],
)
def test_secret_file_errors_name_the_field(tmp_path: Path, slack: str, fragment: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"alerts: {{slack: {slack}}}\n" + MODEL)
    with pytest.raises(ConfigError) as exc:
        load_settings(config)
    found = dict(exc.value.problems)
    assert fragment in found["alerts.slack"], found
