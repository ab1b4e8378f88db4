"""``state:`` on the real process: ``kill -9`` and a restart lose nothing but the last snapshot
period. The window, the ``/drift`` verdict, the label join and the alert state come back (a local
HTTP server records the Slack webhook posts: no second FIRING, one RESOLVED when the drift goes
away); a SIGTERM while Slack hangs keeps the queued notifications and the next start delivers
each once; a changed window size discards the saved window with the reason in the log."""

from __future__ import annotations

import io
import json
import signal
import socket
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from drift.service.state import read_snapshot
from tests.recording_server import RecordingServer, recording_server

from .conftest import (
    CATEGORICAL,
    NUMERICAL,
    PREDICTION,
    REFERENCE_ROWS,
    Running,
    make_rows,
    serve,
    serving,
    to_samples,
)

pytestmark = pytest.mark.integration

MODEL = "m1"
WINDOW = 500
SNAPSHOT_SECONDS = 0.5


def write_config(
    tmp_path: Path, window: int = WINDOW, slack_url: str | None = None, **server: Any
) -> Path:
    """One model on a CSV reference, ``state`` in ``tmp_path/state``, Slack to ``slack_url``."""
    reference = tmp_path / "reference.csv"
    if not reference.exists():
        make_rows(np.random.default_rng(1), REFERENCE_ROWS).to_csv(reference, index=False)
    alerts = ""
    if slack_url is not None:
        alerts = (
            "alerts:\n  fire_after: 1\n  resolve_after: 1\n  kinds: [dataset]\n"
            f"  slack: {{webhook_url: '{slack_url}/services/T0/B0/x', timeout_seconds: 30}}\n"
        )
    server_lines = "".join(f"  {key}: {value}\n" for key, value in server.items())
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "server:\n  log_level: info\n" + server_lines + alerts + "state:\n"
        f"  dir: {tmp_path / 'state'}\n  snapshot_seconds: {SNAPSHOT_SECONDS}\n"
        "models:\n"
        f"  {MODEL}:\n"
        "    reference: {path: reference.csv, format: csv}\n"
        f"    columns: {{numerical: [{', '.join(NUMERICAL)}], categorical: [{CATEGORICAL}], "
        f"prediction: {PREDICTION}, prediction_type: numerical}}\n"
        f"    window: {{size: {window}, step: 100, min_seconds_between_evaluations: 0}}\n"
        "    drift: {share_threshold: 0.5}\n"
        "    performance: {label_ttl_seconds: 3600}\n",
        encoding="utf-8",
    )
    return config


def kill_9(running: Running) -> None:
    running.process.send_signal(signal.SIGKILL)
    running.process.wait(10)


def post_samples(client: httpx.Client, rows: list[dict[str, object]]) -> None:
    answer = client.post(f"/v1/models/{MODEL}/samples", json={"samples": rows})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(rows)


def drifted(n: int, prefix: str, seed: int = 7) -> list[dict[str, object]]:
    return to_samples(make_rows(np.random.default_rng(seed), n, drifted=True), prefix)


def clean(n: int, prefix: str, seed: int = 8) -> list[dict[str, object]]:
    return to_samples(make_rows(np.random.default_rng(seed), n), prefix)


def verdict(client: httpx.Client, seen: int, timeout: float = 20.0) -> dict[str, Any]:
    """The /drift body once it covers ``seen`` samples."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/models/{MODEL}/drift")
        if answer.status_code == 200 and answer.json()["window"]["samples_seen"] == seen:
            body: dict[str, Any] = answer.json()
            return body
        time.sleep(0.05)
    pytest.fail(f"no verdict over {seen} samples within {timeout:.0f} s")


def metric(client: httpx.Client, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.split()[-1])
    return None


def snapshotted(tmp_path: Path, check: Any, timeout: float = 10.0) -> None:
    """Wait until the model's snapshot file satisfies ``check``."""
    path = tmp_path / "state" / "models" / f"{MODEL}.zip"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check(read_snapshot(path)):
                return
        except (FileNotFoundError, KeyError, TypeError):
            pass
        time.sleep(0.05)
    pytest.fail(f"no snapshot as expected within {timeout:.0f} s")


def slack_states(server: RecordingServer) -> list[str]:
    return [r.json()["text"].split("]")[0].lstrip("[") for r in server.delivered]


