"""The OpenAPI document: FastAPI's, completed with what FastAPI cannot see.

The routes read their bodies by hand (``read_body`` and ``jsonbody``: byte limits, decoding in
slices, off the event loop), and ``POST /`` and ``POST /v1/cloudevents`` are served ahead of the
routing (``CloudEventsMiddleware``, and ``drift.service.fastpath`` inside uvicorn). FastAPI's
document therefore has no request bodies, no error answers and no CloudEvents paths.
``build_document`` adds them from one explicit table, ``operations(settings)``: per operation its
request body and its answers by status; the token it needs under ``server.auth`` is what
``drift.service.auth.route_class`` decides for it. ``install_openapi`` makes the app serve it.

The request schemas say what the validation code takes: ``drift.ingest.samples`` (samples),
``drift.ingest.labels`` (labels), the pydantic models of ``drift.alerting.alertmanager`` (their
JSON schema as pydantic generates it: webhook payload version 4) and the payloads that
``drift.ingest.cloudevents`` decodes (KServe v1, open inference v2, Seldon). A body that is
valid by the schema can still be refused sample by sample (422, naming each one) for what a
schema cannot say: a feature the model lacks, a string over ``server.max_value_bytes`` UTF-8
bytes, a timestamp Python cannot read. Limits answered with 413 (``server.max_body_bytes``,
``server.max_samples_per_request``) are stated in the descriptions rather than as ``maxItems``:
going over one is not a malformed request.

Parts of the document come from the configuration: the model names (the ``model`` path
parameter's ``enum``), the features and prediction of a sample (every configured column is
described; those that every model has are required), the ``ce-inferenceservicename`` examples
and, with ``server.auth``, one bearer scheme per route class and the 401 answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from drift.alerting.alertmanager import AlertmanagerPayload
from drift.config import Settings
from drift.core.columns import ColumnType
from drift.core.report import ColumnStatus
from drift.ingest.cloudevents import BATCH, STRUCTURED, TYPES
from drift.ingest.samples import RejectReason
from drift.service.auth import RouteClass, route_class
from drift.service.cloudevents import PATHS as CLOUDEVENTS_PATHS
from drift.service.cloudevents import Outcome

Schema = dict[str, Any]

_SCALAR = ["string", "number", "boolean", "null"]
_CATEGORY = {"type": _SCALAR, "description": "a category: string, number or bool (null: missing)"}
_NUMBER = {"type": ["number", "null"], "description": "a number (null: missing)"}
_COUNT = {"type": "integer", "minimum": 0}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], properties: Mapping[str, Schema], **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties), **extra}
    if required:
        schema["required"] = required
    return schema


# ------------------------------------------------------------------------------ the schemas

ERROR = _object(
    ["error", "detail"],
    {
        "error": {"type": "string", "description": "the reason, e.g. invalid_json, unknown_model"},
        "field": {"type": "string", "description": "the field (or header) at fault"},
        "detail": {"type": "string"},
        "model": {"type": "string"},
        "install": {"type": "string", "description": "501: what to install"},
    },
    description="A refused request: why (error), where (field) and how (detail).",
)

REJECTION = _object(
    ["index", "field", "reason", "detail"],
    {
        "index": {**_COUNT, "description": "position of the sample or label in the request"},
        "field": {"type": "string"},
        "reason": {"type": "string", "enum": [r.value for r in RejectReason]},
        "detail": {"type": "string"},
    },
)

SCORES = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
        },
        {"type": "null"},
    ],
    "description": "the model's confidence: the positive class's probability, or class label "
    "-> probability",
}

TIMESTAMP = {
    "anyOf": [
        {"type": "string", "format": "date-time", "description": "ISO 8601"},
        {"type": "number", "description": "seconds since the epoch (finite)"},
        {"type": "null"},
    ]
}

SAMPLE_ID = {
    "type": ["string", "integer", "null"],
    "description": "joins delayed labels to this sample (at most server.max_value_bytes)",
}


def features_schema(settings: Settings) -> Schema:
    """Every configured feature column, typed by its role; required: those all models have.
    Other keys are ignored by the validation (any value)."""
    kinds: dict[str, set[str]] = {}
    per_model: list[set[str]] = []
    for cfg in settings.models.values():
        names: set[str] = set()
        for kind in ("numerical", "categorical"):
            for name in getattr(cfg.columns, kind) or ():
                kinds.setdefault(name, set()).add(kind)
                names.add(name)
        per_model.append(names)
    required = set.intersection(*per_model) if per_model else set()
    properties = {n: _NUMBER if k == {"numerical"} else _CATEGORY for n, k in kinds.items()}
    return _object(
        sorted(required),
        dict(sorted(properties.items())),
        description="feature name -> value; the model's numerical features take numbers, its "
        "categorical ones strings, numbers or bools; null is a missing value",
    )


def sample_schema(settings: Settings) -> Schema:
    predictions = [cfg.columns for cfg in settings.models.values()]
    monitored = [c for c in predictions if c.prediction is not None]
    numerical = bool(monitored) and all(c.prediction_type == "numerical" for c in monitored)
    required = ["features"]
    if monitored and len(monitored) == len(predictions):
        required.append("prediction")
    return _object(
        required,
        {
            "features": _ref("Features"),
            "prediction": {
                **(_NUMBER if numerical else _CATEGORY),
                "description": "the model's output (required by a model that monitors it)",
            },
            "id": SAMPLE_ID,
            "timestamp": TIMESTAMP,
            "scores": SCORES,
        },
    )


LABEL = _object(
    ["id", "label"],
    {
        "id": {"type": ["string", "integer"], "description": "the id of the prediction's sample"},
        "label": {"type": ["string", "number", "boolean"], "description": "the ground truth"},
    },
)

# the payloads of drift.ingest.cloudevents: what KServe's and Seldon's loggers carry -------------

_INSTANCE = {
    "anyOf": [
        {"type": "object", "description": "feature name -> value"},
        {
            "type": "array",
            "items": {"type": _SCALAR},
            "description": "kserve/seldon.features order",
        },
        {"type": _SCALAR, "description": "one feature"},
    ]
}
TENSOR = _object(
    ["name", "shape", "datatype", "data"],
    {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "examples": ["FP32", "INT64", "BYTES", "BOOL"]},
        "parameters": {"type": ["object", "null"]},
        "data": {"type": "array", "description": "flat row-major, or nested like shape"},
    },
    description="An open inference protocol (v2) tensor.",
)
SELDON_DATA = _object(
    [],
    {
        "names": {"type": "array", "items": {"type": "string"}},
        "ndarray": {"type": "array", "items": _INSTANCE},
        "tensor": _object(
            ["shape", "values"],
            {
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "values": {"type": "array"},
            },
        ),
    },
)
PAYLOADS: dict[str, Schema] = {
    "KServeV1Request": _object(
        ["instances"],
        {"instances": {"anyOf": [{"type": "array", "items": _INSTANCE}, {"type": "object"}]}},
        description="KServe v1 (and TensorFlow's row format): one instance per row.",
    ),
    "KServeV1Response": _object(
        ["predictions"],
        {"predictions": {"description": "one per instance (an object: kserve.output picks)"}},
    ),
    "TensorFlowColumnarRequest": _object(
        ["inputs"],
        {"inputs": {"type": "object", "description": "feature name -> value per instance"}},
    ),
    "OpenInferenceRequest": _object(
        ["inputs"],
        {
            "id": {"type": ["string", "null"]},
            "parameters": {"type": ["object", "null"]},
            "inputs": {"type": "array", "minItems": 1, "items": _ref("Tensor")},
        },
        description="Open inference protocol (KServe v2).",
    ),
    "OpenInferenceResponse": _object(
        ["outputs"],
        {
            "model_name": {"type": ["string", "null"]},
            "model_version": {"type": ["string", "null"]},
            "id": {"type": ["string", "null"]},
            "parameters": {"type": ["object", "null"]},
            "outputs": {"type": "array", "minItems": 1, "items": _ref("Tensor")},
        },
    ),
    "SeldonMessage": {
        **_object(
            [],
            {
                "data": _ref("SeldonData"),
                "jsonData": {"description": "instances (request) or prediction (response)"},
                "meta": {"type": "object", "properties": {"puid": {"type": "string"}}},
            },
        ),
        "anyOf": [{"required": ["data"]}, {"required": ["jsonData"]}],
        "description": "Seldon Core v1: data.ndarray or data.tensor (with data.names), or "
        "jsonData.",
    },
    "InferenceError": _object(
        ["error"],
        {"error": {"type": "string"}},
        description="The body of a response event that reports a non-2xx ce-statuscode.",
    ),
    "SeldonFeedback": _object(
        ["truth"],
        {
            "request": {"type": "object"},
            "response": {
                "type": "object",
                "description": "response.meta.puid: the prediction the truth is about",
            },
            "reward": {"type": "number"},
            "truth": _ref("SeldonMessage"),
        },
    ),
}
INFERENCE_PAYLOAD = {
    "anyOf": [_ref(name) for name in PAYLOADS],
    "description": "A request event carries the inference request, a response event the "
    "response, a Seldon feedback event the feedback.",
}

# CloudEvents attributes the sidecar reads (binary mode: ce-* headers; structured mode: keys)
_KNOWN_TYPES = list(TYPES)  # KServe first: most events are theirs
ATTRIBUTES: dict[str, tuple[Schema, str]] = {
    "specversion": (
        {"type": "string", "minLength": 1, "examples": ["1.0"]},
        "required (any value: 1.0 is the one there is)",
    ),
    "id": ({"type": "string", "minLength": 1}, "required; pairs KServe request and response"),
    "type": (
        {"type": "string", "minLength": 1, "examples": _KNOWN_TYPES},
        "required; other types are accepted and ignored (202)",
    ),
    "source": ({"type": "string"}, "the sender"),
    "time": ({"type": "string"}, "when it was sent"),
    "inferenceservicename": (
        {"type": "string"},
        "the InferenceService / SeldonDeployment: routes the event to a model",
    ),
    "namespace": ({"type": "string"}, "routes the event with the name (kserve/seldon.namespace)"),
    "component": ({"type": "string"}, "KServe: predictor, transformer, ..."),
    "endpoint": ({"type": "string"}, "default, canary, ..."),
    "modelid": ({"type": "string"}, "Seldon: the graph node (seldon.model_id)"),
    "requestid": ({"type": "string"}, "Seldon: pairs request and response (required there)"),
    "statuscode": (
        {"type": "string", "pattern": "^[0-9]{1,9}$"},
        "the response's HTTP status (an integer, else 400); not 2xx: no prediction",
    ),
}


def cloudevent_schema() -> Schema:
    properties = {name: {**s, "description": d} for name, (s, d) in ATTRIBUTES.items()}
    properties["statuscode"] = {"anyOf": [properties["statuscode"], {"type": "integer"}]}
    properties |= {
        "datacontenttype": {"type": "string"},
        "data": {
            "anyOf": [_ref("InferencePayload"), {"type": "string", "description": "JSON text"}],
        },
        "data_base64": {"type": "string", "contentEncoding": "base64"},
    }
    return _object(
        ["specversion", "id", "type"],
        properties,
        description="A structured-mode CloudEvent (JSON event format), data or data_base64.",
    )


CLOUDEVENT_REPLY = _object(
    ["outcome"],
    {
        "outcome": {"type": "string", "enum": [o.value for o in Outcome]},
        "model": {"type": "string"},
        "detail": {"type": "string"},
        "samples": {**_COUNT, "description": "paired: samples queued for ingestion"},
        "accepted": {**_COUNT, "description": "Seldon feedback: labels accepted"},
        "rejected": {**_COUNT, "description": "Seldon feedback: labels rejected"},
        "error": {"type": "string"},
        "field": {"type": "string"},
    },
)
CLOUDEVENT_REFUSAL = {
    "allOf": [_ref("CloudEventReply"), {"required": ["outcome", "error", "field", "detail"]}]
}

# what the read routes answer ------------------------------------------------------------------

_SHARE = {"type": ["number", "null"]}
COLUMN_DRIFT = _object(
    ["column", "type", "method", "score", "threshold", "drifted", "status"],
    {
        "column": {"type": "string"},
        "type": {"type": "string", "enum": [t.value for t in ColumnType]},
        "method": {"type": "string"},
        "score": _SHARE,
        "threshold": _SHARE,
        "drifted": {"type": "boolean"},
        "status": {"type": "string", "enum": [c.value for c in ColumnStatus]},
        "current_count": _COUNT,
        "current_missing_share": _SHARE,
        "reference_missing_share": _SHARE,
        "adjusted_score": _SHARE,
        "calibrated": {
            "type": "boolean",
            "description": "the threshold is calibrated to the window (drift.calibration)",
        },
        "false_alarm_rate": {
            **_SHARE,
            "description": "expected false-alarm rate per evaluation at the calibrated threshold",
        },
        "calibration_size": {
            "type": ["integer", "null"],
            "description": "the window size the threshold was calibrated at: the largest "
            "calibrated size up to the window's sample count (null: not calibrated)",
        },
    },
)
DRIFT_REPORT = _object(
    ["model", "status", "evaluated_at", "window", "reference", "dataset", "columns"],
    {
        "model": {"type": "string"},
        "status": {"type": "string", "enum": ["ok", "insufficient_data"]},
        "evaluated_at": {"type": "string", "format": "date-time"},
        "evaluation_seconds": {"type": "number"},
        "window": {"type": "object"},
        "reference": {"type": "object"},
        "dataset": _object(
            ["drifted"],
            {"drift_share": _SHARE, "drifted": {"type": ["boolean", "null"]}},
        ),
        "columns": {"type": "object", "additionalProperties": _ref("ColumnDrift")},
        "prediction": {"anyOf": [_ref("ColumnDrift"), {"type": "null"}]},
    },
)
_METRICS = {
    "anyOf": [
        _object(
            ["task", "samples", "metrics"],
            {
                "task": {"type": "string"},
                "samples": _COUNT,
                "skipped": _COUNT,
                "metrics": {"type": "object", "additionalProperties": _SHARE},
            },
        ),
        {"type": "null"},
    ]
}
PERFORMANCE = _object(
    ["current", "reference", "labels"],
    {
        "current": _METRICS,
        "reference": _METRICS,
        "evaluated_at": {"type": ["number", "null"]},
        "min_samples": _COUNT,
        "alert": {"type": ["object", "null"]},
        "labels": {"type": "object", "additionalProperties": _COUNT},
    },
)
_ESTIMATE = _object(
    ["value", "lower", "upper", "sampling_error", "lower_threshold", "upper_threshold", "alert"],
    {
        "value": _NUMBER,
        "lower": _NUMBER,
        "upper": _NUMBER,
        "sampling_error": _NUMBER,
        "lower_threshold": _NUMBER,
        "upper_threshold": _NUMBER,
        "alert": {"type": "boolean"},
    },
)
_MULTIVARIATE = _object(
    ["samples", "value", "lower_threshold", "upper_threshold", "drift"],
    {
        "samples": _COUNT,
        "value": _NUMBER,
        "lower_threshold": _NUMBER,
        "upper_threshold": _NUMBER,
        "drift": {"type": "boolean"},
        "lower": _NUMBER,
        "upper": _NUMBER,
    },
)
ESTIMATION = _object(
    ["evaluated_at", "performance", "multivariate"],
    {
        "evaluated_at": {"type": "number", "description": "Unix time of the window's estimate"},
        "performance": {
            "oneOf": [
                {"type": "null"},
                _object(
                    ["method", "samples", "metrics"],
                    {
                        "method": {"enum": ["cbpe", "dle"]},
                        "samples": _COUNT,
                        "metrics": {"type": "object", "additionalProperties": _ESTIMATE},
                    },
                ),
            ],
            "description": "performance estimated before labels arrive (null: not configured)",
        },
        "multivariate": {
            "oneOf": [
                {"type": "null"},
                {"type": "object", "additionalProperties": _MULTIVARIATE},
            ],
            "description": "multivariate drift per method: pca_reconstruction, domain_classifier",
        },
        "failure": {
            "type": ["string", "null"],
            "description": "why the estimation is not ready now (a fit on a newer reference or "
            "the latest window's estimation failed): these are the last estimates that worked; "
            "null when ready",
        },
    },
)
MODEL_LIST = _object(
    ["models"],
    {
        "models": {
            "type": "object",
            "additionalProperties": _object(
                ["reference_loaded", "window_samples", "window_size", "dataset_drift"],
                {
                    "reference_loaded": {"type": "boolean"},
                    "reference_rows": _COUNT,
                    "window_samples": _COUNT,
                    "window_size": _COUNT,
                    "dataset_drift": {"type": ["boolean", "null"]},
                },
            ),
        }
    },
)
READINESS = _object(
    ["status", "models"],
    {
        "status": {"type": "string", "enum": ["ready", "not_ready"]},
        "models": {
            "type": "object",
            "additionalProperties": _object(["state"], {"state": {"type": "string"}}),
        },
    },
)


def component_schemas(settings: Settings) -> dict[str, Schema]:
    """Every schema of ``components.schemas``; Alertmanager's as pydantic generates it."""
    alertmanager = AlertmanagerPayload.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    nested = alertmanager.pop("$defs", {})
    return {
        "Error": ERROR,
        "Rejection": REJECTION,
        "Features": features_schema(settings),
        "Sample": sample_schema(settings),
        "SamplesRequest": _object(
            ["samples"],
            {"samples": {"type": "array", "items": _ref("Sample")}},
            description="At most server.max_samples_per_request "
            f"({settings.server.max_samples_per_request}) samples, else 413.",
        ),
        "SamplesAnswer": _object(
            ["accepted", "rejected"],
            {"accepted": _COUNT, "rejected": {"type": "array", "items": _ref("Rejection")}},
        ),
        "Label": LABEL,
        "LabelsRequest": _object(
            ["labels"],
            {"labels": {"type": "array", "items": _ref("Label")}},
            description="At most server.max_samples_per_request "
            f"({settings.server.max_samples_per_request}) labels, else 413.",
        ),
        "LabelsAnswer": _object(
            ["accepted", "matched", "held", "duplicate", "rejected"],
            {
                "accepted": _COUNT,
                "matched": {**_COUNT, "description": "joined to a waiting prediction"},
                "held": {**_COUNT, "description": "waiting for their prediction"},
                "duplicate": _COUNT,
                "rejected": {"type": "array", "items": _ref("Rejection")},
            },
        ),
        "AlertmanagerPayload": alertmanager,
        **nested,
        "AlertmanagerAnswer": _object(
            ["received", "queued"],
            {
                "received": _COUNT,
                "queued": {**_COUNT, "description": "alerts queued for the Slack/Kafka sinks"},
            },
        ),
        "CloudEvent": cloudevent_schema(),
        "CloudEventsBatch": {"type": "array", "items": _ref("CloudEvent")},
        "InferencePayload": INFERENCE_PAYLOAD,
        "Tensor": TENSOR,
        "SeldonData": SELDON_DATA,
        **PAYLOADS,
        "CloudEventReply": CLOUDEVENT_REPLY,
        "CloudEventRefusal": CLOUDEVENT_REFUSAL,
        "CloudEventsBatchReply": _object(
            ["events"], {"events": {"type": "array", "items": _ref("CloudEventReply")}}
        ),
        "ColumnDrift": COLUMN_DRIFT,
        "DriftReport": DRIFT_REPORT,
        "Performance": PERFORMANCE,
        "Estimation": ESTIMATION,
        "ModelList": MODEL_LIST,
        "Readiness": READINESS,
        "Health": _object(["status"], {"status": {"const": "ok"}}),
    }


