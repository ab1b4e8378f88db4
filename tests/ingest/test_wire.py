"""drift.ingest.wire: what a shipper produces validates back into the batch it accepted."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.core.columns import ColumnType, SampleSchema
from drift.ingest.labels import validate_labels
from drift.ingest.samples import validate_samples
from drift.ingest.wire import labels_messages, sample_rows, samples_messages, split

SCHEMA = SampleSchema(
    numerical=("age", "income"),
    categorical=("city",),
    prediction="score",
    prediction_type=ColumnType.NUMERICAL,
)

numbers = st.one_of(
    st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53)
)
categories = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
)
samples = st.lists(
    st.fixed_dictionaries(
        {
            "features": st.fixed_dictionaries(
                {"age": numbers, "income": numbers, "city": categories}
            ),
            "prediction": numbers,
        },
        optional={
            "id": st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 10**6)),
            "timestamp": st.floats(0, 2e9),
            "scores": st.floats(0, 1),
        },
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(samples)
def test_a_shipped_batch_validates_back_to_itself(body: list[dict[str, object]]) -> None:
    batch, rejections = validate_samples({"samples": body}, SCHEMA, 10**6, max_value_bytes=1024)
    assert rejections == []
    (message, count), *rest = list(samples_messages(batch, SCHEMA)) or [(b'{"samples":[]}', 0)]
    assert rest == []
    assert count == len(batch)
    again, rejected = validate_samples(orjson.loads(message), SCHEMA, 10**6, max_value_bytes=1024)
    assert rejected == []
    assert again.ids == batch.ids
    assert again.timestamps == batch.timestamps
    assert again.scores == batch.scores
    for name in (*SCHEMA.numerical, SCHEMA.prediction):
        np.testing.assert_array_equal(
            np.asarray(again.columns[name]), np.asarray(batch.columns[name])
        )
    assert list(again.columns["city"]) == list(batch.columns["city"])


def test_features_hold_only_the_models_columns() -> None:
    body = [{"features": {"age": 1, "income": 2.5, "city": "x", "ssn": "123"}, "prediction": 0.5}]
    batch, _ = validate_samples({"samples": body}, SCHEMA, 10, max_value_bytes=64)
    assert sample_rows(batch, SCHEMA) == [
        {"features": {"age": 1.0, "income": 2.5, "city": "x"}, "prediction": 0.5}
    ]


@pytest.mark.parametrize("max_bytes", [200, 1_000, 5_000])
def test_large_batches_are_split_under_the_message_limit(max_bytes: int) -> None:
    rows = [{"id": f"r{i}", "label": "x" * (i % 7)} for i in range(500)]
    messages = list(split("labels", rows, max_bytes))
    assert all(len(body) <= max_bytes for body, _ in messages)
    assert sum(count for _, count in messages) == 500
    joined = [r for body, _ in messages for r in orjson.loads(body)["labels"]]
    assert joined == rows


def test_labels_validate_back() -> None:
    labels, _ = validate_labels(
        {"labels": [{"id": 7, "label": 1}, {"id": "a", "label": "yes"}]}, 10, max_value_bytes=64
    )
    ((message, count),) = list(labels_messages(labels))
    assert count == 2
    again, rejected = validate_labels(orjson.loads(message), 10, max_value_bytes=64)
    assert (again, rejected) == (labels, [])
