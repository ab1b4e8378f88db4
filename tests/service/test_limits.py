"""server.max_inflight_bytes: the bytes of request bodies being read, bounded for the process.

A real uvicorn server (the fast path on, as the sidecar runs) with a budget of five bodies of
``max_body_bytes``; slow clients hold it by sending headers and half their body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drift.config import settings_from_mapping
from drift.errors import ConfigError
from drift.service.limits import BodyBudget
from drift.service.service import DriftService
from tests.conftest import wait_until
from tests.service.test_cloudevents_api import iris_settings
from tests.service.test_fastpath import Connection, Running

BODY = 20_000  # iris_settings' server.max_body_bytes
BUDGET = 5 * BODY


def test_the_budget_counts_what_is_taken_and_given_back() -> None:
    budget = BodyBudget(100)
    assert budget.take(60)
    assert not budget.take(41)
    assert budget.used == 60
    assert budget.take(40)
    budget.give_back(60)
    budget.give_back(40)
    assert budget.used == 0


def test_it_must_hold_one_body() -> None:
    with pytest.raises(ConfigError, match="max_inflight_bytes"):
        settings_from_mapping(
            {
                "server": {"max_body_bytes": 1000, "max_inflight_bytes": 999},
                "models": {"m": {"reference": {"path": "r.csv"}}},
            }
        )


@pytest.fixture
def running(iris_csv: Path) -> Iterator[Running]:
    settings = iris_settings(iris_csv)
    server = settings.server.model_copy(update={"max_inflight_bytes": BUDGET})
    svc = DriftService(settings.model_copy(update={"server": server}))
    svc.start(load_in_background=False)
    running = Running(svc)
    try:
        yield running
    finally:
        running.stop()
        svc.stop()


def head(path: str, length: int | None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", "content-type: application/json"]
    lines.append(
        f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def overloaded(running: Running) -> float:
    service: DriftService = running.app.state.service
    value = service.registry.get_sample_value(
        "drift_requests_rejected_total", {"reason": "overloaded"}
    )
    assert value is not None
    return value


def test_bodies_past_the_budget_get_503_and_the_budget_comes_back(running: Running) -> None:
    budget: BodyBudget = running.app.state.body_budget
    body = b'{"samples": [' + b" " * (BODY - 15) + b"]}"
    assert len(body) == BODY
    path = "/v1/models/iris/samples"
    slow = [running.connect() for _ in range(5)]
    for conn in slow:  # each reserves its declared length before its body is read
        conn.send(head(path, BODY) + body[: BODY // 2])
    wait_until(lambda: budget.used == BUDGET, what="five bodies reserved")
    before = overloaded(running)

    extra = running.connect()
    extra.send(head(path, BODY) + body)
    status, headers, content = extra.response()
    assert status == 503, content
    assert headers["retry-after"] == "1"
    assert b'"error":"overloaded"' in content
    assert extra.closed()  # its body was not read: the connection is not reused

    chunked = running.connect()  # no Content-Length: counted as it arrives, refused the same
    chunked.send(head(path, None) + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    status, headers, content = chunked.response()
    assert status == 503, content
    assert headers["retry-after"] == "1"
    assert overloaded(running) - before == 2

    for conn in slow:  # the slow ones finish: answered as usual
        conn.send(body[BODY // 2 :])
        status, _, content = conn.response()
        assert status == 200, content
    wait_until(lambda: budget.used == 0, what="the budget given back")
    fine = running.connect()
    fine.send(head(path, BODY) + body)
    assert fine.response()[0] == 200
    for conn in [*slow, extra, chunked, fine]:
        conn.close()


def test_get_requests_take_nothing(running: Running) -> None:
    budget: BodyBudget = running.app.state.body_budget
    conn: Connection = running.connect()
    conn.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    assert conn.response()[0] == 200
    assert budget.used == 0
    conn.close()
