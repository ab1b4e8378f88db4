"""The image's entry command, run as the image runs it, minus the container.

No Docker engine runs here, so this runs the Dockerfile's ENTRYPOINT + CMD (the console script of
this environment, which has the image's extras: ``clearml``, ``s3``, ``report`` and
``estimation``; the test checks it) the way Kubernetes and OpenShift run the container:

- under another, unprivileged identity: a random UID from an OpenShift-like range with group 0
  and no supplementary groups (``setpriv`` from util-linux, when the tests run as root, as in CI;
  otherwise the tests' own non-root user);
- with only the mounted paths writable: a config directory owned by root and read-only
  (``/etc/drift-sidecar``), a data directory of group 0 (``/var/lib/drift-sidecar``, the working
  directory) and a tmp directory (``/tmp``, also HOME), all in a temporary tree; everything else
  (this repository, the virtualenv) is root's and not writable for that UID;
- with the image's environment (``PYTHONDONTWRITEBYTECODE``, ``HOME``) and the credentials the
  manifests pass from Secrets (ClearML's and AWS's standard variables).

It loads one model's reference from ClearML (the schema-checked local server of
``tests/clearml_server.py``) and one from S3 (moto), the latter a regressor whose error LightGBM
estimates (``estimation.dle``, fitted at load before ``/readyz``), answers ``/readyz`` 200, and
afterwards no file of that UID exists outside the data and tmp directories.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from tests.components import missing_component
from tests.conftest import reference_frame
from tests.integration.conftest import free_port
from tests.integration.reference_components import BUCKET, Backend, seed_dataset
from tests.integration.test_reference_s3 import put

pytestmark = [
    pytest.mark.integration,
    # the SDK's bundled HOCON parser uses pyparsing's pre-3.0 camelCase names (as in
    # tests/integration/test_reference_clearml.py); not ours to fix
    pytest.mark.filterwarnings("ignore::pyparsing.PyparsingDeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COLUMNS = {"numerical": ["age", "income"], "categorical": ["city"], "prediction": "score"}
READY_TIMEOUT = 90.0
#: the image's extras and a distribution each of them installs
EXTRA_DISTRIBUTIONS = {
    "clearml": "clearml",
    "s3": "boto3",
    "report": "evidently",
    "estimation": "lightgbm",
}


def _exec_form(instruction: str) -> list[str]:
    match = re.search(rf"^{instruction}\s+(\[.*\])\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, f"no exec-form {instruction}"
    value: list[str] = json.loads(match.group(1))
    return value


def _image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's last stage."""
    text = DOCKERFILE.read_text().rpartition("\nFROM ")[2]
    block = re.search(r"^ENV ((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert block
    return dict(re.findall(r"(\w+)=(\S+)", block.group(1)))


def _image_extras() -> list[str]:
    match = re.search(r'^ARG EXTRAS="([^"]*)"$', DOCKERFILE.read_text(), re.MULTILINE)
    assert match
    return [e for e in match.group(1).split(",") if e]


def _identity() -> list[str]:
    """The command prefix that drops to a random non-root UID with group 0 (OpenShift's way)."""
    if os.geteuid() != 0:
        return []  # already an unprivileged identity
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        missing_component("setpriv (util-linux) is needed to run as another UID")
    uid = 1_000_680_000 + random.randrange(10_000)
    return [setpriv, f"--reuid={uid}", "--regid=0", "--clear-groups", "--no-new-privs"]


class Tree:
    """The container's writable and read-only paths, in a temporary directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="drift-image-", dir="/tmp"))
        self.root.chmod(0o755)
        self.etc = self.root / "etc-drift-sidecar"  # a ConfigMap mount: read-only
        self.data = self.root / "var-lib-drift-sidecar"  # an emptyDir: group 0, writable
        self.tmp = self.root / "tmp"  # an emptyDir
        self.etc.mkdir()
        self.data.mkdir()
        self.tmp.mkdir()
        os.chown(self.data, 0 if os.geteuid() == 0 else -1, 0 if os.geteuid() == 0 else -1)
        self.data.chmod(0o2770 if os.geteuid() == 0 else 0o700)
        self.tmp.chmod(0o1777 if os.geteuid() == 0 else 0o700)

    def seal(self) -> None:
        for path in self.etc.iterdir():
            path.chmod(0o444)
        self.etc.chmod(0o555)

    def remove(self) -> None:
        self.etc.chmod(0o755)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def tree() -> Iterator[Tree]:
    made = Tree()
    yield made
    made.remove()


def _config(tree: Tree, backend: Backend, dataset_id: str, key: str, ports: tuple[int, int]) -> str:
    cache = str(tree.data / "cache")  # the image's /var/lib/drift-sidecar/cache
    config = {
        "server": {
            "host": "127.0.0.1",
            "port": ports[0],
            "metrics_host": "127.0.0.1",
            "metrics_port": ports[1],
        },
        "state": {"dir": str(tree.data / "state")},
        "models": {
            "from-clearml": {
                "reference": {"clearml": {"dataset_id": dataset_id}, "cache_dir": cache},
                "columns": COLUMNS,
            },
            "from-s3": {  # a regressor: LightGBM (the estimation extra) estimates its error
                "reference": {
                    "s3": {"url": f"s3://{BUCKET}/{key}", "endpoint_url": backend.s3_endpoint},
                    "cache_dir": cache,
                },
                "columns": {**COLUMNS, "target": "outcome"},
                "window": {"size": 40, "step": 10},
                "estimation": {"dle": True},
            },
        },
    }
    return yaml.safe_dump(config)


def _environment(tree: Tree) -> dict[str, str]:
    """The image's ENV (HOME=/tmp mapped to the tmp mount) and what the pod passes from
    Secrets: the same CLEARML_* and AWS_* variables the reference tests set."""
    env = {k: v.replace("/tmp", str(tree.tmp)) for k, v in _image_env().items()}
    env |= {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "TMPDIR": str(tree.tmp)}
    passed = [
        *("CLEARML_API_HOST", "CLEARML_WEB_HOST", "CLEARML_FILES_HOST"),
        *("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"),
        *("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ]
    env |= {name: os.environ[name] for name in passed if name in os.environ}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    return env


def _uid(pid: int) -> int:
    """The real UID of a running process."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    match = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


def _owned_outside(uid: int, allowed: list[Path]) -> list[str]:
    """Files of ``uid`` in the places a process could write to, outside ``allowed``."""
    places = [p for p in ("/tmp", "/var/tmp", "/dev/shm", str(ROOT)) if Path(p).exists()]
    result = subprocess.run(
        ["find", *places, "-xdev", "-uid", str(uid), "-print"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = [line for line in result.stdout.splitlines() if line]
    return [f for f in found if not any(Path(f).is_relative_to(a) for a in allowed)]


def test_the_environment_has_the_images_dependency_set() -> None:
    """What this test runs with is what the image installs: its extras' distributions."""
    extras = _image_extras()
    assert set(extras) == set(EXTRA_DISTRIBUTIONS)
    for extra in extras:
        try:
            metadata.version(EXTRA_DISTRIBUTIONS[extra])
        except metadata.PackageNotFoundError:
            missing_component(f"{EXTRA_DISTRIBUTIONS[extra]} is missing: pip install -e '.[dev]'")


def test_entry_command_loads_clearml_and_s3_references_as_another_uid(
    backend: Backend, tree: Tree
) -> None:
    dataset_id = seed_dataset(
        backend, "image", "reference", {"train.csv": reference_frame(300)}, version="1.0.0"
    )
    key = f"{uuid.uuid4().hex}/train.parquet"
    regression = reference_frame(200, seed=2)
    regression["outcome"] = regression["score"] + np.random.default_rng(3).normal(0, 0.1, 200)
    put(backend.s3_endpoint, key, regression)
    ports = (free_port(), free_port())
    (tree.etc / "config.yaml").write_text(
        _config(tree, backend, dataset_id, key, ports), encoding="utf-8"
    )
    tree.seal()

    command = _exec_form("ENTRYPOINT") + _exec_form("CMD")
    assert command[0] == "drift-sidecar"
    command[0] = str(Path(sys.executable).parent / "drift-sidecar")  # this environment's script
    command = [a.replace("/etc/drift-sidecar", str(tree.etc)) for a in command]
    command[command.index("--host") + 1] = "127.0.0.1"  # loopback only, in tests
    command[command.index("--port") + 1] = str(ports[0])
    identity = _identity()
    process = subprocess.Popen(
        [*identity, *command],
        cwd=tree.data,  # the image's WORKDIR
        env=_environment(tree),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{ports[1]}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert process.poll() is None, process.communicate(timeout=10)[0]
        assert ready is not None
        assert ready.status_code == 200, ready.text
        uid = _uid(process.pid)  # setpriv has exec'd the sidecar by now (same pid)
        assert uid != 0
        if identity:
            assert uid == int(identity[1].split("=")[1])
        models = ready.json()["models"]
        assert models["from-clearml"]["reference"]["source"] == "clearml"
        assert models["from-s3"]["reference"]["source"] == "s3"
        metrics = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics", timeout=5).text
        assert re.search(r'drift_reference_loaded\{[^}]*model="from-clearml"[^}]*\} 1', metrics)
        assert re.search(r'drift_reference_loaded\{[^}]*model="from-s3"[^}]*\} 1', metrics)
        # the DLE models were fitted (LightGBM imported and ran) under the image's identity
        assert re.search(r'drift_estimation_fit_seconds\{model="from-s3"\} \d', metrics), metrics
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
    # a clean stop: uvicorn finishes, then re-raises SIGTERM (exit status -15) or exits 0
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output, output
    assert any((tree.data / "cache").rglob("*")), "the reference cache went to the data volume"
    assert (tree.data / "state").is_dir(), "the state snapshots went to the data volume"
    assert _owned_outside(uid, [tree.data, tree.tmp]) == []
