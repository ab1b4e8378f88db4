"""drift.service.server and the server options of issue 14: the settings and their validation,
what the metrics port lets through (``ServerApp``), the protocol class chosen (the fast path, the
request deadline alone, plain uvicorn when the import guard says no), the request deadline on
a real uvicorn server in a thread (raw sockets), HTTPS with the fast path, and the shutdown
budget's watchdog (in a child process, as it ends the process).

The same behaviour on the real process: tests/integration/test_timeouts.py and
tests/integration/test_tls_metrics_port.py."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect

from drift.cli import main
from drift.config import ServerConfig, Settings, settings_from_mapping
from drift.errors import ConfigError
from drift.service import fastpath
from drift.service.app import create_app
from drift.service.server import (
    ServerApp,
    ShutdownBudget,
    bind,
    http_protocol,
    listeners,
    uvicorn_config,
)
from drift.service.service import DriftService
from tests.conftest import wait_until
from tests.ingest.test_cloudevents import load_fixture
from tests.service.test_auth import READ, TOKEN, authed_service, bearer
from tests.service.test_fastpath import Connection, request

TIMEOUT = 0.5  # server.request_timeout_seconds of the in-process servers
SLACK = 5.0  # on a loaded 2-core machine
REPO = Path(__file__).resolve().parents[2]


def self_signed(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 (valid for a day) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def with_server(svc: DriftService, **server: Any) -> DriftService:
    """A started service like ``svc`` (same models) with ``server`` options (validated)."""
    data = svc.settings.server.model_dump(exclude_none=True) | server
    settings = svc.settings.model_copy(update={"server": ServerConfig.model_validate(data)})
    started = DriftService(settings)
    started.start(load_in_background=False)
    return started


def timeouts(svc: DriftService) -> float:
    value = svc.registry.get_sample_value(
        "drift_requests_rejected_total", {"reason": fastpath.TIMEOUT_REASON}
    )
    return 0.0 if value is None else value


# settings ------------------------------------------------------------------------------------


def test_defaults() -> None:
    server = ServerConfig()
    assert server.request_timeout_seconds == 30
    assert server.tls is None
    assert server.metrics_port is None
    assert server.metrics_host == "0.0.0.0"
    assert server.fast_path is True
    assert listeners(server, "127.0.0.1", 8000) == [("127.0.0.1", 8000, "every route")]


def load(server: dict[str, Any]) -> Settings:
    return settings_from_mapping({"server": server, "models": {"m": {"reference": {"path": "r"}}}})


@pytest.mark.parametrize(
    ("server", "field", "fragment"),
    [
        ({"request_timeout_seconds": 0}, "server.request_timeout_seconds", "greater than 0"),
        ({"request_timeout_seconds": 7200}, "server.request_timeout_seconds", "3600"),
        ({"metrics_port": 8000}, "server", "metrics_port must differ from port (8000)"),
        ({"port": 9000, "metrics_port": 9000}, "server", "metrics_port must differ"),
        ({"metrics_port": 70000}, "server.metrics_port", "less than 65536"),
        ({"fast_path": "sometimes"}, "server.fast_path", "boolean"),
        ({"tls": {"cert_file": "/nonexistent.crt"}}, "server.tls.key_file", "required"),
        (
            {"tls": {"cert_file": "/nonexistent.crt", "key_file": "/nonexistent.key"}},
            "server.tls.cert_file",
            "does not point to a file",
        ),
    ],
)
def test_invalid_values_name_the_field(server: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(server)
    problems = dict(exc.value.problems)
    assert fragment in problems.get(field, ""), problems


def test_tls_files_are_loaded_at_start_up(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    other_cert, _ = self_signed(tmp_path, "other")
    settings = load({"tls": {"cert_file": str(cert), "key_file": str(key)}})
    assert settings.server.tls is not None
    assert settings.server.tls.cert_file == cert
    with pytest.raises(ConfigError) as exc:  # the key of another certificate
        load({"tls": {"cert_file": str(other_cert), "key_file": str(key)}})
    assert "cannot use cert_file" in dict(exc.value.problems)["server.tls"]
    with pytest.raises(ConfigError) as exc:  # client certificates are not a feature
        load({"tls": {"cert_file": str(cert), "key_file": str(key), "ca_file": str(cert)}})
    assert "server.tls.ca_file" in dict(exc.value.problems)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_SERVER__FAST_PATH", "false")
    monkeypatch.setenv("DRIFT_SERVER__METRICS_PORT", "9090")
    monkeypatch.setenv("DRIFT_SERVER__REQUEST_TIMEOUT_SECONDS", "2.5")
    server = load({}).server
    assert (server.fast_path, server.metrics_port, server.request_timeout_seconds) == (
        False,
        9090,
        2.5,
    )
    assert [what for _, _, what in listeners(server, "127.0.0.1", 8000)] == [
        "every route",
        "GET /metrics, /healthz, /readyz",
    ]


def test_serve_refuses_a_port_that_is_the_metrics_port(
    reference_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "server: {metrics_port: 9090}\n"
        f"models:\n  m:\n    reference: {{path: {reference_csv}}}\n"
        "    columns: {numerical: [age, income], categorical: [city], prediction: score}\n",
        encoding="utf-8",
    )
    assert main(["serve", "--config", str(config), "--port", "9090"]) == 2
    assert "--port: 9090 is server.metrics_port" in capsys.readouterr().err


# ServerApp: what the metrics port lets through ------------------------------------------------

ON_METRICS_PORT = [
    ("GET", "/metrics", 200),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
    ("GET", "/v1/models", 404),
    ("GET", "/docs", 404),
    ("GET", "/openapi.json", 404),
    ("POST", "/", 404),
    ("POST", "/v1/cloudevents", 404),
    ("POST", "/v1/models/credit-scoring/samples", 404),
    ("POST", "/v1/alertmanager", 404),
    ("POST", "/metrics", 404),
    ("HEAD", "/healthz", 404),
    ("GET", "/metrics/", 404),
]


@pytest.mark.parametrize(("method", "path", "status"), ON_METRICS_PORT)
def test_the_metrics_port_answers_the_probes_only(
    service: DriftService, method: str, path: str, status: int
) -> None:
    app = create_app(service, manage_lifecycle=False)
    # TestClient's requests arrive at testserver:80: that is the metrics port here
    with TestClient(ServerApp(app, metrics_port=80)) as metrics_port:
        answer = metrics_port.request(method, path, content=b"{}")
        assert answer.status_code == status, answer.text
        if status == 404 and method != "HEAD":
            assert answer.json()["error"] == "not_found"
    with TestClient(ServerApp(app, metrics_port=9090)) as main_port:  # everything, as before
        assert main_port.get("/v1/models").status_code == 200


def test_auth_applies_on_the_metrics_port(iris_csv: Path) -> None:
    svc = authed_service(iris_csv, metrics=True)
    try:
        app = create_app(svc, manage_lifecycle=False)
        with TestClient(ServerApp(app, metrics_port=80)) as client:
            assert client.get("/metrics").status_code == 401
            assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 401
            assert client.get("/metrics", headers=bearer(READ)).status_code == 200
            assert client.get("/healthz").status_code == 200
            assert client.get("/v1/models", headers=bearer(READ)).status_code == 404
    finally:
        svc.stop()


def test_a_client_that_went_away_is_not_an_application_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def reads_a_body(scope: Any, receive: Any, send: Any) -> None:
        raise ClientDisconnect()

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent")

    scope = {"type": "http", "method": "POST", "path": "/", "server": ("127.0.0.1", 8000)}
    with caplog.at_level(logging.DEBUG, logger="drift.service"):
        asyncio.run(ServerApp(reads_a_body)(scope, receive, send))
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


# the protocol class -----------------------------------------------------------------------------


def test_the_protocol_follows_server_fast_path(service: DriftService) -> None:
    app = create_app(service, manage_lifecycle=False)
    fast = http_protocol(app, ServerConfig(request_timeout_seconds=7))
    plain = http_protocol(app, ServerConfig(fast_path=False, request_timeout_seconds=7))
    assert isinstance(fast, type)
    assert isinstance(plain, type)
    assert issubclass(fast, fastpath.CloudEventsHttpProtocol)
    assert issubclass(plain, fastpath.TimedHttpProtocol)
    assert not issubclass(plain, fastpath.CloudEventsHttpProtocol)
    assert fast.request_timeout == plain.request_timeout == 7  # type: ignore[attr-defined]


GUARDED = """
import importlib.abc, logging, sys

