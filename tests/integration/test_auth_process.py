"""``server.auth`` on the real process: nothing but ``/healthz`` and ``/readyz`` answers an
unauthenticated caller (``/metrics`` protected too: ``server.auth.metrics: true``), on every
route of the OpenAPI document, the CloudEvents routes (the uvicorn fast path) and paths no route
has; a token of another class opens nothing; the right
one does. Tokens from files, as a mounted Secret gives them; a rotated file is honoured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import (
    NUMERICAL,
    Running,
    kserve_model_config,
    serving,
)

pytestmark = pytest.mark.integration

TOKENS = {
    "ingest": "ingest-token-0123456789abcdef",
    "alertmanager": "alertmanager-token-0123456789",
    "read": "read-token-0123456789abcdef",
}
FEATURES = [*NUMERICAL, "segment"]


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Running]:
    auth = ""
    for cls, token in TOKENS.items():
        (tmp_path / cls).write_text(token + "\n", encoding="utf-8")
        auth += f"    {cls}: {{token_file: {tmp_path / cls}}}\n"
    server = "server:\n  log_level: warning\n  auth:\n" + auth + "    metrics: true\n"
    with serving(kserve_model_config(tmp_path, server), tmp_path) as running:
        yield running


def bearer(cls: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[cls]}"}


def route_class(method: str, path: str) -> str:
    if (method == "POST" and path in ("/", "/v1/cloudevents")) or path.endswith(
        ("samples", "labels")
    ):
        return "ingest"
    if path == "/v1/alertmanager":
        return "alertmanager"
    return "read"


KSERVE_REQUEST = {
    "ce-specversion": "1.0",
    "ce-id": "auth-pair-1",
    "ce-source": "http://localhost:9081/",
    "ce-type": "org.kubeflow.serving.inference.request",
    "ce-inferenceservicename": "iris",
    "content-type": "application/json",
}


def test_nothing_but_the_probes_answers_an_unauthenticated_caller(sidecar: Running) -> None:
    with httpx.Client(base_url=sidecar.url, timeout=10) as client:
        document = client.get("/openapi.json", headers=bearer("read"))
        assert document.status_code == 200
        requests = [("POST", "/"), ("POST", "/v1/cloudevents"), ("GET", "/no/such/path")]
        for path, item in document.json()["paths"].items():
            for method in item:
                requests.append((method.upper(), path.replace("{model}", "m1")))
        assert ("POST", "/v1/alertmanager") in requests
        assert ("GET", "/metrics") in requests  # protected here: server.auth.metrics true
        opened = []
        for method, path in requests:
            cls = route_class(method, path)
            body = b"[]" if method == "POST" else None
            headers = KSERVE_REQUEST if path in ("/", "/v1/cloudevents") else {}
            if path in ("/healthz", "/readyz"):
                assert client.request(method, path).status_code == 200
                continue
            others = [c for c in TOKENS if c != cls]
            for presented in [{}, {"authorization": "Bearer wrong-token-0123456789"}] + [
                bearer(c) for c in others
            ]:
                answer = client.request(method, path, content=body, headers=headers | presented)
                assert answer.status_code == 401, (method, path, presented, answer.text)
                assert answer.headers["www-authenticate"].startswith("Bearer")
            answer = client.request(method, path, content=body, headers=headers | bearer(cls))
            assert answer.status_code != 401, (method, path)
            opened.append((method, path, answer.status_code))
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        # the KServe pair with the ingest token: answered (the fast path), paired
        pair_id = {"ce-id": "auth-pair-2"}
        instances = {"instances": [[1.0, 2.0, 3.0, 4.0, "a"]]}
        answer = client.post(
            "/", json=instances, headers=KSERVE_REQUEST | pair_id | bearer("ingest")
        )
        assert answer.status_code == 200, answer.text
        response_type = {"ce-type": "org.kubeflow.serving.inference.response"}
        answer = client.post(
            "/",
            json={"predictions": [0.5]},
            headers=KSERVE_REQUEST | pair_id | response_type | bearer("ingest"),
        )
        assert answer.status_code == 200, answer.text
        metrics = client.get("/metrics", headers=bearer("read")).text
    refused = next(
        line
        for line in metrics.splitlines()
        if line.startswith('drift_requests_rejected_total{reason="unauthorized"}')
    )
    assert float(refused.split()[-1]) >= 3 * len(opened)
    assert "Traceback" not in sidecar.output()


def test_a_rotated_token_file_takes_effect_without_a_restart(
    sidecar: Running, tmp_path: Path
) -> None:
    new = "rotated-read-token-0123456789"
    (tmp_path / "read").write_text(f"{TOKENS['read']}\n{new}\n", encoding="utf-8")
    time.sleep(1.1)  # the file is looked at once a second at most
    with httpx.Client(base_url=sidecar.url, timeout=10) as client:
        assert client.get("/v1/models", headers={"authorization": f"Bearer {new}"}).is_success
        assert client.get("/v1/models", headers=bearer("read")).is_success
        (tmp_path / "read").write_text(new + "\n", encoding="utf-8")
        time.sleep(1.1)
        assert client.get("/v1/models", headers=bearer("read")).status_code == 401
        assert client.get("/v1/models", headers={"authorization": f"Bearer {new}"}).is_success