# ----------------------------------------------------------------------------- the operations


def _json(schema: Schema, description: str, **extra: Any) -> Schema:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _error(description: str) -> Schema:
    return _json(_ref("Error"), description)


_NOT_JSON = _error("the body is not JSON (invalid_json, naming the field)")
_TOO_LARGE = "over server.max_body_bytes, or too many items (server.max_samples_per_request)"
_NOT_FOUND = _error("no such model (unknown_model)")
_MEDIA = _error("the Content-Type is not application/json, or missing")
_CE_REFUSAL = {"application/json": {"schema": _ref("CloudEventRefusal")}}
_RETRY_AFTER = {"schema": {"type": "string"}, "description": "seconds"}
_BUSY = "request bodies in flight over server.max_inflight_bytes (overloaded)"


def _unavailable(description: str, retry_after: bool = True) -> Schema:
    """503: come back later (``Retry-After``, always sent when ``retry_after``)."""
    header = {**_RETRY_AFTER, "required": retry_after}
    return _error(description) | {"headers": {"Retry-After": header}}


@dataclass(frozen=True)
class Operation:
    """What FastAPI's document lacks about one operation."""

    summary: str
    responses: dict[int, Schema]
    request: Schema | None = None  # media type -> {schema, ...}
    parameters: tuple[Schema, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _body(ref: str, description: str, example: Any = None) -> Schema:
    media: Schema = {"schema": _ref(ref)}
    if example is not None:
        media["example"] = example
    return {"required": True, "description": description, "content": {"application/json": media}}


def _ce_headers(settings: Settings) -> tuple[Schema, ...]:
    services = sorted(
        {c.kserve.inference_service or n for n, c in settings.models.items() if c.kserve}
        | {c.seldon.deployment or n for n, c in settings.models.items() if c.seldon}
    )
    params = []
    for name, (schema, description) in ATTRIBUTES.items():
        if name == "inferenceservicename" and services:
            schema = {**schema, "examples": services}
        params.append(
            {
                "name": f"ce-{name}",
                "in": "header",
                "required": False,
                "description": f"binary mode: {description}; percent-encoded values are decoded",
                "schema": schema,
            }
        )
    return tuple(params)


def _example_sample(settings: Settings) -> dict[str, Any]:
    """A sample of the first model, as far as its configured columns tell."""
    columns = next(iter(settings.models.values())).columns
    features: dict[str, Any] = {name: 0.5 for name in columns.numerical or ()}
    features |= {name: "a" for name in columns.categorical or ()}
    sample: dict[str, Any] = {"id": "request-1", "features": features}
    if columns.prediction is not None:
        sample["prediction"] = "yes" if columns.prediction_type == "categorical" else 1
    return {"samples": [sample]}


ALERTMANAGER_EXAMPLE = {
    "version": "4",
    "groupKey": '{}:{alertname="DriftDatasetDetected"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "drift-sidecar",
    "groupLabels": {"alertname": "DriftDatasetDetected"},
    "commonLabels": {"alertname": "DriftDatasetDetected", "severity": "warning"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DriftDatasetDetected", "model": "m1", "severity": "warning"},
            "annotations": {"summary": "Dataset drift on model m1"},
            "startsAt": "2026-01-02T03:04:05Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "5d0a2c7e1f3b9a64",
        }
    ],
}


