"""CloudEvents from payload loggers: parsing and decoding of the inference payloads. Pure.

What the loggers send (researched in their sources; see ``tests/fixtures/cloudevents/README.md``):

* KServe's agent (``pkg/logger/handler.go``, ``worker.go``): CloudEvents 1.0 in HTTP binary mode,
  ``ce-type`` ``org.kubeflow.serving.inference.request`` / ``...response``, the same ``ce-id`` on
  both (the inference request's own ``Ce-Id`` header, else a random UUID), extensions
  ``inferenceservicename``, ``namespace``, ``component``, ``endpoint``, ``metadata`` (JSON) and
  optionally ``annotations``; the body is the raw request / response body and ``Content-Type`` is
  copied from the inference request. Only responses with status 200 are logged.
* Seldon Core v1's executor (``executor/logger/worker.go``, ``predictor_process.go``): binary mode,
  ``io.seldon.serving.inference.request`` / ``...response`` / ``io.seldon.serving.feedback``, a
  fresh ``ce-id`` per event; the pair shares ``ce-requestid`` (the Seldon-Puid), with
  ``modelid`` (the graph node), ``inferenceservicename``, ``namespace``, ``endpoint``,
  ``protocol``.

Parsing accepts binary mode, structured mode (``application/cloudevents+json``, ``data`` or
``data_base64``) and batch mode (``application/cloudevents-batch+json``). Decoding turns a request
body into feature rows (dicts) and a response body into one prediction per row, for the KServe v1
(``instances``/``predictions``), open inference v2 (``inputs``/``outputs`` tensors) and Seldon
(``data.ndarray``/``data.tensor``/``jsonData``) payloads, whoever logged them.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import unquote

from drift.errors import DriftError, InvalidRequest
from drift.ingest import jsonbody
from drift.ingest.samples import oversize

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


class Source(StrEnum):
    """Who sent an event; the ``source`` label of the ``drift_cloudevents_*`` metrics."""

    KSERVE = "kserve"
    SELDON = "seldon"
    UNKNOWN = "unknown"


class Kind(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    FEEDBACK = "feedback"
    OTHER = "other"  # a type of a known sender that carries no samples (outlier, drift, ...)


TYPES: dict[str, tuple[Source, Kind]] = {
    "org.kubeflow.serving.inference.request": (Source.KSERVE, Kind.REQUEST),
    "org.kubeflow.serving.inference.response": (Source.KSERVE, Kind.RESPONSE),
    "io.seldon.serving.inference.request": (Source.SELDON, Kind.REQUEST),
    "io.seldon.serving.inference.response": (Source.SELDON, Kind.RESPONSE),
    "io.seldon.serving.feedback": (Source.SELDON, Kind.FEEDBACK),
}


def classify(ce_type: str | None) -> tuple[Source, Kind]:
    if ce_type is None:
        return Source.UNKNOWN, Kind.OTHER
    known = TYPES.get(ce_type)
    if known is not None:
        return known
    if ce_type.startswith("org.kubeflow.serving."):
        return Source.KSERVE, Kind.OTHER
    if ce_type.startswith("io.seldon.serving."):
        return Source.SELDON, Kind.OTHER
    return Source.UNKNOWN, Kind.OTHER


class CloudEvent(NamedTuple):
    """The attributes the sidecar uses, and the decoded JSON data (a tuple: two are made per
    prediction, so construction cost matters)."""

    id: str
    type: str
    source: Source
    kind: Kind
    correlation: str  # pairs request and response: ce-id (KServe), ce-requestid (Seldon)
    service: str | None  # inferenceservicename: the InferenceService / SeldonDeployment
    namespace: str | None
    unit: str  # KServe component (predictor, transformer) or Seldon modelid (graph node)
    endpoint: str  # default, canary, ...
    status: int | None  # statuscode extension, when a sender reports the response status
    data: Any

    @property
    def failed(self) -> bool:
        """A response that reports a non-2xx status: it carries no prediction."""
        return self.status is not None and not 200 <= self.status < 300


def _bad(field: str, detail: str) -> InvalidRequest:
    return InvalidRequest(400, "invalid_event", field, detail)


def _loads(raw: bytes | str, field: str, content_type: str | None) -> Any:
    try:
        # UTF-8 as good as always; UTF-16/32 bodies fall back to json.loads, which detects them
        return jsonbody.loads(raw)
    except jsonbody.InvalidJSON as exc:
        kind = f" (content-type {content_type[:100]})" if content_type else ""
        if exc.field != "(body)":  # a value inside the data: a lone surrogate
            sep = "" if exc.field.startswith("[") else "."
            inner = exc.field if field == "(body)" else f"{field}{sep}{exc.field}"
            raise InvalidRequest(400, "invalid_json", inner, exc.detail) from None
        raise InvalidRequest(
            400,
            "invalid_json",
            field,
            f"not JSON{kind}: {exc.detail}; only JSON payloads are supported",
        ) from None


def _require(attrs: Mapping[str, str], prefix: str) -> None:
    for required in ("specversion", "id", "type"):
        if not attrs.get(required):
            raise _bad(prefix + required, "required CloudEvents attribute is missing")


_PAIRED_KINDS = (Kind.REQUEST, Kind.RESPONSE)


def _pairing_id(
    attrs: Mapping[str, Any], source: Source, kind: Kind, prefix: str, limit: int | None
) -> None:
    """Refuse a request or response whose pairing id (``id``; Seldon: ``requestid``) is over
    ``limit`` bytes in UTF-8 (``server.max_value_bytes``): it would be a key of the pending
    table and the sample id, which validation would refuse anyway."""
    if limit is None or kind not in _PAIRED_KINDS:
        return
    name = "requestid" if source is Source.SELDON else "id"
    value = attrs.get(name)
    size = oversize(value, limit) if isinstance(value, str) else None
    if size is not None:
        detail = f"{size} bytes > {limit} (server.max_value_bytes): too long to pair on"
        raise _bad(prefix + name, detail)


def _event(attrs: Mapping[str, Any], data: Any, prefix: str) -> CloudEvent:
    """Build the event from its attributes (lower-case names without ``ce-``); ``prefix`` is
    how error messages name an attribute (``ce-`` in binary mode, ``""`` in structured mode)."""
    ce_type: str = attrs["type"]
    source, kind = classify(ce_type)
    correlation = attrs["id"]
    if source is Source.SELDON and kind is not Kind.OTHER:
        correlation = attrs.get("requestid")
        if not isinstance(correlation, str) or not correlation:
            raise _bad(prefix + "requestid", "Seldon events pair on ce-requestid; it is missing")
    status_text = attrs.get("statuscode")
    status: int | None = None
    if status_text is not None:
        try:
            status = int(status_text)
        except (TypeError, ValueError):
            raise _bad(prefix + "statuscode", f"not an HTTP status: {status_text!r}") from None
    unit = attrs.get("modelid" if source is Source.SELDON else "component")
    return CloudEvent(
        id=attrs["id"],
        type=ce_type,
        source=source,
        kind=kind,
        correlation=correlation,
        service=attrs.get("inferenceservicename") or None,
        namespace=attrs.get("namespace") or None,
        unit=unit if isinstance(unit, str) else "",
        endpoint=str(attrs.get("endpoint") or ""),
        status=status,
        data=data,
    )


def binary_attributes(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[dict[str, str], str | None]:
    """One pass over raw (ASGI: lower-case) headers: the ``ce-*`` attributes without the
    prefix, percent-decoded, and the Content-Type."""
    attrs: dict[str, str] = {}
    content_type = None
    for name, value in headers:
        if name[:3] == b"ce-":
            text = value.decode("latin-1")
            attrs[name[3:].decode("latin-1")] = unquote(text) if "%" in text else text
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    return attrs, content_type


def parse_binary(
    headers: Mapping[str, str], body: bytes, *, max_id_bytes: int | None = None
) -> CloudEvent:
    """Binary mode: attributes in ``ce-*`` headers (lower-case names, as ASGI gives them),
    ``Content-Type`` and the body are the data. Header values are percent-decoded.
    ``max_id_bytes``: a request or response whose pairing id is longer is refused (400)."""
    attrs = {
        name[3:]: (unquote(value) if "%" in value else value)
        for name, value in headers.items()
        if name.startswith("ce-")
    }
    return parse_attributes(attrs, headers.get("content-type"), body, max_id_bytes=max_id_bytes)


def parse_attributes(
    attrs: dict[str, str],
    content_type: str | None,
    body: bytes,
    *,
    max_id_bytes: int | None = None,
) -> CloudEvent:
    """Binary mode from ``binary_attributes``: ``attrs`` without the ``ce-`` prefix."""
    if "specversion" not in attrs:
        raise _bad(
            "ce-specversion",
            "not a CloudEvent: binary mode needs ce-* headers, structured mode "
            f"Content-Type {STRUCTURED}",
        )
    _require(attrs, "ce-")
    source, kind = classify(attrs["type"])
    _pairing_id(attrs, source, kind, "ce-", max_id_bytes)  # before the body is decoded
    data = None
    if kind is not Kind.OTHER:  # only the events the sidecar uses are decoded
        data = _loads(body, "(body)", content_type)
    return _event(attrs, data, "ce-")


def parse_structured(
    document: Any, where: str = "", *, max_id_bytes: int | None = None
) -> CloudEvent:
    """Structured mode: one JSON object with the attributes and ``data`` or ``data_base64``;
    ``max_id_bytes`` as for ``parse_binary``."""
    if not isinstance(document, dict):
        raise _bad(where or "(body)", "a structured CloudEvent is a JSON object")
    attrs = {
        k: (v if isinstance(v, str) else str(v))
        for k, v in document.items()
        if v is not None and k[:4] != "data"
    }
    prefix = f"{where}." if where else ""
    _require(attrs, prefix)
    source, kind = classify(attrs["type"])
    _pairing_id(attrs, source, kind, prefix, max_id_bytes)
    data: Any = None
    if kind is not Kind.OTHER:
        if "data_base64" in document:
            encoded = document["data_base64"]
            try:
                raw = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
            except (binascii.Error, ValueError):
                raw = None
            if raw is None:
                raise _bad(prefix + "data_base64", "not base64")
            data = _loads(raw, prefix + "data_base64", document.get("datacontenttype"))
        elif "data" in document:
            data = document["data"]
            if isinstance(data, str):  # JSON text carried as a string
                data = _loads(data, prefix + "data", document.get("datacontenttype"))
        else:
            raise _bad(prefix + "data", "the event carries no data")
    return _event(attrs, data, prefix)


def parse_batch(
    body: bytes, *, max_id_bytes: int | None = None
) -> list[CloudEvent | InvalidRequest]:
    """Batch mode: a JSON array of structured events; a bad one does not spoil the others."""
    documents = _loads(body, "(body)", BATCH)
    if not isinstance(documents, list):
        raise _bad("(body)", "a CloudEvents batch is a JSON array")
    events: list[CloudEvent | InvalidRequest] = []
    for index, document in enumerate(documents):
        try:
            events.append(parse_structured(document, f"[{index}]", max_id_bytes=max_id_bytes))
        except InvalidRequest as exc:
            events.append(exc)
    return events


def media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


# payload decoding ----------------------------------------------------------------------------


class Undecodable(DriftError):
    """A payload does not match the configured mapping (or any known protocol)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PayloadMapping:
    """How positions and tensors map to names (``kserve:`` / ``seldon:`` config of a model)."""

    features: tuple[str, ...] | None = None
    input_tensor: str | None = None
    output: str | None = None


