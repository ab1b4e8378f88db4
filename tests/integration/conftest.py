"""Real components for the integration tests: the sidecar process and a Prometheus scraping it.

How each one starts (see also README.md in this folder):

- the sidecar: ``<venv>/bin/drift-sidecar serve --config F --host 127.0.0.1 --port P`` (the
  console script next to ``sys.executable``; ``python -m drift.cli`` when it is absent); ready
  when ``GET /readyz`` answers 200, i.e. every model's reference is loaded.
- Prometheus (Debian package ``prometheus``): ``prometheus --config.file=... --storage.tsdb.path=...
  --web.listen-address=127.0.0.1:P``, scraping the sidecar's ``/metrics`` every second; ready when
  ``GET /-/ready`` answers 200.

Both bind to 127.0.0.1 on free ports, keep their files under ``tmp_path`` and are stopped by PID
at teardown (SIGTERM, then SIGKILL). A missing binary skips the tests locally and fails them
under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.components import missing_component, stop_process

MODELS = ("m1", "m2")
NUMERICAL = ("x1", "x2", "x3", "x4")
CATEGORICAL = "segment"
PREDICTION = "prediction"
SEGMENTS = ("a", "b", "c")
REFERENCE_ROWS = 2000
WINDOW_SIZE = 500
WINDOW_STEP = 100

SIDECAR_READY_TIMEOUT = 20.0
PROMETHEUS_READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A port the OS just handed out on 127.0.0.1 (free now; tiny race until it is bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary(name: str) -> str:
    """Path of a tool on PATH. Missing: fails the test under CI=true, skips it otherwise."""
    path = shutil.which(name)
    if path is None:
        message = (
            f"{name!r} is not on PATH; install it "
            "(apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)"
        )
        missing_component(message)
    return path


def sidecar_command() -> list[str]:
    """The console script installed next to the running interpreter, else ``-m drift.cli``."""
    script = Path(sys.executable).parent / "drift-sidecar"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "drift.cli"]


# synthetic data ------------------------------------------------------------------------------


def make_rows(rng: np.random.Generator, n: int, drifted: bool = False) -> pd.DataFrame:
    """Rows of the reference distribution, or (``drifted``) with most features shifted.

    The prediction is a fixed linear function of the features plus noise, like a model's output.
    """
    x1 = rng.normal(0.0, 1.0, n)
    x2 = rng.normal(5.0, 2.0, n)
    x3 = rng.exponential(1.0, n)
    x4 = rng.uniform(0.0, 10.0, n)
    probs = [0.5, 0.3, 0.2]
    if drifted:
        x1 = x1 + 2.0
        x2 = x2 * 1.8
        x3 = x3 + 1.5
        probs = [0.1, 0.2, 0.7]
    segment = rng.choice(SEGMENTS, size=n, p=probs)
    prediction = 1.5 * x1 - 0.7 * x2 + 2.0 * x3 + 0.3 * x4 + rng.normal(0.0, 0.5, n)
    return pd.DataFrame(
        {"x1": x1, "x2": x2, "x3": x3, "x4": x4, CATEGORICAL: segment, PREDICTION: prediction}
    )


def to_samples(rows: pd.DataFrame, id_prefix: str) -> list[dict[str, object]]:
    """The JSON samples of ``POST /v1/models/{model}/samples`` for these rows."""
    samples: list[dict[str, object]] = []
    for i, row in enumerate(rows.itertuples(index=False)):
        features: dict[str, object] = {name: float(getattr(row, name)) for name in NUMERICAL}
        features[CATEGORICAL] = str(getattr(row, CATEGORICAL))
        samples.append(
            {
                "id": f"{id_prefix}-{i}",
                "features": features,
                "prediction": float(getattr(row, PREDICTION)),
            }
        )
    return samples


@dataclass(frozen=True)
class SidecarConfig:
    """The written config and what a test needs to know to send matching traffic."""

    path: Path
    models: tuple[str, ...] = MODELS
    numerical: tuple[str, ...] = NUMERICAL
    categorical: str = CATEGORICAL
    window_size: int = WINDOW_SIZE
    window_step: int = WINDOW_STEP

    @property
    def features(self) -> frozenset[str]:
        return frozenset((*self.numerical, self.categorical))

    def samples(
        self, rng: np.random.Generator, n: int, id_prefix: str, drifted: bool = False
    ) -> list[dict[str, object]]:
        """``n`` samples of the reference distribution, or of a drifted one."""
        return to_samples(make_rows(rng, n, drifted), id_prefix)


@pytest.fixture
def sidecar_config(tmp_path: Path) -> SidecarConfig:
    """A config YAML and one reference CSV per model (2000 rows, fixed seeds) in ``tmp_path``."""
    lines = ["server:", "  log_level: info", "models:"]
    for seed, model in enumerate(MODELS, start=1):
        reference = make_rows(np.random.default_rng(seed), REFERENCE_ROWS)
        reference.to_csv(tmp_path / f"{model}_reference.csv", index=False)
        lines += [
            f"  {model}:",
            f"    reference: {{path: {model}_reference.csv, format: csv}}",
            "    columns:",
            f"      numerical: [{', '.join(NUMERICAL)}]",
            f"      categorical: [{CATEGORICAL}]",
            f"      prediction: {PREDICTION}",
            "      prediction_type: numerical",
            f"    window: {{size: {WINDOW_SIZE}, step: {WINDOW_STEP}}}",
            "    drift: {share_threshold: 0.5}",
        ]
    path = tmp_path / "sidecar.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return SidecarConfig(path=path)


# processes -----------------------------------------------------------------------------------


@dataclass
class Running:
    """A started process, its base URL and the file its stdout and stderr go to."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _start(
    name: str,
    command: Sequence[str],
    url: str,
    log: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> Running:
    """Start ``command``; ``env`` adds to (or overrides) this process's environment."""
    # output goes to a file, not a pipe: a pipe nobody reads would block a chatty process
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
        )
    return Running(name=name, process=process, url=url, log=log)


