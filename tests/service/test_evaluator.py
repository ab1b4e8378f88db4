"""The evaluator thread: merged requests, the rate limit, nothing dropped."""

from __future__ import annotations

import threading
import time

import pytest

from drift.service.evaluator import Evaluator


class Recorder:
    def __init__(self) -> None:
        self.runs: list[tuple[str, float]] = []
        self.done = threading.Condition()

    def __call__(self, model: str) -> None:
        with self.done:
            self.runs.append((model, time.monotonic()))
            self.done.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        with self.done:
            assert self.done.wait_for(lambda: len(self.runs) >= count, timeout), self.runs


def test_requests_for_a_waiting_model_are_merged_and_none_is_lost() -> None:
    recorder = Recorder()
    evaluator = Evaluator(recorder, lambda model: 0.3 if model == "a" else 0.0)
    evaluator.start()
    try:
        evaluator.request("a")
        recorder.wait_for(1)
        first = recorder.runs[0][1]
        for _ in range(50):  # within the interval: one deferred evaluation, not 50
            evaluator.request("a")
        assert evaluator.pending() == 1
        evaluator.request("b")  # another model is not held up by a's rate limit
        recorder.wait_for(3)
        time.sleep(0.5)
        assert [m for m, _ in recorder.runs] == ["a", "b", "a"]
        assert recorder.runs[1][1] - first < 0.3  # b ran before a's interval was up
        assert recorder.runs[2][1] - first >= 0.3  # a waited for its interval
        assert evaluator.pending() == 0
    finally:
        evaluator.stop()


def test_without_a_limit_every_request_after_a_run_runs() -> None:
    recorder = Recorder()
    evaluator = Evaluator(recorder)
    evaluator.start()
    try:
        for i in range(5):
            evaluator.request("m")
            recorder.wait_for(i + 1)
        assert len(recorder.runs) == 5
    finally:
        evaluator.stop()


def test_stop_ends_the_thread_even_with_deferred_work() -> None:
    recorder = Recorder()
    evaluator = Evaluator(recorder, lambda _model: 3600.0)
    evaluator.start()
    evaluator.request("m")
    recorder.wait_for(1)
    evaluator.request("m")  # deferred by an hour
    started = time.monotonic()
    evaluator.stop()
    assert time.monotonic() - started < 5
    assert not evaluator.running
    evaluator.request("m")  # after stop: ignored, no error
    assert len(recorder.runs) == 1


def test_the_thread_keeps_to_its_cpu_share() -> None:
    recorder = Recorder()

    def slow(model: str) -> None:
        recorder(model)
        time.sleep(0.1)  # an evaluation of 0.1 s

    evaluator = Evaluator(slow, cpu_share=0.25)
    evaluator.start()
    try:
        evaluator.request("a")
        recorder.wait_for(1)
        evaluator.request("b")  # any model: the budget is the thread's
        evaluator.request("a")
        recorder.wait_for(3)
        starts = [at for _, at in recorder.runs]
        # each 0.1 s evaluation is followed by 0.3 s without one: 25% of the time at most
        assert starts[1] - starts[0] >= 0.4
        assert starts[2] - starts[1] >= 0.4
        assert evaluator.busy_seconds >= 0.2
    finally:
        evaluator.stop()


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_cpu_share_must_be_a_share(share: float) -> None:
    with pytest.raises(ValueError, match="cpu_share"):
        Evaluator(lambda _model: None, cpu_share=share)
