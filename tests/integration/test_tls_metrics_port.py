"""``server.tls`` and ``server.metrics_port`` on the real process (``drift-sidecar serve``):

- every socket speaks HTTPS with the configured certificate (generated here, self-signed for
  localhost and 127.0.0.1); a KServe pair posted over HTTPS to ``POST /`` (the fast path)
  becomes samples; plain HTTP gets no answer from the app;
- the metrics port serves ``GET /metrics`` (with ``server.auth.metrics: true``: only with the
  read token), ``/healthz`` and ``/readyz``, and 404 for everything else, CloudEvents and the
  read routes included, whatever the token;
- the ingestion port listens on 127.0.0.1 only (``server.host``), as the kernel reports it.

Everything binds to 127.0.0.1 here (the tests' rule): ``metrics_host`` is 127.0.0.1, not the
default 0.0.0.0 of a pod.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.components import missing_component
from tests.service.test_server_options import self_signed

from .conftest import (
    NUMERICAL,
    Running,
    _start,
    _stop,
    free_port,
    kserve_model_config,
    sidecar_command,
)

pytestmark = pytest.mark.integration

INGEST = "ingest-token-0123456789abcdef"
READ = "read-token-0123456789abcdef"
FEATURES = [*NUMERICAL, "segment"]
EVENT = {
    "ce-specversion": "1.0",
    "ce-source": "http://localhost:9081/",
    "ce-inferenceservicename": "iris",
    "content-type": "application/json",
}


@dataclass
class Sidecar:
    running: Running
    port: int
    metrics_port: int
    tls: ssl.SSLContext  # trusts the generated certificate

    def client(self, port: int) -> httpx.Client:
        return httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=self.tls, timeout=10)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    cert, key = self_signed(tmp_path)
    for name, token in (("ingest", INGEST), ("read", READ), ("alertmanager", READ + "-am")):
        (tmp_path / name).write_text(token + "\n", encoding="utf-8")
    port, metrics_port = free_port(), free_port()
    config = kserve_model_config(
        tmp_path,
        "server:\n"
        "  host: 127.0.0.1\n"
        f"  port: {port}\n"
        "  log_level: info\n"
        "  auth:\n"
        f"    ingest: {{token_file: {tmp_path / 'ingest'}}}\n"
        f"    read: {{token_file: {tmp_path / 'read'}}}\n"
        f"    alertmanager: {{token_file: {tmp_path / 'alertmanager'}}}\n"
        "    metrics: true\n"
        f"  tls: {{cert_file: {cert}, key_file: {key}}}\n"
        f"  metrics_port: {metrics_port}\n"
        "  metrics_host: 127.0.0.1\n",
    )
    # no --host / --port: server.host and server.port of the file
    command = [*sidecar_command(), "serve", "--config", str(config)]
    running = _start(
        "drift-sidecar", command, f"https://127.0.0.1:{port}", tmp_path / "sidecar.log", tmp_path
    )
    sidecar = Sidecar(running, port, metrics_port, ssl.create_default_context(cafile=str(cert)))
    try:
        wait_ready(sidecar)
        yield sidecar
    finally:
        _stop(running)


def wait_ready(sidecar: Sidecar, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with sidecar.client(sidecar.metrics_port) as client:
        while time.monotonic() < deadline:
            if sidecar.running.process.poll() is not None:
                pytest.fail(f"the sidecar exited:\n{sidecar.running.output()}")
            try:
                answer = client.get("/readyz")
            except httpx.TransportError as exc:
                last = repr(exc)
            else:
                if answer.status_code == 200:
                    return
                last = answer.text
            time.sleep(0.1)
    pytest.fail(f"not ready after {timeout} s ({last}):\n{sidecar.running.output()}")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def samples_total(sidecar: Sidecar) -> float:
    with sidecar.client(sidecar.metrics_port) as client:
        text = client.get("/metrics", headers=bearer(READ)).text
    line = next(
        line for line in text.splitlines() if line.startswith('drift_samples_total{model="m1"}')
    )
    return float(line.split()[-1])


def kserve_pair(pair_id: str) -> list[tuple[dict[str, str], bytes]]:
    request = {**EVENT, "ce-id": pair_id, "ce-type": "org.kubeflow.serving.inference.request"}
    response = {**request, "ce-type": "org.kubeflow.serving.inference.response"}
    return [
        (request, b'{"instances": [[1.0, 2.0, 3.0, 4.0, "a"], [2.0, 3.0, 4.0, 5.0, "b"]]}'),
        (response, b'{"predictions": [0.25, 0.75]}'),
    ]


def test_https_carries_cloudevents_on_the_fast_path(sidecar: Sidecar) -> None:
    with sidecar.client(sidecar.port) as client:
        assert client.get("/healthz").status_code == 200
        for headers, body in kserve_pair("tls-pair-1"):
            answer = client.post("/", content=body, headers=headers | bearer(INGEST))
            assert answer.status_code == 200, answer.text
        assert answer.json() == {"outcome": "paired", "model": "m1", "samples": 2}
        for headers, body in kserve_pair("tls-pair-2"):  # the other path, and without the token
            refused = client.post("/v1/cloudevents", content=body, headers=headers)
            assert refused.status_code == 401
    deadline = time.monotonic() + 10  # queued samples are flushed within a moment
    while samples_total(sidecar) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert samples_total(sidecar) == 2
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as plain:
        plain.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        try:
            answer = plain.recv(65536)
        except ConnectionError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200")
    assert "Traceback" not in sidecar.running.output()


METRICS_PORT = [
    ("GET", "/metrics", {}, 401),
    ("GET", "/metrics", bearer(INGEST), 401),
    ("GET", "/metrics", bearer(READ), 200),
    ("GET", "/healthz", {}, 200),
    ("GET", "/readyz", {}, 200),
    ("GET", "/v1/models", bearer(READ), 404),
    ("GET", "/v1/models/m1/drift", bearer(READ), 404),
    ("GET", "/openapi.json", bearer(READ), 404),
    ("POST", "/metrics", bearer(READ), 404),
    ("POST", "/v1/models/m1/samples", bearer(INGEST), 404),
    ("POST", "/v1/alertmanager", bearer(READ + "-am"), 404),
]


def test_the_metrics_port_serves_the_probes_and_metrics_only(sidecar: Sidecar) -> None:
    with sidecar.client(sidecar.metrics_port) as metrics, sidecar.client(sidecar.port) as main:
        for method, path, headers, status in METRICS_PORT:
            answer = metrics.request(method, path, headers=headers, content=b"{}")
            assert answer.status_code == status, (method, path, answer.text)
        # CloudEvents with the ingest token: refused here (neither fast path nor ASGI route) ...
        for headers, body in kserve_pair("metrics-port-pair"):
            answer = metrics.post("/", content=body, headers=headers | bearer(INGEST))
            assert answer.status_code == 404, answer.text
        # ... and the main port still serves everything, /metrics included
        assert main.get("/v1/models", headers=bearer(READ)).status_code == 200
        assert main.get("/metrics", headers=bearer(READ)).status_code == 200
    assert samples_total(sidecar) == 0


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (``/proc/net/tcp``, tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table, encoding="ascii") as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


def test_the_ingestion_port_listens_on_loopback_only(sidecar: Sidecar) -> None:
    if not os.path.exists("/proc/net/tcp"):
        missing_component("needs Linux's /proc/net/tcp")  # fails under CI=true
    assert listening_addresses(sidecar.port) == {"0100007F"}  # 127.0.0.1, little-endian hex
    assert listening_addresses(sidecar.metrics_port) == {"0100007F"}  # metrics_host here
    assert "listening on https://127.0.0.1:" in sidecar.running.output()
