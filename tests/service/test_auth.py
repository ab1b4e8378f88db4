"""drift.service.auth: route classes, bearer parsing, tokens inline and from rotating files,
and the config rules of ``server.auth``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drift.config import AuthConfig, TokenConfig, settings_from_mapping
from drift.errors import ConfigError
from drift.service.auth import (
    FILE_CHECK_SECONDS,
    Authenticator,
    RouteClass,
    TokenSource,
    bearer_token,
    route_class,
)

TOKEN = "ingest-token-0123456789"


@pytest.mark.parametrize(
    ("method", "path", "metrics_protected", "expected"),
    [
        ("GET", "/healthz", False, RouteClass.OPEN),
        ("GET", "/readyz", True, RouteClass.OPEN),
        ("POST", "/healthz", False, RouteClass.READ),
        ("GET", "/metrics", False, RouteClass.OPEN),
        ("GET", "/metrics", True, RouteClass.READ),
        ("POST", "/v1/models/m/samples", False, RouteClass.INGEST),
        ("POST", "/v1/models/m/labels", False, RouteClass.INGEST),
        ("POST", "/", False, RouteClass.INGEST),
        ("POST", "/v1/cloudevents", False, RouteClass.INGEST),
        ("POST", "/v1/alertmanager", False, RouteClass.ALERTMANAGER),
        ("GET", "/v1/models/m/drift", False, RouteClass.READ),
        ("GET", "/v1/models/m/report", False, RouteClass.READ),
        ("GET", "/openapi.json", False, RouteClass.READ),
        ("GET", "/docs", False, RouteClass.READ),
        ("DELETE", "/v1/models/m/samples", False, RouteClass.READ),
        ("POST", "/v1/models/m/samples/extra", False, RouteClass.READ),
        ("GET", "/anything/else", False, RouteClass.READ),
    ],
)
def test_route_classes(
    method: str, path: str, metrics_protected: bool, expected: RouteClass
) -> None:
    assert route_class(method, path, metrics_protected) is expected


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        (b"", None),
        (b"Bearer", None),
        (b"Bearer   ", None),
        (b"Basic dXNlcjpwYXNz", None),
        (b"Bearer abc", b"abc"),
        (b"bearer abc ", b"abc"),
        (b"BEARER  abc", b"abc"),
    ],
)
def test_bearer_token(header: bytes | None, token: bytes | None) -> None:
    assert bearer_token(header) == token


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_token_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old-token-0123456789\n")
    clock = Clock()
    source = TokenSource(TokenConfig(token_file=path), clock)
    assert source.accepts(b"old-token-0123456789")
    path.write_text("old-token-0123456789\nnew-token-0123456789\n")  # rotation: both accepted
    os.utime(path, ns=(1, 1))
    assert not source.accepts(b"new-token-0123456789")  # not looked at again within a second
    clock.now += FILE_CHECK_SECONDS
    assert source.accepts(b"new-token-0123456789")
    assert source.accepts(b"old-token-0123456789")
    path.write_text("new-token-0123456789\n")
    os.utime(path, ns=(2, 2))
    clock.now += FILE_CHECK_SECONDS
    assert not source.accepts(b"old-token-0123456789")
    path.unlink()  # a missing file refuses its class instead of opening it
    clock.now += FILE_CHECK_SECONDS
    assert not source.accepts(b"new-token-0123456789")


def test_an_empty_or_missing_file_accepts_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    assert not TokenSource(TokenConfig(token_file=empty)).accepts(b"")
    assert not TokenSource(TokenConfig(token_file=tmp_path / "absent")).accepts(b"x")


def auth(**overrides: object) -> AuthConfig:
    classes: dict[str, object] = {
        "ingest": {"token": TOKEN},
        "alertmanager": {"token": "am-token-0123456789"},
        "read": {"token": "read-token-0123456789"},
    }
    return AuthConfig.model_validate({**classes, **overrides})


def test_each_class_takes_its_own_token() -> None:
    checker = Authenticator(auth())
    samples = ("POST", "/v1/models/m/samples")
    assert checker.check(*samples, b"Bearer " + TOKEN.encode()) is None
    wrong = checker.check(*samples, b"Bearer read-token-0123456789")
    assert wrong is not None
    assert wrong.invalid
    assert 'error="invalid_token"' in wrong.www_authenticate
    missing = checker.check(*samples, None)
    assert missing is not None
    assert not missing.invalid
    assert checker.check("GET", "/healthz", None) is None
    assert checker.check("GET", "/metrics", None) is None
    assert Authenticator(auth(metrics=True)).check("GET", "/metrics", None) is not None
    assert checker.check("GET", "/v1/models/m/drift", b"Bearer read-token-0123456789") is None
    assert checker.check("POST", "/v1/alertmanager", b"Bearer am-token-0123456789") is None


@pytest.mark.parametrize(
    ("server_auth", "field", "fragment"),
    [
        ({"ingest": {"token": TOKEN}}, "server.auth", "set a token for alertmanager, read"),
        (
            {"ingest": {}, "alertmanager": {"token": TOKEN}, "read": {"token": TOKEN}},
            "server.auth.ingest",
            "exactly one of token, token_file",
        ),
        (
            {
                "ingest": {"token": "short"},
                "alertmanager": {"token": TOKEN},
                "read": {"token": TOKEN},
            },
            "server.auth.ingest",
            "shorter than 16",
        ),
    ],
)
def test_config_errors_name_the_field(
    server_auth: dict[str, object], field: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        settings_from_mapping(
            {"server": {"auth": server_auth}, "models": {"m": {"reference": {"path": "r.csv"}}}}
        )
    problems = dict(exc.value.problems)
    assert fragment in problems[field], problems
