"""Schemathesis over the live ``/openapi.json`` of the real sidecar: no answer may be a 5xx.

The real process (``drift-sidecar serve``: uvicorn and the CloudEvents fast path) serves one model
``m1`` that also takes KServe and Seldon events; its window gets good samples first, so that the
read routes (drift, report, performance) answer with content. Schemathesis loads the document
the process serves and, for every operation in it (the CloudEvents routes with their ce-*
headers and three media types included), sends:

- the document's examples;
- its coverage cases (boundary values, missing and wrong-typed fields, other methods, other
  media types: every one, deterministic);
- ``MAX_EXAMPLES`` fuzzed requests with valid data and as many with invalid data, derandomized
  (no seed to pass around, no example database). The valid binary-mode CloudEvents are steered
  (``steer_cloudevents``) to the events the sidecar acts on, for the model's services, with
  ids that pair up, so that fuzzed values reach the KServe/Seldon decoding, the pairing and
  the ingestion, not only the attribute checks.

Each answer goes through ``not_a_server_error`` (the bar: no 5xx), ``status_code_conformance``
(a status the document lists) and ``response_schema_conformance`` (the body matches it). Every
failure is collected, with a curl command that reproduces it, and reported at the end. The
process's log must hold no traceback either: a failure in a background flush answers no
request but is a bug all the same.

With ``server.auth`` (``test_fuzz_with_auth``): schemathesis sends each operation's own token
(the document's bearer schemes), and each request is sent again without it and with a wrong
one, which must get 401.

Requests go through ``requests`` with ``CompatAdapter``: the dev environment's urllib3 is
urllib3-future (grafana-client's niquests brings it), whose pool container lacks the ``keys()``
that schemathesis 4.32's connection counting calls on every ``HTTPAdapter`` of the session.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from prometheus_client.parser import text_string_to_metric_families
from requests.adapters import BaseAdapter, HTTPAdapter
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from drift.service.auth import RouteClass, route_class

from .conftest import (
    NUMERICAL,
    Running,
    _stop,
    kserve_model_config,
    make_rows,
    serve,
    to_samples,
)

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 50  # per operation and generation mode
FEATURES = [*NUMERICAL, "segment"]
SERVICES = ("iris", "iris-seldon")  # the model's kserve.inference_service, seldon.deployment
CLOUDEVENTS = ("/", "/v1/cloudevents")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
TOKENS = {
    "ingest": "ingest-token-0123456789",
    "alertmanager": "alertmanager-token-0123456789",
    "read": "read-token-0123456789",
}


# the sidecar --------------------------------------------------------------------------------


def write_config(home: Path, auth: bool) -> Path:
    server = "server: {log_level: warning}\n"
    if auth:
        tokens = ", ".join(f"{cls}: {{token: {token}}}" for cls, token in TOKENS.items())
        server = f"server: {{log_level: warning, auth: {{{tokens}}}}}\n"
    seldon = f"    seldon: {{deployment: {SERVICES[1]}, features: [{', '.join(FEATURES)}]}}\n"
    return kserve_model_config(home, server, window=200, extra=seldon)


def bearer(route_class: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[route_class]}"}


@contextmanager
def run_sidecar(home: Path, auth: bool) -> Iterator[Running]:
    """The real sidecar, ready, with an evaluation of 200 good samples behind it."""
    running = serve(write_config(home, auth), home)
    try:
        samples = to_samples(make_rows(np.random.default_rng(2), 200), "warmup")
        with httpx.Client(base_url=running.url, timeout=10.0) as client:
            headers = bearer("ingest") if auth else {}
            answer = client.post(
                "/v1/models/m1/samples", json={"samples": samples}, headers=headers
            )
            assert answer.status_code == 200, answer.text
            read = bearer("read") if auth else {}
            for _ in range(200):  # the evaluator runs a step's samples within ~1 s
                if client.get("/v1/models/m1/drift", headers=read).status_code == 200:
                    break
                time.sleep(0.05)
            else:
                pytest.fail(f"no evaluation after 10 s; log:\n{running.output()}")
        yield running
    finally:
        _stop(running)


def exceptions(log: str) -> list[str]:
    """The exception line of each traceback in a process's log."""
    found: list[str] = []
    in_traceback = False
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace():
            found.append(line)
            in_traceback = False
    return found


