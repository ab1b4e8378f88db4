"""Reference profiles to bytes and back, so a profile can be cached on disk and reused.

The format is a NumPy ``.npz`` archive (no pickle): one JSON header plus one array per column
(sorted values, or categories and their counts). ``FORMAT`` changes when the layout does; a
cached profile of another format is rejected, never misread.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from drift.core.calibration import Calibration
from drift.core.columns import CategoricalData, ColumnType, NumericData
from drift.core.performance import Performance, Task
from drift.core.reference import ColumnProfile, ReferenceProfile, Role

#: 2: calibrated thresholds per window size (``Calibration.sizes``), one threshold before
FORMAT = "drift-sidecar/profile/2"


class ProfileFormatError(ValueError):
    """The bytes are not a profile this version can read."""


def dump_profile(profile: ReferenceProfile) -> bytes:
    header: dict[str, Any] = {"format": FORMAT, "source": profile.source, "rows": profile.rows}
    columns: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for i, col in enumerate(profile.columns.values()):
        entry: dict[str, Any] = {
            "name": col.name,
            "type": col.column_type.value,
            "role": col.role.value,
            "n_missing": col.data.n_missing,
        }
        if isinstance(col.data, NumericData):
            arrays[f"values_{i}"] = np.asarray(col.data.values)
        else:
            arrays[f"categories_{i}"] = np.array(col.data.categories, dtype=np.str_)
            arrays[f"frequencies_{i}"] = np.asarray(col.data.frequencies)
            entry["numeric"] = col.data.numeric
        columns.append(entry)
    header["columns"] = columns
    if profile.performance is not None:
        perf = profile.performance
        header["performance"] = {
            "task": perf.task.value,
            "metrics": dict(perf.metrics),
            "samples": perf.samples,
            "skipped": perf.skipped,
        }
    if profile.calibration is not None:
        header["calibration"] = profile.calibration.to_json()
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array(json.dumps(header)), **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def load_profile(data: bytes) -> ReferenceProfile:
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        header = json.loads(str(archive["header"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ProfileFormatError(f"not a reference profile: {exc}") from None
    if header.get("format") != FORMAT:
        raise ProfileFormatError(f"profile format {header.get('format')!r}, expected {FORMAT!r}")
    columns: dict[str, ColumnProfile] = {}
    for i, entry in enumerate(header["columns"]):
        kind = ColumnType(entry["type"])
        if f"values_{i}" in archive:
            values = np.asarray(archive[f"values_{i}"], dtype=np.float64)  # a fresh array
            column_data: NumericData | CategoricalData = NumericData.from_sorted(
                values, int(entry["n_missing"])
            )
        else:
            freq = np.array(archive[f"frequencies_{i}"], dtype=np.int64)
            freq.setflags(write=False)
            column_data = CategoricalData(
                tuple(str(c) for c in archive[f"categories_{i}"]),
                freq,
                int(entry["n_missing"]),
                bool(entry.get("numeric", False)),
            )
        columns[entry["name"]] = ColumnProfile(
            entry["name"], kind, Role(entry["role"]), column_data
        )
    perf = header.get("performance")
    performance = (
        None
        if perf is None
        else Performance(
            Task(perf["task"]),
            {str(k): float(v) for k, v in perf["metrics"].items()},
            int(perf["samples"]),
            int(perf["skipped"]),
        )
    )
    try:
        saved = header.get("calibration")
        calibration = None if saved is None else Calibration.from_json(saved)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileFormatError(f"unreadable calibration: {exc}") from None
    return ReferenceProfile(
        source=str(header["source"]),
        rows=int(header["rows"]),
        columns=columns,
        performance=performance,
        calibration=calibration,
    )
