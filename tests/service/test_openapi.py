"""drift.service.openapi: the document ``/openapi.json`` serves. Valid OpenAPI; every route of
the app in it (the CloudEvents ones too) with its request body, answers and, under
``server.auth``, its token; the request schemas take what the routes take (the documents'
own examples and the payload loggers' real bodies); real answers of the app match the
response schemas."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from fastapi.testclient import TestClient

from drift.config import Settings, settings_from_mapping
from drift.errors import InvalidRequest
from drift.ingest.cloudevents import parse_structured
from drift.service.app import create_app
from drift.service.auth import RouteClass, route_class
from drift.service.openapi import build_document, operations
from drift.service.service import DriftService
from tests.conftest import sample
from tests.ingest.test_cloudevents import FIXTURES, load_fixture

POSTS = (
    "/v1/models/{model}/samples",
    "/v1/models/{model}/labels",
    "/v1/alertmanager",
    "/",
    "/v1/cloudevents",
)
TOKENS = {
    "ingest": {"token": "ingest-token-0123456789"},
    "alertmanager": {"token": "alertmanager-token-0123456789"},
    "read": {"token": "read-token-0123456789"},
}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A JSON Schema 2020-12 validator of ``schema`` whose ``#/components/...`` references
    resolve in ``document``."""
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def request_schema(document: dict[str, Any], path: str, media: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["paths"][path]["post"]["requestBody"]["content"][media][
        "schema"
    ]
    return schema


def answer_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    responses = document["paths"][path][method]["responses"]
    return responses[str(status)]["content"]["application/json"]["schema"]


# the document as a whole ------------------------------------------------------------------------


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    assert document["openapi"].startswith("3.1")


def test_every_route_of_the_app_is_described(client: TestClient, document: dict[str, Any]) -> None:
    described = set(operations(client.app.state.service.settings))  # type: ignore[attr-defined]
    listed = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert listed == described
    summaries = {
        key: op.summary for key, op in operations(client.app.state.service.settings).items()
    }  # type: ignore[attr-defined]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["operationId"], (method, path)
            assert op["summary"] == summaries[(method, path)], (method, path)  # not FastAPI's
            for status in op["responses"]:
                assert not status.startswith("5") or status in ("501", "503"), (method, path)
    assert "HTTPValidationError" not in json.dumps(document)  # FastAPI's, for no route here


def test_each_post_has_a_request_body_and_the_error_answers(document: dict[str, Any]) -> None:
    for path in POSTS:
        post = document["paths"][path]["post"]
        assert post["requestBody"]["required"] is True
        assert post["requestBody"]["content"], path
        assert {"400", "413", "415", "422", "503"} <= set(post["responses"]), path
    gets = [op for ops in document["paths"].values() for m, op in ops.items() if m == "get"]
    assert gets
    assert not any("requestBody" in op for op in gets)
    error = document["components"]["schemas"]["Error"]
    assert {"error", "field", "detail"} <= set(error["properties"])


def test_the_cloudevents_routes_take_three_modes_and_the_ce_headers(
    document: dict[str, Any],
) -> None:
    for path in ("/", "/v1/cloudevents"):
        post = document["paths"][path]["post"]
        assert set(post["requestBody"]["content"]) == {
            "application/json",
            "application/cloudevents+json",
            "application/cloudevents-batch+json",
        }
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
        assert {"ce-specversion", "ce-id", "ce-type", "ce-inferenceservicename"} <= headers
        assert {"ce-requestid", "ce-modelid", "ce-statuscode"} <= headers
        assert {"200", "202", "400", "413", "415", "422"} <= set(post["responses"])


def test_the_model_parameter_lists_the_configured_models(document: dict[str, Any]) -> None:
    parameter = document["paths"]["/v1/models/{model}/samples"]["post"]["parameters"][0]
    assert parameter["name"] == "model"
    assert parameter["schema"]["enum"] == ["credit-scoring"]


def test_the_document_is_built_once(client: TestClient) -> None:
    first = client.get("/openapi.json").json()
    assert client.app.openapi() is client.app.openapi()  # type: ignore[attr-defined]
    assert client.get("/openapi.json").json() == first


# request schemas: what the routes take ------------------------------------------------------------


def test_features_and_prediction_follow_the_configured_columns(tmp_path: Path) -> None:
    settings = two_models(tmp_path)
    schemas = build_document({"paths": {}}, settings)["components"]["schemas"]
    features = schemas["Features"]
    assert features["required"] == ["age"]  # the one feature both models have
    assert features["properties"]["age"]["type"] == ["number", "null"]
    assert "string" in features["properties"]["city"]["type"]  # categorical
    assert features["properties"]["income"]["type"] == ["number", "null"]
    assert schemas["Sample"]["required"] == ["features"]  # one model monitors no prediction


def test_the_documents_examples_are_valid_and_accepted(
    client: TestClient, document: dict[str, Any]
) -> None:
    for path, route in (
        ("/v1/models/{model}/samples", "/v1/models/credit-scoring/samples"),
        ("/v1/models/{model}/labels", "/v1/models/credit-scoring/labels"),
        ("/v1/alertmanager", "/v1/alertmanager"),
    ):
        media = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        validator(document, media["schema"]).validate(media["example"])
        response = client.post(route, json=media["example"])
        assert response.status_code == 200, (path, response.text)


def test_samples_the_route_accepts_are_valid(document: dict[str, Any]) -> None:
    check = validator(document, request_schema(document, POSTS[0], "application/json"))
    numeric_city = {"features": {"age": None, "income": 1.0, "city": 3}, "prediction": None}
    check.validate({"samples": [sample(), numeric_city]})
    check.validate(
        {"samples": [{**sample(), "timestamp": 1.7e9, "scores": {"yes": 0.25}, "id": 7}]}
    )
    with pytest.raises(jsonschema.ValidationError):
        check.validate({"samples": [{"prediction": 1}]})  # no features


def test_the_payload_loggers_bodies_are_valid(document: dict[str, Any]) -> None:
    """Every body of the KServe and Seldon fixtures (captured from the loggers' sources), in
    each mode, is valid by the CloudEvents route's schema."""
    binary = validator(document, request_schema(document, "/", "application/json"))
    structured = validator(document, request_schema(document, "/", "application/cloudevents+json"))
    batch = validator(document, request_schema(document, "/", "application/cloudevents-batch+json"))
    checked = 0
    for fixture in sorted(FIXTURES.glob("*.json")):
        for headers, body in load_fixture(fixture.name):
            kind = headers.get("content-type", "")
            if kind.startswith("application/cloudevents-batch+json"):
                events = json.loads(body)
                assert batch.is_valid([e for e in events if refused(e) is None])
                for event in events:  # the invalid one of the fixture: invalid by the schema
                    assert structured.is_valid(event) is (refused(event) is None), event
            elif kind.startswith("application/cloudevents+json"):
                event = json.loads(body)
                structured.validate(event)
                if "data_base64" in event:
                    binary.validate(json.loads(base64.b64decode(event["data_base64"])))
            else:
                binary.validate(json.loads(body))
            checked += 1
    assert checked >= 20


def refused(event: Any) -> InvalidRequest | None:
    try:
        parse_structured(event)
    except InvalidRequest as exc:
        return exc
    return None


# real answers match the response schemas ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"samples": [sample()]}, 200),
        ({"samples": [sample(), {"features": {"age": "old"}}]}, 422),
        ({"samples": "no"}, 422),
        ({"samples": [sample()] * 1001}, 413),
    ],
)
def test_samples_answers_match(
    client: TestClient, document: dict[str, Any], body: Any, status: int
) -> None:
    response = client.post("/v1/models/credit-scoring/samples", json=body)
    assert response.status_code == status
    schema = answer_schema(document, POSTS[0], "post", status)
    validator(document, schema).validate(response.json())


