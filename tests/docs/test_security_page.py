"""docs/security.md: its examples are what the sidecar and Kubernetes take.

The blocks after ``<!-- example: NAME -->`` are read from the page itself: the sidecar config
loads (with a generated certificate where the page mounts one), and the Service, Deployment and
NetworkPolicy pass ``kubernetes-validate --strict`` (the Kubernetes 1.37 schemas)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from drift.config import load_settings
from tests.service.test_server_options import self_signed

PAGE = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def example(name: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {name} -->\n```yaml\n(.*?)```", text, re.DOTALL)
    assert found is not None, f"no example {name!r} in {PAGE}"
    return found.group(1)


def test_the_sidecar_config_loads(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    tls.mkdir()
    self_signed(tls, "tls")
    text = example("sidecar-config").replace("/etc/drift-sidecar/tls/", f"{tls}/")
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config)
    server = settings.server
    assert (server.host, server.port, server.metrics_port) == ("127.0.0.1", 8000, 9090)
    assert server.tls is not None
    assert server.auth is not None
    assert server.auth.metrics
    assert server.shutdown_timeout_seconds < 30  # under the grace period of the example pod


def test_the_openshift_objects_are_valid_kubernetes(tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all(example("openshift")))
    assert [d["kind"] for d in documents] == ["Service", "Deployment", "NetworkPolicy"]
    files = []
    for index, document in enumerate(documents):
        path = tmp_path / f"{index}-{document['kind']}.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        files.append(str(path))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validate), "--strict", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pod = documents[1]["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["containers"] if c["name"] == "drift-sidecar")
    assert sidecar["securityContext"]["readOnlyRootFilesystem"]
    assert sidecar["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert sidecar["livenessProbe"]["httpGet"]["port"] == "metrics"
    mounts = {m["mountPath"] for m in sidecar["volumeMounts"]}
    assert {"/tmp", "/etc/drift-sidecar/tls", "/var/run/secrets/drift"} <= mounts
