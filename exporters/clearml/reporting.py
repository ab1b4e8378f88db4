"""Drift evaluations as scalars of a ClearML Task, off the request path (opt-in).

``ClearMLReporter.submit(report)`` only appends to a bounded queue (full: the evaluation is
dropped and counted); one worker thread sends. The SDK is imported there, on first use
(``pip install 'drift-sidecar[clearml]'``); connection settings are the SDK's own, as for
reference datasets (see ``drift/sources/clearml.py``).

One Task per model, named by ``task_name`` (``{model}`` replaced) in ``project``: the newest
non-archived, non-published task of exactly that name is reused (``Task.get_task``), else one is
created with ``Task.create(task_type="monitor", detect_repository=False)``, which only creates
the task entity. ``Task.init`` is never called: it makes the task the process's main task and
patches stdout/stderr, argv, logging and ML frameworks, and registers exit hooks, all meant for
the training script that owns the process. A new (draft) task is marked started, so nobody can
enqueue it for an agent. Published tasks are locked (the server rejects their events), hence
not reused.

Per evaluation, at iteration n (1, 2, ... per model; a reused task continues after its
``last_iteration``, so a restart never goes back): title ``dataset drift``, series ``share``
(drifted share of the evaluated feature columns) and ``drifted`` (the dataset decision, 0/1);
title ``column score``, one series per column (features and prediction) with its score. A
column without a finite score (insufficient data) is left out of that iteration: the SDK would
send NaN as 0, which reads as strong drift for p-value tests. Timestamps are the evaluation's.

How a failure is detected. ``Logger.report_scalar`` hands events to the task's
``BackgroundReportService`` (a daemon thread, or a subprocess with the SDK's default
``report_use_subprocess``), which posts ``events.add_batch`` asynchronously; a failed post is
only logged (``Metrics._callback_wrapper``) and its events are gone, and
``Task.flush(wait_for_uploads=True)`` waits for that thread but returns True either way. So the
worker does not use the Logger: it builds the same ``ScalarEvent`` objects and sends them with
``Metrics.write_events(events, async_enable=False)``, the SDK's synchronous path of the same
code, which returns the ``CallResult`` of ``events.add_batch``. A non-200 result is a failure,
and so is a 200 whose ``errors`` is non-zero (how the server rejects events of an unknown or
published task; the task is then looked up again on the next attempt).

Bounds. The SDK's API session is the bounded one of ``reference_clearml`` (per-request timeout,
a few HTTP retries, an unreachable server turned into an error result instead of an endless
loop); it is installed once per process, by whichever of reference loading or reporting comes
first, with that caller's ``timeout_seconds`` and ``retries``. Each evaluation then gets
``1 + retries`` attempts with backoff (a ``RetryPolicy``); after that it counts as failed. The
counters (``stats()``): reported, failed, dropped (queue full or reporter stopped), pending
(queued), and the last error.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from drift.core.report import DriftReport
from drift.errors import DriftError, ReferenceUnavailable
from drift.retry import RetryPolicy
from drift.sources.clearml import INSTALL_HINT, bounded_dataset_class

log = logging.getLogger(__name__)
_sdk_log = logging.getLogger(f"{__name__}.sdk")  # what the SDK logs while sending for us

DEFAULT_TASK_NAME = "drift-sidecar/{model}"
DATASET_TITLE = "dataset drift"
SHARE_SERIES = "share"
DRIFTED_SERIES = "drifted"
COLUMN_TITLE = "column score"
#: a published task is locked: the server rejects its events unless they are forced
REUSABLE_STATUSES = (
    "created",
    "queued",
    "in_progress",
    "stopped",
    "closed",
    "failed",
    "completed",
    "unknown",
)
#: backoff between the attempts of one evaluation (their number is ``1 + retries``)
DEFAULT_RETRY_POLICY = RetryPolicy(initial_backoff=1.0, max_backoff=30.0)


@dataclass(frozen=True)
class Scalar:
    title: str
    series: str
    value: float


def scalars(report: DriftReport) -> list[Scalar]:
    """What one evaluation reports (pure; see the module docstring)."""
    out = [
        Scalar(DATASET_TITLE, SHARE_SERIES, float(report.drift_share)),
        Scalar(DATASET_TITLE, DRIFTED_SERIES, 1.0 if report.dataset_drift else 0.0),
    ]
    columns = report.columns if report.prediction is None else (*report.columns, report.prediction)
    for col in columns:
        if col.score is not None and math.isfinite(col.score):
            out.append(Scalar(COLUMN_TITLE, col.column, float(col.score)))
    return out


@dataclass(frozen=True)
class ReportingStats:
    reported: int  # evaluations whose scalars the server accepted
    failed: int  # evaluations given up after their attempts
    dropped: int  # evaluations never attempted: queue full, or submitted after stop
    pending: int  # evaluations waiting in the queue
    last_error: str | None


class ReportFailed(DriftError):
    """One attempt to report an evaluation failed; ``permanent``: retrying cannot help."""

    def __init__(self, model: str, cause: str, permanent: bool = False) -> None:
        super().__init__(f"clearml reporting of model {model!r}: {cause}")
        self.model = model
        self.cause = cause
        self.permanent = permanent


@dataclass(frozen=True)
class _Sdk:
    task: Any  # clearml.Task
    metrics: Any  # clearml.backend_interface.metrics.Metrics
    scalar_event: Any  # clearml.backend_interface.metrics.events.ScalarEvent


@dataclass(frozen=True)
class _Target:
    task: Any
    metrics: Any  # Metrics bound to the task, sending synchronously


@dataclass
class _Evaluation:
    report: DriftReport
    iteration: int | None = None  # assigned by the first attempt that reaches the task


class ClearMLReporter:
    """A bounded queue of evaluations and one worker thread reporting them to ClearML."""

    def __init__(
        self,
        project: str,
        task_name: str = DEFAULT_TASK_NAME,
        task_type: str = "monitor",
        queue_size: int = 100,
        timeout_seconds: float = 10.0,
        retries: int = 2,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        rng: random.Random | None = None,
    ) -> None:
        if not project:
            raise ValueError("project must not be empty")
        try:
            named = task_name.format(model="a") != task_name.format(model="b")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"task_name {task_name!r}: only {{model}} may be replaced") from exc
        if not named:
            raise ValueError(f"task_name {task_name!r} must contain {{model}} (one task per model)")
        if queue_size < 1 or timeout_seconds <= 0 or retries < 0:
            raise ValueError("need queue_size >= 1, timeout_seconds > 0, retries >= 0")
        self.project = project
        self.task_name = task_name
        self.task_type = task_type
        self.queue_size = queue_size
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.retry_policy = retry_policy
        self._rng = rng or random.Random()
        self._items: deque[DriftReport] = deque()
        self._cond = threading.Condition()  # guards the queue and the counters
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported = self._failed = self._dropped = 0
        self._last_error: str | None = None
        # worker thread only:
        self._sdk: _Sdk | None = None
        self._targets: dict[str, _Target] = {}
        self._next_iteration: dict[str, int] = {}

    def task_name_for(self, model: str) -> str:
        return self.task_name.format(model=model)

    # the service's side ----------------------------------------------------------------------
    def submit(self, report: DriftReport) -> bool:
        """Queue an evaluation; never blocks, never raises. False: dropped (and counted)."""
        with self._cond:
            if self._stop.is_set() or len(self._items) >= self.queue_size:
                self._dropped += 1
                return False
            self._items.append(report)
            self._cond.notify()
            return True

    def stats(self) -> ReportingStats:
        with self._cond:
            return ReportingStats(
                self._reported, self._failed, self._dropped, len(self._items), self._last_error
            )

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a ClearMLReporter starts once; create a new one to restart")
        self._thread = threading.Thread(target=self._run, name="drift-clearml-report", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker: the evaluation in flight gets no further attempt, queued ones stay
        pending. Waits at most ``timeout`` (a request in flight ends within the session's
        timeout; the thread is a daemon)."""
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("clearml reporting: worker still sending after %.1fs", timeout)
        pending = self.stats().pending
        if pending:
            log.warning("clearml reporting: %d evaluation(s) not reported at stop", pending)

    # the worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                report = self._items.popleft()
            self._deliver(_Evaluation(report))

    def _deliver(self, evaluation: _Evaluation) -> None:
        model = evaluation.report.model
        for attempt in itertools.count(1):
            try:
                self._attempt(evaluation)
            except ReportFailed as exc:
                error = exc
            except Exception as exc:  # the SDK raises many types (SendError, ValueError, ...)
                error = ReportFailed(model, f"{type(exc).__name__}: {exc}")
            else:
                with self._cond:
                    self._reported += 1
                return
            delay = self.retry_policy.delay(attempt, self._rng)
            last = error.permanent or attempt > self.retries or self._stop.is_set()
            if not last:
                log.info("%s; attempt %d, retry in %.2fs", error, attempt, delay)
            if last or self._stop.wait(delay):
                with self._cond:
                    self._failed += 1
                    self._last_error = str(error)
                log.warning("%s; evaluation not reported after %d attempt(s)", error, attempt)
                return

    def _attempt(self, evaluation: _Evaluation) -> None:
        report = evaluation.report
        model = report.model
        sdk = self._load_sdk(model)
        target = self._targets.get(model)
        if target is None:
            target = self._targets[model] = self._resolve(sdk, model)
        if evaluation.iteration is None:
            evaluation.iteration = self._next_iteration[model]
            self._next_iteration[model] += 1
        timestamp = int(report.evaluated_at * 1000)
        events = [
            sdk.scalar_event(
                metric=s.title,
                variant=s.series,
                value=s.value,
                iter=evaluation.iteration,
                timestamp=timestamp,
            )
            for s in scalars(report)
        ]
        result = target.metrics.write_events(events, async_enable=False)
        if result is None:
            raise ReportFailed(model, "the SDK sent nothing (offline mode?)", permanent=True)
        if not result.ok():
            raise ReportFailed(model, f"events.add_batch failed: {result.meta}")
        rejected = getattr(result.response, "errors", None) or 0
        if rejected:
            del self._targets[model]  # the task may be gone or published: look it up again
            info = getattr(result.response, "errors_info", None)
            raise ReportFailed(
                model, f"events.add_batch rejected {rejected} of {len(events)} events: {info}"
            )

    def _load_sdk(self, model: str) -> _Sdk:
        if self._sdk is None:
            try:  # installs the bounded API session (once per process)
                bounded_dataset_class(self.timeout_seconds, self.retries)
            except ReferenceUnavailable as exc:
                raise ReportFailed(model, exc.cause, permanent=exc.cause == INSTALL_HINT) from exc
            from clearml import Task
            from clearml.backend_interface.metrics import Metrics
            from clearml.backend_interface.metrics.events import ScalarEvent

            self._sdk = _Sdk(Task, Metrics, ScalarEvent)
        return self._sdk

    def _resolve(self, sdk: _Sdk, model: str) -> _Target:
        name = self.task_name_for(model)
        try:
            task = sdk.task.get_task(
                project_name=self.project,
                task_name=name,
                allow_archived=False,
                task_filter={"status": list(REUSABLE_STATUSES)},
            )
        except ValueError:  # the project does not exist yet (other failures raise SendError)
            task = None
        if task is None:
            task = sdk.task.create(
                project_name=self.project,
                task_name=name,
                task_type=self.task_type,
                detect_repository=False,
                add_task_init_call=False,
            )
            log.info("clearml reporting: created task %s (%s/%s)", task.id, self.project, name)
        if str(task.data.status) == "created":
            task.mark_started()
        last = int(task.data.last_iteration or 0)
        self._next_iteration[model] = max(self._next_iteration.get(model, 1), last + 1)
        metrics = sdk.metrics(session=task.session, task=task, storage_uri=None, log=_sdk_log)
        return _Target(task, metrics)