def _example_instances(settings: Settings) -> dict[str, Any]:
    """A KServe v1 request for the first model whose ``kserve.features`` say how many values
    an instance has (else the iris example of KServe's docs)."""
    features = next(
        (c.kserve.features for c in settings.models.values() if c.kserve and c.kserve.features),
        None,
    )
    return {"instances": [[6.8, 2.8, 4.8, 1.4] if features is None else [0.5] * len(features)]}


def operations(settings: Settings) -> dict[tuple[str, str], Operation]:
    """Method and path -> what the document says of the operation, beyond FastAPI."""
    limits = f"Bodies over server.max_body_bytes ({settings.server.max_body_bytes} bytes) get 413."
    cloudevents = Operation(
        summary="CloudEvents from KServe's and Seldon's payload loggers",
        request={
            "required": True,
            "description": "Binary mode: the ce-* headers and the inference payload as the "
            "body (its Content-Type is the event's datacontenttype, which KServe copies from "
            "the inference request: any type is taken, the body must be JSON). Structured "
            f"mode: one event as {STRUCTURED}; batch mode: an array of them as {BATCH}. " + limits,
            "content": {
                "application/json": {
                    "schema": _ref("InferencePayload"),
                    "example": _example_instances(settings),
                },
                STRUCTURED: {"schema": _ref("CloudEvent")},
                BATCH: {"schema": _ref("CloudEventsBatch")},
            },
        },
        parameters=_ce_headers(settings),
        responses={
            200: _json(
                {"anyOf": [_ref("CloudEventReply"), _ref("CloudEventsBatchReply")]},
                "used: waiting for its other half, paired (samples queued), or feedback "
                "labels; batch mode: one reply per event",
            ),
            202: _json(_ref("CloudEventReply"), "accepted and dropped (outcome says why)"),
            400: {"description": "not a usable CloudEvent", "content": _CE_REFUSAL},
            413: {"description": _TOO_LARGE, "content": _CE_REFUSAL},
            415: {"description": "no ce-* headers and not a JSON type", "content": _CE_REFUSAL},
            422: {"description": "the payload does not match the model", "content": _CE_REFUSAL},
            503: _unavailable(_BUSY, retry_after=False),
        },
    )
    ops = {("post", path): cloudevents for path in CLOUDEVENTS_PATHS}
    ops |= {
        ("post", "/v1/models/{model}/samples"): Operation(
            summary="Samples of a model's traffic (features, prediction)",
            request=_body(
                "SamplesRequest",
                "Content-Type: application/json. " + limits,
                _example_sample(settings),
            ),
            responses={
                200: _json(_ref("SamplesAnswer"), "every sample accepted"),
                400: _NOT_JSON,
                404: _NOT_FOUND,
                413: _error(_TOO_LARGE),
                415: _MEDIA,
                422: _json(
                    {"anyOf": [_ref("SamplesAnswer"), _ref("Error")]},
                    "some samples rejected (the good ones kept), or the body is not "
                    "{samples: [...]} (invalid_body)",
                ),
                503: _unavailable(
                    f"the model's reference is not loaded yet (not_ready), or {_BUSY}"
                ),
            },
        ),
        ("post", "/v1/models/{model}/labels"): Operation(
            summary="Delayed ground truth, joined by id to the samples' predictions",
            request=_body(
                "LabelsRequest",
                "Content-Type: application/json. " + limits,
                {"labels": [{"id": "request-1", "label": 1}]},
            ),
            responses={
                200: _json(_ref("LabelsAnswer"), "every label accepted"),
                400: _NOT_JSON,
                404: _NOT_FOUND,
                413: _error(_TOO_LARGE),
                415: _MEDIA,
                422: _json(
                    {"anyOf": [_ref("LabelsAnswer"), _ref("Error")]},
                    "some labels rejected (the good ones kept), or the body is not "
                    "{labels: [...]} (invalid_body)",
                ),
                503: _unavailable(_BUSY),
            },
        ),
        ("post", "/v1/alertmanager"): Operation(
            summary="Alertmanager's webhook (payload version 4)",
            request=_body(
                "AlertmanagerPayload",
                "Content-Type: application/json. Unknown keys are ignored. " + limits,
                ALERTMANAGER_EXAMPLE,
            ),
            responses={
                200: _json(_ref("AlertmanagerAnswer"), "received; new or changed alerts queued"),
                400: _NOT_JSON,
                413: _error(_TOO_LARGE),
                415: _MEDIA,
                422: _error("not a version 4 payload (invalid_body, naming the field)"),
                503: _unavailable(_BUSY),
            },
        ),
        ("get", "/v1/models"): Operation(
            summary="The models and their windows",
            responses={200: _json(_ref("ModelList"), "the models")},
        ),
        ("get", "/v1/models/{model}/drift"): Operation(
            summary="The latest drift evaluation",
            responses={
                200: _json(_ref("DriftReport"), "the latest evaluation"),
                404: _error("no such model (unknown_model), or no evaluation yet (no_result)"),
            },
        ),
        ("get", "/v1/models/{model}/performance"): Operation(
            summary="Performance metrics from delayed labels",
            responses={
                200: _json(_ref("Performance"), "the metrics and the label join's counters"),
                404: _NOT_FOUND,
            },
        ),
        ("get", "/v1/models/{model}/estimation"): Operation(
            summary="Performance estimated before labels, and multivariate drift (the latest "
            "window)",
            responses={
                200: _json(_ref("Estimation"), "the latest window's estimates"),
                404: _error(
                    "no such model (unknown_model), estimation not configured "
                    "(estimation_off), or no estimate yet (no_result)"
                ),
                503: _error(
                    "no estimate, and the estimators cannot be fitted or the estimation "
                    "fails (estimation_failed; detail: the reason)"
                ),
            },
        ),
        ("get", "/v1/models/{model}/report"): Operation(
            summary="The latest evaluation as an HTML page (evidently)",
            responses={
                200: {
                    "description": "the page",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                404: _error("no such model (unknown_model), or no evaluation yet (no_result)"),
                409: _error(
                    "evidently cannot compute or draw this window's report, e.g. values so "
                    "large that its histograms overflow (report_failed); the drift result is "
                    "unaffected"
                ),
                501: _error("evidently is not installed (report_unavailable)"),
            },
        ),
        ("get", "/metrics"): Operation(
            summary="Prometheus metrics (OpenMetrics or text 0.0.4, gzip when accepted)",
            parameters=(
                {
                    "name": "name[]",
                    "in": "query",
                    "required": False,
                    "description": "only these series",
                    "schema": {"type": "array", "items": {"type": "string"}},
                    "style": "form",
                    "explode": True,
                },
            ),
            responses={
                200: {
                    "description": "the exposition",
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/openmetrics-text": {"schema": {"type": "string"}},
                    },
                }
            },
        ),
        ("get", "/healthz"): Operation(
            summary="Liveness: the process answers",
            responses={200: _json(_ref("Health"), "alive")},
        ),
        ("get", "/readyz"): Operation(
            summary="Readiness: every model's reference is loaded",
            responses={
                200: _json(_ref("Readiness"), "ready"),
                503: _json(_ref("Readiness"), "some reference is not loaded (yet)"),
            },
        ),
    }
    return ops


