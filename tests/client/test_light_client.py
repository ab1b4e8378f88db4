"""The light client distribution (``clients/python``, docs/client.md): its wheel is built from
``drift/client/`` as it is, installed into a fresh virtual environment that has nothing else
(no pip, no numpy), and from there ``drift_sidecar_client`` posts samples, through
``DriftClient`` and through ``DriftMiddleware`` around a bare ASGI app, to a real sidecar
process (``tests/integration/conftest.py``'s ``serving``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import kserve_model_config, make_rows, serving, to_samples

ROOT = Path(__file__).resolve().parents[2]
MAX_INSTALLED_BYTES = 20 * 1024 * 1024
#: top-level modules a model server must not pay for when it imports the client
HEAVY = ("numpy", "pandas", "pydantic", "scipy", "pyarrow", "starlette", "fastapi", "drift")


@dataclass(frozen=True)
class LightVenv:
    python: Path
    site_packages: Path
    wheel: Path

    def run(self, script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """``script`` in the light venv; ``cwd`` outside the repository, so that ``drift``
        cannot be imported from the working directory."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        return subprocess.run(
            [str(self.python), "-c", script, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> LightVenv:
    home = tmp_path_factory.mktemp("light-client")
    # a copy of what the build reads (clients/python and drift/client, as laid out in the
    # repository): no stale build/ of an earlier run, nothing written into the work tree
    source = home / "source"
    no_cache = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    shutil.copytree(ROOT / "clients" / "python", source / "clients" / "python", ignore=no_cache)
    shutil.copytree(ROOT / "drift" / "client", source / "drift" / "client", ignore=no_cache)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    # offline and with the outer venv's setuptools: the build needs no network
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(home)]
    subprocess.run([*build, str(source / "clients" / "python")], check=True, timeout=120)
    (wheel,) = home.glob("drift_sidecar_client-*.whl")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, timeout=120)
    (site_packages,) = venv.glob("lib/python3*/site-packages")
    return LightVenv(python, site_packages, wheel)


def test_the_wheel_holds_only_the_client(light_venv: LightVenv) -> None:
    import zipfile

    names = zipfile.ZipFile(light_venv.wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith("-info")}
    assert packages == {"drift_sidecar_client"}
    assert "drift_sidecar_client/retry.py" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(light_venv.wheel).read(metadata).decode()
    assert "Name: drift-sidecar-client" in text
    assert "Requires-Dist" not in text  # standard library only


def test_installed_size_is_under_20_mb(light_venv: LightVenv) -> None:
    files = [p for p in light_venv.site_packages.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert any(p.name == "client.py" for p in files)
    assert size < MAX_INSTALLED_BYTES, f"{size} bytes installed"


def test_importing_it_loads_nothing_heavy(light_venv: LightVenv, tmp_path: Path) -> None:
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "from drift_sidecar_client import DriftClient, DriftMiddleware, RetryPolicy\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(json.dumps(sorted(new - set(sys.stdlib_module_names))))\n"
    )
    result = light_venv.run(probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["drift_sidecar_client"]
    # and the server's packages are not there at all: the venv is really separate
    missing = light_venv.run("import drift", cwd=tmp_path)
    assert "No module named 'drift'" in missing.stderr
    assert not set(HEAVY) & {p.name for p in light_venv.site_packages.iterdir()}


SENDER = """
import asyncio, json, sys
from drift_sidecar_client import DriftClient, DriftMiddleware

url, path = sys.argv[1], sys.argv[2]
with open(path) as handle:
    samples = json.load(handle)
direct, served = samples[:-3], samples[-3:]
client = DriftClient(url, "m1", batch_size=50)
for sample in direct:
    client.send(sample["features"], prediction=sample["prediction"], id=sample["id"])

async def model(scope, receive, send):  # a model server: bare ASGI, no framework installed
    request = json.loads((await receive())["body"])
    body = json.dumps({"predictions": [request["prediction"]]}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

app = DriftMiddleware(model, client, path="/predict", prediction="predictions",
                      features=lambda request: request["features"])

async def predict(sample):
    body = json.dumps(sample).encode()
    scope = {"type": "http", "method": "POST", "path": "/predict",
             "headers": [(b"content-type", b"application/json")]}
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    sent = []
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent[0]["status"]

statuses = [asyncio.run(predict(sample)) for sample in served]
assert client.close(20), "not delivered"
stats = client.stats()
print(json.dumps({"statuses": statuses, "sent": stats.sent, "failed": stats.failed,
                  "rejected": stats.rejected, "capture_errors": stats.capture_errors}))
"""


def samples_total(url: str, model: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "drift_samples_total" and sample.labels == {"model": model}:
                return sample.value
    return 0.0


@pytest.mark.integration
def test_it_posts_samples_to_a_real_sidecar(light_venv: LightVenv, tmp_path: Path) -> None:
    config = kserve_model_config(tmp_path, server="")
    samples = to_samples(make_rows(np.random.default_rng(7), 120), "light")
    data = tmp_path / "samples.json"
    data.write_text(json.dumps(samples), encoding="utf-8")
    work = tmp_path / "elsewhere"
    work.mkdir()
    with serving(config, tmp_path) as sidecar:
        result = light_venv.run(SENDER, sidecar.url, str(data), cwd=work)
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout)
        assert outcome == {
            "statuses": [200, 200, 200],
            "sent": 120,
            "failed": 0,
            "rejected": 0,
            "capture_errors": 0,
        }
        assert samples_total(sidecar.url, "m1") == 120
