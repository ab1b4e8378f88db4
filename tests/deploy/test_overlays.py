"""Every Kustomize overlay renders, validates and holds together as one deployment.

Each overlay is rendered with ``kubectl kustomize`` exactly as ``kubectl apply -k`` would render
it, then: Kubernetes objects pass ``kubernetes-validate --strict``; custom resources pass their
CRD schemas (``crds.py``); the sidecar container has its probes, resources and restricted
security context; its ports collide with nothing in its pod; secrets are only referenced; the
config ConfigMap is a valid sidecar configuration whose ports, paths and ``${VAR}``s are the ones
the pod provides; and the PodMonitor, NetworkPolicy and PrometheusRule agree on ports and jobs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from drift.config import load_settings
from drift.config.settings import Settings
from tests.deploy import crds
from tests.deploy.manifests import (
    NEIGHBOUR_PORTS,
    OVERLAYS,
    ROOT,
    SIDECAR,
    PodOf,
    find,
    one,
    render,
    render_text,
    sidecar_pod,
)

SIDECAR_OVERLAYS = ("kserve", "seldon", "fastapi", "openshift")  # beside a model server
MONITORING_NAMESPACE = {
    "kserve": "monitoring",
    "seldon": "monitoring",
    "fastapi": "monitoring",
    "aggregator": "monitoring",
    "openshift": "openshift-user-workload-monitoring",
}
WRITABLE = ("/tmp", "/var/lib/drift-sidecar")  # the only paths the sidecar writes to
SECRET_KEYS = re.compile(r"(token|password|secret|webhook_url|access_key)$", re.IGNORECASE)
SECRET_ENV = re.compile(r"TOKEN|PASSWORD|SECRET|KEY|WEBHOOK|CREDENTIAL")
ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "version"
]

overlays = pytest.mark.parametrize("overlay", OVERLAYS)
sidecar_overlays = pytest.mark.parametrize("overlay", SIDECAR_OVERLAYS)


def config_map(objects: list[dict[str, Any]], pod: PodOf) -> dict[str, Any]:
    """The ConfigMap that the pod's ``drift-config`` volume mounts (a generated, hashed name)."""
    name = pod.volumes["drift-config"]["configMap"]["name"]
    return one(objects, "ConfigMap", name)


