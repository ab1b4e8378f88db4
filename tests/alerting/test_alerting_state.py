"""The alert state machine (hysteresis, repeat interval, de-duplication), the engine over real
drift reports, the window clock and the per-model policy resolution (the retry policy:
tests/test_retry.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drift.alerting.engine import AlertEngine, WindowClock, top_drifted
from drift.alerting.notification import Status
from drift.alerting.policy import policies
from drift.alerting.state import AlertTracker, Deduplicator, Transition
from drift.config import settings_from_mapping
from tests.alerting_data import policy, report


def run(tracker: AlertTracker, decisions: str, step: float = 60.0) -> list[Transition | None]:
    """Feed 'D' (drifted) / '.' (clean) evaluations ``step`` seconds apart."""
    return [tracker.observe(c == "D", i * step) for i, c in enumerate(decisions)]


def fired(transitions: list[Transition | None]) -> str:
    return "".join(
        {None: ".", Transition.FIRED: "F", Transition.RESOLVED: "R", Transition.REPEATED: "P"}[t]
        for t in transitions
    )


def test_fires_after_k_drifted_and_resolves_after_j_clean() -> None:
    tracker = AlertTracker(fire_after=3, resolve_after=2, repeat_interval=0)
    assert fired(run(tracker, "DDDDD..DDD..")) == "..F...R..F.R"


def test_one_window_blips_never_fire() -> None:
    tracker = AlertTracker(fire_after=3, resolve_after=3, repeat_interval=0)
    assert fired(run(tracker, "DD.DD.D.DD.DD")) == "............."


def test_a_clean_blip_while_firing_does_not_resolve_or_refire() -> None:
    tracker = AlertTracker(fire_after=2, resolve_after=3, repeat_interval=0)
    assert fired(run(tracker, "DD..DD..D...")) == ".F.........R"


def test_repeat_interval_resends_while_still_firing() -> None:
    tracker = AlertTracker(fire_after=1, resolve_after=1, repeat_interval=150)
    # evaluations every 60 s: fired at 0, repeats at 180 and 360, resolved at 420
    assert fired(run(tracker, "DDDDDDD.")) == "F..P..PR"


@given(st.text(alphabet="D.", max_size=60), st.integers(1, 5), st.integers(1, 5))
def test_transitions_alternate_and_follow_streaks(decisions: str, k: int, j: int) -> None:
    tracker = AlertTracker(fire_after=k, resolve_after=j, repeat_interval=0)
    events = [(i, t) for i, t in enumerate(run(tracker, decisions)) if t is not None]
    kinds = [t for _, t in events]
    assert kinds == [Transition.FIRED, Transition.RESOLVED] * (len(kinds) // 2) + (
        [Transition.FIRED] if len(kinds) % 2 else []
    )
    for i, t in events:
        run_len = k if t is Transition.FIRED else j
        want = "D" if t is Transition.FIRED else "."
        assert decisions[i - run_len + 1 : i + 1] == want * run_len


def test_tracker_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="fire_after"):
        AlertTracker(fire_after=0, resolve_after=1, repeat_interval=0)


def test_deduplicator_passes_changes_and_repeats_only() -> None:
    dedup = Deduplicator(repeat_interval=100)
    assert dedup.admit("a", Status.FIRING, 0)
    assert not dedup.admit("a", Status.FIRING, 50)  # Alertmanager re-sent the group
    assert dedup.admit("b", Status.FIRING, 50)
    assert dedup.admit("a", Status.FIRING, 100)  # repeat interval passed
    assert dedup.admit("a", Status.RESOLVED, 120)
    assert not dedup.admit("a", Status.RESOLVED, 500)  # resolved is never repeated
    assert dedup.admit("a", Status.FIRING, 501)


def test_deduplicator_is_bounded() -> None:
    dedup = Deduplicator(repeat_interval=0, max_keys=3)
    for key in "abcd":
        assert dedup.admit(key, Status.FIRING, 0)
    assert dedup.admit("a", Status.FIRING, 1)  # forgotten, so let through again
    assert not dedup.admit("d", Status.FIRING, 1)


def test_engine_over_real_reports() -> None:
    engine = AlertEngine({"m1": policy(fire_after=2, resolve_after=2)})
    drifted, clean = report(True), report(False)
    assert drifted.dataset_drift
    assert not clean.dataset_drift
    assert drifted.prediction is not None
    assert drifted.prediction.drifted
    seq = [drifted, drifted, drifted, clean, clean]
    out = [engine.observe(r, 1000.0 + i, 900.0, None) for i, r in enumerate(seq)]
    kinds = [[(n.kind, n.status.value) for n in notes] for notes in out]
    assert kinds == [
        [],
        [("dataset", "firing"), ("prediction", "firing")],
        [],
        [],
        [("dataset", "resolved"), ("prediction", "resolved")],
    ]
    firing = out[1][0]
    assert firing.started_at == 1001.0
    assert out[4][0].alert_id == firing.alert_id
    assert firing.window.start == 900.0
    assert firing.window.end == drifted.evaluated_at
    assert firing.report_url == "https://drift.example.com/v1/models/m1/report"
    assert firing.columns == top_drifted(drifted, 5)
    assert firing.columns


def test_condition_kinds_fire_and_resolve_on_their_own_trackers() -> None:
    """Estimated performance and multivariate drift: each kind its own hysteresis, its own
    alert id, a summary naming it, and nothing for a kind the policy does not alert on."""
    kinds = ("dataset", "estimated_performance", "multivariate")
    engine = AlertEngine({"m1": policy(kinds=kinds, fire_after=2, resolve_after=2)})
    detail = "estimated f1 0.61 below its lower threshold 0.80 (cbpe over 500 samples)"
    seq = [True, True, True, False, False]
    out = [
        engine.observe_condition("m1", "estimated_performance", bad, detail, 100.0 + i)
        for i, bad in enumerate(seq)
    ]
    assert [[n.status.value for n in notes] for notes in out] == [
        [],
        ["firing"],
        [],
        [],
        ["resolved"],
    ]
    firing, resolved = out[1][0], out[4][0]
    assert firing.kind == "estimated_performance"
    assert firing.summary == f"Estimated performance drop on model m1: {detail}"
    assert firing.description == detail
    assert firing.started_at == 101.0
    assert resolved.alert_id == firing.alert_id
    assert resolved.summary.startswith("Resolved: Estimated performance drop on model m1")
    # the multivariate tracker saw none of that
    assert engine.observe_condition("m1", "multivariate", True, "x", 200.0) == []
    multivariate = engine.observe_condition("m1", "multivariate", True, "pca 1.4 > 1.2", 201.0)
    assert [n.summary for n in multivariate] == ["Multivariate drift on model m1: pca 1.4 > 1.2"]
    assert multivariate[0].alert_id != firing.alert_id
    # not alerted on: performance is not in this policy's kinds; unknown model; not a condition
    assert engine.observe_condition("m1", "performance", True, "x", 300.0) == []
    assert engine.observe_condition("other", "multivariate", True, "x", 300.0) == []
    with pytest.raises(ValueError, match="not a condition kind"):
        engine.observe_condition("m1", "dataset", True, "x", 300.0)
    # drift reports never touch the condition trackers
    state = engine.model_state("m1")
    engine.observe(report(True), 400.0)
    assert engine.model_state("m1")["multivariate"] == state["multivariate"]


def test_every_kind_is_alerted_on_by_default() -> None:
    settings = settings_from_mapping({"models": {"m1": {"reference": {"path": "r.csv"}}}})
    (resolved,) = policies(settings).values()
    assert resolved.kinds == (
        "dataset",
        "prediction",
        "performance",
        "estimated_performance",
        "multivariate",
    )


def test_engine_ignores_unknown_models_and_muted_native_alerting() -> None:
    engine = AlertEngine({"m1": policy(native=False)})
    assert engine.observe(report(True), 0.0) == []
    assert engine.observe(report(True, model="other"), 0.0) == []


def test_top_drifted_orders_by_strength_and_limits() -> None:
    cols = top_drifted(report(True), 2)
    assert len(cols) == 2
    assert all(c.drifted for c in cols)


def test_window_clock_gives_the_arrival_of_the_windows_first_sample() -> None:
    clock = WindowClock(max_batches=3)
    clock.record("m", 100, 10.0)  # samples 1..100
    clock.record("m", 100, 20.0)  # 101..200
    assert clock.arrival("m", 1) == 10.0
    assert clock.arrival("m", 150) == 20.0
    clock.record("m", 100, 30.0)
    clock.record("m", 100, 40.0)  # the first batch is forgotten
    assert clock.arrival("m", 150) is None
    assert clock.arrival("m", 250) == 30.0
    assert clock.arrival("other", 1) is None


def test_policies_apply_per_model_overrides_and_channel_switches() -> None:
    settings = settings_from_mapping(
        {
            "alerts": {
                "fire_after": 4,
                "slack": {"webhook_url": "https://hooks.slack.com/services/T/B/x"},
                "kafka": {"bootstrap_servers": "kafka:9092"},
                "grafana_url": "https://grafana/d/x?var-model={model}",
            },
            "models": {
                "a": {"reference": {"path": "a.csv"}},
                "b": {
                    "reference": {"path": "b.csv"},
                    "alerts": {
                        "fire_after": 1,
                        "severity": "critical",
                        "slack": {"enabled": False},
                    },
                },
                "c": {"reference": {"path": "c.csv"}, "alerts": {"enabled": False}},
            },
        }
    )
    got = policies(settings)
    assert (got["a"].fire_after, got["b"].fire_after) == (4, 1)
    assert got["a"].resolve_after == got["b"].resolve_after == 3
    assert got["b"].severity == "critical"
    assert got["a"].severity == "warning"
    assert got["a"].wants("slack")
    assert not got["b"].wants("slack")
    assert got["b"].wants("kafka")
    assert not got["c"].native
    assert got["a"].native
    assert got["b"].link(got["b"].grafana_url) == "https://grafana/d/x?var-model=b"
