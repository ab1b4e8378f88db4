"""The alerting rules: generated artifacts up to date, promtool-clean and unit-tested, documented.

``promtool`` comes from the Debian package ``prometheus`` (see tests/integration/README.md);
``yamllint`` from the dev extra. A missing tool skips those tests locally and fails them under
``CI=true``. Two rule sets are committed: the rule file for a plain Prometheus (scrape job
``drift-sidecar``) and the PrometheusRule of the Kustomize base (the Prometheus Operator's job
``<namespace>/drift-sidecar``, an absolute runbook URL, kube-prometheus-stack's label).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from drift.cli import main as cli_main
from drift.config.collectors import PerformanceConfig
from exporters.prometheus import rules as pr
from tests.components import missing_component
from tests.integration.conftest import binary

ROOT = Path(__file__).resolve().parents[2]
RULE_FILE = ROOT / "alert_rules" / pr.RULE_FILE_NAME
PROMETHEUS_RULE = ROOT / "deploy" / "kustomize" / "base" / pr.PROMETHEUS_RULE_FILE_NAME
PROMTOOL_TESTS = ROOT / "alert_rules" / "tests" / "drift-sidecar.test.yaml"
OPERATOR_TESTS = ROOT / "alert_rules" / "tests" / "drift-sidecar.operator.test.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
METRICS_PAGE = ROOT / "docs" / "metrics.md"
ALERT_RULES_PAGE = ROOT / "docs" / "alert-rules.md"
REGENERATE = "the command on the file's first line"

# Alerts about a sidecar target or its CloudEvents input, not about one model.
NOT_PER_MODEL = {"DriftSidecarDown", "DriftSidecarAbsent", "DriftCloudEventsUnpaired"}
# Not a sidecar metric: Prometheus' own per-target series.
PROMETHEUS_METRICS = {"up": "gauge"}

RULES = [rule for group in pr.rule_groups() for rule in group.rules]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# generated artifacts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "render"),
    [(RULE_FILE, pr.render_rule_file), (PROMETHEUS_RULE, pr.render_kustomize_base)],
    ids=["rule-file", "prometheusrule"],
)
def test_committed_artifact_is_what_the_generator_writes(path: Path, render: Any) -> None:
    assert path.read_text(encoding="utf-8") == render(), f"{path} is stale; run: {REGENERATE}"


def test_cli_export_writes_the_committed_files(tmp_path: Path) -> None:
    code = cli_main(
        ["rules", "export", str(tmp_path), "--prometheus-rule-dir", str(tmp_path / "k")]
    )
    assert code == 0
    assert (tmp_path / pr.RULE_FILE_NAME).read_text() == RULE_FILE.read_text()
    assert (tmp_path / "k" / pr.PROMETHEUS_RULE_FILE_NAME).read_text() == (
        pr.render_prometheus_rule()
    )


def test_the_command_in_the_base_header_writes_the_committed_prometheus_rule(
    tmp_path: Path,
) -> None:
    """The first line of the committed PrometheusRule is the command that wrote it."""
    header = PROMETHEUS_RULE.read_text(encoding="utf-8").splitlines()[0]
    match = re.search(r"`drift-sidecar (rules export .+)`; do not edit", header)
    assert match, header
    argv = shlex.split(match.group(1))
    assert argv[2] == "deploy/kustomize/base"
    argv[2] = str(tmp_path)
    assert cli_main(argv) == 0
    assert os.listdir(tmp_path) == [pr.PROMETHEUS_RULE_FILE_NAME]  # --prometheus-rule-only
    written = (tmp_path / pr.PROMETHEUS_RULE_FILE_NAME).read_text(encoding="utf-8")
    assert written.replace(str(tmp_path), "deploy/kustomize/base") == PROMETHEUS_RULE.read_text()


def test_module_entry_point_writes_both_files_into_one_directory(tmp_path: Path) -> None:
    assert pr.main([str(tmp_path)]) == 0
    assert (tmp_path / pr.RULE_FILE_NAME).read_text() == RULE_FILE.read_text()
    assert (tmp_path / pr.PROMETHEUS_RULE_FILE_NAME).read_text() == pr.render_prometheus_rule()


def test_job_selector_option_sets_the_up_series_of_every_rule(tmp_path: Path) -> None:
    selector = 'job="kserve-test/drift-sidecar"'
    assert cli_main(["rules", "export", str(tmp_path), "--job-selector", selector]) == 0
    exprs = [r["expr"] for g in _load(tmp_path / pr.RULE_FILE_NAME)["groups"] for r in g["rules"]]
    ups = [e for e in exprs if "up{" in e]
    assert len(ups) == 3  # DriftNoSamples, DriftSidecarDown, DriftSidecarAbsent
    assert all(f"up{{{selector}}}" in e for e in ups)
    assert not any("drift-sidecar.*" in e for e in exprs)


def test_job_regex_option(tmp_path: Path) -> None:
    assert cli_main(["rules", "export", str(tmp_path), "--job-regex", ".+/drift-sidecar"]) == 0
    text = (tmp_path / pr.RULE_FILE_NAME).read_text()
    assert 'up{job=~".+/drift-sidecar"} == 0' in text


def test_label_option_labels_the_prometheus_rule(tmp_path: Path) -> None:
    argv = ["rules", "export", str(tmp_path), "--prometheus-rule-only"]
    argv += ["--label", "release=kube-prometheus-stack", "--label", "team=ml"]
    assert cli_main(argv) == 0
    labels = _load(tmp_path / pr.PROMETHEUS_RULE_FILE_NAME)["metadata"]["labels"]
    assert labels["release"] == "kube-prometheus-stack"
    assert labels["team"] == "ml"
    assert labels["app.kubernetes.io/name"] == "drift-sidecar"
    assert not (tmp_path / pr.RULE_FILE_NAME).exists()


@pytest.mark.parametrize(
    "bad",
    [
        ["--job-selector", "job=kserve"],  # not quoted: not PromQL
        ["--job-selector", 'job="a"} or vector(1) or up{x="b"'],  # no injection into the expr
        ["--runbook-base-url", "docs/runbook.md"],  # relative: a dead link in Slack
        ["--runbook-base-url", "https://example.com/runbook.md#x"],
        ["--label", "release"],
        ["--label", "release=not a label value"],
    ],
)
def test_bad_options_are_refused_with_a_message(
    bad: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["rules", "export", str(tmp_path), *bad]) == 2
    assert "error:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_job_selector_and_regex_are_exclusive(tmp_path: Path) -> None:
    argv = ["rules", "export", str(tmp_path), "--job-selector", 'job="a"', "--job-regex", "b"]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(argv)
    assert exit_info.value.code == 2


def test_runbook_url_option_sets_every_link(tmp_path: Path) -> None:
    base = "https://git.example.com/drift-sidecar/blob/main/docs/runbook.md"
    assert cli_main(["rules", "export", str(tmp_path), "--runbook-url", base]) == 0
    rules = [r for g in _load(tmp_path / pr.RULE_FILE_NAME)["groups"] for r in g["rules"]]
    urls = [r["annotations"]["runbook_url"] for r in rules]
    assert urls == [f"{base}#{r['alert'].lower()}" for r in rules]


def test_yaml_text_round_trips_to_the_data() -> None:
    assert _load(RULE_FILE) == pr.rule_file(pr.rule_groups())
    base = pr.KUSTOMIZE_BASE
    assert _load(PROMETHEUS_RULE) == pr.prometheus_rule(
        pr.groups_for(base), labels=dict(base.labels)
    )


def test_prometheus_rule_and_rule_file_differ_only_in_job_and_runbook() -> None:
    resource = _load(PROMETHEUS_RULE)
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["metadata"]["name"] == "drift-sidecar"
    assert resource["metadata"]["labels"]["app.kubernetes.io/name"] == "drift-sidecar"
    assert resource["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "namespace" not in resource["metadata"]
    assert [g["name"] for g in resource["spec"]["groups"]] == [
        "drift-sidecar.drift",
        "drift-sidecar.performance",
        "drift-sidecar.health",
    ]
    plain = yaml.safe_dump(_load(RULE_FILE)["groups"])
    operator = yaml.safe_dump(resource["spec"]["groups"])
    operator = operator.replace(pr.PROJECT_RUNBOOK_URL, pr.RUNBOOK_URL)
    assert operator.replace(pr.OPERATOR_JOB_REGEX, pr.JOB_REGEX) == plain


def test_extra_labels_for_the_rule_selector() -> None:
    resource = pr.prometheus_rule(pr.rule_groups(), labels={"release": "kube-prometheus-stack"})
    assert resource["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert resource["metadata"]["labels"]["app.kubernetes.io/name"] == "drift-sidecar"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=1), "1h"),
        (timedelta(seconds=90), "90s"),
        (timedelta(0), "0s"),
    ],
)
def test_duration(value: timedelta, text: str) -> None:
    assert pr.duration(value) == text


def test_duration_refuses_fractions() -> None:
    with pytest.raises(ValueError, match="whole"):
        pr.duration(timedelta(milliseconds=1500))


# the rules themselves ----------------------------------------------------------------------------


def test_alert_names_are_unique() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))


def test_required_alerts_exist() -> None:
    assert {rule.name for rule in RULES} >= {
        "DriftDatasetDetected",
        "DriftColumnDetected",
        "DriftPredictionDetected",
        "DriftNoSamples",
        "DriftSidecarDown",
        "DriftReferenceNotLoaded",
        "DriftReferenceStale",
        "DriftEvaluationErrors",
        "DriftAlertDeliveryFailing",
        "DriftSamplesRejected",
        "DriftModelPerformanceDegraded",
        "DriftModelPerformanceEstimatedDegraded",
        "DriftMultivariateDetected",
        "DriftEstimationFailing",
        "DriftLabelsNotJoining",
        "DriftCloudEventsUnpaired",
        "DriftWindowInsufficientData",
    }


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_has_severity_annotations_and_a_runbook_link(rule: pr.AlertRule) -> None:
    assert rule.severity in set(pr.Severity)
    assert rule.summary.strip()
    assert rule.description.strip()
    assert rule.runbook_url == f"{pr.RUNBOOK_URL}#{rule.name.lower()}"
    if rule.name not in NOT_PER_MODEL:
        assert "{{ $labels.model }}" in rule.summary
        assert "{{ $labels.model }}" in rule.description


def test_dataset_alert_uses_the_sidecars_own_decision() -> None:
    """docs/metrics.md: dataset drift when the drifted share >= share_threshold; that decision
    (and the edge case of no evaluated column) is ``drift_dataset_detected``, not a fixed
    threshold."""
    (rule,) = [r for r in RULES if r.name == "DriftDatasetDetected"]
    assert "drift_dataset_detected == 1" in rule.expr
    assert not re.search(r"share\s*[<>]=?\s*[\d.]", rule.expr)


def test_performance_alert_uses_the_sidecars_own_condition() -> None:
    """The per-model ``performance.alert`` (metric, max_drop / min_value / max_value) is decided
    by the sidecar; the rule only adds the ``for:``."""
    (rule,) = [r for r in RULES if r.name == "DriftModelPerformanceDegraded"]
    assert rule.expr == "drift_model_performance_degraded == 1"
    assert rule.for_ == pr.PERFORMANCE_DEGRADED_FOR


def test_estimation_alert_leaves_an_unloaded_reference_to_its_own_alert() -> None:
    """``drift_estimation_ready`` is 0 before the reference loads too; that is
    DriftReferenceNotLoaded's, so the rule needs the same model's reference loaded."""
    (rule,) = [r for r in RULES if r.name == "DriftEstimationFailing"]
    assert rule.expr.startswith("drift_estimation_ready == 0")
    assert "and on (job, instance, model) drift_reference_loaded == 1" in rule.expr
    assert rule.for_ == pr.ESTIMATION_FAILING_FOR


def test_labels_matched_window_covers_the_label_ttl() -> None:
    """A label expires label_ttl_seconds after it arrived; the matches of the same batch must
    still be inside the matched window when its expiries are counted (the ``batch`` case of
    the promtool tests), or a partly matching batch would fire the alert."""
    ttl = timedelta(seconds=PerformanceConfig().label_ttl_seconds)
    assert ttl + pr.LABELS_EXPIRED_WINDOW < pr.LABELS_MATCHED_WINDOW
    (rule,) = [r for r in RULES if r.name == "DriftLabelsNotJoining"]
    assert f"[{pr.duration(pr.LABELS_MATCHED_WINDOW)}]" in rule.expr
    assert "unless" in rule.expr  # no matched series at all (never matched) must fire too


METRIC_ROW = re.compile(r"^\| `(\w+)` \| (\w+) \|", re.MULTILINE)
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _documented_metrics() -> dict[str, str]:
    table = _section(METRICS_PAGE.read_text(encoding="utf-8"), "All metrics")
    return dict(METRIC_ROW.findall(table))


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (enough PromQL for these rules)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", text):
        if match.group() in PROMQL_KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue  # a keyword or a function
        names.add(match.group())
    return names


def test_metric_names_parser() -> None:
    expr = (
        'sum without (reason) (rate(a_total{x="y"}[5m])) / on (job) b > 30 * 86400\n'
        'and absent(up{job=~"c.*"}) unless d offset 5m > bool 1e3'
    )
    assert metric_names(expr) == {"a_total", "b", "up", "d"}


def test_every_metric_is_documented() -> None:
    known = {**_documented_metrics(), **PROMETHEUS_METRICS}
    assert "drift_dataset_detected" in known  # the table of docs/metrics.md was found
    for rule in RULES:
        unknown = metric_names(rule.expr) - set(known)
        assert not unknown, f"{rule.name}: {unknown} not in docs/metrics.md's table"
        for counter in re.findall(r"\b(?:rate|increase)\(\s*([A-Za-z_:][\w:]*)", rule.expr):
            assert known[counter] == "counter", f"{rule.name}: rate/increase of {counter}"


# promtool ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_promtool_check_rules() -> None:
    result = _run([binary("promtool"), "check", "rules", "--lint-fatal", str(RULE_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in result.stdout


@pytest.mark.integration
def test_promtool_check_rules_on_the_prometheus_rule_spec(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_load(PROMETHEUS_RULE)["spec"]), encoding="utf-8")
    result = _run([binary("promtool"), "check", "rules", "--lint-fatal", str(spec)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_promtool_unit_tests_pass() -> None:
    result = _run([binary("promtool"), "test", "rules", str(PROMTOOL_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _operator_test(tmp_path: Path, groups: Any) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` of the Operator-naming tests against ``groups``."""
    tests = _load(OPERATOR_TESTS)
    [rule_file] = tests["rule_files"]
    (tmp_path / rule_file).write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    copy = tmp_path / OPERATOR_TESTS.name
    copy.write_text(OPERATOR_TESTS.read_text(encoding="utf-8"), encoding="utf-8")
    return _run([binary("promtool"), "test", "rules", str(copy)])


