"""The evaluator thread: evaluations run here, off the request path, at a bounded rate.

Ingestion asks for an evaluation whenever a model's window has taken ``window.step`` new samples.
Under heavy traffic that can be many times a second, and an evaluation of a large window costs
the same CPU the requests need (one core per sidecar, the GIL in one process). So a model is
evaluated at most once per ``window.min_seconds_between_evaluations``: a request that comes
sooner is kept (merged with any other) and runs when that time is up, on the samples the window
holds then. Nothing is dropped; the verdict is at most that many seconds late.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

_STOP = object()


class Evaluator:
    """One background thread that evaluates models whose window is due.

    ``run(model)`` evaluates; ``min_interval(model)`` is the least time in seconds between the
    starts of two evaluations of that model (0: none); ``cpu_share`` (in (0, 1]) the share of
    the time the thread may spend evaluating.
    """

    def __init__(
        self,
        run: Callable[[str], None],
        min_interval: Callable[[str], float] = lambda _model: 0.0,
        cpu_share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < cpu_share <= 1:
            raise ValueError(f"cpu_share must be in (0, 1], got {cpu_share}")
        self._run = run
        self._min_interval = min_interval
        self._cpu_share = cpu_share
        self._clock = clock
        self._idle_until = 0.0  # the CPU budget: no evaluation starts before this time
        self.busy_seconds = 0.0  # time spent evaluating, in all
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, str]] = []  # heap of (when, order, model)
        self._waiting: set[str] = set()
        self._last: dict[str, float] = {}
        self._order = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="drift-evaluator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def request(self, model: str) -> None:
        """Ask for an evaluation; requests for a model already waiting are merged."""
        with self._cond:
            if model in self._waiting or self._stopped:
                return
            self._waiting.add(model)
            last = self._last.get(model)
            when = self._clock() if last is None else last + self._min_interval(model)
            self._order += 1
            heapq.heappush(self._due, (when, self._order, model))
            self._cond.notify()

    def pending(self) -> int:
        """Models waiting for an evaluation (due now or deferred by the rate limit)."""
        with self._cond:
            return len(self._waiting)

    def _next(self) -> str | None:
        with self._cond:
            while True:
                if self._stopped:
                    return None
                if self._due:
                    wait = max(self._due[0][0], self._idle_until) - self._clock()
                    if wait <= 0:
                        _, _, model = heapq.heappop(self._due)
                        self._waiting.discard(model)
                        self._last[model] = self._clock()
                        return model
                    self._cond.wait(wait)
                else:
                    self._cond.wait()

    def _loop(self) -> None:
        while (model := self._next()) is not None:
            started = self._clock()
            try:
                self._run(model)
            finally:
                took = self._clock() - started
                with self._cond:
                    self.busy_seconds += took
                    self._idle_until = started + took / self._cpu_share
