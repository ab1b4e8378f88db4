"""Alert state across a restart: ``AlertTracker``, ``AlertEngine`` and ``WindowClock`` saved as
JSON-able data and restored: an alert firing before the restart does not fire again, resolves
once (same episode id) when the drift goes away, and a streak under way continues."""

from __future__ import annotations

import json
from typing import Any

import pytest

from drift.alerting.engine import AlertEngine, WindowClock
from drift.alerting.notification import Status
from drift.alerting.state import AlertTracker, Transition
from tests.alerting_data import policy, report


def through_json(state: Any) -> Any:
    return json.loads(json.dumps(state))


def run(tracker: AlertTracker, decisions: str, start: float = 0.0) -> str:
    marks = {None: ".", Transition.FIRED: "F", Transition.RESOLVED: "R", Transition.REPEATED: "P"}
    return "".join(
        marks[tracker.observe(c == "D", start + 60.0 * i)] for i, c in enumerate(decisions)
    )


def restarted(tracker: AlertTracker) -> AlertTracker:
    again = AlertTracker(tracker.fire_after, tracker.resolve_after, tracker.repeat_interval)
    again.restore(through_json(tracker.to_state()))
    return again


def test_a_firing_alert_neither_fires_again_nor_resolves_silently() -> None:
    tracker = AlertTracker(fire_after=2, resolve_after=2, repeat_interval=0)
    assert run(tracker, "DDD") == ".F."
    again = restarted(tracker)
    assert (again.firing, again.started_at) == (True, 60.0)
    assert run(again, "DD..", start=1000.0) == "...R"


def test_a_streak_under_way_continues() -> None:
    tracker = AlertTracker(fire_after=3, resolve_after=1, repeat_interval=0)
    assert run(tracker, "DD") == ".."
    assert run(restarted(tracker), "D") == "F"


def test_the_repeat_interval_counts_from_the_last_send_before_the_restart() -> None:
    tracker = AlertTracker(fire_after=1, resolve_after=1, repeat_interval=150)
    assert run(tracker, "D") == "F"  # sent at 0
    again = restarted(tracker)
    assert run(again, "DDD", start=60.0) == "..P"  # at 60, 120: too early; 180: repeated


def test_the_configuration_is_todays() -> None:
    tracker = AlertTracker(fire_after=5, resolve_after=5, repeat_interval=0)
    run(tracker, "DD")
    again = AlertTracker(fire_after=3, resolve_after=1, repeat_interval=0)
    again.restore(tracker.to_state())
    assert run(again, "D") == "F"


@pytest.mark.parametrize(
    "state",
    [
        {"firing": 1, "drifted_streak": 0, "clean_streak": 0, "started_at": 1, "last_sent": 1},
        {"firing": True, "drifted_streak": 2, "clean_streak": 0, "started_at": None},
        {"firing": True, "drifted_streak": 2, "clean_streak": 0, "started_at": None,
         "last_sent": None},
        {"firing": False, "drifted_streak": -1, "clean_streak": 0, "started_at": None,
         "last_sent": None},
    ],
)  # fmt: skip
def test_a_damaged_tracker_state_is_refused(state: dict[str, Any]) -> None:
    tracker = AlertTracker(1, 1, 0)
    with pytest.raises((ValueError, KeyError)):
        tracker.restore(state)
    assert tracker.to_state() == AlertTracker(1, 1, 0).to_state()  # untouched


def test_the_engine_carries_an_episode_over_a_restart() -> None:
    drifted, clean = report(True), report(False)
    engine = AlertEngine({"m1": policy(kinds=("dataset",))})
    sent = engine.observe(drifted, 100.0) + engine.observe(drifted, 160.0)
    assert [n.status for n in sent] == [Status.FIRING]
    saved = through_json(engine.model_state("m1"))
    assert set(saved) == {"dataset"}

    again = AlertEngine({"m1": policy(kinds=("dataset",))})
    again.restore_model("m1", saved)
    assert again.observe(drifted, 1000.0) == []  # no second FIRING
    resolved = again.observe(clean, 1060.0) + again.observe(clean, 1120.0)
    assert [n.status for n in resolved] == [Status.RESOLVED]
    assert resolved[0].alert_id == sent[0].alert_id  # the same episode
    assert resolved[0].started_at == 160.0


def test_kinds_no_longer_configured_are_ignored_and_new_ones_start_afresh() -> None:
    engine = AlertEngine({"m1": policy(kinds=("dataset",), fire_after=1)})
    engine.observe(report(True), 1.0)
    again = AlertEngine({"m1": policy(kinds=("prediction",), fire_after=1)})
    again.restore_model("m1", {**engine.model_state("m1"), "unknown": {}})
    prediction = again.tracker("m1", "prediction")
    assert prediction is not None
    assert not prediction.firing
    assert again.tracker("m1", "dataset") is None


def test_a_damaged_engine_state_changes_nothing() -> None:
    engine = AlertEngine({"m1": policy(kinds=("dataset", "prediction"), fire_after=1)})
    good = AlertTracker(1, 1, 0)
    good.observe(True, 5.0)
    with pytest.raises(ValueError, match="not an alert state"):
        engine.restore_model("m1", {"dataset": good.to_state(), "prediction": {
            **good.to_state(), "firing": "yes"}})  # fmt: skip
    dataset = engine.tracker("m1", "dataset")
    assert dataset is not None
    assert not dataset.firing


def test_the_window_clock_round_trips() -> None:
    clock = WindowClock(max_batches=3)
    for at in (10.0, 20.0, 30.0, 40.0):
        clock.record("m", 100, at)
    again = WindowClock(max_batches=3)
    again.restore("m", through_json(clock.model_state("m")))
    assert [again.arrival("m", n) for n in (150, 250, 399)] == [None, 30.0, 40.0]
    again.record("m", 10, 50.0)  # ordinals continue after the samples seen
    assert again.arrival("m", 401) == 50.0
    smaller = WindowClock(max_batches=2)
    smaller.restore("m", clock.model_state("m"))
    assert smaller.arrival("m", 250) is None  # only the newest batches kept
    with pytest.raises(ValueError, match="beyond"):
        WindowClock().restore("m", {"seen": 5, "batches": [[6, 1.0]]})