# the fuzzer ---------------------------------------------------------------------------------


class CompatAdapter(BaseAdapter):
    """``HTTPAdapter``'s sending, in an adapter that schemathesis does not inspect (see the
    module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._inner = HTTPAdapter()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        return self._inner.send(request, **kwargs)

    def close(self) -> None:
        self._inner.close()


# a value of a feature, a prediction or a truth, as JSON carries them
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
ROW = st.lists(SCALARS, min_size=len(FEATURES), max_size=len(FEATURES))
ROWS = st.lists(ROW, min_size=2, max_size=2)
COLUMN = st.lists(SCALARS, min_size=2, max_size=2)  # as many as the rows: requests pair up


def _ndarray(rows: st.SearchStrategy[Any], **fields: Any) -> st.SearchStrategy[Any]:
    data = st.fixed_dictionaries({"ndarray": rows, **fields})
    return st.fixed_dictionaries({"data": data})


# ce-type -> the model's service for that sender, a body shaped like the model's
EVENTS: dict[str, tuple[str, st.SearchStrategy[Any]]] = {
    "org.kubeflow.serving.inference.request": (
        SERVICES[0],
        st.fixed_dictionaries({"instances": ROWS}),
    ),
    "org.kubeflow.serving.inference.response": (
        SERVICES[0],
        st.fixed_dictionaries({"predictions": COLUMN}),
    ),
    "io.seldon.serving.inference.request": (
        SERVICES[1],
        _ndarray(ROWS, names=st.just(FEATURES)),
    ),
    "io.seldon.serving.inference.response": (SERVICES[1], _ndarray(COLUMN)),
    "io.seldon.serving.feedback": (
        SERVICES[1],
        st.fixed_dictionaries({"truth": _ndarray(COLUMN)}),
    ),
}
# a body of every type and maybe a status code; the type is picked in turn when the case is made
BODIES = st.fixed_dictionaries({ce_type: body for ce_type, (_, body) in EVENTS.items()})
STATUS = st.one_of(st.none(), st.sampled_from(["200", "503"]))


class _Turns:
    """The event types in turn, each round with its own id: a request, then its response
    (derandomized generation would otherwise draw the first type nearly every time, and halves
    of one side never pair)."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> tuple[str, str]:
        types = list(EVENTS)
        turn, self.count = self.count, self.count + 1
        return types[turn % len(types)], f"pair-{turn // len(types)}"


TURNS = _Turns()