# ------------------------------------------------------------------------------ the document

_UNAUTHORIZED = {
    "description": "no bearer token, or not the route class's (unauthorized)",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    "content": {"application/json": {"schema": _ref("Error")}},
}
_SCHEMES = {
    RouteClass.INGEST: "samples, labels, the CloudEvents routes (server.auth.ingest)",
    RouteClass.ALERTMANAGER: "POST /v1/alertmanager (server.auth.alertmanager)",
    RouteClass.READ: "everything else but /healthz and /readyz (server.auth.read)",
}


def _model_parameter(parameters: list[Schema], models: list[str]) -> list[Schema]:
    return [
        {**p, "schema": {"type": "string", "enum": models}, "description": "a configured model"}
        if p.get("in") == "path" and p.get("name") == "model"
        else p
        for p in parameters
    ]


def build_document(base: Schema, settings: Settings) -> Schema:
    """``base`` (FastAPI's document) with the request bodies, answers, CloudEvents paths and
    security of ``operations(settings)``; operations the table lacks are kept as they are."""
    document = {**base, "paths": {p: dict(ops) for p, ops in base.get("paths", {}).items()}}
    auth = settings.server.auth
    models = sorted(settings.models)
    for (method, path), op in operations(settings).items():
        entry = dict(document["paths"].setdefault(path, {}).get(method, {}))
        entry["summary"] = op.summary  # ours, not FastAPI's ("Post Samples")
        if "operationId" not in entry:
            suffix = path.strip("/").replace("/", "_") or "root"
            entry["operationId"] = f"{method}_{suffix}"
        parameters = _model_parameter(list(entry.get("parameters", [])), models)
        parameters += list(op.parameters)
        if parameters:
            entry["parameters"] = parameters
        if op.request is not None:
            entry["requestBody"] = op.request
        responses = {str(status): answer for status, answer in sorted(op.responses.items())}
        if auth is not None:
            cls = route_class(method.upper(), path, auth.metrics)
            if cls is RouteClass.OPEN:
                entry["security"] = []
            else:
                entry["security"] = [{cls.value: []}]
                responses["401"] = _UNAUTHORIZED
        entry["responses"] = responses
        document["paths"][path][method] = entry
    components = dict(document.get("components", {}))
    components["schemas"] = {**components.get("schemas", {}), **component_schemas(settings)}
    if auth is not None:
        components["securitySchemes"] = {
            cls.value: {"type": "http", "scheme": "bearer", "description": text}
            for cls, text in _SCHEMES.items()
        }
    document["components"] = components
    _drop_unused(components["schemas"], document)
    info = dict(document.get("info", {}))
    info["description"] = (
        "Drift monitoring sidecar. Every refusal is a 4xx whose JSON body names the error, "
        "the field and why. "
        + (
            "Authentication: a bearer token per route class (ingest, alertmanager, read); "
            "/healthz and /readyz are open."
            + (" /metrics needs the read token." if auth.metrics else " /metrics is open.")
            if auth is not None
            else "Authentication: off (server.auth is not set)."
        )
    )
    document["info"] = info
    return document


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rpartition("/")[2]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*map(_refs, node.values()))
    if isinstance(node, list):
        return set().union(*map(_refs, node))
    return set()


def _drop_unused(schemas: dict[str, Schema], document: Schema) -> None:
    """Remove the schemas nothing refers to (FastAPI's validation errors: the table replaced
    the answers that used them)."""
    used = _refs(document["paths"])
    pending = set(used)
    while pending:
        more = _refs(schemas.get(pending.pop(), {})) - used
        used |= more
        pending |= more
    for name in set(schemas) - used:
        del schemas[name]


def openapi_document(app: FastAPI) -> Schema:
    """The complete document of ``app`` (built by ``create_app``: its routes and service)."""
    base = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        routes=app.routes,
    )
    return build_document(base, app.state.service.settings)


def install_openapi(app: FastAPI) -> None:
    """Serve ``openapi_document(app)`` at ``/openapi.json``: built on the first request (by
    then the routes and ``app.state.service`` are there), then kept."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