class Moved(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "uvicorn.protocols.http.httptools_impl":
            raise ImportError("No module named 'uvicorn.protocols.http.httptools_impl'")
        return None

sys.meta_path.insert(0, Moved())
logging.basicConfig(level="INFO", format="%(levelname)s %(message)s")
from drift.config import ServerConfig
from drift.service import fastpath, server
print(fastpath.protocol_support())
print(server.http_protocol(object(), ServerConfig()))
"""


def test_a_uvicorn_without_the_private_names_runs_plain_with_a_warning() -> None:
    """The import guard: drift.service.fastpath imports on a uvicorn that moved
    ``HttpToolsProtocol`` (simulated in a child process), and the server falls back to
    uvicorn's own protocol, saying what is lost."""
    done = subprocess.run(
        [sys.executable, "-c", GUARDED], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    reason, protocol = done.stdout.splitlines()
    assert reason.startswith("cannot import uvicorn's httptools protocol")
    assert protocol == "auto"
    assert "WARNING plain uvicorn" in done.stderr
    assert "request_timeout_seconds is NOT enforced" in done.stderr


# a real uvicorn server in a thread ----------------------------------------------------------------


class Served:
    """``uvicorn_config`` of ``svc``'s settings on a free 127.0.0.1 port, in a thread; the
    fast path's answers counted."""

    def __init__(self, svc: DriftService, keep_alive: int = 5) -> None:
        self.app = create_app(svc, manage_lifecycle=False)
        sock = bind("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        config = uvicorn_config(self.app, svc.settings.server, "127.0.0.1", self.port)
        config.timeout_keep_alive = keep_alive
        self.fast_path = svc.settings.server.fast_path
        self.connections: list[Connection] = []
        self.fast = 0
        if isinstance(config.http, type) and issubclass(config.http, fastpath.TimedHttpProtocol):
            respond = getattr(config.http, "_respond", None)
            if respond is not None:

                def counted(proto: Any, *args: Any) -> None:
                    self.fast += 1
                    respond(proto, *args)

                config.http = type("Counted", (config.http,), {"_respond": counted})
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        wait_until(lambda: self.server.started, what="uvicorn to start")

    def connect(self, context: ssl.SSLContext | None = None) -> Connection:
        """A connection, closed by ``stop``; over TLS with ``context``."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="localhost")
        conn = Connection(sock)
        self.connections.append(conn)
        return conn

    def stop(self) -> None:
        for conn in self.connections:
            conn.close()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(params=[True, False], ids=["fast_path", "asgi"])
def served(request: pytest.FixtureRequest, iris_service: DriftService) -> Iterator[Served]:
    svc = with_server(
        iris_service, request_timeout_seconds=TIMEOUT, fast_path=request.param, auth=None
    )
    running = Served(svc, keep_alive=1)
    try:
        yield running
    finally:
        running.stop()
        svc.stop()


def service_of(running: Served) -> DriftService:
    svc: DriftService = running.app.state.service
    return svc


def expect_408(conn: Connection, started: float) -> None:
    status, headers, body = conn.response()
    took = time.monotonic() - started
    assert status == 408
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "timeout"
    assert conn.closed()
    assert TIMEOUT * 0.9 <= took < TIMEOUT + SLACK


def test_slow_headers_get_408_and_are_counted(served: Served) -> None:
    conn = served.connect()
    started = time.monotonic()
    conn.send(b"POST / HTTP/1.1\r\nhost: x\r\nce-id: slow")
    expect_408(conn, started)
    assert timeouts(service_of(served)) == 1


def test_a_slow_body_gets_408_on_either_path(served: Served) -> None:
    """A CloudEvent whose body stops (the fast path's pending request, or the ASGI route
    waiting in ``receive``), and one that trickles in a byte every 0.1 s: the clock runs from
    the first byte, so the trickling one is cut too."""
    (headers, body), _ = load_fixture("kserve_v1_two_instances.json")
    raw = request(headers, body)
    assert len(body) > 40
    stopped = served.connect()
    started = time.monotonic()
    stopped.send(raw[:-5])
    trickling = served.connect()
    trickling.send(raw[:-40])
    cut = False
    for byte in raw[-40:-1]:  # 4 s of trickling: the deadline comes after 0.5 s of it
        time.sleep(0.1)
        try:
            trickling.send(bytes([byte]))
        except OSError:  # the server closed the connection
            cut = True
            break
    assert cut
    expect_408(stopped, started)
    assert timeouts(service_of(served)) == 2


def test_requests_in_time_and_idle_connections_are_not_timeouts(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    conn = served.connect()
    for headers, body in load_fixture("kserve_v1_two_instances.json"):
        raw = request(headers, body)
        conn.send_split(raw, len(raw) // 2)
        assert conn.response()[0] == 200
    time.sleep(TIMEOUT * 1.5)  # a keep-alive connection between requests: not a timeout
    conn.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    assert conn.response()[0] == 200
    started = time.monotonic()
    assert conn.closed()  # idle after it: closed by uvicorn's keep-alive timeout (1 s here)
    assert time.monotonic() - started < 1 + SLACK
    fresh = served.connect()  # a connection that never sends a byte: the same
    started = time.monotonic()
    assert fresh.closed()
    assert 0.9 <= time.monotonic() - started < 1 + SLACK
    assert timeouts(service_of(served)) == 0
    assert served.fast == (2 if served.fast_path else 0)


def test_a_request_answered_before_its_body_is_closed_without_408(served: Served) -> None:
    """413 (declared over ``max_body_bytes``) goes out at once; the body that still trickles in
    after it is cut at the deadline, without a second answer or a count."""
    svc = service_of(served)
    conn = served.connect()
    head = (
        b"POST /v1/models/iris/samples HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 1000000\r\n\r\n"
    )
    conn.send(head + b'{"samples": [')
    started = time.monotonic()
    status, _, _ = conn.response()
    assert status == 413
    while not conn.closed():
        pass
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert timeouts(svc) == 0


class Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_timed_out_asgi_request_logs_no_traceback(iris_service: DriftService) -> None:
    """The samples route waits for the body in ``receive``: the 408 disconnects it, and the
    ``ClientDisconnect`` that follows in the app is not uvicorn's "Exception in ASGI
    application"."""
    svc = with_server(iris_service, request_timeout_seconds=TIMEOUT, fast_path=False)
    handler = Collect(logging.WARNING)
    uvicorn_log = logging.getLogger("uvicorn.error")
    running = Served(svc)
    uvicorn_log.addHandler(handler)
    try:
        conn = running.connect()
        started = time.monotonic()
        conn.send(
            b"POST /v1/models/iris/samples HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{"
        )
        expect_408(conn, started)
        time.sleep(0.2)  # the app's task sees the disconnect
        assert [r.getMessage() for r in handler.records] == []
        assert timeouts(svc) == 1
    finally:
        uvicorn_log.removeHandler(handler)
        running.stop()
        svc.stop()


def test_https_with_the_fast_path(iris_service: DriftService, tmp_path: Path) -> None:
    """The protocol sits above the TLS transport: a KServe pair over HTTPS is answered by the
    fast path, whole and split, and a slow request still gets its 408."""
    cert, key = self_signed(tmp_path)
    tls = {"cert_file": str(cert), "key_file": str(key)}
    svc = with_server(iris_service, tls=tls, request_timeout_seconds=TIMEOUT)
    running = Served(svc)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        conn = running.connect(context)
        (h1, b1), (h2, b2) = load_fixture("kserve_v1_two_instances.json")
        conn.send(request(h1, b1))
        assert conn.response()[0] == 200
        raw = request(h2, b2)
        conn.send_split(raw, raw.index(b"\r\n\r\n") // 2)
        status, _, answer = conn.response()
        assert (status, json.loads(answer)["outcome"]) == (200, "paired")
        assert running.fast == 2
        slow = running.connect(context)
        started = time.monotonic()
        slow.send(raw[:50])
        expect_408(slow, started)
        plain = running.connect()  # plain HTTP on the TLS port gets no answer of the app
        plain.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        with pytest.raises(ConnectionError):
            plain.response()
    finally:
        running.stop()
        svc.stop()


# the shutdown budget --------------------------------------------------------------------------


def test_the_budget_is_split_between_requests_and_the_service() -> None:
    budget = ShutdownBudget(10)
    assert budget.left() is None
    assert budget.stop_timeout() is None  # DriftService.stop's own default then
    assert budget.graceful_left() == 5
    budget.begin()
    deadline = budget.deadline
    budget.begin()  # a second signal does not move it
    assert budget.deadline == deadline
    left = budget.left()
    assert left is not None
    assert 9 < left <= 10
    assert 4 < budget.graceful_left() <= 5
    stop = budget.stop_timeout()  # what is left, less a moment for the process to exit
    assert stop is not None
    assert 9 < stop <= 9.75


WATCHED = """
import logging, time
logging.basicConfig(level="INFO", format="%(levelname)s %(message)s")
from drift.service.server import ShutdownBudget
budget = ShutdownBudget(0.5)
budget.watch()
budget.begin()
time.sleep(30)  # a stop that never ends
"""


def test_the_watchdog_ends_the_process_at_the_end_of_the_budget() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", WATCHED], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    took = time.monotonic() - started
    assert done.returncode == 1
    assert "shutdown not finished within server.shutdown_timeout_seconds (0.5 s)" in done.stderr
    assert took < 0.5 + SLACK + 2  # interpreter start-up and imports included