def test_error_answers_match(client: TestClient, document: dict[str, Any]) -> None:
    cases = [
        (client.post("/v1/models/nope/samples", json={}), POSTS[0], 404),
        (
            client.post("/v1/models/credit-scoring/labels", content=b"{", headers=JSON),
            POSTS[1],
            400,
        ),
        (client.post("/v1/alertmanager", content=b"{}", headers=TEXT), POSTS[2], 415),
        (client.post("/v1/alertmanager", json={"version": "3"}), POSTS[2], 422),
        (client.post("/", json={"instances": [1]}), "/", 400),
        (client.post("/v1/cloudevents", content=b"x", headers=TEXT), "/v1/cloudevents", 415),
    ]
    for response, path, status in cases:
        assert response.status_code == status, (path, response.text)
        validator(document, answer_schema(document, path, "post", status)).validate(response.json())


def test_read_answers_match(client: TestClient, document: dict[str, Any]) -> None:
    for path, route in (
        ("/v1/models", "/v1/models"),
        ("/v1/models/{model}/performance", "/v1/models/credit-scoring/performance"),
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
    ):
        response = client.get(route)
        assert response.status_code == 200
        validator(document, answer_schema(document, path, "get", 200)).validate(response.json())


def test_a_drift_report_matches(client: TestClient, document: dict[str, Any]) -> None:
    good = [sample(age=40 + i % 7, income=1000.0 + i) for i in range(50)]
    assert client.post("/v1/models/credit-scoring/samples", json={"samples": good}).is_success
    service: DriftService = client.app.state.service  # type: ignore[attr-defined]
    service.monitors["credit-scoring"].evaluate()
    response = client.get("/v1/models/credit-scoring/drift")
    assert response.status_code == 200
    schema = answer_schema(document, "/v1/models/{model}/drift", "get", 200)
    validator(document, schema).validate(response.json())


