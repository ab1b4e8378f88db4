"""drift.service.fastpath: the CloudEvents routes answered inside uvicorn's httptools protocol.

A real uvicorn server (in a thread, on 127.0.0.1) with the fast-path protocol, driven over raw
sockets so that keep-alive, pipelining, chunked bodies, HTTP/1.0 and ``Expect: 100-continue``
are what goes over the wire. Every fixture's answer must equal the ASGI route's (TestClient)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from drift.ingest import jsonbody
from drift.service import fastpath
from drift.service.app import create_app
from drift.service.cloudevents import CloudEventsEndpoint
from drift.service.service import DriftService
from tests.conftest import started_service, wait_until
from tests.ingest.test_cloudevents import FIXTURES, load_fixture
from tests.service.test_cloudevents_api import iris_settings

HEALTHZ = b'{"status":"ok"}'


class Running:
    """A uvicorn server with the fast path, and a count of the requests it answered itself."""

    def __init__(self, service: DriftService, fast: bool = True) -> None:
        self.app = create_app(service, manage_lifecycle=False)
        endpoint: CloudEventsEndpoint = self.app.state.cloudevents_endpoint
        authenticator = self.app.state.authenticator
        protocol: Any = (
            fastpath.protocol_for(endpoint, authenticator) if fast else HttpToolsProtocol
        )
        self.fast = 0
        respond = getattr(protocol, "_respond", None)

        def counted(proto: Any, status: int, content: bytes, keep_alive: bool) -> None:
            self.fast += 1
            assert respond is not None
            respond(proto, status, content, keep_alive)

        self.parsed = 0  # of those, the ones httptools parsed (the others: _serve_whole)
        take = getattr(protocol, "_take", None)

        def counted_take(proto: Any) -> bool:
            assert take is not None
            taken: bool = take(proto)
            self.parsed += taken
            return taken

        if fast:
            protocol._respond = counted
            protocol._take = counted_take
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            http=protocol,
            log_level="warning",
            proxy_headers=False,
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, what="uvicorn to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> Connection:
        return Connection(socket.create_connection(("127.0.0.1", self.port), timeout=10))


class Connection:
    """Raw HTTP/1.1 over one socket: write bytes, read whole responses in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_split(self, data: bytes, at: int) -> None:
        """In two segments, the second after the server has read the first."""
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(data[:at])
        time.sleep(0.01)
        self.sock.sendall(data[at:])

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError("closed before a response")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))  # none on a 100 Continue
        while len(self.buffer) < length:
            if not self._fill():
                raise ConnectionError("closed inside a body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True when the server closed the connection (nothing more comes)."""
        return not self._fill()

    def close(self) -> None:
        self.sock.close()


def request(
    headers: dict[str, str],
    body: bytes,
    path: str = "/",
    version: str = "1.1",
    chunked: bool = False,
) -> bytes:
    lines = [f"POST {path} HTTP/{version}", "host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in ("host", "content-length")]
    if chunked:
        lines.append("transfer-encoding: chunked")
        half = len(body) // 2
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]) if part
        )
        payload += b"0\r\n\r\n"
    else:
        lines.append(f"content-length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


@pytest.fixture
def running(iris_service: DriftService) -> Iterator[Running]:
    server = Running(iris_service)
    try:
        yield server
    finally:
        server.stop()


def kserve_pair() -> list[tuple[dict[str, str], bytes]]:
    return load_fixture("kserve_v1_two_instances.json")


def test_the_installed_uvicorn_takes_the_fast_path() -> None:
    assert fastpath.fast_path_supported() is None


def test_every_fixture_gets_the_answer_the_asgi_route_gives(iris_csv: Path) -> None:
    """Each event three ways: whole in one segment (answered by ``_serve_whole``), split in the
    middle of its headers (parsed by httptools, answered in its callbacks), and through the ASGI
    route (TestClient); the answers and the windows must be the same."""
    whole_service, split_service, asgi_service = (
        started_service(iris_settings(iris_csv)) for _ in range(3)
    )
    whole, split = Running(whole_service), Running(split_service)
    whole_conn, split_conn = whole.connect(), split.connect()
    try:
        with TestClient(create_app(asgi_service, manage_lifecycle=False)) as client:
            posted = 0
            for fixture in sorted(FIXTURES.glob("*.json")):
                for path in ("/", "/v1/cloudevents"):
                    for headers, body in load_fixture(fixture.name):
                        raw = request(headers, body, path)
                        whole_conn.send(raw)
                        split_conn.send_split(raw, raw.index(b"\r\n\r\n") // 2)
                        sent = {k: v for k, v in headers.items() if k != "content-length"}
                        expected = client.post(path, content=body, headers=sent)
                        for conn in (whole_conn, split_conn):
                            status, answer_headers, answer = conn.response()
                            where = f"{fixture.name} {path}"
                            assert status == expected.status_code, where
                            assert json.loads(answer) == expected.json(), where
                            assert answer_headers["content-type"] == "application/json"
                        posted += 1
        assert (whole.fast, whole.parsed) == (posted, 0)
        assert (split.fast, split.parsed) == (posted, posted)
        for server in (whole, split):
            server.app.state.cloudevents.flush()
        client.app.state.cloudevents.flush()  # type: ignore[attr-defined]
        for name, monitor in asgi_service.monitors.items():
            assert whole_service.monitors[name].window_samples == monitor.window_samples, name
            assert split_service.monitors[name].window_samples == monitor.window_samples, name
        assert sum(m.window_samples for m in asgi_service.monitors.values()) > 0
    finally:
        for conn in (whole_conn, split_conn):
            conn.close()
        for server in (whole, split):
            server.stop()
        for svc in (whole_service, split_service, asgi_service):
            svc.stop()


def test_a_pair_on_one_keep_alive_connection_becomes_samples(
    running: Running, iris_service: DriftService
) -> None:
    conn = running.connect()
    try:
        for headers, body in kserve_pair():
            conn.send(request(headers, body))
        (s1, h1, b1), (s2, _, b2) = conn.response(), conn.response()
    finally:
        conn.close()
    assert (s1, json.loads(b1)) == (200, {"outcome": "waiting", "model": "iris"})
    assert (s2, json.loads(b2)) == (200, {"outcome": "paired", "model": "iris", "samples": 2})
    assert "date" in h1
    assert "connection" not in h1
    # the queued samples are flushed by the endpoint's timer on uvicorn's loop
    wait_until(lambda: iris_service.monitors["iris"].window_samples == 2, what="the flush")
    assert running.fast == 2


def test_pipelined_requests_are_answered_in_order_with_asgi_ones_between(
    running: Running,
) -> None:
    (h1, b1), (h2, b2) = kserve_pair()
    conn = running.connect()
    try:
        healthz = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
        conn.send(request(h1, b1) + healthz + request(h2, b2) + healthz)
        answers = [conn.response() for _ in range(4)]
    finally:
        conn.close()
    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    assert json.loads(answers[0][2])["outcome"] == "waiting"
    assert json.loads(answers[2][2])["outcome"] == "paired"
    assert answers[1][2] == answers[3][2] == HEALTHZ  # through FastAPI
    # the first event on the fast path; the second too, unless it came in while /healthz was
    # still being answered: then uvicorn queued it behind that one (in one segment, it does)
    assert 1 <= running.fast <= 2


def test_chunked_bodies_and_http_1_0(running: Running) -> None:
    (h1, b1), (h2, b2) = kserve_pair()
    conn = running.connect()
    try:
        conn.send(request(h1, b1, chunked=True))
        status, _, body = conn.response()
        assert (status, json.loads(body)["outcome"]) == (200, "waiting")
    finally:
        conn.close()
    conn = running.connect()
    try:
        conn.send(request(h2, b2, version="1.0"))
        status, headers, body = conn.response()
        assert (status, json.loads(body)["outcome"]) == (200, "paired")
        assert headers["connection"] == "close"
        assert conn.closed()
    finally:
        conn.close()
    assert running.fast == 2


def test_connection_close_is_honoured(running: Running) -> None:
    (h1, b1), _ = kserve_pair()
    conn = running.connect()
    try:
        conn.send(request(h1 | {"connection": "close"}, b1))
        status, headers, _ = conn.response()
        assert status == 200
        assert headers["connection"] == "close"
        assert conn.closed()
    finally:
        conn.close()


def test_bodies_over_the_limit_get_413_and_the_connection_stays_usable(
    running: Running, iris_service: DriftService
) -> None:
    limit = iris_service.settings.server.max_body_bytes
    (h1, b1), _ = kserve_pair()
    big = b'{"instances": [' + b"1," * limit + b"1]}"
    conn = running.connect()
    try:
        conn.send(request(h1, big))  # declared too large
        status, _, body = conn.response()
        assert status == 413
        assert json.loads(body)["error"] == "body_too_large"
        assert "exceed the limit" in json.loads(body)["detail"]
        conn.send(request(h1, big, chunked=True))  # found too large while reading
        status, _, body = conn.response()
        assert (status, json.loads(body)["outcome"]) == (413, "too_large")
        conn.send(request(h1, b1))  # the rest of the big bodies was read and dropped
        status, _, body = conn.response()
        assert (status, json.loads(body)["outcome"]) == (200, "waiting")
    finally:
        conn.close()
    value = iris_service.registry.get_sample_value(
        "drift_cloudevents_total", {"source": "kserve", "outcome": "too_large"}
    )
    assert value == 2


def test_expect_100_continue_and_other_methods_go_through_asgi(running: Running) -> None:
    (h1, b1), _ = kserve_pair()
    conn = running.connect()
    try:
        head, _, payload = request(h1 | {"expect": "100-continue"}, b1).partition(b"\r\n\r\n")
        conn.send(head + b"\r\n\r\n")
        status, _, _ = conn.response()
        assert status == 100  # uvicorn asks for the body once the app reads it
        conn.send(payload)
        status, _, body = conn.response()
        assert (status, json.loads(body)["outcome"]) == (200, "waiting")
        conn.send(b"GET /v1/cloudevents HTTP/1.1\r\nhost: x\r\n\r\n")
        status, headers, body = conn.response()
        assert status == 405
        assert headers["allow"] == "POST"
    finally:
        conn.close()
    assert running.fast == 0


def test_an_unexpected_error_is_a_logged_500_and_the_server_keeps_serving(
    running: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint: CloudEventsEndpoint = running.app.state.cloudevents_endpoint
    answer = endpoint.answer_parts
    calls = {"n": 0}

    def failing_once(attrs: Any, content_type: Any, body: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return answer(attrs, content_type, body)

    monkeypatch.setattr(endpoint, "answer_parts", failing_once)
    (h1, b1), _ = kserve_pair()
    conn = running.connect()
    try:
        with caplog.at_level(logging.ERROR, logger="drift.service"):
            conn.send(request(h1, b1))
            status, _, body = conn.response()
        assert status == 500
        assert json.loads(body)["error"] == "internal"
        assert "CloudEvents request failed" in caplog.text
        assert "boom" in caplog.text
        conn.send(request(h1, b1))
        status, _, body = conn.response()
        assert (status, json.loads(body)["outcome"]) == (200, "waiting")
    finally:
        conn.close()


def test_attributes_are_read_as_binary_attributes_reads_them(running: Running) -> None:
    """Header names in any case, values percent-decoded, trailing whitespace dropped."""
    (h1, b1), (h2, b2) = kserve_pair()
    odd = {k: v for k, v in h1.items() if k not in ("ce-inferenceservicename", "ce-type")}
    odd |= {"CE-InferenceServiceName": "sklearn%2Diris", "Ce-Type": h1["ce-type"] + "  "}
    conn = running.connect()
    try:
        conn.send(request(odd, b1) + request(h2, b2))
        (s1, _, r1), (s2, _, r2) = conn.response(), conn.response()
    finally:
        conn.close()
    assert (s1, json.loads(r1)) == (200, {"outcome": "waiting", "model": "iris"})
    assert (s2, json.loads(r2)["outcome"]) == (200, "paired")
    assert running.fast == 2


ODD_REQUESTS = {
    "two content-lengths": lambda h, b: request(h, b).replace(
        b"\r\n\r\n", b"\r\ncontent-length: %d\r\n\r\n" % len(b), 1
    ),
    "content-length and chunked": lambda h, b: request(h, b).replace(
        b"\r\n\r\n", b"\r\ntransfer-encoding: chunked\r\n\r\n", 1
    ),
    "space before the colon": lambda h, b: request(h, b).replace(
        b"ce-namespace:", b"ce-namespace :"
    ),
    "folded header line": lambda h, b: request(h, b).replace(
        b"\r\nce-namespace: ", b"\r\nce-namespace: x\r\n  "
    ),
    "empty header value": lambda h, b: request(h | {"ce-namespace": ""}, b),
    "a query string": lambda h, b: request(h, b, path="/v1/cloudevents?source=test"),
    "lower-case method": lambda h, b: b"post" + request(h, b)[4:],
    "content-length with a sign": lambda h, b: request(h, b).replace(
        b"content-length: ", b"content-length: +"
    ),
    "upgrade": lambda h, b: request(h | {"connection": "upgrade", "upgrade": "h2c"}, b),
    "tab before the value": lambda h, b: request(h, b).replace(b"ce-source: ", b"ce-source:\t"),
}

PLAIN_AFTER_ALL = {"empty header value", "tab before the value"}  # _serve_whole takes them


@pytest.mark.parametrize("case", sorted(ODD_REQUESTS))
def test_odd_requests_get_what_plain_uvicorn_answers(iris_csv: Path, case: str) -> None:
    """What ``_serve_whole`` does not take must reach httptools intact: the sidecar answers
    these as the same app under uvicorn's own httptools protocol does."""
    fast_service, plain_service = (started_service(iris_settings(iris_csv)) for _ in range(2))
    fast, plain = Running(fast_service), Running(plain_service, fast=False)
    answers = []
    try:
        for server in (fast, plain):
            conn = server.connect()
            try:
                replies = []
                for headers, body in kserve_pair():
                    conn.send(ODD_REQUESTS[case](headers, body))
                    try:
                        status, _, answer = conn.response()
                    except ConnectionError:
                        replies.append(("closed", None))
                        break
                    outcome = json.loads(answer).get("outcome") if status != 400 else answer
                    replies.append((status, outcome))
                    if status == 400:
                        break
                answers.append(replies)
            finally:
                conn.close()
    finally:
        for server in (fast, plain):
            server.stop()
        for svc in (fast_service, plain_service):
            svc.stop()
    assert answers[0] == answers[1]
    if case in PLAIN_AFTER_ALL:
        assert fast.parsed == 0
        assert fast.fast > 0
    else:  # left to httptools: parsed there (and then maybe answered by the fast path)
        assert fast.fast == fast.parsed


def test_large_or_many_valued_bodies_go_to_the_asgi_route_and_a_worker_thread(
    iris_csv: Path,
) -> None:
    """What ``cloudevents.inline`` refuses is not answered inside the protocol: a Content-Length
    over ``jsonbody.SLICE_BYTES`` goes to uvicorn at once, a chunked body when it grows past it,
    a small body of many values once it is read; the answers are the ASGI route's, and the
    connection stays in order for what follows."""
    base = iris_settings(iris_csv)
    server = base.server.model_copy(update={"max_body_bytes": 1024 * 1024})
    settings = base.model_copy(update={"server": server})
    fast_service, asgi_service = DriftService(settings), DriftService(settings)
    for svc in (fast_service, asgi_service):
        svc.start(load_in_background=False)
    fast = Running(fast_service)
    (h1, b1), (h2, b2) = kserve_pair()
    many = json.dumps({"instances": [[6.8, 2.8, 4.8, 1.4]] * 400}).encode()  # ~1,600 commas
    spaced = b1 + b" " * (jsonbody.SLICE_BYTES + 10)  # large, the same event
    cases = [
        ("many values", request(h1 | {"ce-id": "many"}, many)),
        ("large", request(h1 | {"ce-id": "large"}, spaced)),
        ("large, chunked", request(h1 | {"ce-id": "chunked"}, spaced, chunked=True)),
        ("small after them", request(h2 | {"ce-id": "large"}, b2)),
    ]
    conn = fast.connect()
    try:
        with TestClient(create_app(asgi_service, manage_lifecycle=False)) as client:
            for name, raw in cases:
                conn.send(raw)
                status, _, answer = conn.response()
                head, _, body = raw.partition(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:]
                )
                headers = {
                    k: v for k, v in headers.items() if k not in ("transfer-encoding", "host")
                }
                headers.pop("content-length", None)
                sent = spaced if "chunked" in name else body
                expected = client.post("/", content=sent, headers=headers)
                assert (status, json.loads(answer)) == (expected.status_code, expected.json()), name
        assert (fast.fast, fast.parsed) == (1, 2)  # "small after them" only; took 2, gave back
        wait_until(lambda: fast_service.monitors["iris"].window_samples == 2, what="the flush")
    finally:
        conn.close()
        fast.stop()
        for svc in (fast_service, asgi_service):
            svc.stop()
