"""Fitted estimators to bytes and back, so they are cached beside the reference profile
(drift/sources/cache.py) and a restart neither reads the reference rows again nor refits.

The format is a NumPy ``.npz`` archive (no pickle), as the profile's (``profile_codec``): a JSON
header for the small values (classes, categories and their shares, thresholds, sampling-error
components; each float in its shortest exact spelling) and one array per large value: the
isotonic calibrators' points, the reconstruction's scaling and components, LightGBM's model text
of each DLE regressor (17 significant digits: the same trees read back), and the domain
classifier's reference sample column by column. Models read back estimate bit for bit what the
fitted ones estimate (tests/core/test_estimation_codec.py).

``FORMAT`` changes when the layout does, and when what a fit produces does (a fix to a fit must
not be hidden by estimators cached before it); bytes of another format, or not readable as this
one, raise ``EstimatorFormatError``, never a misread model. A value JSON cannot spell back with its
type (a category that is a date, bytes, ...) cannot be dumped: ``ValueError``, and the caller
does not cache.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from drift.core.estimation import CBPEModel, FloatArray, IsotonicCalibrator, Thresholds
from drift.core.loss_estimation import DLEModel, regressor_from_text, regressor_text
from drift.core.multivariate import ReconstructionModel

FORMAT = "drift-sidecar/estimators/1"

Scalar = None | bool | int | float | str
T = TypeVar("T")


class EstimatorFormatError(ValueError):
    """The bytes are not fitted estimators this version can read."""


@dataclass(frozen=True)
class FittedEstimators:
    """What is fitted on one reference: each part ``None`` when not enabled. The domain
    classifier's part is a reference sample (float columns, and object columns of ``str`` or
    ``None``) with the names of its numerical and categorical columns."""

    cbpe: CBPEModel | None = None
    dle: DLEModel | None = None
    reconstruction: ReconstructionModel | None = None
    domain_reference: pd.DataFrame | None = None
    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- dump


def dump_estimators(fitted: FittedEstimators) -> bytes:
    """The npz bytes of ``fitted``; ``ValueError`` for a value the format cannot hold."""
    arrays: dict[str, np.ndarray] = {}
    header: dict[str, Any] = {
        "format": FORMAT,
        "numerical": [_name(n) for n in fitted.numerical],
        "categorical": [_name(n) for n in fitted.categorical],
        "cbpe": None if fitted.cbpe is None else _dump_cbpe(fitted.cbpe, arrays),
        "dle": None if fitted.dle is None else _dump_dle(fitted.dle, arrays),
        "reconstruction": (
            None
            if fitted.reconstruction is None
            else _dump_reconstruction(fitted.reconstruction, arrays)
        ),
        "domain": (
            None
            if fitted.domain_reference is None
            else _dump_frame(fitted.domain_reference, arrays)
        ),
    }
    arrays["header"] = _utf8(json.dumps(header))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _scalar(value: Any) -> Scalar:
    """A value JSON spells back with its type (numpy scalars as their Python value)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or type(value) in (bool, int, float, str):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"cannot store {value!r} ({type(value).__name__}) with the estimators")


def _name(value: Any) -> str:
    """A column or metric name: a string."""
    if not isinstance(value, str):
        raise ValueError(f"cannot store the column name {value!r}: not a string")
    return str(value)