def wait_for(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_a_kill_9_keeps_window_verdict_label_join_and_alert_state(tmp_path: Path) -> None:
    with recording_server() as slack:
        config = write_config(tmp_path, slack_url=slack.url)
        first = serve(config, tmp_path, "first")
        try:
            with httpx.Client(base_url=first.url, timeout=10) as client:
                post_samples(client, drifted(300, "s"))
                before = verdict(client, 300)
                assert before["dataset"]["drifted"] is True
                wait_for(lambda: slack_states(slack) == ["FIRING"], "FIRING")
                client.post(
                    f"/v1/models/{MODEL}/labels", json={"labels": [{"id": "x", "label": 1}]}
                )
            snapshotted(
                tmp_path,
                lambda d: (
                    d["drift"]["state"]["window"]["samples"] == 300
                    and d["drift"]["state"]["latest"] is not None
                    and d["drift"]["state"]["alerts"]["dataset"]["firing"]
                    and d["labels"]["state"]["performance"]["join"]["labels"]["ids"] == ["x"]
                ),
            )
        finally:
            kill_9(first)

        started = time.monotonic()
        with serving(config, tmp_path, "second") as second:
            ready_after = time.monotonic() - started
            with httpx.Client(base_url=second.url, timeout=10) as client:
                assert client.get(f"/v1/models/{MODEL}/drift").json() == before
                assert metric(client, "drift_window_samples", model=MODEL) == 300
                assert (
                    metric(client, "drift_state_restore_total", model=MODEL, outcome="restored")
                    == 1
                )
                labels = [{"id": f"s-{i}", "label": 1.0} for i in range(50)]
                answer = client.post(f"/v1/models/{MODEL}/labels", json={"labels": labels})
                assert answer.json()["matched"] == 50, answer.text
                # still drifted: no second FIRING
                post_samples(client, drifted(200, "t", seed=9))
                assert verdict(client, 500)["dataset"]["drifted"] is True
                # the drift goes away: one RESOLVED
                post_samples(client, clean(500, "u"))
                assert verdict(client, 1000)["dataset"]["drifted"] is False
                wait_for(lambda: len(slack.delivered) == 2, "RESOLVED")
                post_samples(client, clean(100, "v", seed=10))
                verdict(client, 1100)
                time.sleep(0.5)
        assert slack_states(slack) == ["FIRING", "RESOLVED"]
        assert "Traceback" not in second.output()
        assert ready_after < 20.0


@contextmanager
def hanging_server() -> Iterator[str]:
    """Accepts connections and never answers (a Slack that hangs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_sigterm_while_slack_hangs_delivers_the_queue_once_after_the_restart(
    tmp_path: Path,
) -> None:
    with hanging_server() as hanging:
        config = write_config(tmp_path, slack_url=hanging, shutdown_timeout_seconds=3)
        with (
            serving(config, tmp_path, "first") as first,
            httpx.Client(base_url=first.url, timeout=10) as client,
        ):
            post_samples(client, drifted(300, "s"))
            verdict(client, 300)
            post_samples(client, clean(500, "u"))  # resolved: FIRING and RESOLVED queued
            assert verdict(client, 800)["dataset"]["drifted"] is False
        queue = tmp_path / "state" / "alerts" / "queue.json"
        saved = json.loads(queue.read_text())["notifications"]
        assert [s["notification"]["status"] for s in saved] == ["firing", "resolved"]

    with recording_server() as slack:
        config = write_config(tmp_path, slack_url=slack.url)
        with serving(config, tmp_path, "second"):
            wait_for(lambda: len(slack.delivered) == 2, "the saved notifications")
        assert not queue.exists()
        assert slack_states(slack) == ["FIRING", "RESOLVED"]
        with serving(config, tmp_path, "third"):
            time.sleep(1.0)
        assert len(slack.requests) == 2  # delivered once, not at every start


def test_a_changed_window_size_discards_the_snapshot_with_the_reason(tmp_path: Path) -> None:
    with (
        serving(write_config(tmp_path), tmp_path, "first") as first,
        httpx.Client(base_url=first.url, timeout=10) as client,
    ):
        post_samples(client, drifted(300, "s"))
        verdict(client, 300)
    # SIGTERM: the final snapshot holds the window
    snapshotted(tmp_path, lambda d: d["drift"]["state"]["window"]["samples"] == 300)
    with serving(write_config(tmp_path, window=400), tmp_path, "second") as second:
        with httpx.Client(base_url=second.url, timeout=10) as client:
            assert client.get(f"/v1/models/{MODEL}/drift").status_code == 404
            assert metric(client, "drift_window_samples", model=MODEL) == 0
            outcome = {"model": MODEL, "outcome": "config_changed"}
            assert metric(client, "drift_state_restore_total", **outcome) == 1
        log = second.output()
    assert "saved window discarded" in log
    assert "window.size changed (500 -> 400)" in log


def other_version(data: bytes, version: int) -> bytes:
    """The same snapshot, its header claiming another format version."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(out, "w") as new:
        for name in old.namelist():
            content = old.read(name)
            if name == "header.json":
                content = json.dumps({**json.loads(content), "version": version}).encode()
            new.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(
    ("damage", "outcome"),
    [
        (lambda data: data[: len(data) // 2], "corrupt"),  # truncated
        (lambda data: data[:100] + b"\x00" * 64 + data[164:], "corrupt"),
        (lambda data: other_version(data, 7), "unsupported_version"),
    ],
)
def test_a_damaged_snapshot_starts_the_model_empty(
    tmp_path: Path, damage: Any, outcome: str
) -> None:
    config = write_config(tmp_path)
    with (
        serving(config, tmp_path, "first") as first,
        httpx.Client(base_url=first.url, timeout=10) as client,
    ):
        post_samples(client, drifted(300, "s"))
        verdict(client, 300)
    path = tmp_path / "state" / "models" / f"{MODEL}.zip"
    path.write_bytes(damage(path.read_bytes()))
    with (
        serving(config, tmp_path, "second") as second,
        httpx.Client(base_url=second.url, timeout=10) as client,
    ):
        assert metric(client, "drift_window_samples", model=MODEL) == 0
        assert metric(client, "drift_state_restore_total", model=MODEL, outcome=outcome) == 1
        post_samples(client, drifted(300, "t"))  # and it monitors as usual
        assert verdict(client, 300)["dataset"]["drifted"] is True
    assert "starting empty" in second.output()


def kserve_event(kind: str, body: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """A KServe payload logger POST (binary mode) of the ``iris`` inference service."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "before-the-restart",
        "ce-source": "http://localhost:9081/",
        "ce-type": f"org.kubeflow.serving.inference.{kind}",
        "ce-inferenceservicename": "iris",
        "ce-component": "predictor",
        "ce-endpoint": "default",
        "content-type": "application/json",
    }
    return headers, json.dumps(body).encode()


def test_a_kserve_response_after_a_kill_9_pairs_with_the_request_before_it(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    features = [*NUMERICAL, CATEGORICAL]
    config.write_text(
        config.read_text() + f"    kserve: {{inference_service: iris, features: {features}}}\n"
    )
    halves = tmp_path / "state" / "cloudevents.zip"
    first = serve(config, tmp_path, "first")
    try:
        with httpx.Client(base_url=first.url, timeout=10) as client:
            headers, body = kserve_event("request", {"instances": [[0.1, 5.0, 1.0, 2.0, "a"]]})
            answer = client.post("/", content=body, headers=headers)
            assert answer.json()["outcome"] == "waiting", answer.text

        def saved() -> bool:
            try:
                return len(read_snapshot(halves)["halves"]) == 1
            except (FileNotFoundError, KeyError):
                return False

        wait_for(saved, "the snapshot of the waiting request")
    finally:
        kill_9(first)

    def pending(client: httpx.Client) -> float:
        text = client.get("/metrics").text
        return next(
            float(x.split()[1])
            for x in text.splitlines()
            if x.startswith("drift_cloudevents_pending ")
        )

    with (
        serving(config, tmp_path, "second") as second,
        httpx.Client(base_url=second.url, timeout=10) as client,
    ):
        part = {"model": "(cloudevents)", "outcome": "restored"}
        assert metric(client, "drift_state_restore_total", **part) == 1
        assert pending(client) == 1
        paired = {"outcome": "paired", "source": "kserve"}
        assert metric(client, "drift_cloudevents_total", **paired) == 0
        assert metric(client, "drift_window_samples", model=MODEL) == 0
        headers, body = kserve_event("response", {"predictions": [0.5]})
        answer = client.post("/", content=body, headers=headers)
        assert answer.json() == {"outcome": "paired", "model": MODEL, "samples": 1}, answer.text
        assert metric(client, "drift_cloudevents_total", **paired) == 1
        wait_for(
            lambda: metric(client, "drift_window_samples", model=MODEL) == 1, "the paired sample"
        )
        assert pending(client) == 0
    assert "restored 1 CloudEvents half(s)" in second.output()
