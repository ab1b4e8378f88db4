"""Custom resources checked against their CRD schemas kept in ``crds/`` (README.md there says
where each comes from), the way an API server with ``kubectl apply --validate=strict`` would:
types, enums, patterns and required fields, and no field the schema does not know (except under
``x-kubernetes-preserve-unknown-fields``). CEL rules (``x-kubernetes-validations``) are not
evaluated.

Where a schema marks an inlined Kubernetes type (``x-drift-inline: PodSpec`` or ``Container``,
the excerpts of the KServe and Seldon CRDs), the keys it does not list are that type's: they are
validated as a Pod with kubernetes-validate ``--strict``.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRDS = Path(__file__).resolve().parent / "crds"
#: (apiVersion, kind) -> schema file
SCHEMAS = {
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor.schema.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.schema.yaml",
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice.excerpt.yaml",
    ("machinelearning.seldon.io/v1", "SeldonDeployment"): "seldondeployment.excerpt.yaml",
}
KUBERNETES_VERSION = "1.37.0"


def is_custom(obj: dict[str, Any]) -> bool:
    return (obj["apiVersion"], obj["kind"]) in SCHEMAS


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``additionalProperties: false`` on every object schema with ``properties`` (the API
    server's strict field validation), unless it preserves unknown fields or inlines a type."""
    out = {k: v for k, v in schema.items() if not k.startswith("x-")}
    if "properties" in schema:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if (
            "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
            and "x-drift-inline" not in schema
        ):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            out[key] = _strict(schema[key])
    if "anyOf" in schema:
        out["anyOf"] = [_strict(s) for s in schema["anyOf"]]
    return out


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((CRDS / name).read_text(encoding="utf-8"))
    return raw


def _inlined(
    schema: dict[str, Any], value: Any, path: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, type, the keys of ``value`` that the inlined Kubernetes type owns), recursively."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if "x-drift-inline" in schema:
            rest = {k: v for k, v in value.items() if k not in props}
            found.append((path, schema["x-drift-inline"], rest))
        for key, sub in props.items():
            if key in value:
                found += _inlined(sub, value[key], f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _inlined(schema["items"], item, f"{path}[{i}]")
    return found


def _as_pod(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(fields)
    if kind == "Container":
        spec = {"containers": [{"name": "inlined", **spec}]}
    spec.setdefault("containers", [{"name": "placeholder", "image": "placeholder"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "inlined"}, "spec": spec}


def validate_custom(obj: dict[str, Any]) -> list[str]:
    """Every problem of a custom resource against its stored schema (empty: valid)."""
    name = SCHEMAS[(obj["apiVersion"], obj["kind"])]
    schema = load_schema(name)
    validator = jsonschema.Draft7Validator(_strict(schema))
    problems = [
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    for path, kind, fields in _inlined(schema, obj, "(root)"):
        problems += [f"{path} ({kind}): {p}" for p in validate_core(_as_pod(kind, fields))]
    return problems


def validate_core(obj: dict[str, Any]) -> list[str]:
    """kubernetes-validate, strict, for a Kubernetes object (empty: valid)."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [str(exc).splitlines()[0]]  # the rest repeats the whole schema
    return []