def _utf8(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _thresholds(t: Thresholds) -> list[float | None]:
    return [
        None if t.lower is None else float(t.lower),
        None if t.upper is None else float(t.upper),
    ]


def _floats(values: Any) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _dump_cbpe(model: CBPEModel, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    for i, calibrator in enumerate(model.calibrators):
        if calibrator is not None:
            arrays[f"cbpe_x_{i}"] = _floats(calibrator.x)
            arrays[f"cbpe_y_{i}"] = _floats(calibrator.y)
    return {
        "classes": [_scalar(c) for c in model.classes],
        "multiclass": bool(model.multiclass),
        "calibrated": [c is not None for c in model.calibrators],
        "metrics": [str(m) for m in model.metrics],
        "components": {
            m: [[float(a), float(b)] for a, b in parts] for m, parts in model.components.items()
        },
        "thresholds": {m: _thresholds(t) for m, t in model.thresholds.items()},
        "chunk_size": int(model.chunk_size),
    }


def _dump_dle(model: DLEModel, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    losses = list(model.regressors)
    for i, loss in enumerate(losses):
        arrays[f"dle_{i}"] = _utf8(regressor_text(model.regressors[loss]))
    return {
        "features": [_name(f) for f in model.features],
        "categorical": [_name(c) for c in model.categorical],
        "prediction": _name(model.prediction),
        "categories": [
            [_name(name), [_scalar(v) for v in known]] for name, known in model.categories.items()
        ],
        "fill": [[_name(name), _scalar(v)] for name, v in model.fill.items()],
        "losses": [str(loss) for loss in losses],
        "metrics": [str(m) for m in model.metrics],
        "components": {m: [float(a), float(b)] for m, (a, b) in model.components.items()},
        "thresholds": {m: _thresholds(t) for m, t in model.thresholds.items()},
        "chunk_size": int(model.chunk_size),
    }


def _dump_reconstruction(
    model: ReconstructionModel, arrays: dict[str, np.ndarray]
) -> dict[str, Any]:
    arrays["reconstruction_mean"] = _floats(model.mean)
    arrays["reconstruction_scale"] = _floats(model.scale)
    arrays["reconstruction_pca_mean"] = _floats(model.pca_mean)
    arrays["reconstruction_components"] = _floats(model.components)
    return {
        "columns": [_name(c) for c in model.columns],
        "categorical": [_name(c) for c in model.categorical],
        "fill": [[_name(name), _scalar(v)] for name, v in model.fill.items()],
        "frequencies": [
            [_name(name), [[_scalar(k), float(share)] for k, share in shares.items()]]
            for name, shares in model.frequencies.items()
        ],
        "thresholds": _thresholds(model.thresholds),
        "chunk_size": int(model.chunk_size),
    }


def _dump_frame(frame: pd.DataFrame, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Float columns as float arrays; object columns as JSON lists of their values."""
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        raise ValueError("the domain reference sample must have a RangeIndex from 0")
    kinds = []
    for i, name in enumerate(frame.columns):
        column = frame[name]
        if column.dtype == np.float64:
            kinds.append("float")
            arrays[f"domain_{i}"] = column.to_numpy(dtype=np.float64, copy=True)
        elif column.dtype == object:
            kinds.append("object")
            arrays[f"domain_{i}"] = _utf8(json.dumps([_scalar(v) for v in column.tolist()]))
        else:
            raise ValueError(f"cannot store the {column.dtype} column {name!r}")
    return {"columns": [_name(c) for c in frame.columns], "kinds": kinds, "rows": len(frame)}


# ----------------------------------------------------------------------------- load


def load_estimators(data: bytes) -> FittedEstimators:
    """The estimators ``dump_estimators`` wrote; ``EstimatorFormatError`` for anything else
    (another format, truncated or corrupt bytes, a header that does not fit its arrays)."""
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("not an npz archive")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(_text(arrays, "header"))
    except Exception as exc:  # zipfile and numpy fail in many ways on bytes that are not theirs
        # (BadZipFile, EOFError, a tokenizer error on a damaged array header, ...)
        raise EstimatorFormatError(f"not fitted estimators: {type(exc).__name__}: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise EstimatorFormatError(f"estimators format {found!r}, expected {FORMAT!r}")
    try:
        return FittedEstimators(
            cbpe=_part(header["cbpe"], arrays, _load_cbpe),
            dle=_part(header["dle"], arrays, _load_dle),
            reconstruction=_part(header["reconstruction"], arrays, _load_reconstruction),
            domain_reference=_part(header["domain"], arrays, _load_frame),
            numerical=tuple(_strings(header["numerical"])),
            categorical=tuple(_strings(header["categorical"])),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise EstimatorFormatError(f"unreadable estimators: {type(exc).__name__}: {exc}") from None


def _part(
    entry: Any, arrays: Mapping[str, np.ndarray], load: Callable[[Any, Mapping[str, Any]], T]
) -> T | None:
    return None if entry is None else load(entry, arrays)


def _text(arrays: Mapping[str, np.ndarray], name: str) -> str:
    array = arrays[name]
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError(f"{name} is not text")
    return array.tobytes().decode("utf-8", "surrogatepass")


def _vector(arrays: Mapping[str, np.ndarray], name: str, size: int | None = None) -> FloatArray:
    array = arrays[name]
    if array.dtype != np.float64 or array.ndim != 1 or (size is not None and len(array) != size):
        raise ValueError(f"{name}: a float vector of {size} values expected, got {array.shape}")
    return np.array(array, dtype=np.float64)  # a fresh, aligned copy


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list):
        raise ValueError(f"a list of names expected, got {values!r}")
    return [_loaded_name(v) for v in values]


def _loaded_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a name expected, got {value!r}")
    return value


def _checked_scalar(value: Any) -> Scalar:
    if value is None or type(value) in (bool, int, float, str):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"a scalar expected, got {value!r}")


def _scalars(values: Any) -> tuple[Scalar, ...]:
    if not isinstance(values, list):
        raise ValueError(f"a list expected, got {values!r}")
    return tuple(_checked_scalar(v) for v in values)


def _load_thresholds(entry: Any) -> Thresholds:
    lower, upper = entry
    return Thresholds(
        None if lower is None else float(lower), None if upper is None else float(upper)
    )


def _by_metric(entry: Any, metrics: Sequence[str], load: Callable[[Any], Any]) -> dict[str, Any]:
    if not isinstance(entry, dict) or list(entry) != list(metrics):
        raise ValueError(f"values for the metrics {list(metrics)} expected, got {entry!r}")
    return {m: load(entry[m]) for m in metrics}


def _pair(entry: Any) -> tuple[float, float]:
    a, b = entry
    return float(a), float(b)


def _load_cbpe(entry: Any, arrays: Mapping[str, np.ndarray]) -> CBPEModel:
    classes = _scalars(entry["classes"])
    multiclass = bool(entry["multiclass"])
    calibrated = entry["calibrated"]
    if len(calibrated) != (len(classes) if multiclass else 1):
        raise ValueError(f"{len(calibrated)} calibrators for {len(classes)} classes")
    calibrators: list[IsotonicCalibrator | None] = []
    for i, present in enumerate(calibrated):
        if not present:
            calibrators.append(None)
            continue
        x = _vector(arrays, f"cbpe_x_{i}")
        if len(x) == 0:
            raise ValueError(f"calibrator {i} has no points")
        calibrators.append(IsotonicCalibrator(x, _vector(arrays, f"cbpe_y_{i}", len(x))))
    metrics = tuple(_strings(entry["metrics"]))
    return CBPEModel(
        classes,
        multiclass,
        tuple(calibrators),
        metrics,
        _by_metric(entry["components"], metrics, lambda parts: tuple(_pair(p) for p in parts)),
        _by_metric(entry["thresholds"], metrics, _load_thresholds),
        int(entry["chunk_size"]),
    )


def _load_dle(entry: Any, arrays: Mapping[str, np.ndarray]) -> DLEModel:
    losses = _strings(entry["losses"])
    metrics = tuple(_strings(entry["metrics"]))
    return DLEModel(
        tuple(_strings(entry["features"])),
        tuple(_strings(entry["categorical"])),
        _loaded_name(entry["prediction"]),
        {_loaded_name(name): _scalars(known) for name, known in entry["categories"]},
        {_loaded_name(name): _checked_scalar(v) for name, v in entry["fill"]},
        {loss: regressor_from_text(_text(arrays, f"dle_{i}")) for i, loss in enumerate(losses)},
        metrics,
        _by_metric(entry["components"], metrics, _pair),
        _by_metric(entry["thresholds"], metrics, _load_thresholds),
        int(entry["chunk_size"]),
    )


def _load_reconstruction(entry: Any, arrays: Mapping[str, np.ndarray]) -> ReconstructionModel:
    columns = tuple(_strings(entry["columns"]))
    n = len(columns)
    components = arrays["reconstruction_components"]
    if components.dtype != np.float64 or components.ndim != 2 or components.shape[1] != n:
        raise ValueError(f"components of shape {components.shape} for {n} columns")
    return ReconstructionModel(
        columns,
        tuple(_strings(entry["categorical"])),
        {_loaded_name(name): _checked_scalar(v) for name, v in entry["fill"]},
        {
            _loaded_name(name): {_checked_scalar(k): float(share) for k, share in shares}
            for name, shares in entry["frequencies"]
        },
        _vector(arrays, "reconstruction_mean", n),
        _vector(arrays, "reconstruction_scale", n),
        _vector(arrays, "reconstruction_pca_mean", n),
        np.array(components, dtype=np.float64),
        _load_thresholds(entry["thresholds"]),
        int(entry["chunk_size"]),
    )


def _load_frame(entry: Any, arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    rows = int(entry["rows"])
    columns: dict[str, Any] = {}
    for i, (name, kind) in enumerate(zip(_strings(entry["columns"]), entry["kinds"], strict=True)):
        if kind == "float":
            columns[name] = _vector(arrays, f"domain_{i}", rows)
        elif kind == "object":
            values = json.loads(_text(arrays, f"domain_{i}"))
            if not isinstance(values, list) or len(values) != rows:
                raise ValueError(f"column {name!r}: {rows} values expected")
            column = np.empty(rows, dtype=object)
            column[:] = [_checked_scalar(v) for v in values]
            columns[name] = column
        else:
            raise ValueError(f"column {name!r} of unknown kind {kind!r}")
    return pd.DataFrame(columns, index=pd.RangeIndex(rows))
