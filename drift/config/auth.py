"""``server.auth``: bearer tokens per route class. Off when absent (the localhost demo);
required in clusters, where anything that reaches the pod's port reaches the sidecar.

::

    server:
      auth:
        ingest: {token_file: /var/run/secrets/drift/ingest}   # samples, labels, CloudEvents
        alertmanager: {token: ${ALERTMANAGER_TOKEN}}           # POST /v1/alertmanager
        read: {token_file: /var/run/secrets/drift/read}        # /v1/models*, drift, report, ...
        metrics: false                                         # true: /metrics needs the read token

With ``server.auth`` set, every class must have a token (one file may serve several classes):
nothing but ``/healthz`` and ``/readyz`` answers an unauthenticated caller.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from drift.core.options import StrictModel

#: shortest token accepted: 16 bytes of entropy as hex or base64 is 22+ characters
MIN_TOKEN_LENGTH = 16


class TokenConfig(StrictModel):
    """One bearer token: inline (``${VAR}``) or a file re-read when it changes (a mounted
    Secret that is rotated). A file may hold several tokens, one per line, while clients move
    from the old one to the new one."""

    token: str | None = Field(None, description="the token (secret: use ${VAR})")
    token_file: Path | None = Field(
        None, description="file with the token (one per line: all are accepted); re-read on change"
    )

    @model_validator(mode="after")
    def _one_form(self) -> TokenConfig:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("set exactly one of token, token_file")
        if self.token is not None and len(self.token.strip()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"token is shorter than {MIN_TOKEN_LENGTH} characters")
        return self


class AuthConfig(StrictModel):
    ingest: TokenConfig | None = Field(
        None,
        description="POST samples and labels, the CloudEvents routes (POST / and /v1/cloudevents)",
    )
    alertmanager: TokenConfig | None = Field(
        None, description="POST /v1/alertmanager (Alertmanager's http_config.authorization)"
    )
    read: TokenConfig | None = Field(
        None, description="GET /v1/models*, drift, report, performance, the OpenAPI document"
    )
    metrics: bool = Field(False, description="true: /metrics needs the read token too")

    @model_validator(mode="after")
    def _every_class(self) -> AuthConfig:
        missing = [k for k in ("ingest", "alertmanager", "read") if getattr(self, k) is None]
        if missing:
            raise ValueError(
                f"set a token for {', '.join(missing)} (the same token_file may serve several "
                "classes); with server.auth, no route but /healthz and /readyz is open"
            )
        return self
