"""From drift reports to notifications: one ``AlertTracker`` per (model, kind), plus the
window start times and the reference version the notifications carry. Pure: the caller passes
the clock and delivers the notifications.

``AlertEngine.model_state`` / ``restore_model`` and ``WindowClock.model_state`` / ``restore``
give a model's trackers and batch arrival times as JSON-able data and back, for the service's
snapshots: a restart neither fires an alert a second time nor silently forgets a firing one."""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from drift.alerting.notification import ColumnScore, Notification, Source, Status, Window
from drift.alerting.policy import AlertPolicy
from drift.alerting.state import AlertTracker, Transition
from drift.core.columns import NumericData
from drift.core.reference import ReferenceProfile
from drift.core.report import ColumnDrift, ColumnStatus, DriftReport
from drift.core.stattests import METHODS

KINDS = ("dataset", "prediction", "performance", "estimated_performance", "multivariate")
#: the kinds fed by a condition (``observe_condition``) rather than by a drift report, and what
#: their notifications call them
CONDITION_TITLES = {
    "performance": "Performance drop",
    "estimated_performance": "Estimated performance drop",
    "multivariate": "Multivariate drift",
}


def _strength(col: ColumnDrift) -> float:
    """How far past its threshold a column is, comparable across p-values and distances."""
    if col.score is None or not math.isfinite(col.score) or col.threshold <= 0:
        return 0.0
    method = METHODS.get(col.method)
    if method is not None and method.is_p_value:
        return math.inf if col.score <= 0 else col.threshold / col.score
    return col.score / col.threshold


def _score(col: ColumnDrift) -> ColumnScore:
    score = col.score if col.score is not None and math.isfinite(col.score) else None
    return ColumnScore(col.column, col.method, score, col.threshold, col.drifted)


def top_drifted(report: DriftReport, limit: int) -> tuple[ColumnScore, ...]:
    """The drifted feature columns, strongest first (ties by name), at most ``limit``."""
    drifted = [c for c in report.columns if c.drifted and c.status is ColumnStatus.OK]
    drifted.sort(key=lambda c: (-_strength(c), c.column))
    return tuple(_score(c) for c in drifted[:limit])


def reference_version(profile: ReferenceProfile) -> str:
    """A content hash of the reference profile (column names, types and data): it changes
    exactly when the reference data does, whatever the file is called."""
    digest = hashlib.sha256(f"{profile.rows}".encode())
    for name, col in sorted(profile.columns.items()):
        digest.update(f"\0{name}\0{col.column_type.value}\0{col.role.value}\0".encode())
        data = col.data
        if isinstance(data, NumericData):
            digest.update(np.ascontiguousarray(data.values, dtype=np.float64).tobytes())
        else:
            digest.update("\0".join(data.categories).encode())
            digest.update(np.ascontiguousarray(data.frequencies, dtype=np.int64).tobytes())
        digest.update(f"\0{data.n_missing}".encode())
    return "sha256:" + digest.hexdigest()[:16]


class WindowClock:
    """Arrival time of each ingested batch per model, so a window gets a start time.

    Bounded: the latest ``max_batches`` batches per model; an older window start is unknown.
    """

    def __init__(self, max_batches: int = 4096) -> None:
        self._max = max_batches
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._batches: dict[str, deque[tuple[int, float]]] = {}

    def record(self, model: str, count: int, now: float) -> None:
        with self._lock:
            first = self._seen.get(model, 0) + 1
            self._seen[model] = first - 1 + count
            self._batches.setdefault(model, deque(maxlen=self._max)).append((first, now))

    def model_state(self, model: str) -> dict[str, Any]:
        """The model's remembered batches as JSON-able data (times as recorded: Unix time)."""
        with self._lock:
            batches = list(self._batches.get(model, ()))
            return {"seen": self._seen.get(model, 0), "batches": [list(b) for b in batches]}

    def restore(self, model: str, state: Mapping[str, Any]) -> None:
        """Take back what ``model_state`` saved. Raises ValueError (or KeyError, TypeError)
        when ``state`` is not such a state."""
        seen = state["seen"]
        batches = [(int(first), float(at)) for first, at in state["batches"]]
        if type(seen) is not int or any(not 1 <= first <= seen for first, _ in batches):
            raise ValueError("batch ordinals beyond the samples seen")
        with self._lock:
            self._seen[model] = seen
            self._batches[model] = deque(batches[-self._max :], maxlen=self._max)

    def arrival(self, model: str, ordinal: int) -> float | None:
        """When sample number ``ordinal`` (1-based, counted over all time) arrived."""
        with self._lock:
            batches = list(self._batches.get(model, ()))
        i = bisect.bisect_right([first for first, _ in batches], ordinal) - 1
        if i < 0 or (i == 0 and len(batches) == self._max):
            return None  # before the oldest batch we remember
        return batches[i][1]