_KINDS: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), "a scalar")


def _flat(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise Undecodable(where, f"expected an array, got {_kind(data)}")
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    rows: int
    width: int  # values per row
    values: list[Any]  # flat, row-major
    ndim: int = 2

    def row(self, i: int) -> Any:
        w = self.width
        return self.values[i] if w == 1 else self.values[i * w : (i + 1) * w]

    def column(self, j: int) -> list[Any]:
        return self.values[j :: self.width]


def _tensor(shape: Any, data: Any, name: str, where: str, data_key: str = "data") -> _Tensor:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise Undecodable(f"{where}.shape", "expected an array of non-negative integers")
    values = _flat(data, f"{where}.{data_key}")
    rows = shape[0] if shape else 1
    width = math.prod(shape[1:]) if len(shape) > 1 else 1
    if len(values) != rows * width:
        raise Undecodable(f"{where}.{data_key}", f"{len(values)} values for shape {shape}")
    return _Tensor(name, rows, width, values, len(shape))


def _v2_tensors(tensors: list[Any], where: str) -> dict[str, _Tensor]:
    out: dict[str, _Tensor] = {}
    for i, t in enumerate(tensors):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise Undecodable(f"{where}[{i}]", "a tensor needs name, shape, datatype and data")
        out[t["name"]] = _tensor(t.get("shape"), t.get("data"), t["name"], f"{where}[{i}]")
    return out


def _is_v2(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], dict)
        and "data" in value[0]
    )


