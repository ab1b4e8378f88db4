"""Memory bounded in bytes: every table that grows with traffic, flooded through the in-process
app with the largest values ingestion lets through (256-byte categories, predictions, ids and
labels, all distinct, and scores objects with many classes), stays under the bound docs/memory.md
documents ("Memory bounds"), measured with ``tracemalloc`` after a garbage collection; values
over ``server.max_value_bytes`` are rejected one by one, named in the 422 and counted.

The caps are small here (``max_categories: 50``, ``max_pending_bytes: 64 KiB``) so that the
flood fills every table many times over in a few seconds: the formulas are linear in them, so
what holds for 50 categories and 64 KiB holds for the defaults. The flood sends more than 15
times the bound in distinct values (9 MB); without the caps all of it would be kept.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from drift.config import settings_from_mapping
from drift.service.app import create_app
from drift.service.service import DriftService

MODEL = "flood"
MAX_VALUE_BYTES = 256
MAX_CATEGORIES = 50
MAX_PENDING_BYTES = 64 * 1024
#: docs/memory.md's bytes per vocabulary entry: a 256-byte value as Python stores it at worst (one
#: 4-byte character among 252 ASCII ones: 4 x 253 + 76 = 1,088 bytes) and its code dict slot at
#: the worst dict size, the list slot and the code as an int (at most 112), rounded up
VOCABULARY_ENTRY_BYTES = 1200
#: categorical columns with a vocabulary: city, device and the categorical prediction
VOCABULARIES = 3
#: the interpreter's own growth while serving a few hundred requests (free lists, caches of the
#: web stack): fixed, whatever the flood's size
ALLOWANCE = 96 * 1024
BOUND = (
    VOCABULARIES * (MAX_CATEGORIES + 1) * VOCABULARY_ENTRY_BYTES  # + 1: __other__
    + 4 * MAX_PENDING_BYTES  # waiting predictions, waiting labels, joined ids, joined pairs
    + ALLOWANCE
)
ROUNDS = 60
PER_ROUND = 100


def longest(tag: str, i: int, emoji: bool = False) -> str:
    """A distinct value of exactly ``MAX_VALUE_BYTES`` in UTF-8; with ``emoji`` the largest
    Python string of that many bytes (one 4-byte character makes Python store all 253 of them
    in 4 bytes each: 1,088 bytes)."""
    head = f"{tag}-{i:07d}-"
    if emoji:
        return head + "😀" + "x" * (MAX_VALUE_BYTES - len(head) - 4)
    return head + "x" * (MAX_VALUE_BYTES - len(head))


@pytest.fixture
def flood_service(tmp_path: Path) -> Iterator[tuple[DriftService, TestClient]]:
    rng = np.random.default_rng(5)
    rows = 300
    path = tmp_path / "reference.csv"
    pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "city": rng.choice(["berlin", "paris", "rome"], rows),
            "device": rng.choice(["ios", "android"], rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    ).to_csv(path, index=False)
    settings = settings_from_mapping(
        {
            "server": {"max_body_bytes": 4 * 2**20, "max_samples_per_request": 1000},
            "models": {
                MODEL: {
                    "reference": {"path": str(path)},
                    "columns": {
                        "numerical": ["age"],
                        "categorical": ["city", "device"],
                        "prediction": "label",
                        "prediction_type": "categorical",
                    },
                    "window": {"size": 100, "step": 100},
                    "drift": {"max_categories": MAX_CATEGORIES},
                    "performance": {
                        "label_ttl_seconds": 86_400,
                        "max_pending_bytes": MAX_PENDING_BYTES,
                    },
                }
            },
        }
    )
    assert settings.server.max_value_bytes == MAX_VALUE_BYTES  # the default
    service = DriftService(settings)
    # references only: no evaluator or ticker thread, so nothing but ingestion allocates
    assert service.load_references() == {MODEL}
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        yield service, client


def samples_of(round_: int) -> list[dict[str, Any]]:
    out = []
    for k in range(PER_ROUND):
        i = round_ * PER_ROUND + k
        out.append(
            {
                "id": longest("id", i),
                "features": {
                    "age": float(k),
                    "city": longest("city", i, emoji=k % 2 == 0),
                    "device": longest("device", i),
                },
                "prediction": longest("pred", i, emoji=k % 2 == 1),
                "scores": 0.5,
            }
        )
    return out


def labels_of(round_: int) -> list[dict[str, Any]]:
    """Half join this round's predictions, half wait for predictions that never come."""
    out = []
    for k in range(PER_ROUND):
        i = round_ * PER_ROUND + k
        sample_id = longest("id", i) if k % 2 == 0 else longest("ghost", i)
        out.append({"id": sample_id, "label": longest("label", i)})
    return out