class AlertEngine:
    """Feeds each evaluation to the model's trackers; returns the notifications to send."""

    def __init__(
        self,
        policies: Mapping[str, AlertPolicy],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.policies = dict(policies)
        self._new_id = new_id
        self._trackers: dict[tuple[str, str], AlertTracker] = {
            (model, kind): AlertTracker(p.fire_after, p.resolve_after, p.repeat_interval)
            for model, p in self.policies.items()
            if p.native
            for kind in p.kinds
        }
        # observe (the evaluator), observe_performance (the ticker) and model_state (the
        # snapshot thread) run on different threads
        self._lock = threading.Lock()

    def tracker(self, model: str, kind: str) -> AlertTracker | None:
        return self._trackers.get((model, kind))

    def model_state(self, model: str) -> dict[str, Any]:
        """The model's trackers (kind -> ``AlertTracker.to_state``), JSON-able."""
        with self._lock:
            return {k: t.to_state() for (m, k), t in self._trackers.items() if m == model}

    def reset_model(self, model: str) -> None:
        """The model's trackers as at start-up (a fleet aggregator losing the model)."""
        with self._lock:
            for (m, kind), tracker in list(self._trackers.items()):
                if m == model:
                    self._trackers[(m, kind)] = AlertTracker(
                        tracker.fire_after, tracker.resolve_after, tracker.repeat_interval
                    )

    def restore_model(self, model: str, state: Mapping[str, Any]) -> None:
        """Take back what ``model_state`` saved, for the kinds still configured (a kind no
        longer alerted on is ignored, a new one starts afresh). All or nothing: raises
        ValueError (or KeyError, TypeError) when a tracker's state is not valid."""
        restored: dict[tuple[str, str], AlertTracker] = {}
        for kind, saved in state.items():
            tracker = self._trackers.get((model, kind))
            if tracker is not None:
                copy = AlertTracker(
                    tracker.fire_after, tracker.resolve_after, tracker.repeat_interval
                )
                copy.restore(saved)
                restored[(model, kind)] = copy
        with self._lock:
            self._trackers.update(restored)

    def observe(
        self,
        report: DriftReport,
        now: float,
        window_start: float | None = None,
        reference_version: str | None = None,
    ) -> list[Notification]:
        policy = self.policies.get(report.model)
        if policy is None or not policy.native:
            return []
        with self._lock:
            return self._observe(policy, report, now, window_start, reference_version)

    def _observe(
        self,
        policy: AlertPolicy,
        report: DriftReport,
        now: float,
        window_start: float | None,
        reference_version: str | None,
    ) -> list[Notification]:
        out: list[Notification] = []
        for kind in policy.kinds:
            if kind in CONDITION_TITLES or (kind == "prediction" and report.prediction is None):
                continue
            drifted = (
                report.dataset_drift
                if kind == "dataset"
                else report.prediction is not None and report.prediction.drifted
            )
            tracker = self._trackers[(report.model, kind)]
            transition = tracker.observe(drifted, now)
            if transition is None:
                continue
            out.append(
                self._notification(
                    policy, kind, transition, tracker, report, now, window_start, reference_version
                )
            )
        return out

    def observe_performance(
        self, model: str, degraded: bool, detail: str, now: float
    ) -> list[Notification]:
        """Feeds one performance evaluation (the model's ``performance.alert`` condition) to
        its tracker; ``detail`` says which metric, its value and the reference's."""
        return self.observe_condition(model, "performance", degraded, detail, now)

    def observe_condition(
        self, model: str, kind: str, bad: bool, detail: str, now: float
    ) -> list[Notification]:
        """Feeds one evaluation of a condition kind (``CONDITION_TITLES``: performance from
        labels, estimated performance, multivariate drift) to the model's tracker of that kind;
        ``detail`` says what was measured against what."""
        if kind not in CONDITION_TITLES:
            raise ValueError(f"{kind!r} is not a condition kind")
        policy = self.policies.get(model)
        if policy is None or not policy.native or kind not in policy.kinds:
            return []
        with self._lock:
            tracker = self._trackers[(model, kind)]
            transition = tracker.observe(bad, now)
            if transition is None:
                return []
            started = tracker.started_at if tracker.started_at is not None else now
        status = Status.RESOLVED if transition is Transition.RESOLVED else Status.FIRING
        alert_id = hashlib.sha256(f"{model}\0{kind}\0{started!r}".encode()).hexdigest()
        what = f"{CONDITION_TITLES[kind]} on model {model}"
        summary = f"{what}: {detail}" if status is Status.FIRING else f"Resolved: {what} ({detail})"
        return [
            Notification(
                event_id=self._new_id(),
                alert_id=alert_id[:32],
                status=status,
                source=Source.SIDECAR,
                kind=kind,
                model=model,
                severity=policy.severity,
                summary=summary,
                started_at=started,
                timestamp=now,
                description=detail,
                grafana_url=policy.link(policy.grafana_url),
                repeat=transition is Transition.REPEATED,
            )
        ]

    def _notification(
        self,
        policy: AlertPolicy,
        kind: str,
        transition: Transition,
        tracker: AlertTracker,
        report: DriftReport,
        now: float,
        window_start: float | None,
        reference_version: str | None,
    ) -> Notification:
        started = tracker.started_at if tracker.started_at is not None else now
        status = Status.RESOLVED if transition is Transition.RESOLVED else Status.FIRING
        alert_id = hashlib.sha256(f"{policy.model}\0{kind}\0{started!r}".encode()).hexdigest()
        share = f"{report.drift_share:.0%} of the feature columns drifted"
        threshold = f"threshold {report.share_threshold:.0%}"
        if kind == "dataset":
            what = f"Dataset drift on model {policy.model}"
            detail = f"{share} ({threshold})"
        else:
            what = f"Prediction drift on model {policy.model}"
            pred = report.prediction
            detail = f"prediction {pred.column} ({pred.method})" if pred is not None else ""
        summary = f"{what}: {detail}" if status is Status.FIRING else f"Resolved: {what} ({share})"
        prediction = (
            None
            if report.prediction is None or report.prediction.status is not ColumnStatus.OK
            else _score(report.prediction)
        )
        return Notification(
            event_id=self._new_id(),
            alert_id=alert_id[:32],
            status=status,
            source=Source.SIDECAR,
            kind=kind,
            model=policy.model,
            severity=policy.severity,
            summary=summary,
            started_at=started,
            timestamp=now,
            drift_share=report.drift_share,
            share_threshold=report.share_threshold,
            drifted_columns=report.drifted_columns,
            evaluated_columns=report.evaluated_columns,
            columns=top_drifted(report, policy.top_columns),
            prediction=prediction,
            reference_source=report.reference_source,
            reference_version=reference_version,
            window=Window(
                window_start, report.evaluated_at, report.window_samples, report.window_size
            ),
            grafana_url=policy.link(policy.grafana_url),
            report_url=policy.link(policy.report_url),
            repeat=transition is Transition.REPEATED,
        )
