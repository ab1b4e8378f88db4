"""Accepted samples and labels back into the HTTP bodies, for the fleet's Kafka messages.

A shipper validates what it is sent exactly as a stand-alone sidecar does, then produces what
it accepted as the body of the same route: ``{"samples": [...]}`` or ``{"labels": [...]}``. The
aggregator validates the message again with ``validate_samples`` / ``validate_labels`` and gets
the same batch back: features hold only the model's columns, numbers as JSON numbers (NaN as
``null``), categories in their canonical spelling (which is its own canonical spelling), ids as
strings, timestamps as Unix seconds, scores as sent. ``samples_messages`` splits a large batch so
that no message exceeds ``max_bytes`` (Kafka refuses messages over ``message.max.bytes``, 1 MB by
default).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from drift.core.columns import SampleSchema
from drift.ingest.samples import Batch

#: a message stays below Kafka's default ``message.max.bytes`` (1,000,000) with room for headers
MAX_MESSAGE_BYTES = 900_000


def _numbers(values: Any) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def sample_rows(batch: Batch, schema: SampleSchema) -> list[dict[str, Any]]:
    """The batch as JSON-able samples (the body of ``POST /v1/models/{model}/samples``)."""
    n = len(batch)
    features: dict[str, Sequence[Any]] = {}
    for name in schema.numerical:
        features[name] = _numbers(batch.columns[name])
    for name in schema.categorical:
        features[name] = list(batch.columns[name])
    names = list(features)
    columns = [features[name] for name in names]
    rows: list[dict[str, Any]] = (
        [{"features": dict(zip(names, vals, strict=True))} for vals in zip(*columns, strict=True)]
        if columns
        else [{"features": {}} for _ in range(n)]
    )
    if schema.prediction is not None:
        column = batch.columns[schema.prediction]
        predictions: Sequence[Any] = (
            column if isinstance(column, list | tuple) else _numbers(column)
        )
        for row, value in zip(rows, predictions, strict=True):
            row["prediction"] = value
    for row, sample_id, at, scores in zip(
        rows, batch.ids, batch.timestamps, batch.scores, strict=True
    ):
        if sample_id is not None:
            row["id"] = sample_id
        if at is not None:
            row["timestamp"] = at
        if scores is not None:
            row["scores"] = scores
    return rows


def samples_messages(
    batch: Batch, schema: SampleSchema, max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[tuple[bytes, int]]:
    """``(message, samples in it)`` for the batch, each message at most ``max_bytes`` (a single
    sample larger than that is one message of its own: the broker decides)."""
    yield from split("samples", sample_rows(batch, schema), max_bytes)


def labels_messages(
    labels: Sequence[tuple[str, object]], max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[tuple[bytes, int]]:
    """``(message, labels in it)`` for validated ``(id, label)`` pairs."""
    yield from split("labels", [{"id": i, "label": label} for i, label in labels], max_bytes)


def split(
    key: str, rows: list[dict[str, Any]], max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[tuple[bytes, int]]:
    """``{key: rows}`` as messages of at most ``max_bytes`` each, with their row counts."""
    start = 0
    while start < len(rows):
        count = len(rows) - start
        while True:
            body = orjson.dumps({key: rows[start : start + count]})
            if len(body) <= max_bytes or count == 1:
                break
            # the next try: as many rows as fit at this chunk's bytes per row, with a margin
            count = max(1, min(count - 1, int(count * max_bytes / len(body) * 0.95)))
        yield body, count
        start += count