def raw_config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    text = config_map(objects, sidecar_pod(objects))["data"]["config.yaml"]
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def env_from_secrets(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


def loaded_settings(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, list[dict[str, Any]]]:
    """The overlay's config.yaml through ``drift.config.load_settings``, with a stand-in value
    for each variable the container takes from a Secret (the Secrets are the user's)."""
    objects = render(overlay)
    pod = sidecar_pod(objects)
    for name in env_from_secrets(pod.sidecar):
        value = "https://hooks.slack.com/services/T0/B0/abc" if "URL" in name else f"{name}-v4lue"
        monkeypatch.setenv(name, value)
    path = tmp_path / "config.yaml"
    path.write_text(config_map(objects, pod)["data"]["config.yaml"], encoding="utf-8")
    return load_settings(path), objects


def walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every leaf of a parsed YAML document."""
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in walk(v, f"{path}.{k}" if path else k)]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in walk(v, f"{path}[{i}]")]
    return [(path, node)]


# rendering and validation ------------------------------------------------------------------


@overlays
def test_overlay_renders_the_objects_every_target_needs(overlay: str) -> None:
    objects = render(overlay)
    kinds = {o["kind"] for o in objects}
    assert {"ConfigMap", "PodMonitor", "PrometheusRule", "NetworkPolicy"} <= kinds
    namespaces = {o["metadata"].get("namespace") for o in objects}
    assert len(namespaces) == 1, f"one namespace for everything, got {namespaces}"
    assert None not in namespaces
    pod = sidecar_pod(objects)
    assert pod.sidecar["image"].startswith("registry.example.com/ml/drift-sidecar:")


@overlays
def test_kubernetes_objects_pass_kubernetes_validate_strict(overlay: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(render_text(overlay), encoding="utf-8")
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", "--no-warn", str(rendered)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    core = [o for o in render(overlay) if not crds.is_custom(o)]
    assert core
    for obj in core:
        line = f"passed for resource {obj['kind'].lower()}/{obj['metadata']['name']}"
        assert line in output, f"{obj['kind']} {obj['metadata']['name']} not validated:\n{output}"


@overlays
def test_custom_resources_pass_their_crd_schemas(overlay: str) -> None:
    custom = [o for o in render(overlay) if crds.is_custom(o)]
    assert {o["kind"] for o in custom} >= {"PodMonitor", "PrometheusRule"}
    for obj in custom:
        assert crds.validate_custom(obj) == [], f"{obj['kind']} {obj['metadata']['name']}"


def test_no_object_outside_kubernetes_and_the_stored_crds() -> None:
    for overlay in OVERLAYS:
        for obj in render(overlay):
            group = obj["apiVersion"].rpartition("/")[0]
            assert crds.is_custom(obj) or "." not in group or group.endswith(".k8s.io"), obj


# the sidecar container -----------------------------------------------------------------------


@overlays
def test_sidecar_probes_healthz_and_readyz_on_its_metrics_port(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, objects = loaded_settings(overlay, tmp_path, monkeypatch)
    sidecar = sidecar_pod(objects).sidecar
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    assert ports["drift-metrics"] == settings.server.metrics_port
    assert ports["drift-http"] == settings.server.port
    assert settings.server.metrics_host == "0.0.0.0"  # the kubelet and Prometheus reach it
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = sidecar[probe]["httpGet"]
        assert get["path"] == path
        assert get["port"] == "drift-metrics"


@overlays
def test_sidecar_has_requests_and_a_memory_limit(overlay: str) -> None:
    resources = sidecar_pod(render(overlay)).sidecar["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


@overlays
def test_sidecar_runs_restricted_with_a_read_only_root(overlay: str) -> None:
    pod = sidecar_pod(render(overlay))
    context = pod.sidecar["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "runAsUser" not in context  # the image's numeric USER, or OpenShift's range


@overlays
def test_sidecar_writes_only_to_volumes(overlay: str) -> None:
    """Every mount has its volume; the writable ones (/tmp, /var/lib/drift-sidecar) are emptyDir
    or PVC volumes, everything else is mounted read-only."""
    pod = sidecar_pod(render(overlay))
    mounts = {m["mountPath"]: m for m in pod.sidecar["volumeMounts"]}
    for path, mount in mounts.items():
        assert mount["name"] in pod.volumes, f"{path}: no volume {mount['name']}"
        volume = pod.volumes[mount["name"]]
        if path in WRITABLE:
            assert "emptyDir" in volume or "persistentVolumeClaim" in volume, path
            assert not mount.get("readOnly")
        else:
            assert mount.get("readOnly") is True, f"{path} must be read-only"
    assert set(WRITABLE) <= set(mounts)


@overlays
def test_sidecar_ports_collide_with_nothing_in_its_pod(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Containers of a pod share one network namespace: the sidecar's ports (declared, and the
    ones its config binds, loopback included) must differ from the platform's containers'
    (KServe's queue-proxy and agent, Seldon's executor and model server) and the pod's others."""
    settings, objects = loaded_settings(overlay, tmp_path, monkeypatch)
    pod = sidecar_pod(objects)
    ours = {p["containerPort"] for p in pod.sidecar["ports"]}
    ours |= {settings.server.port, settings.server.metrics_port or settings.server.port}
    taken = dict(NEIGHBOUR_PORTS[overlay])
    for container in pod.containers:
        if container["name"] != SIDECAR:
            taken.update(
                {p["containerPort"]: container["name"] for p in container.get("ports", [])}
            )
    clashes = {port: taken[port] for port in ours if port in taken}
    assert clashes == {}, f"{overlay}: the sidecar's ports clash with {clashes}"


def test_the_port_check_catches_seldons_executor() -> None:
    """The old Seldon example bound the sidecar to 8000, the executor's port."""
    assert 8000 in NEIGHBOUR_PORTS["seldon"]
    assert 9081 in NEIGHBOUR_PORTS["kserve"]


@sidecar_overlays
def test_beside_a_model_server_ingestion_stays_in_the_pod(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, objects = loaded_settings(overlay, tmp_path, monkeypatch)
    assert settings.server.host == "127.0.0.1"
    for isvc in find(objects, "InferenceService"):
        url = isvc["spec"]["predictor"]["logger"]["url"]
        assert url == f"http://localhost:{settings.server.port}/v1/cloudevents"
    for sdep in find(objects, "SeldonDeployment"):
        url = sdep["spec"]["predictors"][0]["graph"]["logger"]["url"]
        assert url == f"http://localhost:{settings.server.port}/v1/cloudevents"


@overlays
def test_image_tag_is_the_package_version(overlay: str) -> None:
    """docs/deployment/index.md: the image tag is the version `drift-sidecar --version` prints."""
    image = sidecar_pod(render(overlay)).sidecar["image"]
    assert image.rpartition(":")[2] == PROJECT_VERSION


# secrets ----------------------------------------------------------------------------------


@overlays
def test_secrets_are_only_referenced(overlay: str) -> None:
    objects = render(overlay)
    assert find(objects, "Secret") == [], "the overlays ship no Secret: the user creates them"
    for container in sidecar_pod(objects).containers:
        for env in container.get("env", []):
            name = env["name"]
            if SECRET_ENV.search(name) and not name.endswith("_FILE"):
                assert "secretKeyRef" in env.get("valueFrom", {}), f"{name}: not from a Secret"
    for path, value in walk(raw_config(objects)):
        leaf = path.rpartition(".")[2]
        if SECRET_KEYS.search(leaf) and not leaf.endswith("_file"):
            assert isinstance(value, str)
            assert ENV_REF.match(value), f"{path}: a secret value in the config, not ${{VAR}}"


@overlays
def test_config_references_are_provided_by_the_pod(overlay: str) -> None:
    """Every ``${VAR}`` of config.yaml is a variable the container takes from a Secret, and
    every secret file it names lies in the mounted Secret."""
    objects = render(overlay)
    pod = sidecar_pod(objects)
    from_secrets = env_from_secrets(pod.sidecar)
    secret_mounts = [
        m["mountPath"] for m in pod.sidecar["volumeMounts"] if "secret" in pod.volumes[m["name"]]
    ]
    for path, value in walk(raw_config(objects)):  # values only: comments are not expanded
        for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", str(value)):
            assert name in from_secrets, f"{path}: ${{{name}}} is not set from a Secret"
        if path.endswith("_file"):
            assert any(str(value).startswith(f"{m}/") for m in secret_mounts), (path, value)


# the configuration -------------------------------------------------------------------------


@overlays
def test_config_map_is_a_valid_sidecar_configuration(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, objects = loaded_settings(overlay, tmp_path, monkeypatch)
    assert settings.models
    pod = sidecar_pod(objects)
    mounted = {m["mountPath"] for m in pod.sidecar["volumeMounts"]}
    assert "/etc/drift-sidecar/config.yaml" in mounted
    assert pod.sidecar["args"] == ["--config", "/etc/drift-sidecar/config.yaml"]
    for model in settings.models.values():
        if model.reference.path is not None:
            assert any(str(model.reference.path).startswith(f"{m}/") for m in mounted)
    if settings.state is not None:
        assert str(settings.state.dir).startswith("/var/lib/drift-sidecar/")


def test_aggregator_is_a_fleet_aggregator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, objects = loaded_settings("aggregator", tmp_path, monkeypatch)
    assert settings.fleet is not None
    assert settings.fleet.role == "aggregator"
    assert settings.server.host == "0.0.0.0"  # Alertmanager and direct posts, with tokens
    assert settings.server.auth is not None
    deployment = one(objects, "Deployment", "drift-aggregator")
    assert deployment["spec"]["replicas"] >= 2
    assert [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] == [SIDECAR]
    service = one(objects, "Service", "drift-sidecar")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


# monitoring: PodMonitor, PrometheusRule, NetworkPolicy, Alertmanager ----------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels is used here"
    return bool(selector.get("matchLabels", {}).items() <= labels.items())


def _up_selector(rule: dict[str, Any]) -> str:
    expr = next(
        r["expr"]
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if r["alert"] == "DriftSidecarDown"
    )
    match = re.fullmatch(r'up\{job=~"(.+)"\} == 0', expr)
    assert match, expr
    return match.group(1)


@overlays
def test_podmonitor_scrapes_the_sidecars_metrics_port(overlay: str) -> None:
    objects = render(overlay)
    pod = sidecar_pod(objects)
    monitor = one(objects, "PodMonitor")
    assert _selects(monitor["spec"]["selector"], pod.labels)
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in pod.sidecar["ports"]}


@overlays
def test_prometheus_rule_selects_the_podmonitors_job(overlay: str) -> None:
    """The Operator names a PodMonitor's job <namespace>/<name>: the rules' ``up`` selector must
    match it (with the old job=~"drift-sidecar.*" DriftSidecarDown never fired)."""
    objects = render(overlay)
    monitor = one(objects, "PodMonitor")
    job = f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}"
    regex = _up_selector(one(objects, "PrometheusRule"))
    assert re.fullmatch(regex, job), f"{regex} does not match the PodMonitor's job {job}"
    assert not re.fullmatch(regex, "drift-sidecar")  # the plain-Prometheus job is not this one


@overlays
def test_prometheus_rule_links_an_absolute_runbook(overlay: str) -> None:
    rule = one(render(overlay), "PrometheusRule")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            url = urlsplit(r["annotations"]["runbook_url"])
            assert url.scheme == "https"
            assert url.netloc
            assert url.fragment == r["alert"].lower()


@pytest.mark.parametrize("overlay", [o for o in OVERLAYS if o != "openshift"])
def test_monitoring_objects_carry_the_kube_prometheus_stack_label(overlay: str) -> None:
    objects = render(overlay)
    for kind in ("PodMonitor", "PrometheusRule"):
        assert one(objects, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@overlays
def test_network_policy_admits_scrapes_from_the_monitoring_namespace(overlay: str) -> None:
    objects = render(overlay)
    pod = sidecar_pod(objects)
    metrics = next(p["containerPort"] for p in pod.sidecar["ports"] if p["name"] == "drift-metrics")
    policies = [
        p for p in find(objects, "NetworkPolicy") if _selects(p["spec"]["podSelector"], pod.labels)
    ]
    assert policies
    allowed = []
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress (Kafka, S3, Slack) is open
        for rule in policy["spec"]["ingress"]:
            ports = {p["port"] for p in rule.get("ports", [])}
            for peer in rule.get("from", []):
                labels = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if metrics in ports:
                    allowed.append(labels.get("kubernetes.io/metadata.name"))
    assert MONITORING_NAMESPACE[overlay] in allowed


@sidecar_overlays
def test_network_policy_keeps_the_model_server_reachable(overlay: str) -> None:
    """A policy that selects the model pods denies what it does not admit: each overlay admits
    the model server's own port(s) for its callers."""
    objects = render(overlay)
    pod = sidecar_pod(objects)
    open_ports = {
        port["port"]
        for policy in find(objects, "NetworkPolicy")
        if _selects(policy["spec"]["podSelector"], pod.labels)
        for rule in policy["spec"]["ingress"]
        if "from" not in rule
        for port in rule["ports"]
    }
    model_ports = {8080} if overlay != "seldon" else {8000, 5001}
    assert model_ports <= open_ports
    assert 8700 not in open_ports  # ingestion is never open to everyone


def test_alertmanager_example_posts_to_a_service_the_manifests_create() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "alertmanager.example.yml").read_text("utf-8"))
    urls = {h["url"] for r in config["receivers"] for h in r["webhook_configs"]}
    services = {
        (s["metadata"]["name"], s["metadata"]["namespace"], p["port"])
        for overlay in OVERLAYS
        for s in find(render(overlay), "Service")
        for p in s["spec"]["ports"]
    }
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        name, _, rest = host.partition(".")
        namespace = rest.removesuffix(".cluster.local").removesuffix(".svc")
        assert (name, namespace, parts.port) in services, url
        assert parts.path == "/v1/alertmanager"


# OpenShift -----------------------------------------------------------------------------------


def test_openshift_pods_fit_the_restricted_v2_scc() -> None:
    """restricted-v2: no fixed UID, GID or fsGroup (the namespace's range is assigned), not
    root, no privilege escalation, every capability dropped, seccomp RuntimeDefault, no host
    namespaces or hostPath; writable paths on emptyDir or PVC volumes."""
    objects = render("openshift")
    assert find(objects, "Route") == []  # nothing outside the cluster needs the sidecar
    pod = sidecar_pod(objects)
    spec = pod.spec
    pod_context = spec.get("securityContext", {})
    for key in ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"):
        assert key not in pod_context
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    assert all("hostPath" not in v for v in pod.volumes.values())
    for container in pod.containers:
        context = {**pod_context, **container.get("securityContext", {})}
        assert context.get("runAsNonRoot") is True, container["name"]
        assert context.get("allowPrivilegeEscalation") is False, container["name"]
        assert context.get("capabilities", {}).get("drop") == ["ALL"], container["name"]
        assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, container["name"]
        assert "runAsUser" not in context
        assert not context.get("privileged")
        assert context.get("readOnlyRootFilesystem") is True, container["name"]