def many_classes(round_: int) -> list[dict[str, Any]]:
    """Samples whose scores have 100 classes of 256 bytes: one alone is over the cap."""
    classes = [longest(f"class{round_}", c) for c in range(100)]
    scores = {name: 0.01 for name in classes}
    return [
        {
            "id": longest(f"big{round_}", k),
            "features": {"age": 1.0, "city": "paris", "device": "ios"},
            "prediction": "yes",
            "scores": scores,
        }
        for k in range(3)
    ]


def traced_after_gc() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_a_flood_of_the_largest_values_stays_under_the_documented_bound(
    flood_service: tuple[DriftService, TestClient],
) -> None:
    service, client = flood_service
    samples_url, labels_url = f"/v1/models/{MODEL}/samples", f"/v1/models/{MODEL}/labels"
    tracemalloc.start()
    try:
        # warm-up: the first requests build the web stack's caches
        for r in range(2):
            assert (
                client.post(samples_url, json={"samples": samples_of(1000 + r)}).status_code == 200
            )
            assert client.post(labels_url, json={"labels": labels_of(1000 + r)}).status_code == 200
        before = traced_after_gc()
        sent = 0
        for r in range(ROUNDS):
            body = {"samples": samples_of(r) + (many_classes(r) if r % 10 == 0 else [])}
            answer = client.post(samples_url, json=body)
            assert answer.status_code == 200, answer.text
            answer = client.post(labels_url, json={"labels": labels_of(r)})
            assert answer.status_code == 200, answer.text
            sent += PER_ROUND * 6 * MAX_VALUE_BYTES  # id, city, device, prediction; id, label
        grown = traced_after_gc() - before
    finally:
        tracemalloc.stop()
    assert sent > 15 * BOUND  # kept as it came, the flood would be far over the bound
    assert grown < BOUND, f"{grown:,} bytes grown, bound {BOUND:,}"

    # every table is full, at its bound, and the evictions are counted
    monitor = service.monitors[MODEL]
    view = monitor._window.view() if monitor._window is not None else None
    assert view is not None
    for column in ("city", "device", "label"):
        reference = len(monitor.profile.vocabularies[column]) if monitor.profile else 0
        assert len(view.vocabularies[column]) == reference + MAX_CATEGORIES + 1  # + __other__
    performance = service.performance[MODEL]
    join = performance._join
    assert all(size <= MAX_PENDING_BYTES for size in join.memory_bytes().values())
    assert all(size > MAX_PENDING_BYTES // 2 for size in join.memory_bytes().values())
    counters = performance.view().counters
    assert counters.evicted_predictions > 0
    assert counters.evicted_labels > 0
    assert counters.matched > 0  # fewer than sent: the byte cap evicted predictions first


def test_over_long_values_are_rejected_named_and_counted(
    flood_service: tuple[DriftService, TestClient],
) -> None:
    service, client = flood_service
    good = {"id": "r1", "features": {"age": 1.0, "city": "paris", "device": "ios"}}
    good |= {"prediction": "yes"}
    samples = [
        good,
        good | {"features": {"age": 1.0, "city": "c" * 300, "device": "ios"}},
        good | {"id": "i" * 10_000},
        good | {"prediction": "ü" * 129},
        good | {"scores": {"yes": 0.5, "n" * 257: 0.5}},
        good | {"id": "r2", "prediction": "😀" * 64},  # 256 bytes: accepted
    ]
    answer = client.post(f"/v1/models/{MODEL}/samples", json={"samples": samples})
    assert answer.status_code == 422
    assert answer.json() == {
        "accepted": 2,
        "rejected": [
            {
                "index": 1,
                "field": "features.city",
                "reason": "too_long",
                "detail": "300 bytes > 256",
            },
            {"index": 2, "field": "id", "reason": "too_long", "detail": "10000 bytes > 256"},
            {"index": 3, "field": "prediction", "reason": "too_long", "detail": "258 bytes > 256"},
            {
                "index": 4,
                "field": "scores",
                "reason": "too_long",
                "detail": "a class name of 257 bytes > 256",
            },
        ],
    }
    rejected = service.registry.get_sample_value(
        "drift_samples_rejected_total", {"model": MODEL, "reason": "too_long"}
    )
    assert rejected == 4
    labels = [{"id": "r1", "label": "yes"}, {"id": "r2", "label": "n" * 300}]
    answer = client.post(f"/v1/models/{MODEL}/labels", json={"labels": labels})
    assert answer.status_code == 422
    assert answer.json()["rejected"] == [
        {"index": 1, "field": "label", "reason": "too_long", "detail": "300 bytes > 256"}
    ]
    invalid = service.registry.get_sample_value(
        "drift_labels_total", {"model": MODEL, "outcome": "invalid"}
    )
    assert invalid == 1
