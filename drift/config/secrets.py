"""The secrets a configuration holds, so that ``drift.redact`` can keep them out of responses,
metric labels and logs: the values of the secret fields, and those of the standard credential
environment variables the SDKs read (AWS, ClearML)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from drift.config.settings import Settings

#: environment variables whose values are credentials (read by boto3 and the ClearML SDK)
SECRET_ENV_VARS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "CLEARML_API_SECRET_KEY",
    "CLEARML_API_ACCESS_KEY",
)


def secret_values(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value of ``settings`` and of the credential environment variables."""
    env = os.environ if environ is None else environ
    values: list[str | None] = [env.get(name) for name in SECRET_ENV_VARS]
    auth = settings.server.auth
    if auth is not None:
        values += [t.token for t in (auth.ingest, auth.alertmanager, auth.read) if t is not None]
    slack, kafka = settings.alerts.slack, settings.alerts.kafka
    if slack is not None:
        values += [slack.webhook_url, slack.token]
    if kafka is not None:
        values.append(kafka.sasl_password)
        values += [v for k, v in kafka.extra.items() if "password" in k or "secret" in k]
    if settings.fleet is not None:
        values += settings.fleet.secrets()
    return [v for v in values if v]