def _named_rows(
    tensor: _Tensor, names: Sequence[str] | None, where: str, cfg: str
) -> list[dict[str, Any]]:
    """Rows of one [n, k] tensor named by ``names`` (k of them)."""
    if names is None:
        if tensor.width != 1:
            raise Undecodable(where, f"{tensor.width} values per row need {cfg}.features (names)")
        names = (tensor.name,)
    if tensor.ndim == 1 and len(names) > 1 and tensor.rows == len(names):
        tensor = _Tensor(tensor.name, 1, tensor.rows, tensor.values)  # one instance, no batch dim
    if tensor.width != len(names):
        raise Undecodable(where, f"{tensor.width} values per row for {len(names)} {cfg}.features")
    if tensor.width == 1:
        name = names[0]
        return [{name: v} for v in tensor.values]
    return [dict(zip(names, tensor.row(i), strict=True)) for i in range(tensor.rows)]


def _rows_v2(tensors: list[Any], m: PayloadMapping) -> list[dict[str, Any]]:
    by_name = _v2_tensors(tensors, "inputs")
    if m.input_tensor is not None:
        if m.input_tensor not in by_name:
            raise Undecodable(
                "inputs", f"no input tensor {m.input_tensor!r} (got {', '.join(by_name)})"
            )
        return _named_rows(by_name[m.input_tensor], m.features, "inputs", "kserve")
    if len(by_name) == 1:
        return _named_rows(next(iter(by_name.values())), m.features, "inputs", "kserve")
    names = m.features or tuple(by_name)  # one 1-D tensor per feature, named like it
    columns = []
    for name in names:
        t = by_name.get(name)
        if t is None:
            raise Undecodable(
                "inputs", f"no tensor named like feature {name!r} (set kserve.input_tensor?)"
            )
        if t.width != 1:
            raise Undecodable("inputs", f"tensor {name!r} has {t.width} values per row, expected 1")
        columns.append(t.values)
    if len({len(c) for c in columns}) > 1:
        raise Undecodable("inputs", "the feature tensors have different numbers of rows")
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _rows_list(
    items: Any, names: Sequence[str] | None, where: str, cfg: str
) -> list[dict[str, Any]]:
    """Instances: objects keyed by feature name, positional arrays, or scalars (one feature)."""
    if isinstance(items, dict):
        return [items]
    if not isinstance(items, list):
        raise Undecodable(where, f"expected an array of instances, got {_kind(items)}")
    if (
        names is not None
        and len(names) > 1
        and len(items) == len(names)
        and all(not isinstance(v, list | dict) for v in items)
    ):
        return [dict(zip(names, items, strict=True))]  # one instance without batch dim
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            rows.append(item)
        elif isinstance(item, list):
            if names is None:
                raise Undecodable(f"{where}[{i}]", f"positional instances need {cfg}.features")
            if len(item) != len(names):
                raise Undecodable(
                    f"{where}[{i}]", f"{len(item)} values for {len(names)} {cfg}.features"
                )
            rows.append(dict(zip(names, item, strict=True)))
        elif names is not None and len(names) == 1:
            rows.append({names[0]: item})
        else:
            raise Undecodable(
                f"{where}[{i}]", f"a scalar instance needs exactly one name in {cfg}.features"
            )
    return rows


