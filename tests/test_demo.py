"""`drift-sidecar demo` (what `make run` starts) shows drift in /metrics once drift is injected,
with the estimated error of its regressor and multivariate drift.

Runs the real command as a subprocess with a short clean phase, and reads /metrics over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _gauge(base: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get("model") == "diabetes":
                return float(s.value)
    return None


def test_demo_shows_dataset_drift_after_injection(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "drift.cli", "demo", "--port", str(port)]
    command += ["--drift-after", "6", "--rate", "100", "--workdir", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        clean_seen: list[float] = []
        deadline = time.monotonic() + 60
        share = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            share = _gauge(base, "drift_dataset_share")
            detected = _gauge(base, "drift_dataset_detected")
            if share is not None and not clean_seen:
                clean_seen.append(share)  # first evaluation happens on clean traffic
            if detected == 1.0:
                break
            time.sleep(0.5)
        else:
            pytest.fail(
                f"no dataset drift within 60 s; log:\n{(tmp_path / 'demo.log').read_text()}"
            )
        assert clean_seen
        assert clean_seen[0] < 0.5
        assert share is not None
        assert share >= 0.5
        assert (
            "injecting drift into age, bmi, bp, s3, s5, sex" in (tmp_path / "demo.log").read_text()
        )
        # estimation (make run installs LightGBM, as the dev environment has it): the error
        # estimated before labels, and the drifted window's multivariate drift
        assert _gauge(base, "drift_model_performance_estimated") is not None
        deadline = time.monotonic() + 30
        while _gauge(base, "drift_multivariate_drift") != 1.0:
            assert time.monotonic() < deadline, "no multivariate drift within 30 s"
            time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
