"""Drift evaluations reported as scalars of a ClearML Task (``exporters/clearml/reporting.py``),
through the real SDK against the schema-checked local server (or a live server when
``CLEARML_API_HOST`` is set; the fault tests then skip). Reports are real: the engine evaluates
windows against a reference profile. Scalars are read back the way a data scientist reads them,
with ``Task.get_reported_scalars``. See ``reference_components.py`` for how the backend starts.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drift.config import ColumnsConfig, DriftConfig
from drift.core.engine import evaluate
from drift.core.reference import ReferenceProfile, build_profile
from drift.core.report import ColumnStatus, DriftReport
from drift.core.window import CountWindow
from drift.retry import RetryPolicy
from exporters.clearml.reporting import (
    COLUMN_TITLE,
    DATASET_TITLE,
    DRIFTED_SERIES,
    SHARE_SERIES,
    ClearMLReporter,
    ReportingStats,
)
from tests.clearml_server import ClearMLTestServer
from tests.conftest import reference_frame, wait_until

from .reference_components import Backend

pytestmark = [
    pytest.mark.integration,
    # the SDK's bundled HOCON parser uses pyparsing's pre-3.0 camelCase names, deprecated
    # since pyparsing 3.3 (warned while reading clearml.conf); not ours to fix
    pytest.mark.filterwarnings("ignore::pyparsing.PyparsingDeprecationWarning"),
]

COLUMNS = ColumnsConfig(
    numerical=["age", "income"],
    categorical=["city"],
    prediction="score",
    prediction_type="numerical",
)
WINDOW = 200
FAST = RetryPolicy(initial_backoff=0.05, max_backoff=0.2, jitter=0.0)
Reporters = Callable[..., ClearMLReporter]


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    return build_profile(reference_frame(600, seed=1), COLUMNS, source="test reference")


def evaluation(
    profile: ReferenceProfile, model: str, shift: float = 0.0, no_city: bool = False
) -> DriftReport:
    """A real evaluation of a 200-sample window; ``shift`` moves age (years) and income
    (thousands): from about 10 on both drift, which makes the dataset drift (2 of 3)."""
    frame = reference_frame(WINDOW, seed=9)
    frame["age"] += shift
    frame["income"] += shift * 1000
    columns: dict[str, list[Any]] = {str(name): list(values) for name, values in frame.items()}
    if no_city:
        columns["city"] = [None] * WINDOW
    window = CountWindow(profile.column_types, size=WINDOW)
    window.append(columns, WINDOW)
    return evaluate(model, profile, window.snapshot(), DriftConfig(), window_size=WINDOW)


def expected_scalars(report: DriftReport) -> dict[tuple[str, str], float]:
    expected = {
        (DATASET_TITLE, SHARE_SERIES): report.drift_share,
        (DATASET_TITLE, DRIFTED_SERIES): float(report.dataset_drift),
    }
    assert report.prediction is not None
    for col in (*report.columns, report.prediction):
        if col.status is ColumnStatus.OK:
            assert col.score is not None
            expected[(COLUMN_TITLE, col.column)] = col.score
    return expected


def reported_scalars(task_id: str) -> dict[int, dict[tuple[str, str], float]]:
    """{iteration: {(title, series): value}}, read back through the SDK."""
    from clearml import Task

    graphs: dict[str, Any] = Task.get_task(task_id=task_id).get_reported_scalars()
    out: dict[int, dict[tuple[str, str], float]] = {}
    for title, series in graphs.items():
        for name, points in series.items():
            for x, y in zip(points["x"], points["y"], strict=True):
                out.setdefault(int(x), {})[(title, name)] = y
    return out


def task_ids(project: str, name: str) -> list[str]:
    from clearml import Task

    found: list[Any] = Task.get_tasks(project_name=project, task_name=f"^{re.escape(name)}$")
    return sorted(str(task.id) for task in found)


def settled(reporter: ClearMLReporter, handled: int, timeout: float = 20.0) -> ReportingStats:
    """Stats once ``handled`` evaluations were reported or failed and nothing is queued."""

    def done() -> bool:
        s = reporter.stats()
        return s.reported + s.failed >= handled and s.pending == 0

    wait_until(done, timeout, f"{handled} evaluations handled: {reporter.stats()}")
    return reporter.stats()


def local(backend: Backend) -> ClearMLTestServer:
    if backend.server is None:
        pytest.skip("the live tier cannot inject faults into the real server")
    return backend.server


@pytest.fixture
def reporters() -> Iterator[Reporters]:
    started: list[ClearMLReporter] = []

    def make(project: str, **options: Any) -> ClearMLReporter:
        options = {"timeout_seconds": 5.0, "retries": 1, "retry_policy": FAST, **options}
        reporter = ClearMLReporter(project, **options)
        reporter.start()
        started.append(reporter)
        return reporter

    yield make
    for reporter in started:
        reporter.stop(timeout=2.0)


def test_evaluations_arrive_on_one_task_per_model_reused_after_a_restart(
    backend: Backend, profile: ReferenceProfile, reporters: Reporters
) -> None:
    project = backend.project(f"reporting-{uuid.uuid4().hex[:6]}")
    template = "drift monitor {model} (prod)"
    credit = [evaluation(profile, "credit", shift) for shift in (0.0, 8.0, 25.0)]
    fraud = evaluation(profile, "fraud", 3.0)
    first = reporters(project, task_name=template)
    assert all(first.submit(report) for report in (*credit[:2], fraud))
    assert settled(first, 3) == ReportingStats(3, 0, 0, 0, None)
    first.stop()

    credit_task = task_ids(project, "drift monitor credit (prod)")
    fraud_task = task_ids(project, "drift monitor fraud (prod)")
    assert len(credit_task) == 1
    assert len(fraud_task) == 1
    from clearml import Task

    task: Any = Task.get_task(task_id=credit_task[0])
    assert str(task.data.type) == "monitor"
    assert str(task.data.status) == "in_progress"  # started: a draft could be enqueued

    restarted = reporters(project, task_name=template)
    assert restarted.submit(credit[2])
    assert settled(restarted, 1) == ReportingStats(1, 0, 0, 0, None)
    assert task_ids(project, "drift monitor credit (prod)") == credit_task  # reused, not new

    def all_arrived() -> bool:
        return len(reported_scalars(credit_task[0])) == 3

    wait_until(all_arrived, 20, "three iterations of credit")
    by_iteration = reported_scalars(credit_task[0])
    assert sorted(by_iteration) == [1, 2, 3]  # the restart continued after the last iteration
    for iteration, report in zip((1, 2, 3), credit, strict=True):
        assert by_iteration[iteration] == pytest.approx(expected_scalars(report), rel=1e-12)
    assert by_iteration[3][(DATASET_TITLE, DRIFTED_SERIES)] == 1.0  # age and income shifted
    assert by_iteration[1][(DATASET_TITLE, DRIFTED_SERIES)] == 0.0
    wait_until(lambda: len(reported_scalars(fraud_task[0])) == 1, 20, "fraud's iteration")
    assert reported_scalars(fraud_task[0]) == {1: pytest.approx(expected_scalars(fraud))}


def test_a_column_without_a_score_is_left_out_not_sent_as_zero(
    backend: Backend, profile: ReferenceProfile, reporters: Reporters
) -> None:
    project = backend.project(f"reporting-{uuid.uuid4().hex[:6]}")
    report = evaluation(profile, "m", no_city=True)
    assert report.column("city").status is ColumnStatus.INSUFFICIENT_DATA
    reporter = reporters(project)
    reporter.submit(report)
    assert settled(reporter, 1).reported == 1
    [task_id] = task_ids(project, "drift-sidecar/m")
    wait_until(lambda: bool(reported_scalars(task_id)), 20, "the iteration")
    sent = reported_scalars(task_id)[1]
    assert (COLUMN_TITLE, "city") not in sent
    assert sent == pytest.approx(expected_scalars(report))


@pytest.mark.parametrize(
    ("fault", "status"), [("error", 500), ("bad_gateway", 502), ("maintenance", 503)]
)
def test_server_errors_are_retried_counted_and_recovered_from(
    backend: Backend, profile: ReferenceProfile, reporters: Reporters, fault: str, status: int
) -> None:
    """Also 502 and 503, which the SDK alone would retry forever (its InterfaceBase._send
    loops on codes above 500; its session waits out a 503 'maintenance' without limit)."""
    server = local(backend)
    project = backend.project(f"reporting-{uuid.uuid4().hex[:6]}")
    reporter = reporters(project, retries=2)
    reporter.submit(evaluation(profile, "m"))
    assert settled(reporter, 1).reported == 1
    sent_before = server.calls.count("events.add_batch")
    server.fail_events(fault)
    try:
        for shift in (1.0, 2.0):
            assert reporter.submit(evaluation(profile, "m", shift))
        stats = settled(reporter, 3)
    finally:
        server.heal_events()
    assert (stats.reported, stats.failed, stats.dropped) == (1, 2, 0)
    assert stats.last_error is not None
    assert "events.add_batch failed" in stats.last_error
    assert str(status) in stats.last_error
    # 1 + 2 retries per evaluation (HTTP-level retries of 5xx come on top for 502/503)
    assert server.calls.count("events.add_batch") - sent_before >= 2 * 3

    recovered = evaluation(profile, "m", 30.0)
    assert reporter.submit(recovered)
    assert settled(reporter, 4).reported == 2
    [task_id] = task_ids(project, "drift-sidecar/m")
    by_iteration = reported_scalars(task_id)
    # the failed evaluations had iterations 2 and 3: numbers never go back
    assert sorted(by_iteration) == [1, 4]
    assert by_iteration[4] == pytest.approx(expected_scalars(recovered))


def test_a_hanging_server_never_blocks_submit_and_the_queue_stays_bounded(
    backend: Backend, profile: ReferenceProfile, reporters: Reporters
) -> None:
    server = local(backend)
    project = backend.project(f"reporting-{uuid.uuid4().hex[:6]}")
    reporter = reporters(project, queue_size=3, retries=0)
    reports = [evaluation(profile, "m", float(shift)) for shift in range(11)]
    server.fail_events("hang")
    try:
        assert reporter.submit(reports[0])
        wait_until(lambda: server.events_held == 1, 20, "the first evaluation's request held")
        durations = []
        accepted = []
        for report in reports[1:]:
            started = time.perf_counter()
            accepted.append(reporter.submit(report))
            durations.append(time.perf_counter() - started)
        held = reporter.stats()
    finally:
        server.heal_events()
    assert max(durations) < 0.05
    assert accepted == [True] * 3 + [False] * 7  # the worker holds one, the queue three
    assert (held.pending, held.dropped, held.reported, held.failed) == (3, 7, 0, 0)
    stats = settled(reporter, 4)
    # the held request got its 500 at heal: no retries were allowed, so it failed
    assert (stats.reported, stats.failed, stats.dropped) == (3, 1, 7)
    assert stats.last_error is not None
    assert "hang" in stats.last_error
    [task_id] = task_ids(project, "drift-sidecar/m")
    by_iteration = reported_scalars(task_id)
    assert sorted(by_iteration) == [2, 3, 4]
    for iteration, report in zip((2, 3, 4), reports[1:4], strict=True):
        assert by_iteration[iteration] == pytest.approx(expected_scalars(report))


def test_an_unreachable_server_is_counted_and_the_same_task_is_used_when_it_is_back(
    backend: Backend, profile: ReferenceProfile, reporters: Reporters
) -> None:
    server = local(backend)
    project = backend.project(f"reporting-{uuid.uuid4().hex[:6]}")
    reporter = reporters(project)
    reporter.submit(evaluation(profile, "m"))
    assert settled(reporter, 1).reported == 1
    [task_id] = task_ids(project, "drift-sidecar/m")
    server.stop()
    try:
        started = time.perf_counter()
        for shift in (1.0, 2.0):
            assert reporter.submit(evaluation(profile, "m", shift))
        assert time.perf_counter() - started < 0.05
        stats = settled(reporter, 3, timeout=30)
    finally:
        server.start()
    assert (stats.reported, stats.failed, stats.dropped) == (1, 2, 0)
    assert stats.last_error is not None
    assert "unreachable" in stats.last_error
    back = evaluation(profile, "m", 40.0)
    reporter.submit(back)
    assert settled(reporter, 4).reported == 2
    assert task_ids(project, "drift-sidecar/m") == [task_id]
    by_iteration = reported_scalars(task_id)
    assert sorted(by_iteration) == [1, 4]
    assert by_iteration[4] == pytest.approx(expected_scalars(back))


def test_a_published_task_is_not_reused(
    backend: Backend, profile: ReferenceProfile, reporters: Reporters
) -> None:
    """The server rejects events of a published (locked) task inside a 200 answer; the
    rejection counts as a failed attempt, and the next attempt creates a new task."""
    project = backend.project(f"reporting-{uuid.uuid4().hex[:6]}")
    reporter = reporters(project, retries=1)
    reporter.submit(evaluation(profile, "m"))
    assert settled(reporter, 1).reported == 1
    [old] = task_ids(project, "drift-sidecar/m")
    from clearml import Task

    published: Any = Task.get_task(task_id=old)
    published.mark_stopped()
    published.publish()
    later = evaluation(profile, "m", 30.0)
    reporter.submit(later)
    stats = settled(reporter, 2)
    assert (stats.reported, stats.failed) == (2, 0)
    new = [t for t in task_ids(project, "drift-sidecar/m") if t != old]
    assert len(new) == 1
    assert sorted(reported_scalars(old)) == [1]  # nothing was added to the published task
    wait_until(lambda: bool(reported_scalars(new[0])), 20, "the iteration on the new task")
    assert reported_scalars(new[0]) == {2: pytest.approx(expected_scalars(later))}


def test_submit_after_stop_and_bad_templates(backend: Backend, profile: ReferenceProfile) -> None:
    reporter = ClearMLReporter("p", queue_size=1)
    reporter.start()
    reporter.stop()
    assert reporter.submit(evaluation(profile, "m")) is False
    assert reporter.stats() == ReportingStats(0, 0, 1, 0, None)
    for template in ("drift-sidecar", "drift-{model}-{stage}", "drift-{0}"):
        with pytest.raises(ValueError, match="task_name"):
            ClearMLReporter("p", task_name=template)
    assert ClearMLReporter("p").task_name_for("credit") == "drift-sidecar/credit"


def test_without_the_sdk_each_evaluation_fails_once_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, profile: ReferenceProfile
) -> None:
    monkeypatch.setitem(sys.modules, "clearml", None)  # import clearml raises ImportError
    reporter = ClearMLReporter("p", retries=5, retry_policy=RetryPolicy(initial_backoff=30.0))
    reporter.start()
    try:
        assert reporter.submit(evaluation(profile, "m"))
        assert reporter.submit(evaluation(profile, "m"))
        stats = settled(reporter, 2, timeout=10)  # permanent: no 30 s backoff before failing
    finally:
        reporter.stop()
    assert (stats.reported, stats.failed, stats.dropped) == (0, 2, 0)
    assert stats.last_error is not None
    assert "pip install 'drift-sidecar[clearml]'" in stats.last_error


def test_the_service_reports_its_evaluations_when_configured(
    backend: Backend, tmp_path: Any
) -> None:
    """``reporting.clearml`` in the config: every evaluation of the running service arrives as
    scalars of the model's task, and the counters are on /metrics."""
    from prometheus_client import generate_latest

    from drift.config import settings_from_mapping
    from drift.service.service import DriftService
    from tests.conftest import sample

    project = backend.project(f"reporting-{uuid.uuid4().hex[:6]}")
    path = tmp_path / "reference.csv"
    reference_frame(600, seed=1).to_csv(path, index=False)
    settings = settings_from_mapping(
        {
            "reporting": {"clearml": {"project": project, "timeout_seconds": 5, "retries": 1}},
            "models": {
                "credit": {
                    "reference": {"path": str(path)},
                    "columns": COLUMNS.model_dump(exclude_none=True),
                    "window": {"size": 200, "step": 50},
                }
            },
        }
    )
    service = DriftService(settings)
    service.start(load_in_background=False)
    try:
        assert service.reporter is not None
        monitor = service.monitors["credit"]
        for step in range(1, 4):
            service.ingest("credit", {"samples": [sample() for _ in range(50)]})
            wait_until(
                lambda n=50 * step: (r := monitor.latest) is not None and r.samples_seen == n,
                what=f"evaluation {step}",
            )
        wait_until(
            lambda: service.reporter is not None and service.reporter.stats().reported == 3,
            20,
            "three evaluations reported",
        )
        text = generate_latest(service.registry).decode()
    finally:
        service.stop()
    assert 'drift_clearml_reports_total{outcome="reported"} 3.0' in text
    assert 'drift_clearml_reports_total{outcome="failed"} 0.0' in text
    [task_id] = task_ids(project, "drift-sidecar/credit")
    wait_until(lambda: len(reported_scalars(task_id)) == 3, 20, "three iterations")
    assert sorted(reported_scalars(task_id)) == [1, 2, 3]