def _columnar(columns: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """TensorFlow's columnar ``inputs``: ``{"name": [value per instance], ...}``."""
    lists = {k: v if isinstance(v, list) else [v] for k, v in columns.items()}
    sizes = {len(v) for v in lists.values()}
    if len(sizes) != 1:
        raise Undecodable(where, "the columns have different lengths")
    return [dict(zip(lists, values, strict=True)) for values in zip(*lists.values(), strict=True)]


def feature_rows(body: Any, m: PayloadMapping, cfg: str = "kserve") -> list[dict[str, Any]]:
    """The instances of a request body as ``{feature: value}`` rows."""
    if not isinstance(body, dict):
        raise Undecodable("(body)", f"expected a JSON object, got {_kind(body)}")
    if "instances" in body:
        return _rows_list(body["instances"], m.features, "instances", cfg)
    if "inputs" in body:
        inputs = body["inputs"]
        if _is_v2(inputs):
            return _rows_v2(inputs, m)
        if isinstance(inputs, dict):
            return _columnar(inputs, "inputs")
        return _rows_list(inputs, m.features, "inputs", cfg)
    if "data" in body:
        return _seldon_rows(body["data"], m)
    if "jsonData" in body:
        return _rows_list(body["jsonData"], m.features, "jsonData", cfg)
    raise Undecodable("(body)", "no instances, inputs, data or jsonData: not an inference request")


def _seldon_matrix(data: Any, where: str) -> tuple[list[str] | None, _Tensor | list[Any]]:
    if not isinstance(data, dict):
        raise Undecodable(where, f"expected an object, got {_kind(data)}")
    names = data.get("names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise Undecodable(f"{where}.names", "expected an array of strings")
    if "tensor" in data:
        t = data["tensor"]
        if not isinstance(t, dict):
            raise Undecodable(f"{where}.tensor", "expected {shape, values}")
        return names or None, _tensor(
            t.get("shape"), t.get("values"), "", f"{where}.tensor", "values"
        )
    if "ndarray" in data:
        nd = data["ndarray"]
        if not isinstance(nd, list):
            raise Undecodable(f"{where}.ndarray", f"expected an array, got {_kind(nd)}")
        return names or None, nd
    raise Undecodable(where, "no ndarray or tensor (strData and binData are not tabular)")


def _seldon_rows(data: Any, m: PayloadMapping) -> list[dict[str, Any]]:
    names, matrix = _seldon_matrix(data, "data")
    names = list(m.features) if m.features is not None else names
    if isinstance(matrix, _Tensor):
        if names is None:
            raise Undecodable("data.names", "no data.names and no seldon.features")
        return _named_rows(matrix, names, "data.tensor", "seldon")
    if names is None and any(not isinstance(r, dict) for r in matrix):
        raise Undecodable("data.names", "no data.names and no seldon.features")
    return _rows_list(matrix, names, "data.ndarray", "seldon")


def _pick(value: Any, output: str | None, where: str, cfg: str) -> Any:
    if isinstance(value, dict):
        if output is not None:
            if output not in value:
                raise Undecodable(where, f"no key {output!r} ({cfg}.output)")
            return value[output]
        if len(value) == 1:
            return next(iter(value.values()))
        raise Undecodable(where, f"predictions are objects: set {cfg}.output to the key to use")
    return value


def predictions(body: Any, m: PayloadMapping, cfg: str = "kserve") -> list[Any]:
    """One prediction per instance from a response body (or the truth of a Seldon feedback)."""
    if not isinstance(body, dict):
        raise Undecodable("(body)", f"expected a JSON object, got {_kind(body)}")
    if "predictions" in body:
        preds = body["predictions"]
        if not isinstance(preds, list):
            preds = [preds]
        return [_pick(p, m.output, f"predictions[{i}]", cfg) for i, p in enumerate(preds)]
    if "outputs" in body and _is_v2(body["outputs"]):
        by_name = _v2_tensors(body["outputs"], "outputs")
        name = m.output if m.output is not None else next(iter(by_name))
        if name not in by_name:
            raise Undecodable("outputs", f"no output tensor {name!r} (got {', '.join(by_name)})")
        t = by_name[name]
        return [t.row(i) for i in range(t.rows)]
    if "data" in body:
        names, matrix = _seldon_matrix(body["data"], "data")
        col = 0
        if m.output is not None:
            if names is None or m.output not in names:
                raise Undecodable("data.names", f"no column {m.output!r} ({cfg}.output)")
            col = names.index(m.output)
        if isinstance(matrix, _Tensor):
            if matrix.width <= col:
                raise Undecodable("data.tensor", f"no column {col}")
            return matrix.column(col) if matrix.width > 1 else matrix.values
        out = []
        for i, row in enumerate(matrix):
            if isinstance(row, list):
                if len(row) <= col:
                    raise Undecodable(f"data.ndarray[{i}]", f"no column {col}")
                out.append(row[col])
            else:
                out.append(row)
        return out
    if "jsonData" in body:
        return [_pick(body["jsonData"], m.output, "jsonData", cfg)]
    raise Undecodable(
        "(body)", "no predictions, outputs, data or jsonData: not an inference response"
    )


def feedback_truth(body: Any, m: PayloadMapping) -> tuple[str | None, list[Any]]:
    """A Seldon feedback ``{request, response, reward, truth}``: the puid of the prediction it
    is about (``response.meta.puid``, when present) and the true value per instance."""
    if not isinstance(body, dict) or body.get("truth") is None:
        raise Undecodable("truth", "the feedback carries no truth")
    response = body.get("response")
    meta = response.get("meta") if isinstance(response, dict) else None
    puid = meta.get("puid") if isinstance(meta, dict) else None
    return (puid if isinstance(puid, str) and puid else None), predictions(
        body["truth"], m, "seldon"
    )


def sample_ids(correlation: str, n: int) -> list[str]:
    """The request id for one instance, ``{id}:{i}`` per instance of a batch (the convention of
    ``drift.client.middleware`` that delayed labels join on)."""
    return [correlation] if n == 1 else [f"{correlation}:{i}" for i in range(n)]


def samples_payload(
    correlation: str, rows: list[dict[str, Any]], preds: list[Any] | None
) -> dict[str, Any]:
    """The body of ``POST /v1/models/{model}/samples`` for one pair; ``preds`` None: the model
    monitors no prediction."""
    ids = sample_ids(correlation, len(rows))
    if preds is None:
        return {"samples": [{"id": i, "features": r} for i, r in zip(ids, rows, strict=True)]}
    if len(preds) != len(rows):
        raise Undecodable("predictions", f"{len(rows)} instances but {len(preds)} predictions")
    return {
        "samples": [
            {"id": i, "features": r, "prediction": p}
            for i, r, p in zip(ids, rows, preds, strict=True)
        ]
    }


def labels_payload(correlation: str, truths: list[Any]) -> dict[str, Any]:
    """The body of ``POST /v1/models/{model}/labels`` for one feedback."""
    ids = sample_ids(correlation, len(truths))
    return {"labels": [{"id": i, "label": t} for i, t in zip(ids, truths, strict=True)]}