@pytest.mark.integration
def test_promtool_operator_job_naming_fires_down_not_absent(tmp_path: Path) -> None:
    """The base's PrometheusRule: up{job="kserve-test/drift-sidecar"} == 0 fires
    DriftSidecarDown (not DriftSidecarAbsent), and a lone plain job fires Absent."""
    result = _operator_test(tmp_path, _load(PROMETHEUS_RULE)["spec"]["groups"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.integration
def test_promtool_operator_tests_fail_with_the_plain_job_selector(tmp_path: Path) -> None:
    """The same tests against the plain rules (job=~"drift-sidecar.*", the same runbook links)
    fail as the issue reported, Absent instead of Down: the tests above test the selector."""
    plain = pr.rule_file(pr.rule_groups(runbook_url=pr.PROJECT_RUNBOOK_URL))  # same links
    result = _operator_test(tmp_path, plain["groups"])
    assert result.returncode != 0
    assert "alertname: DriftSidecarDown" in result.stdout + result.stderr


def test_promtool_tests_use_the_committed_rule_file() -> None:
    tests = _load(PROMTOOL_TESTS)
    files = [(PROMTOOL_TESTS.parent / f).resolve() for f in tests["rule_files"]]
    assert files == [RULE_FILE]


def test_every_alert_is_shown_firing_and_not_firing() -> None:
    """promtool passes an ``alertname`` that no rule has with ``exp_alerts: []``; so check that
    every case names a real alert, and every alert has a firing and a silent case."""
    firing: set[str] = set()
    silent: set[str] = set()
    for case in _load(PROMTOOL_TESTS)["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule.name for rule in RULES}
    assert firing | silent <= names
    assert names - firing == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown not firing"


# documentation -------------------------------------------------------------------------------


def _github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_sections() -> dict[str, str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {
        _github_anchor(title): body for title, body in zip(parts[1::2], parts[2::2], strict=True)
    }


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_runbook_has_a_section_for_the_alert(rule: pr.AlertRule) -> None:
    sections = _runbook_sections()
    anchor = rule.runbook_url.partition("#")[2]
    assert anchor in sections, f"docs/runbook.md has no '## {rule.name}'"
    body = sections[anchor]
    for part in ("**What it means.**", "**What to check.**", "**What to do.**", "**Why "):
        assert part in body, f"{rule.name}: no {part} in its runbook section"
    assert f"**Severity** `{rule.severity.value}`" in body
    if rule.for_:
        assert f"**for** `{pr.duration(rule.for_)}`" in body
        assert f"`for: {pr.duration(rule.for_)}`" in body
    else:
        assert "no `for`" in body


def test_runbook_has_no_section_for_a_removed_alert() -> None:
    alerts = {rule.name.lower() for rule in RULES}
    assert {a for a in _runbook_sections() if a.startswith("drift")} == alerts


ALERT_ROW = re.compile(r"^\| `(Drift\w+)` \| (\w+) \| .+ \| (\w+) \|$", re.MULTILINE)


def test_docs_alert_table_matches_the_rules() -> None:
    table = ALERT_RULES_PAGE.read_text(encoding="utf-8")
    rows = {name: (severity, for_) for name, severity, for_ in ALERT_ROW.findall(table)}
    expected = {r.name: (r.severity.value, pr.duration(r.for_) if r.for_ else "0") for r in RULES}
    assert rows == expected
    assert "drift-sidecar rules export DIR" in table
    assert "(runbook.md)" in table


# yamllint ------------------------------------------------------------------------------------

# annotations stay on one line each, so lines may be long; everything else is yamllint's default
YAMLLINT_CONFIG = "{extends: default, rules: {line-length: disable}}"


def test_yamllint_strict() -> None:
    if importlib.util.find_spec("yamllint") is None:
        missing_component("yamllint is not installed (pip install -e '.[dev]')")
    files = [RULE_FILE, PROMETHEUS_RULE, PROMTOOL_TESTS, OPERATOR_TESTS]
    command = [sys.executable, "-m", "yamllint", "-s", "-d", YAMLLINT_CONFIG]
    result = _run([*command, *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr
