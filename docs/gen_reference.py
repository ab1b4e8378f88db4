"""Generate the reference pages of the docs from the code:

- ``docs/reference/configuration.md`` from the settings model ``drift.config.Settings``: every
  field with its type (and bounds), default, description and an example value;
- ``docs/reference/http-api.md`` from the app's OpenAPI document
  (``drift.service.openapi.openapi_document``): every route, its request body and its answers.

    .venv/bin/python docs/gen_reference.py          # rewrite both pages (make docs runs this)
    .venv/bin/python docs/gen_reference.py --check  # exit 1 when a committed page is stale

``tests/docs/test_reference_pages.py`` checks that the committed pages are what this writes.
A settings field without a description (``Field(..., description=...)`` in the model: the same
text is in the JSON Schema of ``drift-sidecar config schema`` and in IDE tooltips) or without an
example (its default, or ``EXAMPLES``) fails the generation, so a new field cannot reach the docs
undocumented.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG_PAGE = DOCS / "reference" / "configuration.md"
HTTP_PAGE = DOCS / "reference" / "http-api.md"

# Example values of the fields whose default is none (or a poor example), as YAML.
EXAMPLES: dict[str, str] = {
    "server.host": "127.0.0.1",
    "server.tls.cert_file": "/etc/drift-sidecar/tls/tls.crt",
    "server.tls.key_file": "/etc/drift-sidecar/tls/tls.key",
    "server.metrics_port": "9090",
    "server.auth.ingest.token": "${INGEST_TOKEN}",
    "server.auth.ingest.token_file": "/var/run/secrets/drift/ingest",
    "server.auth.alertmanager.token": "${ALERTMANAGER_TOKEN}",
    "server.auth.alertmanager.token_file": "/var/run/secrets/drift/alertmanager",
    "server.auth.read.token": "${READ_TOKEN}",
    "server.auth.read.token_file": "/var/run/secrets/drift/read",
    "server.auth.metrics": "true",
    "alerts.grafana_url": "https://grafana.example.com/d/drift-model-detail?var-model={model}",
    "alerts.report_url": "https://drift.example.com/v1/models/{model}/report",
    "alerts.runbook_base_url": "https://git.example.com/drift-sidecar/blob/main/",
    "alerts.slack.webhook_url": "${SLACK_WEBHOOK_URL}",
    "alerts.slack.token": "${SLACK_BOT_TOKEN}",
    "alerts.slack.channel": '"#ml-oncall"',
    "alerts.kafka.bootstrap_servers": "kafka:9092",
    "alerts.kafka.sasl_mechanism": "SCRAM-SHA-512",
    "alerts.kafka.sasl_username": "drift-sidecar",
    "alerts.kafka.sasl_password": "${KAFKA_PASSWORD}",
    "alerts.kafka.ssl_ca_location": "/etc/kafka/ca.pem",
    "alerts.kafka.ssl_certificate_location": "/etc/kafka/client.pem",
    "alerts.kafka.ssl_key_location": "/etc/kafka/client.key",
    "alerts.kafka.extra": '{"linger.ms": "5"}',
    "alerts.alertmanager.burst": "10",
    "state.dir": "/var/lib/drift-sidecar/state",
    "fleet.role": "shipper",
    "fleet.bootstrap_servers": "kafka:9092",
    "fleet.client": '{"security.protocol": "SASL_SSL"}',
    "models.<model>.reference.path": "data/reference.parquet",
    "models.<model>.reference.clearml.dataset_id": "8c7e0f5a2b4d4e6f9a1b3c5d7e9f0a1b",
    "models.<model>.reference.clearml.project": "credit",
    "models.<model>.reference.clearml.name": "training-data",
    "models.<model>.reference.clearml.version": '"1.2.0"',
    "models.<model>.reference.clearml.tags": "[approved]",
    "models.<model>.reference.clearml.alias": "reference",
    "models.<model>.reference.clearml.files": '"*.parquet"',
    "models.<model>.reference.s3.url": "s3://ml-data/fraud/reference/",
    "models.<model>.reference.s3.endpoint_url": "http://minio:9000",
    "models.<model>.reference.s3.region": "eu-west-1",
    "models.<model>.reference.s3.files": '"*.csv"',
    "models.<model>.reference.s3.credentials_file": "/var/run/secrets/aws/credentials",
    "models.<model>.reference.s3.profile": "drift",
    "models.<model>.reference.refresh_minutes": "15",
    "models.<model>.reference.sample_rows": "200000",
    "models.<model>.reference.cache_dir": "/var/lib/drift-sidecar/cache",
    "models.<model>.version": '"2026-11-rc2"',
    "models.<model>.kserve.inference_service": "credit-scoring",
    "models.<model>.kserve.namespace": "models",
    "models.<model>.kserve.features": "[age, income, city]",
    "models.<model>.kserve.input_tensor": "input-0",
    "models.<model>.kserve.output": "output-0",
    "models.<model>.seldon.deployment": "iris",
    "models.<model>.seldon.model_id": "classifier",
    "models.<model>.seldon.namespace": "models",
    "models.<model>.seldon.features": "[sepal_length, sepal_width, petal_length, petal_width]",
    "models.<model>.seldon.output": "proba",
    "models.<model>.performance.positive_label": '"1"',
    "models.<model>.performance.alert.metric": "accuracy",
    "models.<model>.performance.alert.max_drop": "0.05",
    "models.<model>.performance.alert.min_value": "0.8",
    "models.<model>.performance.alert.max_value": "0.3",
    "models.<model>.columns.numerical": "[age, income]",
    "models.<model>.columns.categorical": "[city]",
    "models.<model>.columns.prediction": "score",
    "models.<model>.columns.id": "request_id",
    "models.<model>.columns.timestamp": "ts",
    "models.<model>.columns.target": "label",
    "models.<model>.columns.scores": '{"1": proba}',
    "models.<model>.columns.exclude": "[comment]",
    "models.<model>.window.min_samples": "200",
    "models.<model>.window.duration_seconds": "900",
    "models.<model>.drift.method": "psi",
    "models.<model>.drift.threshold": "0.2",
    "models.<model>.drift.numerical.method": "wasserstein",
    "models.<model>.drift.numerical.threshold": "0.2",
    "models.<model>.drift.categorical.method": "jensenshannon",
    "models.<model>.drift.categorical.threshold": "0.2",
    "models.<model>.drift.columns.<column>.method": "psi",
    "models.<model>.drift.columns.<column>.threshold": "0.2",
    "models.<model>.alerts.kinds": "[dataset]",
    "models.<model>.alerts.fire_after": "5",
    "models.<model>.alerts.resolve_after": "5",
    "models.<model>.alerts.repeat_interval_seconds": "3600",
    "models.<model>.alerts.severity": "critical",
    "models.<model>.alerts.top_columns": "3",
    "models.<model>.alerts.grafana_url": "https://grafana.example.com/d/credit",
    "models.<model>.alerts.report_url": "https://drift.example.com/v1/models/credit/report",
}

SECTIONS = {
    "server": "The HTTP server",
    "models": "Models",
    "alerts": "Alerts",
    "cloudevents": "CloudEvents (KServe and Seldon payload loggers)",
    "reporting": "Reporting",
    "state": "State",
    "fleet": "Fleet",
}


# ------------------------------------------------------------------------ the settings model


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    default: str
    description: str
    example: str
    section: bool  # a nested model: its keys follow


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (``X | None``, ``dict[str, X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _is_mapping(annotation: Any) -> bool:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is dict:
        return True
    return origin in (typing.Union, types.UnionType) and any(_is_mapping(a) for a in args)


def type_name(annotation: Any) -> str:
    """A reader's spelling of an annotation: ``int | null``, ``list[string]``, ``one of: a, b``."""
    if annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of: " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"map[{type_name(args[0])}, {type_name(args[1])}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    if isinstance(annotation, type) and annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


BOUNDS = (annotated_types.Gt, annotated_types.Ge, annotated_types.Lt, annotated_types.Le)


def bounds(info: FieldInfo) -> str:
    """``> 0``, ``<= 1``, ``pattern ...`` from the field's constraints."""
    parts: list[str] = []
    for item in info.metadata:
        if isinstance(item, BOUNDS):
            for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                value = getattr(item, attr, None)
                if value is not None:
                    parts.append(f"{sign} {value}")
        if isinstance(item, annotated_types.MinLen) and item.min_length > 1:
            parts.append(f"at least {item.min_length} long")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length} long")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json", exclude_defaults=True))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value) if value == "" or value.strip() != value else value
    return json.dumps(value)


def default_of(info: FieldInfo) -> str | None:
    """The default as YAML, ``None`` when the field is required."""
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return "(section)" if isinstance(value, BaseModel) else _yaml_scalar(value)
    if info.default is PydanticUndefined:
        return None
    return _yaml_scalar(info.default)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_rows(model: type[BaseModel], prefix: str = "") -> Iterator[Row]:
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = info.annotation
        nested = _models_in(annotation)
        description = info.description
        if not description:
            raise SystemExit(f"{path}: no description (give its Field a description= in the model)")
        default = default_of(info)
        is_section = bool(nested)
        kind = type_name(annotation)
        limits = bounds(info)
        if limits:
            kind = f"{kind} ({limits})"
        example = EXAMPLES.get(path)
        if example is None and default not in (None, "null", "(section)"):
            example = default
        if example is None and not is_section:
            raise SystemExit(f"{path}: no example (a default, or an entry in EXAMPLES)")
        yield Row(
            path=path,
            type=kind,
            default="required" if default is None else default,
            description=description,
            example=example or "",
            section=is_section,
        )
        for sub in nested:
            key = "<model>" if name == "models" else "<column>"
            inner = f"{path}.{key}." if _is_mapping(annotation) else f"{path}."
            yield from settings_rows(sub, inner)


