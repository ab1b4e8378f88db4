"""Parsing CloudEvents (binary, structured, batch) and decoding KServe v1 / v2 and Seldon payloads.

The fixtures in ``tests/fixtures/cloudevents`` reproduce what KServe's and Seldon's payload
loggers send; their README names the sources.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from drift.errors import InvalidRequest
from drift.ingest.cloudevents import (
    CloudEvent,
    Kind,
    PayloadMapping,
    Source,
    Undecodable,
    classify,
    feature_rows,
    feedback_truth,
    labels_payload,
    media_type,
    parse_batch,
    parse_binary,
    parse_structured,
    predictions,
    sample_ids,
    samples_payload,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudevents"
IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
BY_POSITION = PayloadMapping(IRIS)


def load_fixture(name: str) -> list[tuple[dict[str, str], bytes]]:
    """The POSTs of a fixture: lower-case headers (as ASGI gives them) and the body bytes."""
    document = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return [
        ({k.lower(): v for k, v in e["headers"].items()}, e["body"].encode())
        for e in document["events"]
    ]


def event(name: str, index: int = 0) -> CloudEvent:
    headers, body = load_fixture(name)[index]
    return parse_binary(headers, body)


def test_every_fixture_declares_its_true_content_length() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        for headers, body in load_fixture(path.name):
            assert int(headers["content-length"]) == len(body), path.name


# parsing ------------------------------------------------------------------------------------


def test_kserve_binary_request_and_response_share_the_ce_id() -> None:
    request, response = (
        event("kserve_v1_two_instances.json", 0),
        event("kserve_v1_two_instances.json", 1),
    )
    assert (request.source, request.kind) == (Source.KSERVE, Kind.REQUEST)
    assert (response.source, response.kind) == (Source.KSERVE, Kind.RESPONSE)
    assert request.correlation == response.correlation == "5f1d8b2e-3c4a-4d6e-9f80-1a2b3c4d5e6f"
    assert request.service == "sklearn-iris"
    assert request.namespace == "kserve-test"
    assert (request.unit, request.endpoint) == ("predictor", "default")
    assert request.status is None
    assert not response.failed
    assert request.data == {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}


def test_seldon_events_pair_on_the_request_id_not_the_event_id() -> None:
    request, response = event("seldon_ndarray.json", 0), event("seldon_ndarray.json", 1)
    assert request.id != response.id
    assert request.correlation == response.correlation == "b7c1f2d3-5e6a-4b7c-8d9e-0f1a2b3c4d5e"
    assert (request.source, request.unit, request.service) == (Source.SELDON, "classifier", "iris")
    feedback = event("seldon_feedback.json")
    assert feedback.kind is Kind.FEEDBACK


def test_a_non_2xx_statuscode_marks_the_response_failed() -> None:
    response = event("kserve_v1_error_status.json", 1)
    assert response.status == 503
    assert response.failed


def headers_of(name: str, index: int = 0) -> dict[str, str]:
    return dict(load_fixture(name)[index][0])


@pytest.mark.parametrize("missing", ["ce-id", "ce-type", "ce-specversion"])
def test_a_missing_required_attribute_is_refused_naming_the_header(missing: str) -> None:
    headers = headers_of("kserve_v1_two_instances.json")
    del headers[missing]
    with pytest.raises(InvalidRequest) as info:
        parse_binary(headers, b'{"instances": [[1, 2, 3, 4]]}')
    assert info.value.status == 400
    assert info.value.field == missing


def test_seldon_without_requestid_is_refused() -> None:
    headers = headers_of("seldon_ndarray.json")
    del headers["ce-requestid"]
    with pytest.raises(InvalidRequest) as info:
        parse_binary(headers, load_fixture("seldon_ndarray.json")[0][1])
    assert info.value.field == "ce-requestid"


def test_a_body_that_is_not_json_is_refused_naming_the_content_type() -> None:
    headers = headers_of("seldon_ndarray.json") | {"content-type": "application/protobuf"}
    with pytest.raises(InvalidRequest) as info:
        parse_binary(headers, b"\x0a\x03abc")
    assert (info.value.reason, info.value.field) == ("invalid_json", "(body)")
    assert "application/protobuf" in info.value.detail


def test_a_bad_statuscode_is_refused() -> None:
    headers = headers_of("kserve_v1_two_instances.json", 1) | {"ce-statuscode": "oops"}
    with pytest.raises(InvalidRequest) as info:
        parse_binary(headers, b'{"predictions": [1]}')
    assert info.value.field == "ce-statuscode"


def test_other_types_are_classified_and_their_body_is_not_parsed() -> None:
    headers = headers_of("kserve_v1_two_instances.json") | {
        "ce-type": "org.kubeflow.serving.inference.outlier"
    }
    outlier = parse_binary(headers, b"not even json")
    assert (outlier.source, outlier.kind, outlier.data) == (Source.KSERVE, Kind.OTHER, None)
    assert classify("io.seldon.serving.inference.drift") == (Source.SELDON, Kind.OTHER)
    assert classify("com.example.something") == (Source.UNKNOWN, Kind.OTHER)


def test_percent_encoded_header_values_are_decoded() -> None:
    headers = headers_of("kserve_v1_two_instances.json") | {"ce-id": "order%20%C3%A9t%C3%A9"}
    assert parse_binary(headers, b'{"instances": [[1, 2, 3, 4]]}').correlation == "order été"


def test_structured_mode_with_data_and_data_base64() -> None:
    (h1, b1), (_, b2) = load_fixture("structured_mode.json")
    assert media_type(h1["content-type"]) == "application/cloudevents+json"
    request = parse_structured(json.loads(b1))
    response = parse_structured(json.loads(b2))
    assert request.correlation == response.correlation
    assert request.data == {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}
    assert response.data == {"predictions": [1, 1]}
    assert (request.unit, request.service) == ("predictor", "sklearn-iris")


def structured(**fields: Any) -> dict[str, Any]:
    base = {
        "specversion": "1.0",
        "id": "x",
        "source": "s",
        "type": "org.kubeflow.serving.inference.response",
        "inferenceservicename": "m",
    }
    return base | fields


def test_structured_mode_errors_name_the_field() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_structured(structured(data_base64="***"))
    assert info.value.field == "data_base64"
    with pytest.raises(InvalidRequest) as info:
        parse_structured(structured())
    assert info.value.field == "data"
    with pytest.raises(InvalidRequest) as info:
        parse_structured(structured(id="", data={}))
    assert info.value.field == "id"
    with pytest.raises(InvalidRequest):
        parse_structured([1, 2])


def test_structured_data_given_as_a_json_string_and_a_numeric_statuscode() -> None:
    parsed = parse_structured(structured(data='{"predictions": [3]}', statuscode=500))
    assert parsed.data == {"predictions": [3]}
    assert parsed.status == 500
    raw = base64.b64encode(b'{"predictions": [4]}').decode()
    assert parse_structured(structured(data_base64=raw)).data == {"predictions": [4]}


def test_batch_mode_keeps_the_good_events_and_reports_the_bad_one() -> None:
    [(headers, body)] = load_fixture("batch_mode.json")
    assert media_type(headers["content-type"]) == "application/cloudevents-batch+json"
    first, bad, last = parse_batch(body)
    assert isinstance(first, CloudEvent)
    assert first.kind is Kind.REQUEST
    assert isinstance(last, CloudEvent)
    assert last.kind is Kind.RESPONSE
    assert isinstance(bad, InvalidRequest)
    assert bad.field == "[1].id"
    with pytest.raises(InvalidRequest):
        parse_batch(b'{"not": "an array"}')


# request decoding ---------------------------------------------------------------------------


def test_v1_positional_instances_are_named_by_position() -> None:
    rows = feature_rows(event("kserve_v1_two_instances.json").data, BY_POSITION)
    assert rows == [
        dict(zip(IRIS, [6.8, 2.8, 4.8, 1.4], strict=True)),
        dict(zip(IRIS, [6.0, 3.4, 4.5, 1.6], strict=True)),
    ]


def test_v1_object_instances_need_no_names() -> None:
    body = {"instances": [{"age": 30, "city": "rome"}, {"age": 41, "city": "oslo"}]}
    assert feature_rows(body, PayloadMapping()) == body["instances"]


def test_v1_scalar_instances_of_a_one_feature_model() -> None:
    assert feature_rows({"instances": [1.5, 2.5]}, PayloadMapping(("x",))) == [
        {"x": 1.5},
        {"x": 2.5},
    ]


def test_v1_one_instance_without_the_batch_dimension() -> None:
    assert feature_rows({"instances": [6.8, 2.8, 4.8, 1.4]}, BY_POSITION) == [
        dict(zip(IRIS, [6.8, 2.8, 4.8, 1.4], strict=True))
    ]


@pytest.mark.parametrize(
    ("body", "mapping", "field", "words"),
    [
        ({"instances": [[1, 2, 3, 4]]}, PayloadMapping(), "instances[0]", "kserve.features"),
        ({"instances": [[1, 2, 3]]}, BY_POSITION, "instances[0]", "3 values for 4"),
        ({"instances": "x"}, BY_POSITION, "instances", "an array"),
        ({"instances": [1, 2]}, BY_POSITION, "instances[0]", "exactly one name"),
        ({"something": 1}, BY_POSITION, "(body)", "not an inference request"),
        ([1, 2], BY_POSITION, "(body)", "JSON object"),
    ],
)
def test_requests_that_do_not_match_the_mapping_name_the_field(
    body: Any, mapping: PayloadMapping, field: str, words: str
) -> None:
    with pytest.raises(Undecodable) as info:
        feature_rows(body, mapping)
    assert info.value.field == field
    assert words in info.value.detail


def test_tensorflow_columnar_inputs() -> None:
    body = {"inputs": {"a": [1, 2], "b": ["x", "y"]}}
    assert feature_rows(body, PayloadMapping()) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(Undecodable):
        feature_rows({"inputs": {"a": [1, 2], "b": [1]}}, PayloadMapping())


def test_v2_tensor_of_shape_n_k_nested_and_flat() -> None:
    nested = feature_rows(event("kserve_v2_nested.json").data, BY_POSITION)
    assert nested == feature_rows(event("kserve_v1_two_instances.json").data, BY_POSITION)
    flat = feature_rows(event("kserve_v2_flat.json").data, BY_POSITION)
    assert [r["petal_width"] for r in flat] == [0.2, 1.3, 2.5]
    assert flat[1] == dict(zip(IRIS, [6.2, 2.9, 4.3, 1.3], strict=True))


def test_v2_one_tensor_per_feature_named_like_the_features() -> None:
    body = event("kserve_v2_tensor_per_feature.json").data
    rows = feature_rows(body, PayloadMapping())
    assert rows[1] == dict(zip(IRIS, [6.0, 3.4, 4.5, 1.6], strict=True))
    subset = feature_rows(body, PayloadMapping(("petal_width", "sepal_length")))
    assert subset == [
        {"petal_width": 1.4, "sepal_length": 6.8},
        {"petal_width": 1.6, "sepal_length": 6.0},
    ]
    with pytest.raises(Undecodable, match="no tensor named like feature 'bmi'"):
        feature_rows(body, PayloadMapping(("bmi",)))


def v2(*tensors: tuple[str, list[int], list[Any]]) -> dict[str, Any]:
    return {
        "inputs": [{"name": n, "shape": s, "datatype": "FP32", "data": d} for n, s, d in tensors]
    }


def test_v2_input_tensor_picks_one_of_several() -> None:
    body = v2(("ids", [2], [7, 8]), ("x", [2, 2], [1, 2, 3, 4]))
    rows = feature_rows(body, PayloadMapping(("a", "b"), input_tensor="x"))
    assert rows == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    with pytest.raises(Undecodable, match="no input tensor 'y'"):
        feature_rows(body, PayloadMapping(("a", "b"), input_tensor="y"))


def test_v2_shapes_are_checked() -> None:
    with pytest.raises(Undecodable, match=r"need kserve\.features") as info:
        feature_rows(v2(("x", [2, 2], [1, 2, 3, 4])), PayloadMapping())
    assert info.value.field == "inputs"
    with pytest.raises(Undecodable, match="3 values for shape") as info:
        feature_rows(v2(("x", [2, 2], [1, 2, 3])), PayloadMapping(("a", "b")))
    assert info.value.field == "inputs[0].data"
    with pytest.raises(Undecodable, match="non-negative integers"):
        feature_rows(v2(("x", [-1], [1])), PayloadMapping(("a",)))
    with pytest.raises(Undecodable, match="2 values per row for 3"):
        feature_rows(v2(("x", [2, 2], [1, 2, 3, 4])), PayloadMapping(("a", "b", "c")))
    one = feature_rows(v2(("x", [1], [5])), PayloadMapping())
    assert one == [{"x": 5}]  # a [n] tensor without names: the tensor's name


def test_v2_a_one_dimensional_tensor_of_k_values_is_one_instance() -> None:
    rows = feature_rows(v2(("x", [4], [6.8, 2.8, 4.8, 1.4])), BY_POSITION)
    assert rows == [dict(zip(IRIS, [6.8, 2.8, 4.8, 1.4], strict=True))]


def test_seldon_ndarray_uses_data_names_unless_features_are_configured() -> None:
    body = event("seldon_ndarray.json").data
    own = feature_rows(body, PayloadMapping(), "seldon")
    assert own[0] == {
        "Sepal length": 6.8,
        "Sepal width": 2.8,
        "Petal length": 4.8,
        "Petal Width": 1.4,
    }
    mapped = feature_rows(body, BY_POSITION, "seldon")
    assert mapped[1] == dict(zip(IRIS, [6.1, 3.4, 4.5, 1.6], strict=True))


def test_seldon_tensor_and_one_dimensional_ndarrays() -> None:
    body = event("seldon_tensor.json", 1).data
    assert feature_rows(body, BY_POSITION, "seldon") == [
        dict(zip(IRIS, [5.9, 3.0, 5.1, 1.8], strict=True))
    ]
    strings = {"data": {"names": ["text"], "ndarray": ["test1", "test2"]}}
    assert feature_rows(strings, PayloadMapping(), "seldon") == [
        {"text": "test1"},
        {"text": "test2"},
    ]
    with pytest.raises(Undecodable) as info:
        feature_rows({"data": {"ndarray": [[1, 2]]}}, PayloadMapping(), "seldon")
    assert info.value.field == "data.names"
    with pytest.raises(Undecodable, match="strData"):
        feature_rows({"data": {"strData": "x"}}, PayloadMapping(), "seldon")


def test_seldon_json_data_objects() -> None:
    assert feature_rows({"jsonData": {"a": 1}}, PayloadMapping(), "seldon") == [{"a": 1}]
    assert feature_rows({"jsonData": [{"a": 1}, {"a": 2}]}, PayloadMapping(), "seldon") == [
        {"a": 1},
        {"a": 2},
    ]


# response decoding --------------------------------------------------------------------------


def test_v1_predictions_scalars_and_objects() -> None:
    assert predictions(event("kserve_v1_two_instances.json", 1).data, PayloadMapping()) == [1, 1]
    objects = {"predictions": [{"label": "a", "score": 0.9}, {"label": "b", "score": 0.2}]}
    assert predictions(objects, PayloadMapping(output="score")) == [0.9, 0.2]
    assert predictions({"predictions": [{"y": 3}]}, PayloadMapping()) == [3]  # the only key
    with pytest.raises(Undecodable, match=r"set kserve\.output") as info:
        predictions(objects, PayloadMapping())
    assert info.value.field == "predictions[0]"
    with pytest.raises(Undecodable, match="no key 'p'"):
        predictions(objects, PayloadMapping(output="p"))


def test_v2_outputs_first_or_named() -> None:
    assert predictions(event("kserve_v2_nested.json", 1).data, PayloadMapping()) == [1, 1]
    assert predictions(event("kserve_v2_flat.json", 1).data, PayloadMapping()) == [0, 1, 2]
    body = event("kserve_v2_tensor_per_feature.json", 1).data
    assert predictions(body, PayloadMapping(output="predict")) == [1, 1]
    assert predictions(body, PayloadMapping(output="predict_proba")) == [
        [0.0, 0.9, 0.1],
        [0.01, 0.96, 0.03],
    ]
    with pytest.raises(Undecodable, match="no output tensor 'nope'"):
        predictions(body, PayloadMapping(output="nope"))


def test_seldon_first_column_or_the_named_one() -> None:
    body = event("seldon_ndarray.json", 1).data
    assert predictions(body, PayloadMapping(), "seldon") == [
        0.0006985194531162841,
        0.0009439990154232786,
    ]
    assert predictions(body, PayloadMapping(output="t:2"), "seldon")[1] == 0.9927921558290118
    tensor = event("seldon_tensor.json", 2).data
    assert predictions(tensor, PayloadMapping(output="t:2"), "seldon") == [0.79]
    with pytest.raises(Undecodable, match="no column 'p'"):
        predictions(body, PayloadMapping(output="p"), "seldon")
    assert predictions({"data": {"ndarray": [1, 0]}}, PayloadMapping(), "seldon") == [1, 0]
    assert predictions({"jsonData": {"y": 2}}, PayloadMapping(output="y"), "seldon") == [2]


def test_feedback_truth_and_the_puid_of_the_prediction() -> None:
    puid, truths = feedback_truth(event("seldon_feedback.json").data, PayloadMapping())
    assert puid == "b7c1f2d3-5e6a-4b7c-8d9e-0f1a2b3c4d5e"
    assert truths == [1.0, 0.0]
    assert feedback_truth({"truth": {"data": {"ndarray": [2]}}}, PayloadMapping()) == (None, [2])
    with pytest.raises(Undecodable) as info:
        feedback_truth({"reward": 1.0}, PayloadMapping())
    assert info.value.field == "truth"


# samples -------------------------------------------------------------------------------------


def test_sample_ids_follow_the_middleware_convention() -> None:
    assert sample_ids("r1", 1) == ["r1"]
    assert sample_ids("r1", 3) == ["r1:0", "r1:1", "r1:2"]


def test_samples_payload_with_and_without_predictions() -> None:
    rows = [{"a": 1}, {"a": 2}]
    assert samples_payload("r", rows, [0.1, 0.2]) == {
        "samples": [
            {"id": "r:0", "features": {"a": 1}, "prediction": 0.1},
            {"id": "r:1", "features": {"a": 2}, "prediction": 0.2},
        ]
    }
    assert samples_payload("r", rows[:1], None) == {"samples": [{"id": "r", "features": {"a": 1}}]}
    with pytest.raises(Undecodable, match="2 instances but 1 predictions"):
        samples_payload("r", rows, [0.1])
    assert labels_payload("p", [1, 0]) == {
        "labels": [{"id": "p:0", "label": 1}, {"id": "p:1", "label": 0}]
    }
