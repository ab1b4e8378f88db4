"""Slow clients against the real process (``drift-sidecar serve``), with the CloudEvents fast
path and without it (``server.fast_path: false``):

- a request whose headers or body stop coming is answered 408 and closed about
  ``server.request_timeout_seconds`` after its first byte, and counted in
  ``drift_requests_rejected_total{reason="timeout"}``; the process logs no traceback;
- many half-sent requests (the slowloris shape: 2,000 of them kept connections open for more
  than 65 s before) and connections that send nothing do not keep ``/healthz`` from answering,
  and are all closed: the half-sent ones by the deadline, the silent ones by the keep-alive
  timeout (5 s);
- SIGTERM with slow clients, a half-received CloudEvent (on the fast path: the protocol's
  pending request) and one large enough for the ASGI route ends the process within
  ``server.shutdown_timeout_seconds``; a CloudEvent whose body completes during the graceful
  part of it is answered, with ``connection: close``.
"""

from __future__ import annotations

import json
import resource
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import (
    NUMERICAL,
    Running,
    _stop,
    kserve_model_config,
    serve,
)

pytestmark = pytest.mark.integration

SLACK = 5.0  # seconds on top of any deadline: a loaded 2-core machine
FEATURES = [*NUMERICAL, "segment"]
EVENT = {
    "ce-specversion": "1.0",
    "ce-source": "http://localhost:9081/",
    "ce-type": "org.kubeflow.serving.inference.request",
    "ce-inferenceservicename": "iris",
    "content-type": "application/json",
}


def start_sidecar(tmp_path: Path, server: str) -> Running:
    """The real sidecar on 127.0.0.1 with ``server:`` options (YAML flow mapping items) and
    one model ``m1`` that also takes KServe events of ``iris``; ready when returned."""
    return serve(
        kserve_model_config(tmp_path, f"server: {{log_level: info, {server}}}\n"), tmp_path
    )


