"""The custom-resource check of ``crds.py`` rejects what an API server with strict field
validation would: a mistyped field, a value outside an enum, a malformed duration, and (through
kubernetes-validate) a mistyped field of an inlined PodSpec or Container."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy import crds
from tests.deploy.manifests import one, render

Mutation = Callable[[dict[str, Any]], None]


def _rename(parent: dict[str, Any], old: str, new: str) -> None:
    parent[new] = parent.pop(old)


CASES: list[tuple[str, str, Mutation, str]] = [
    (
        "kserve",
        "InferenceService",
        lambda o: _rename(o["spec"]["predictor"], "containers", "contianers"),
        "'contianers' was unexpected",
    ),
    (
        "kserve",
        "InferenceService",
        lambda o: o["spec"]["predictor"]["logger"].update(mode="both"),
        "'both' is not one of",
    ),
    (
        "kserve",
        "InferenceService",
        lambda o: o["spec"]["predictor"]["model"].update(storageURI="gs://x"),
        "'storageURI' was unexpected",
    ),
    (
        "kserve",
        "InferenceService",
        lambda o: o["spec"]["predictor"]["containers"][0]["securityContext"].update(
            runAsNonroot=True
        ),
        "'runAsNonroot' was unexpected",
    ),
    (
        "seldon",
        "SeldonDeployment",
        lambda o: _rename(o["spec"]["predictors"][0]["graph"], "logger", "loger"),
        "'loger' was unexpected",
    ),
    (
        "seldon",
        "SeldonDeployment",
        lambda o: o["spec"]["predictors"][0]["componentSpecs"][0]["spec"].update(volumez=[]),
        "'volumez' was unexpected",
    ),
    (
        "fastapi",
        "PodMonitor",
        lambda o: o["spec"]["podMetricsEndpoints"][0].update(interval="30 seconds"),
        "does not match",
    ),
    (
        "fastapi",
        "PodMonitor",
        lambda o: _rename(o["spec"], "podMetricsEndpoints", "podMetricEndpoints"),
        "'podMetricEndpoints' was unexpected",
    ),
    (
        "fastapi",
        "PodMonitor",
        lambda o: o["spec"].pop("selector"),
        "'selector' is a required property",
    ),
    (
        "aggregator",
        "PrometheusRule",
        lambda o: o["spec"]["groups"][0]["rules"][0].update({"for": "15 minutes"}),
        "does not match",
    ),
    (
        "aggregator",
        "PrometheusRule",
        lambda o: o["spec"]["groups"][0]["rules"][0].pop("expr"),
        "'expr' is a required property",
    ),
]


@pytest.mark.parametrize(
    ("overlay", "kind", "mutate", "message"),
    CASES,
    ids=[f"{kind}-{message[:24]}" for _, kind, _, message in CASES],
)
def test_a_broken_resource_fails_its_schema(
    overlay: str, kind: str, mutate: Mutation, message: str
) -> None:
    resource = copy.deepcopy(one(render(overlay), kind))
    assert crds.validate_custom(resource) == []
    mutate(resource)
    problems = crds.validate_custom(resource)
    assert any(message in p for p in problems), problems
