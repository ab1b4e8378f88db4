"""Reference profiles survive a round trip through bytes, and foreign bytes are refused."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from drift.config import ColumnsConfig, DriftConfig
from drift.core.columns import CategoricalData, NumericData
from drift.core.engine import evaluate
from drift.core.profile_codec import FORMAT, ProfileFormatError, dump_profile, load_profile
from drift.core.reference import build_profile
from drift.core.window import CountWindow


def test_round_trip_gives_the_same_profile_and_the_same_drift() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": np.where(rng.random(500) < 0.1, np.nan, rng.normal(size=500)),
            "code": rng.choice([1, 2, 10], 500),
            "city": rng.choice(["a", "b", None], 500),
            "score": rng.random(500),
        }
    )
    roles = ColumnsConfig(numerical=["x"], categorical=["code", "city"], prediction="score")
    profile = build_profile(frame, roles, "data/ref.parquet@v3")
    again = load_profile(dump_profile(profile))
    assert again.source == profile.source
    assert again.rows == profile.rows
    assert list(again.columns) == list(profile.columns)
    for name, col in profile.columns.items():
        other = again.columns[name]
        assert (other.column_type, other.role) == (col.column_type, col.role)
        assert other.data.n_missing == col.data.n_missing
        if isinstance(col.data, NumericData):
            assert isinstance(other.data, NumericData)
            assert np.array_equal(other.data.values, col.data.values)
        else:
            assert isinstance(col.data, CategoricalData)
            assert isinstance(other.data, CategoricalData)
            assert other.data.categories == col.data.categories
            assert other.data.frequencies.tolist() == col.data.frequencies.tolist()
            assert other.data.numeric == col.data.numeric
    current = frame.sample(200, random_state=1)
    reports = []
    for p in (profile, again):
        window = CountWindow(p.column_types, 200, vocabularies=p.vocabularies)
        window.append({c: current[c].tolist() for c in p.columns}, 200)
        reports.append(evaluate("m", p, window.snapshot(), DriftConfig(), 200, now=0.0))
    first, second = (r.to_dict() for r in reports)
    first.pop("evaluation_seconds")
    second.pop("evaluation_seconds")
    assert first == second


def test_foreign_bytes_are_refused() -> None:
    with pytest.raises(ProfileFormatError, match="not a reference profile"):
        load_profile(b"definitely not npz")


def test_another_format_version_is_refused() -> None:
    buffer = io.BytesIO()
    header = {"format": "drift-sidecar/profile/0", "source": "s", "rows": 0, "columns": []}
    np.savez(buffer, header=np.array(json.dumps(header)))
    with pytest.raises(ProfileFormatError, match=f"expected '{FORMAT}'"):
        load_profile(buffer.getvalue())