def _stop(running: Running) -> None:
    """SIGTERM by PID, SIGKILL if it has not stopped within STOP_TIMEOUT seconds."""
    stop_process(running.process, STOP_TIMEOUT)


def _wait_http_ok(running: Running, path: str, timeout: float) -> None:
    """Poll ``GET url+path`` until 200; fail with the process output on exit or timeout."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(base_url=running.url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = running.process.poll()
            if code is not None:
                pytest.fail(
                    f"{running.name} exited with {code} before {path} answered 200; "
                    f"output:\n{running.output()}"
                )
            try:
                response = client.get(path)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            time.sleep(0.1)
    pytest.fail(
        f"{running.name} not ready after {timeout:.0f} s ({path}: {last}); "
        f"output:\n{running.output()}"
    )


def serve(
    config: Path, home: Path, name: str = "sidecar", timeout: float = SIDECAR_READY_TIMEOUT
) -> Running:
    """``drift-sidecar serve --config`` on 127.0.0.1 at a free port, its output in
    ``home/<name>.log``; ready (``/readyz`` 200) when returned, stopped if it never gets ready.
    The caller stops it (``_stop``), or uses ``serving``."""
    port = free_port()
    command = [*sidecar_command(), "serve", "--config", str(config)]
    running = _start(
        "drift-sidecar",
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        f"http://127.0.0.1:{port}",
        home / f"{name}.log",
        home,
    )
    try:
        _wait_http_ok(running, "/readyz", timeout)
    except BaseException:
        _stop(running)
        raise
    return running


@contextmanager
def serving(config: Path, home: Path, name: str = "sidecar") -> Iterator[Running]:
    """``serve``, stopped when the block ends."""
    running = serve(config, home, name)
    try:
        yield running
    finally:
        _stop(running)


KSERVE_FEATURES = (*NUMERICAL, "segment")
"""The features of ``kserve_model_config``'s model, in the order of a KServe instance."""


def kserve_model_config(home: Path, server: str, window: int = 500, extra: str = "") -> Path:
    """Write ``m1.csv`` (``REFERENCE_ROWS`` rows of ``make_rows``) and ``sidecar.yaml`` in
    ``home``: ``server`` (the ``server:`` section as YAML), then the model ``m1``
    (``NUMERICAL`` and ``segment``, a numerical prediction, a count window of ``window``
    samples, step 100) taking the KServe events of ``iris``, then ``extra`` (more lines of the
    model, indented by four spaces). Returns the config's path."""
    make_rows(np.random.default_rng(1), REFERENCE_ROWS).to_csv(home / "m1.csv", index=False)
    features = ", ".join(KSERVE_FEATURES)
    config = home / "sidecar.yaml"
    config.write_text(
        server + "models:\n"
        "  m1:\n"
        "    reference: {path: m1.csv, format: csv}\n"
        f"    columns: {{numerical: [{', '.join(NUMERICAL)}], categorical: [segment], "
        "prediction: prediction, prediction_type: numerical}\n"
        f"    window: {{size: {window}, step: 100}}\n"
        f"    kserve: {{inference_service: iris, features: [{features}]}}\n" + extra,
        encoding="utf-8",
    )
    return config


@pytest.fixture
def sidecar(sidecar_config: SidecarConfig, tmp_path: Path) -> Iterator[Running]:
    """The real service process on 127.0.0.1, ready (all references loaded)."""
    with serving(sidecar_config.path, tmp_path) as running:
        yield running


@pytest.fixture
def prometheus_executable() -> str:
    """Requested before ``sidecar`` so that a missing Prometheus skips/fails before any start."""
    return binary("prometheus")


@pytest.fixture
def prometheus(prometheus_executable: str, sidecar: Running, tmp_path: Path) -> Iterator[Running]:
    """A real Prometheus on 127.0.0.1 scraping the sidecar's /metrics every second."""
    home = tmp_path / "prometheus"
    home.mkdir()
    target = sidecar.url.removeprefix("http://")
    config = (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: drift-sidecar\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    with run_prometheus(prometheus_executable, home, config) as running:
        yield running


@contextmanager
def run_prometheus(executable: str, home: Path, config: str) -> Iterator[Running]:
    """A real Prometheus on a free 127.0.0.1 port with ``config`` as its prometheus.yml, its
    data and log under ``home``; ready when yielded, stopped by PID afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (home / "prometheus.yml").write_text(config, encoding="utf-8")
    command = [
        executable,
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url={url}",
        "--log.level=warn",
    ]
    running = _start("prometheus", command, url, home / "prometheus.log", home)
    try:
        _wait_http_ok(running, "/-/ready", PROMETHEUS_READY_TIMEOUT)
        yield running
    finally:
        _stop(running)