def event(body: bytes, event_id: str, length: int | None = None, path: str = "/") -> bytes:
    """A KServe request event in binary mode (``length``: the declared Content-Length)."""
    lines = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", f"ce-id: {event_id}"]
    lines += [f"{name}: {value}" for name, value in EVENT.items()]
    lines.append(f"content-length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


INSTANCES = json.dumps({"instances": [[1.0, 2.0, 3.0, 4.0, "a"]]}).encode()
SAMPLES = (
    b"POST /v1/models/m1/samples HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    b"content-type: application/json\r\ncontent-length: 200\r\n\r\n"
)


def connect(running: Running) -> socket.socket:
    port = int(running.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def response(sock: socket.socket) -> bytes:
    """One whole response (with a Content-Length), leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def timeouts(running: Running) -> float:
    metrics = httpx.get(f"{running.url}/metrics", timeout=10).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith('drift_requests_rejected_total{reason="timeout"}')
    )
    return float(line.split()[-1])


@pytest.fixture(params=[True, False], ids=["fast_path", "asgi"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    flag: bool = request.param
    return flag


def test_requests_that_stop_coming_get_408_and_are_counted(tmp_path: Path, fast_path: bool) -> None:
    running = start_sidecar(
        tmp_path, f"request_timeout_seconds: 1, fast_path: {str(fast_path).lower()}"
    )
    socks: list[socket.socket] = []
    try:
        assert timeouts(running) == 0  # exported from the start
        half_sent = [
            b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nce-id: slowloris",  # inside the headers
            b"GET /healthz HTTP/1.1\r\nhost",
            event(INSTANCES, "half-body")[:-5],  # fast path: its pending request
            SAMPLES + b'{"samples": [',  # the ASGI route, waiting for the body
            event(INSTANCES, "large", length=200_000),  # > 64 KiB: the ASGI route on either path
        ]
        started = time.monotonic()
        for data in half_sent:
            sock = connect(running)
            socks.append(sock)
            sock.sendall(data)
        assert httpx.get(f"{running.url}/healthz", timeout=5).status_code == 200
        for sock, data in zip(socks, half_sent, strict=True):
            answer = read_all(sock)
            took = time.monotonic() - started
            assert answer.startswith(b"HTTP/1.1 408 "), (data[:40], answer)
            assert b"connection: close\r\n" in answer
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "timeout"
            assert 0.9 <= took < 1 + SLACK
        assert timeouts(running) == len(half_sent)
        # a client that sends its request in pieces, in time, is answered as usual
        sock = connect(running)
        socks.append(sock)
        whole = event(INSTANCES, "in-time", path="/v1/cloudevents")
        for at in range(0, len(whole), 40):
            sock.sendall(whole[at : at + 40])
            time.sleep(0.02)
        answer = response(sock)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert timeouts(running) == len(half_sent)
    finally:
        for sock in socks:
            sock.close()
        _stop(running)
    output = running.output()
    assert "Traceback" not in output
    assert "Exception in ASGI application" not in output


def test_many_half_open_connections_do_not_keep_the_process_from_answering(
    tmp_path: Path,
) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    half_open = min(2000, soft // 4)
    silent = min(200, soft // 20)
    running = start_sidecar(tmp_path, "request_timeout_seconds: 1")
    socks: list[socket.socket] = []
    quiet: list[socket.socket] = []
    try:
        started = time.monotonic()
        for i in range(half_open):
            sock = connect(running)
            sock.sendall(b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nce-id: %d" % i)
            socks.append(sock)
        for _ in range(silent):
            quiet.append(connect(running))
        opened = time.monotonic() - started
        # the probes keep answering while they are open and while they are cut
        probes = []
        with httpx.Client(base_url=running.url, timeout=5) as client:
            while time.monotonic() - started < opened + 2.0:
                sent = time.monotonic()
                with httpx.Client(base_url=running.url, timeout=5) as fresh:  # a new connection
                    assert fresh.get("/healthz").status_code == 200
                probes.append(time.monotonic() - sent)
                time.sleep(0.05)
            deadline = started + opened + 1 + SLACK
            while timeouts(running) < half_open and time.monotonic() < deadline:
                time.sleep(0.1)
            assert timeouts(running) == half_open
            assert client.get("/healthz").status_code == 200
        assert max(probes) < 2.0, probes
        for sock in socks:
            assert sock.recv(12) == b"HTTP/1.1 408"
        for sock in quiet:  # closed by uvicorn's keep-alive timeout (5 s), not counted
            assert read_all(sock) == b""
        assert time.monotonic() - started < opened + 5 + SLACK
        assert timeouts(running) == half_open
    finally:
        for sock in socks + quiet:
            sock.close()
        _stop(running)
    assert "Traceback" not in running.output()


def test_sigterm_with_slow_clients_ends_within_the_shutdown_budget(
    tmp_path: Path, fast_path: bool
) -> None:
    budget = 3.0
    running = start_sidecar(
        tmp_path,
        f"shutdown_timeout_seconds: {budget}, request_timeout_seconds: 60, "
        f"fast_path: {str(fast_path).lower()}",
    )
    socks: list[socket.socket] = []
    stop_trickling = threading.Event()
    try:
        slowloris = connect(running)
        slowloris.sendall(b"POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nce-id: slow")
        large = connect(running)  # the ASGI route, reading a body that stops coming
        large.sendall(event(INSTANCES, "large", length=200_000))
        trickling = connect(running)
        whole = event(INSTANCES, "trickling")
        trickling.sendall(whole[:-30])

        def trickle() -> None:
            for byte in whole[-30:-1]:  # never completes
                if stop_trickling.wait(0.3):
                    return
                try:
                    trickling.sendall(bytes([byte]))
                except OSError:
                    return

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        completing = connect(running)  # completes after the signal: answered, then closed
        completed = event(INSTANCES, "completing")
        completing.sendall(completed[:-5])
        idle = connect(running)  # keep-alive, between requests: closed at once
        idle.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        assert response(idle).startswith(b"HTTP/1.1 200 ")
        socks += [slowloris, large, trickling, completing, idle]
        time.sleep(0.3)

        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        completing.sendall(completed[-5:])
        answer = read_all(completing)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert b"connection: close\r\n" in answer
        assert read_all(idle) == b""
        try:
            code = running.process.wait(budget + SLACK)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {budget + SLACK} s after SIGTERM:\n{running.output()}")
        took = time.monotonic() - signalled
    finally:
        stop_trickling.set()
        for sock in socks:
            sock.close()
        _stop(running)
    # uvicorn raises the signal again once it has stopped: no watchdog was needed
    assert code == -signal.SIGTERM, running.output()
    assert took < budget + SLACK
    assert "Traceback" not in running.output()
