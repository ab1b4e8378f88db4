"""drift.service.auth: route classes, bearer parsing, tokens inline and from rotating files,
and the config rules of ``server.auth``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from drift.client import DriftClient
from drift.config import AuthConfig, Settings, TokenConfig, settings_from_mapping
from drift.errors import ConfigError
from drift.redact import redact
from drift.service.app import create_app
from drift.service.auth import (
    FILE_CHECK_SECONDS,
    Authenticator,
    RouteClass,
    TokenSource,
    bearer_token,
    route_class,
)
from drift.service.service import DriftService
from tests.conftest import running_service, started_service
from tests.ingest.test_cloudevents import load_fixture
from tests.service.test_cloudevents_api import FEATURES, iris_settings
from tests.service.test_fastpath import Running, request

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


# wired into the app and the fast path -------------------------------------------------------

READ = "read-token-0123456789"
ALERTMANAGER = "am-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def authed_settings(iris_csv: Path, **overrides: object) -> Settings:
    settings = iris_settings(iris_csv)
    server = settings.server.model_copy(update={"auth": auth(**overrides)})
    return settings.model_copy(update={"server": server})


def authed_service(iris_csv: Path, **overrides: object) -> DriftService:
    """A started service with ``auth(**overrides)``; the caller stops it."""
    return started_service(authed_settings(iris_csv, **overrides))


@pytest.fixture
def authed(iris_csv: Path) -> Iterator[DriftService]:
    with running_service(authed_settings(iris_csv)) as svc:
        yield svc


def unauthorized(svc: DriftService) -> float:
    value = svc.registry.get_sample_value(
        "drift_requests_rejected_total", {"reason": "unauthorized"}
    )
    assert value is not None
    return value


def every_request(app: Any) -> list[tuple[str, str, RouteClass]]:
    """(method, path, class) of every route of the app (path parameters filled in), the
    CloudEvents routes served ahead of the routing, and paths no route has."""
    requests = [
        ("POST", "/", RouteClass.INGEST),
        ("POST", "/v1/cloudevents", RouteClass.INGEST),
        ("GET", "/no/such/path", RouteClass.READ),
        ("POST", "/v1/models/iris/samples/extra", RouteClass.READ),
    ]
    for route in app.routes:
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None) or set()
        if path is None:
            continue
        path = path.replace("{model}", "iris").replace("{page_id}", "x")
        for method in sorted(methods - {"HEAD"}):
            requests.append((method, path, route_class(method, path, metrics_protected=False)))
    return requests


def test_with_auth_nothing_but_the_probes_answers_an_unauthenticated_caller(
    authed: DriftService,
) -> None:
    app = create_app(authed, manage_lifecycle=False)
    requests = every_request(app)
    assert {path for _, path, _ in requests} >= {
        "/v1/models/iris/samples",
        "/v1/models/iris/labels",
        "/v1/alertmanager",
        "/v1/models",
        "/v1/models/iris/drift",
        "/v1/models/iris/report",
        "/v1/models/iris/performance",
        "/openapi.json",
        "/docs",
        "/metrics",
        "/healthz",
        "/readyz",
    }
    tokens = {
        RouteClass.INGEST: TOKEN,
        RouteClass.ALERTMANAGER: ALERTMANAGER,
        RouteClass.READ: READ,
    }
    before = unauthorized(authed)
    refused = 0
    with TestClient(app) as client:
        for method, path, cls in requests:
            body = b"{}" if method == "POST" else None
            headers = {"content-type": "application/json"}
            if cls is RouteClass.OPEN:
                answer = client.request(method, path, content=body, headers=headers)
                assert answer.status_code != 401, (method, path)
                continue
            for presented in ({}, bearer("not-the-token-0123456789"), bearer(_other(cls))):
                answer = client.request(method, path, content=body, headers=headers | presented)
                assert answer.status_code == 401, (method, path, presented)
                assert answer.headers["www-authenticate"].startswith('Bearer realm="drift-sidecar"')
                assert answer.json()["error"] == "unauthorized"
                refused += 1
            answer = client.request(
                method, path, content=body, headers=headers | bearer(tokens[cls])
            )
            assert answer.status_code != 401, (method, path)
    assert unauthorized(authed) - before == refused


def _other(cls: RouteClass) -> str:
    """A valid token of another class: it opens nothing of this one."""
    return READ if cls is not RouteClass.READ else TOKEN


def test_metrics_needs_the_read_token_when_protected(iris_csv: Path) -> None:
    svc = authed_service(iris_csv, metrics=True)
    try:
        with TestClient(create_app(svc, manage_lifecycle=False)) as client:
            assert client.get("/metrics").status_code == 401
            assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 401
            assert client.get("/metrics", headers=bearer(READ)).status_code == 200
            assert client.get("/healthz").status_code == 200
    finally:
        svc.stop()


def test_the_fast_path_enforces_what_the_asgi_route_does(authed: DriftService) -> None:
    """An unauthenticated or wrongly authenticated CloudEvent gets the ASGI stack's 401 (the
    same body and header, counted once), whole or split over reads; with the ingest token the
    fast path answers it itself."""
    pair = load_fixture("kserve_v1_two_instances.json")
    server = Running(authed)
    try:
        conn = server.connect()
        before = unauthorized(authed)
        with TestClient(server.app) as client:
            for presented in ({}, bearer(READ)):
                headers, body = pair[0]
                expected = client.post("/", content=body, headers=headers | presented)
                assert expected.status_code == 401
                for split in (False, True):
                    raw = request(headers | presented, body)
                    if split:
                        conn.send_split(raw, len(raw) - len(body) - 10)
                    else:
                        conn.send(raw)
                    status, answer_headers, content = conn.response()
                    assert (status, content) == (401, expected.content)
                    assert (
                        answer_headers["www-authenticate"] == expected.headers["www-authenticate"]
                    )
        assert unauthorized(authed) - before == 6
        assert server.fast == 0
        for headers, body in pair:
            conn.send(request(headers | bearer(TOKEN), body))
            status, _, content = conn.response()
            assert status == 200, content
        assert server.fast == 2
        conn.close()
    finally:
        server.stop()


def test_the_client_sends_the_ingest_token_and_follows_a_rotated_file(
    authed: DriftService, tmp_path: Path
) -> None:
    """``DriftClient(token_file=...)`` against the real server with ``server.auth``: its
    samples get in; after the file changes to a token the sidecar does not take, its next
    batch is refused (401: failed at once, never retried) and nothing more is ingested."""
    server = Running(authed)
    token_file = tmp_path / "ingest-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    sample = dict.fromkeys(FEATURES, 1.0)
    try:
        client = DriftClient(
            f"http://127.0.0.1:{server.port}", "iris", batch_size=5, token_file=token_file
        )
        for _ in range(5):
            client.send(sample, prediction="setosa")
        assert client.flush(10)
        assert (client.stats().sent, client.stats().failed) == (5, 0)
        token_file.write_text("revoked-token-0123456789\n", encoding="utf-8")
        time.sleep(1.1)  # the file is looked at once a second at most
        for _ in range(5):
            client.send(sample, prediction="setosa")
        assert client.flush(10)
        stats = client.stats()
        assert (stats.sent, stats.failed, stats.retries) == (5, 5, 0)
        client.close(5)
        samples = authed.registry.get_sample_value("drift_samples_total", {"model": "iris"})
        assert samples == 5
        with pytest.raises(ValueError, match="one of token, token_file"):
            DriftClient("http://127.0.0.1:1", "iris", token=TOKEN, token_file=token_file)
    finally:
        server.stop()


def test_tokens_read_from_files_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "token"
    secret = "file-token-never-logged-0123456789"
    path.write_text(secret + "\n", encoding="utf-8")
    assert TokenSource(TokenConfig(token_file=path)).accepts(secret.encode())
    assert redact(f"failed with {secret}") == "failed with ***"