def steer_cloudevents(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    """Valid binary-mode CloudEvents cases: a complete event of a type the sidecar uses, for
    the model's KServe or Seldon service, with ids that pair up and a body shaped like the
    model's (its values fuzzed), so that fuzzed values reach the decoding, the pairing and the
    ingestion. The attribute checks get schemathesis's own cases: invalid data, the
    coverage cases, the structured and batch modes."""
    path = None if context.operation is None else context.operation.path
    mode = None if case.meta is None else case.meta.generation.mode
    if (
        path not in CLOUDEVENTS
        or case.media_type != "application/json"
        or mode is not GenerationMode.POSITIVE
    ):
        return st.just(case)

    def steered(drawn: tuple[dict[str, Any], str | None]) -> schemathesis.Case:
        bodies, status = drawn
        ce_type, pair_id = TURNS.next()  # not drawn: the strategy stays the same for hypothesis
        headers = {
            "ce-specversion": "1.0",
            "ce-type": ce_type,
            "ce-inferenceservicename": EVENTS[ce_type][0],
            "ce-id": pair_id,  # KServe pairs on it
            "ce-requestid": pair_id,  # Seldon pairs on it
        }
        if status is not None:
            headers["ce-statuscode"] = status
        case.body = bodies[ce_type]
        case.headers = {**(case.headers or {}), **headers}
        return case

    return st.tuples(BODIES, STATUS).map(steered)


@dataclass
class Fuzzer:
    """Sends cases to the live process and collects what the checks say of the answers."""

    schema: schemathesis.BaseSchema
    checks: list[Any]
    probe_auth: bool = False  # also send each request without its token, and with a wrong one
    session: requests.Session = field(default_factory=requests.Session)
    failures: dict[tuple[str, str], list[str]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    statuses: collections.Counter[tuple[str, str, int]] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, CompatAdapter())
        self.schema.hook("flatmap_case")(steer_cloudevents)

    def send(self, case: schemathesis.Case) -> None:
        label = case.operation.label
        try:
            response = case.call(session=self.session, timeout=30)
        except requests.RequestException as exc:  # the process died, or hung up
            self.failures[label, f"no answer: {exc!r}"].append(case.as_curl_command())
            return
        mode = case.meta.generation.mode.value if case.meta is not None else "examples"
        self.statuses[label, mode, response.status_code] += 1
        try:
            case.validate_response(
                response, checks=self.checks, transport_kwargs={"session": self.session}
            )
        except FailureGroup as group:
            for failure in group.exceptions:
                reproduce = f"{case.as_curl_command()}\n  -> {response.status_code} "
                self.failures[label, failure.title].append(reproduce + response.text[:500])
        except requests.RequestException as exc:  # a check's own request got no answer
            reproduce = f"{case.as_curl_command()}\n  -> {response.status_code} "
            self.failures[label, f"check's request: no answer: {exc!r}"].append(
                reproduce + response.text[:500]
            )
        if self.probe_auth and mode == "positive" and response.status_code != 401:
            self.send_without_token(case)

    def send_without_token(self, case: schemathesis.Case) -> None:
        """The same request without the token and with a wrong one: 401, unless the route is
        open (the probes, and /metrics unless server.auth.metrics)."""
        if route_class(case.method, case.formatted_path, False) is RouteClass.OPEN:
            return
        kwargs = case.as_transport_kwargs(base_url=self.schema.get_base_url())
        headers = {k: v for k, v in kwargs.pop("headers").items() if k.lower() != "authorization"}
        for presented in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            reproduce = f"{case.as_curl_command()} with {presented or 'no token'}"
            try:
                response = self.session.request(**kwargs, headers=headers | presented, timeout=30)
            except requests.RequestException as exc:
                self.failures[case.operation.label, f"no answer: {exc!r}"].append(reproduce)
                continue
            if response.status_code != 401:
                self.failures[case.operation.label, "token not enforced"].append(
                    f"{reproduce}\n  -> {response.status_code} {response.text[:200]}"
                )

    def run(self, max_examples: int, coverage: bool = True) -> None:
        """Per operation: its examples, its coverage cases, ``max_examples`` fuzzed cases of
        valid and as many of invalid data."""
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        for result in self.schema.get_all_operations():
            operation = result.ok()
            examples = operation.get_strategies_from_examples()
            if examples:
                self.hypothesis(st.one_of(examples), 2 * len(examples))
            if coverage:
                generation = self.schema.config.generation
                for case in self.schema.iter_coverage_cases(
                    operation, generation_modes=modes, generation_config=generation
                ):
                    self.send(case)
            for mode in modes:
                self.hypothesis(operation.as_strategy(generation_mode=mode), max_examples)

    def hypothesis(self, strategy: st.SearchStrategy[Any], max_examples: int) -> None:
        """Send ``max_examples`` cases of ``strategy``, derandomized."""

        @given(strategy)
        @settings(
            max_examples=max_examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def send(case: schemathesis.Case) -> None:
            self.send(case)

        with contextlib.suppress(Unsatisfiable):  # no invalid data for an input-less operation
            send()

    def close(self) -> None:
        self.session.close()

    def report(self, log: str) -> str:
        lines = []
        for (label, title), reproducers in sorted(self.failures.items()):
            lines.append(f"{label}: {title} ({len(reproducers)}x), e.g.\n  {reproducers[0]}")
        for line, count in collections.Counter(exceptions(log)).items():
            lines.append(f"in the sidecar's log ({count}x): {line}")
        return "\n".join(lines)


def load(sidecar: Running, auth: bool) -> schemathesis.BaseSchema:
    config: dict[str, Any] = {"base-url": sidecar.url, "generation": {"allow-x00": False}}
    headers: dict[str, str] = {}
    if auth:  # each class's token where the document's security asks for it, none invented
        config["auth"] = {"openapi": {cls: {"bearer": token} for cls, token in TOKENS.items()}}
        config["generation"]["with-security-parameters"] = False
        headers = bearer("read")
    return schemathesis.openapi.from_url(
        f"{sidecar.url}/openapi.json",
        config=schemathesis.Config.from_dict(config),
        headers=headers,
    )


# the tests ----------------------------------------------------------------------------------


def cloudevents_outcomes(sidecar: Running) -> dict[tuple[str, str], float]:
    """``drift_cloudevents_total`` by source and outcome, from the process's /metrics."""
    text = httpx.get(f"{sidecar.url}/metrics", timeout=10).text
    return {
        (sample.labels["source"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "drift_cloudevents"
        for sample in family.samples
        if sample.name == "drift_cloudevents_total"
    }


def test_fuzz(tmp_path: Path) -> None:
    with run_sidecar(tmp_path, auth=False) as sidecar:
        fuzzer = Fuzzer(load(sidecar, auth=False), CHECKS)
        try:
            fuzzer.run(MAX_EXAMPLES)
        finally:
            fuzzer.close()
        outcomes = cloudevents_outcomes(sidecar)
        log = sidecar.output()
    if fuzzer.failures or exceptions(log):
        pytest.fail(fuzzer.report(log), pytrace=False)
    answered = {label for label, _, _ in fuzzer.statuses}
    assert {"POST /", "POST /v1/cloudevents", "POST /v1/alertmanager"} <= answered
    # the steering reached what the sidecar does with events of both senders, pairs ingested
    routed = ("paired", "waiting", "duplicate", "labels", "error_response", "undecodable")
    for source in ("kserve", "seldon"):
        assert sum(outcomes[source, outcome] for outcome in routed) > 0, outcomes
    assert outcomes["kserve", "paired"] + outcomes["seldon", "paired"] > 0, sorted(outcomes.items())


def test_fuzz_with_auth(tmp_path: Path) -> None:
    """Each operation with its class's token (schemathesis picks it by the document's security
    scheme), then without a token and with a wrong one. Fewer examples: the point is auth."""
    with run_sidecar(tmp_path, auth=True) as sidecar:
        fuzzer = Fuzzer(load(sidecar, auth=True), CHECKS, probe_auth=True)
        try:
            fuzzer.run(MAX_EXAMPLES // 4, coverage=False)
        finally:
            fuzzer.close()
        log = sidecar.output()
    if fuzzer.failures or exceptions(log):
        pytest.fail(fuzzer.report(log), pytrace=False)
    refused = [key for key in fuzzer.statuses if key[1] == "positive" and key[2] == 401]
    assert fuzzer.statuses
    assert not refused, refused  # each valid request carried its class's token


def test_live_document_lists_every_route(tmp_path: Path) -> None:
    """The document the process serves: the CloudEvents routes, a request body per POST."""
    with run_sidecar(tmp_path, auth=False) as sidecar:
        document = httpx.get(f"{sidecar.url}/openapi.json").json()
    paths = document["paths"]
    assert {"/", "/v1/cloudevents"} <= set(paths)
    posts = [ops["post"] for ops in paths.values() if "post" in ops]
    assert len(posts) == 5
    assert all(post["requestBody"]["content"] for post in posts)