TEXT = {"content-type": "text/plain"}
JSON = {"content-type": "application/json"}


# server.auth ------------------------------------------------------------------------------------


def test_without_auth_no_operation_needs_a_token(document: dict[str, Any]) -> None:
    assert "securitySchemes" not in document["components"]
    for ops in document["paths"].values():
        for op in ops.values():
            assert "security" not in op
            assert "401" not in op["responses"]


@pytest.mark.parametrize("metrics", [False, True])
def test_with_auth_each_operation_names_its_route_class(settings: Settings, metrics: bool) -> None:
    data = settings.model_dump(mode="json", exclude_none=True)
    data["server"]["auth"] = {**TOKENS, "metrics": metrics}
    with_auth = settings_from_mapping(data)
    service = DriftService(with_auth)
    with TestClient(create_app(service, manage_lifecycle=False)) as client:
        assert client.get("/openapi.json").status_code == 401
        read = {"Authorization": f"Bearer {TOKENS['read']['token']}"}
        document = client.get("/openapi.json", headers=read).json()
    assert set(document["components"]["securitySchemes"]) == {"ingest", "alertmanager", "read"}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            cls = route_class(method.upper(), path, metrics)
            if cls is RouteClass.OPEN:
                assert op["security"] == [], (method, path)
                assert "401" not in op["responses"]
            else:
                assert op["security"] == [{cls.value: []}], (method, path)
                assert "401" in op["responses"]
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert document["paths"]["/v1/cloudevents"]["post"]["security"] == [{"ingest": []}]
    assert document["paths"]["/v1/alertmanager"]["post"]["security"] == [{"alertmanager": []}]
    metrics_security = document["paths"]["/metrics"]["get"]["security"]
    assert metrics_security == ([{"read": []}] if metrics else [])


# helpers ----------------------------------------------------------------------------------------


def two_models(tmp_path: Path) -> Settings:
    reference = tmp_path / "reference.csv"
    reference.write_text("age,income,city,score\n1,2,a,0.5\n", encoding="utf-8")
    return settings_from_mapping(
        {
            "models": {
                "a": {
                    "reference": {"path": str(reference)},
                    "columns": {
                        "numerical": ["age"],
                        "categorical": ["city"],
                        "prediction": "score",
                    },
                },
                "b": {
                    "reference": {"path": str(reference)},
                    "columns": {"numerical": ["age", "income"]},
                },
            }
        }
    )
