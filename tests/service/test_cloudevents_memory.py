"""CloudEvents halves bounded in bytes: a flood of large halves that never pair, posted through
the in-process app, grows the Python heap (``tracemalloc``, after a garbage collection) by less
than ``cloudevents.max_pending_bytes`` and a fixed allowance, as docs/memory.md says;
the oldest halves are evicted and counted like those evicted for ``max_pending``; a half larger
than the whole bound is refused (413); a pairing id longer than ``server.max_value_bytes`` is
refused (400) naming its header or field. Normal pairs still pair, with the samples they gave
before.

The issue's attack: unmatched request halves of 9.7 MiB each, each held as decoded rows (~12
times the body). Here the bound is small (1 MiB) and the bodies 128 KiB, so that the flood
sends many times the bound in a few seconds; what holds for 1 MiB holds for the default 64 MiB
(the table's estimate is linear in what it holds, ``tests/ingest/test_pairing_bytes.py`` checks
it against ``tracemalloc``).
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from drift.config import settings_from_mapping
from drift.ingest.pairing import KeptRows, KeptValues, keep_rows
from drift.service.app import create_app
from drift.service.cloudevents import CloudEventsIngest
from drift.service.service import DriftService

MODEL = "flood"
OBJECTS = "objects"  # instances as objects keyed by feature name
FEATURES = ["a", "b", "c", "city"]
MAX_PENDING_BYTES = 2**20
MAX_VALUE_BYTES = 256
#: the interpreter's own growth while serving a few hundred requests (free lists, caches of the
#: web stack): fixed, whatever the flood's size (as in tests/service/test_memory_bounds.py)
ALLOWANCE = 96 * 1024
BOUND = MAX_PENDING_BYTES + ALLOWANCE
BODY_BYTES = 128 * 1024
REQUESTS, RESPONSES = 48, 16

COMMON = {
    "ce-specversion": "1.0",
    "ce-source": "http://localhost:9081/",
    "ce-inferenceservicename": MODEL,
    "ce-namespace": "default",
    "ce-component": "predictor",
    "ce-endpoint": "default",
    "content-type": "application/json",
}
REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"


@pytest.fixture
def flood(tmp_path: Path) -> Iterator[tuple[DriftService, TestClient]]:
    rng = np.random.default_rng(7)
    rows = 300
    path = tmp_path / "reference.csv"
    pd.DataFrame(
        {
            "a": rng.normal(0, 1, rows),
            "b": rng.normal(0, 1, rows),
            "c": rng.integers(0, 9, rows),
            "city": rng.choice(["berlin", "paris", "rome"], rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    ).to_csv(path, index=False)
    columns = {
        "numerical": ["a", "b", "c"],
        "categorical": ["city"],
        "prediction": "label",
        "prediction_type": "categorical",
    }
    settings = settings_from_mapping(
        {
            "server": {"max_body_bytes": 4 * 2**20},
            "cloudevents": {"max_pending_bytes": MAX_PENDING_BYTES},
            "models": {
                MODEL: {
                    "reference": {"path": str(path)},
                    "columns": columns,
                    "window": {"size": 100, "step": 100},
                    "kserve": {"features": FEATURES},
                },
                OBJECTS: {
                    "reference": {"path": str(path)},
                    "columns": columns,
                    "window": {"size": 100, "step": 100},
                    "kserve": {},
                },
            },
        }
    )
    assert settings.server.max_value_bytes == MAX_VALUE_BYTES  # the default
    assert settings.cloudevents.max_pending == 10_000  # the default: bytes bind first here
    service = DriftService(settings)
    # references only: no evaluator or ticker thread, so nothing but ingestion allocates
    assert service.load_references() == {MODEL, OBJECTS}
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        yield service, client


def instances(tag: str, size: int = BODY_BYTES) -> list[list[Any]]:
    """Positional instances with distinct categories, about ``size`` bytes of JSON: small in
    the body, large as Python objects (a float 24 bytes, a string ~55, a dict row ~360)."""
    n = size // len(json.dumps([1.5, -2.5, 3, f"{tag}-000000"]))
    return [[i / 8, -i / 4, i % 9, f"{tag}-{i:06d}"] for i in range(n)]


def request_body(tag: str, size: int = BODY_BYTES) -> bytes:
    return json.dumps({"instances": instances(tag, size)}, separators=(",", ":")).encode()


def response_body(tag: str, n: int) -> bytes:
    preds = [f"{tag}-class-{i:06d}" for i in range(n)]
    return json.dumps({"predictions": preds}, separators=(",", ":")).encode()


def post(client: TestClient, ce_type: str, ce_id: str, body: bytes) -> Any:
    return client.post(
        "/v1/cloudevents",
        content=body,
        headers=COMMON
        | {
            "ce-type": ce_type,
            "ce-id": ce_id,
        },
    )


def traced_after_gc() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def counter(service: DriftService, name: str, **labels: str) -> float:
    value = service.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def collector(client: TestClient) -> CloudEventsIngest:
    ingest: CloudEventsIngest = client.app.state.cloudevents  # type: ignore[attr-defined]
    return ingest


def test_a_flood_of_large_unpaired_halves_stays_under_the_documented_bound(
    flood: tuple[DriftService, TestClient],
) -> None:
    service, client = flood
    ingest = collector(client)
    table = ingest._table
    n_instances = len(instances("r"))
    # what one request half holds in its compact form, and what it would hold as decoded rows
    kept, kept_bytes = keep_rows(
        [dict(zip(FEATURES, row, strict=True)) for row in instances("r")],
        ("a", "b", "c"),
        ("city",),
        max_rows=100_000,
        max_str=MAX_VALUE_BYTES,
    )
    assert BODY_BYTES // 8 < kept_bytes < MAX_PENDING_BYTES // 2  # two or three fit
    tracemalloc.start()
    try:
        for r in range(2):  # warm-up (pairs: the table stays empty) for the web stack's caches
            post(client, REQUEST, f"warm-{r}", request_body(f"warm{r}"))
            post(client, RESPONSE, f"warm-{r}", response_body(f"warm{r}", n_instances))
        ingest.flush()
        assert len(table) == 0
        before = traced_after_gc()
        sent = 0
        for i in range(REQUESTS + RESPONSES):
            tag = f"h{i:03d}"
            if i % 4 == 3:  # a response whose request never comes
                body = response_body(tag, n_instances)
                answer = post(client, RESPONSE, f"lonely-response-{i}", body)
            else:  # a request whose response never comes
                body = request_body(tag)
                answer = post(client, REQUEST, f"lonely-request-{i}", body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["outcome"] == "waiting"
            sent += len(body)
        del body, answer
        grown = traced_after_gc() - before
    finally:
        tracemalloc.stop()
    assert sent > 5 * BOUND  # in bodies; kept as decoded rows, ~12 times that
    assert REQUESTS * kept_bytes > 15 * BOUND  # even compact, far over without the bound
    assert grown < BOUND, f"{grown:,} bytes grown, bound {BOUND:,}"

    # the table is full to its bytes, the evictions counted like those for max_pending
    assert MAX_PENDING_BYTES // 2 < table.bytes <= MAX_PENDING_BYTES
    assert 1 < len(table) < 6
    assert counter(service, "drift_cloudevents_pending") == len(table)
    for half, offered in (("request", REQUESTS), ("response", RESPONSES)):
        labels = {"source": "kserve", "half": half}
        evicted = counter(service, "drift_cloudevents_evicted_total", **labels)
        assert evicted > 0
        assert counter(service, "drift_cloudevents_expired_total", **labels) == evicted
        assert evicted <= offered
    evicted = sum(
        counter(service, "drift_cloudevents_evicted_total", source="kserve", half=half)
        for half in ("request", "response")
    )
    assert evicted + len(table) == REQUESTS + RESPONSES
    assert counter(service, "drift_cloudevents_total", source="kserve", outcome="waiting") == (
        REQUESTS + RESPONSES + 2
    )

    # what waits is the compact form: the features only, the numbers as float64
    waiting = [entry[2] for entry in table._entries.values()]
    assert any(isinstance(w.rows, KeptRows) for w in waiting)
    assert any(isinstance(w.preds, KeptValues) for w in waiting)
    for w in waiting:
        if w.rows is not None:
            assert isinstance(w.rows.numbers, array)
            assert w.rows.numbers.typecode == "d"
            assert w.rows.numerical == ("a", "b", "c")
    assert isinstance(kept.numbers, array)

    # under the flood, a pair still pairs (the youngest halves stay) and gives its samples
    assert post(client, REQUEST, "normal", request_body("n", 200)).json()["outcome"] == "waiting"
    paired = post(client, RESPONSE, "normal", response_body("n", len(instances("n", 200))))
    assert paired.json()["outcome"] == "paired"
    ingest.flush()
    assert service.monitors[MODEL].window_samples == len(instances("n", 200))


def test_a_half_over_the_whole_bound_is_refused_and_nothing_is_evicted(
    flood: tuple[DriftService, TestClient],
) -> None:
    service, client = flood
    table = collector(client)._table
    assert post(client, REQUEST, "small", request_body("s", 1000)).status_code == 200
    answer = post(client, REQUEST, "huge", request_body("h", 2 * 2**20))
    assert answer.status_code == 413
    body = answer.json()
    assert (body["outcome"], body["error"], body["field"]) == (
        "too_large",
        "body_too_large",
        "(body)",
    )
    assert "cloudevents.max_pending_bytes 1048576" in body["detail"]
    assert len(table) == 1  # the small one stays
    assert counter(service, "drift_requests_rejected_total", reason="body_too_large") == 1
    assert counter(service, "drift_cloudevents_total", source="kserve", outcome="too_large") == 1
    labels = {"source": "kserve", "half": "request"}
    assert counter(service, "drift_cloudevents_evicted_total", **labels) == 0
    # its response, when it comes, waits like any lonely half (and expires, counted)
    assert post(client, RESPONSE, "huge", response_body("h", 1)).json()["outcome"] == "waiting"
    assert len(table) == 2


def test_object_instances_keep_only_the_features_and_pair_as_before(
    flood: tuple[DriftService, TestClient],
) -> None:
    service, client = flood
    table = collector(client)._table
    rows = [
        {"a": 1, "b": 2.5, "c": None, "city": "paris", "junk": "x" * 100_000},
        {"a": 0.5, "b": -1.0, "c": 3, "city": "rome", "notes": {"deep": [1, 2, 3] * 1000}},
    ]
    headers = COMMON | {"ce-inferenceservicename": OBJECTS, "ce-type": REQUEST, "ce-id": "o"}
    answer = client.post(
        "/v1/cloudevents", content=json.dumps({"instances": rows}), headers=headers
    )
    assert answer.json() == {"outcome": "waiting", "model": OBJECTS}
    [(_, _, half, size)] = table._entries.values()
    kept = half.rows
    assert kept is not None
    assert (kept.numerical, kept.categorical) == (("a", "b", "c"), ("city",))
    assert kept.others == ["paris", "rome"]
    assert size < 2_000  # the junk is gone
    headers |= {"ce-type": RESPONSE}
    answer = client.post("/v1/cloudevents", content=response_body("o", 2), headers=headers)
    assert answer.json() == {"outcome": "paired", "model": OBJECTS, "samples": 2}
    collector(client).flush()
    frame = service.monitors[OBJECTS].window_frame()
    assert frame["a"].tolist() == [1.0, 0.5]
    assert frame["b"].tolist() == [2.5, -1.0]
    assert frame["c"].isna().tolist() == [True, False]
    assert frame["city"].tolist() == ["paris", "rome"]
    assert frame["label"].tolist() == ["o-class-000000", "o-class-000001"]


# the pairing id --------------------------------------------------------------------------


def test_an_over_long_pairing_id_is_refused_naming_the_header(
    flood: tuple[DriftService, TestClient],
) -> None:
    service, client = flood
    body = request_body("x", 200)
    longest = "i" * MAX_VALUE_BYTES
    assert post(client, REQUEST, longest, body).json()["outcome"] == "waiting"
    answer = post(client, REQUEST, longest + "i", body)
    assert answer.status_code == 400
    assert answer.json() == {
        "outcome": "invalid",
        "error": "invalid_event",
        "field": "ce-id",
        "detail": "257 bytes > 256 (server.max_value_bytes): too long to pair on",
    }
    # UTF-8 bytes, percent-encoded in the header as KServe's CloudEvents client sends them
    emoji = "%F0%9F%98%80" * 65  # 65 four-byte characters: 260 bytes
    answer = post(client, REQUEST, emoji, body)
    assert (answer.status_code, answer.json()["field"]) == (400, "ce-id")
    assert "260 bytes > 256" in answer.json()["detail"]
    assert collector(client).pending == 1
    assert counter(service, "drift_requests_rejected_total", reason="invalid_event") == 2
    assert counter(service, "drift_cloudevents_total", source="kserve", outcome="invalid") == 2


def test_an_over_long_id_in_structured_and_batch_mode_is_named_too(
    flood: tuple[DriftService, TestClient],
) -> None:
    _, client = flood
    event = {
        "specversion": "1.0",
        "type": REQUEST,
        "source": "http://localhost:9081/",
        "inferenceservicename": MODEL,
        "namespace": "default",
        "component": "predictor",
        "endpoint": "default",
        "data": {"instances": [[1.0, 2.0, 3, "paris"]]},
    }
    structured = event | {"id": "s" * 300}
    answer = client.post(
        "/", json=structured, headers={"content-type": "application/cloudevents+json"}
    )
    assert (answer.status_code, answer.json()["field"]) == (400, "id")
    batch = [event | {"id": "ok"}, event | {"id": "b" * 300}]
    answer = client.post(
        "/", json=batch, headers={"content-type": "application/cloudevents-batch+json"}
    )
    assert answer.status_code == 200
    ok, bad = answer.json()["events"]
    assert ok["outcome"] == "waiting"
    assert (bad["outcome"], bad["error"], bad["field"]) == ("invalid", "invalid_event", "[1].id")


def test_seldon_pairs_on_its_request_id_which_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "reference.csv"
    pd.DataFrame({"x": [0.1, 0.2, 0.3], "y": ["a", "b", "a"]}).to_csv(path, index=False)
    settings = settings_from_mapping(
        {
            "models": {
                "sel": {
                    "reference": {"path": str(path)},
                    "columns": {"numerical": ["x"], "prediction": "y"},
                    "seldon": {"features": ["x"]},
                }
            }
        }
    )
    service = DriftService(settings)
    service.load_references()
    ingest = CloudEventsIngest(service)
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "io.seldon.serving.inference.request",
        "ce-id": "fresh-id-per-event",
        "ce-inferenceservicename": "sel",
        "ce-modelid": "classifier",
        "content-type": "application/json",
    }
    body = b'{"data": {"ndarray": [[0.5]]}}'
    reply = ingest.handle(headers | {"ce-requestid": "p" * 257}, body)
    assert (reply.status, reply.body["field"]) == (400, "ce-requestid")
    long_ce_id = headers | {"ce-id": "c" * 1000, "ce-requestid": "puid"}
    assert ingest.handle(long_ce_id, body).body["outcome"] == "waiting"  # ce-id does not pair