def parent(path: str) -> str:
    """The section a key belongs to: ``models.<model>.window.size`` -> ``models.<model>.window``;
    the key of a mapping (``<model>``, ``<column>``) belongs to the mapping's section."""
    head = path.rpartition(".")[0]
    if head.endswith((".<model>", ".<column>")):
        head = head.rpartition(".")[0]
    return head


def _sentence(text: str) -> str:
    text = _cell(text)
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def config_reference() -> str:
    from drift.config import Settings

    rows = list(settings_rows(Settings))
    lines = [
        "<!-- generated by docs/gen_reference.py from drift.config.Settings: do not edit; "
        "run make docs -->",
        "# Configuration reference",
        "",
        "Every key of the configuration file, generated from the settings model "
        "(`drift.config.Settings`). How the file is read (`${VAR}` expansion, `DRIFT_*` "
        "environment overrides, unknown keys) is on [Configuration](../configuration.md). "
        "`<model>` stands for a model's name, `<column>` for a column's. *required* keys have no "
        "default; a section whose default is `(section)` exists with its own defaults when "
        "absent, one whose default is `null` is off until present.",
        "",
        f"{sum(not r.section for r in rows)} keys in {sum(r.section for r in rows)} sections.",
        "",
    ]
    sections = {r.path: r for r in rows if r.section}
    for top, title in SECTIONS.items():
        lines += [f"## {title} (`{top}`)", ""]
        for path in [top, *(p for p in sections if p.startswith(f"{top}."))]:
            head = sections[path]
            if path != top:
                lines += [f"### `{path}`", ""]
            lines += [
                f"{_sentence(head.description)} Type: {head.type}; default: `{head.default}`.",
                "",
            ]
            children = [r for r in rows if not r.section and parent(r.path) == path]
            if not children:
                continue
            lines += ["| key | type | default | description | example |", "|---|---|---|---|---|"]
            for r in children:
                key = r.path.removeprefix(f"{path}.")
                example = f"`{_cell(r.example)}`" if r.example else ""
                lines.append(
                    f"| `{key}` | {_cell(r.type)} | `{_cell(r.default)}` | "
                    f"{_cell(r.description)} | {example} |"
                )
            lines.append("")
    covered = {r.path for r in rows if any(r.path.split(".")[0] == s for s in SECTIONS)}
    missing = {r.path for r in rows} - covered
    if missing:
        raise SystemExit(f"settings outside the page's sections: {sorted(missing)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ the OpenAPI document

#: The settings the HTTP API page is generated with: the docs' example model.
EXAMPLE_SETTINGS: dict[str, Any] = {
    "models": {
        "credit-scoring": {
            "reference": {"path": "docs/examples/reference.csv"},
            "columns": {
                "numerical": ["age", "income"],
                "categorical": ["city"],
                "prediction": "score",
            },
            "kserve": {
                "inference_service": "credit-scoring",
                "features": ["age", "income", "city"],
            },
        }
    }
}


def openapi() -> dict[str, Any]:
    """The document the sidecar serves at ``/openapi.json`` for ``EXAMPLE_SETTINGS``."""
    from drift.config import settings_from_mapping
    from drift.service.app import app_from_settings
    from drift.service.openapi import openapi_document

    settings = settings_from_mapping(EXAMPLE_SETTINGS, base_dir=ROOT)
    return openapi_document(app_from_settings(settings))


def _schema_link(schema: Mapping[str, Any]) -> str:
    """A schema as a short type with links to the named schemas."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rpartition("/")[2]
        return f"[{name}](#{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_schema_link(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_schema_link(schema.get('items', {}))}"
    if isinstance(kind, list):
        kind = " | ".join(kind)
    if "enum" in schema:
        return f"{kind}: " + ", ".join(f"`{v}`" for v in schema["enum"])
    return str(kind)


def slug(method: str, path: str) -> str:
    """The anchor of an operation: ``post-v1-models-model-samples``."""
    text = "".join(ch if ch.isalnum() else "-" for ch in f"{method}-{path}".lower())
    return "-".join(part for part in text.split("-") if part)


def _operation(method: str, path: str, op: Mapping[str, Any], summary: str) -> list[str]:
    lines = [f"### `{method.upper()} {path}` {{#{slug(method, path)}}}", "", summary, ""]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | required | schema | description |", "|---|---|---|---|---|"]
        for p in params:
            lines.append(
                f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
                f"{_cell(_schema_link(p.get('schema', {})))} | {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    body = op.get("requestBody")
    if body:
        lines += [f"**Request body**: {_cell(body.get('description', ''))}", ""]
        lines += ["| content type | schema |", "|---|---|"]
        for ctype, content in body["content"].items():
            lines.append(f"| `{ctype}` | {_cell(_schema_link(content.get('schema', {})))} |")
        lines.append("")
        example = next((c["example"] for c in body["content"].values() if "example" in c), None)
        if example is not None:
            lines += ["Example:", "", "```json", json.dumps(example, indent=2), "```", ""]
    lines += ["**Responses**", "", "| status | description | content |", "|---|---|---|"]
    for status, answer in op["responses"].items():
        contents = answer.get("content", {})
        content = "; ".join(
            f"`{ctype}`: {_schema_link(c.get('schema', {}))}" for ctype, c in contents.items()
        )
        headers = ", ".join(f"header `{h}`" for h in answer.get("headers", {}))
        content = "; ".join(x for x in (content, headers) if x)
        lines.append(f"| {status} | {_cell(answer.get('description', ''))} | {_cell(content)} |")
    lines.append("")
    return lines


def _schema(name: str, schema: Mapping[str, Any]) -> list[str]:
    lines = [f"### {name} {{#{name.lower()}}}", ""]
    if schema.get("description"):
        lines += [_cell(str(schema["description"])), ""]
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        required = set(schema.get("required", []))
        lines += ["| property | schema | required | description |", "|---|---|---|---|"]
        for prop, sub in properties.items():
            lines.append(
                f"| `{prop}` | {_cell(_schema_link(sub))} | {'yes' if prop in required else ''} "
                f"| {_cell(str(sub.get('description', '')))} |"
            )
        lines.append("")
    else:
        lines += ["```json", json.dumps(schema, indent=2, sort_keys=True), "```", ""]
    return lines


def http_api_reference() -> str:
    from drift.config import settings_from_mapping
    from drift.service.openapi import operations

    document = openapi()
    summaries = {
        key: op.summary
        for key, op in operations(settings_from_mapping(EXAMPLE_SETTINGS, base_dir=ROOT)).items()
    }
    lines = [
        "<!-- generated by docs/gen_reference.py from the app's OpenAPI document: do not edit; "
        "run make docs -->",
        "# HTTP API reference",
        "",
        "Every route the sidecar serves, generated from the OpenAPI document it serves at "
        "`GET /openapi.json`. Parts of that document come from the configuration: this page "
        "shows it for the example model `credit-scoring` (features `age`, `income`, `city`, "
        "prediction `score`) without `server.auth`; with `server.auth` every route but "
        "`/healthz` and `/readyz` also answers 401. How to use the routes: "
        "[HTTP API](../http-api.md).",
        "",
        "## Routes",
        "",
        "| method and path | what |",
        "|---|---|",
    ]
    operations_list = [
        (method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()
    ]
    for method, path, op in operations_list:
        summary = summaries.get((method, path), op.get("summary", ""))
        anchor = slug(method, path)
        lines.append(f"| [`{method.upper()} {path}`](#{anchor}) | {_cell(summary)} |")
    lines += ["", "## Operations", ""]
    for method, path, op in operations_list:
        summary = summaries.get((method, path), op.get("summary", ""))
        lines += _operation(method, path, op, summary)
    lines += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += _schema(name, schema)
    return "\n".join(lines)


# ------------------------------------------------------------------------ main


def pages() -> dict[Path, str]:
    return {CONFIG_PAGE: config_reference(), HTTP_PAGE: http_api_reference()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when a page is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in pages().items():
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{path.relative_to(ROOT)} is stale: run make docs", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
