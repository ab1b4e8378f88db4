"""Memory of the window state under traffic, and start-up of the real sidecar process."""

from __future__ import annotations

import enum
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ours import APPEND_BATCH, new_monitor, new_window
from workload import CATEGORICAL, NUMERICAL, PREDICTED_CLASS, SCORE, column_lists

from drift.core.reference import ReferenceProfile
from drift.ingest.samples import Batch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.components import stop_process, wait_for_ok  # noqa: E402

# ------------------------------------------------------------------------------ window memory


@dataclass(frozen=True)
class StateMemory:
    """Bytes held after 1x and 10x the window size in samples."""

    what: str
    size: int
    traced_1x: int  # tracemalloc: allocated since tracing started and still alive
    traced_10x: int
    counted_1x: int  # walking the object graph: arrays (with their data) and python objects
    counted_10x: int
    snapshot_peak: int  # extra memory at the peak of one evaluation's summaries

    @property
    def grows(self) -> bool:
        """More than 2% (+64 KiB of allocator noise) after 10x the traffic."""
        return self.traced_10x > self.traced_1x * 1.02 + 65_536


_SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, enum.Enum)


def deep_size(root: Any, exclude: tuple[Any, ...] = ()) -> int:
    """Bytes of ``root`` and everything it references (each object once), without classes,
    modules, functions, enum members and the ``exclude`` objects (e.g. the reference profile).
    A numpy array counts with its data (``ndarray.__sizeof__`` includes an owned buffer)."""
    seen = {id(obj) for obj in exclude}
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, np.ndarray):
            if obj.base is not None:
                stack.append(obj.base)
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
            continue
        stack.extend(gc.get_referents(obj))
    return total


def encoded_traffic(traffic: pd.DataFrame) -> list[str]:
    """The traffic as JSON request bodies (column lists), 1000 samples each."""
    assert len(traffic) % APPEND_BATCH == 0
    return [
        json.dumps(column_lists(traffic, start, min(start + APPEND_BATCH, len(traffic))))
        for start in range(0, len(traffic), APPEND_BATCH)
    ]


def _measure(
    what: str,
    size: int,
    bodies: list[str],
    create: Any,
    push: Any,
    evaluate: Any,
    exclude: tuple[Any, ...],
) -> StateMemory:
    """Push 10 x ``size`` samples (decoded from JSON, so every value is a fresh object as in
    a request) into a state made by ``create()`` under tracemalloc."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    state = create()
    traced_1x = counted_1x = 0
    pushed = i = 0
    assert size % APPEND_BATCH == 0, "sizes are whole batches, so 1x is reached exactly"
    while pushed < 10 * size:
        columns = json.loads(bodies[i % len(bodies)])
        i += 1
        n = len(columns[NUMERICAL[0]])
        push(state, columns, n)
        del columns
        pushed += n
        if pushed == size:
            gc.collect()
            traced_1x = tracemalloc.get_traced_memory()[0] - base
            counted_1x = deep_size(state, exclude)
    gc.collect()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = evaluate(state)
    snapshot_peak = tracemalloc.get_traced_memory()[1] - current
    del result
    tracemalloc.stop()
    return StateMemory(
        what, size, traced_1x, current - base, counted_1x, deep_size(state, exclude), snapshot_peak
    )


def window_memory(profile: ReferenceProfile, size: int, bodies: list[str]) -> StateMemory:
    """The ``CountWindow`` alone; the evaluation measured is one ``snapshot()``."""
    return _measure(
        "CountWindow",
        size,
        bodies,
        create=lambda: new_window(profile, size),
        push=lambda window, columns, n: window.append(columns, n),
        evaluate=lambda window: window.snapshot(),
        exclude=(profile,),
    )


def monitor_memory(profile: ReferenceProfile, size: int, bodies: list[str]) -> StateMemory:
    """One model in the service (window, carried summaries, latest report), evaluated at every
    step of size / 10 samples as the evaluator thread would; the profile is not counted."""

    def push(monitor: Any, columns: dict[str, list[Any]], n: int) -> None:
        if monitor.ingest(Batch(columns=columns, ids=[None] * n)):
            monitor.evaluate()

    return _measure(
        "ModelMonitor",
        size,
        bodies,
        create=lambda: new_monitor(profile, size, step=max(1, size // 10)),
        push=push,
        evaluate=lambda monitor: monitor.evaluate(),
        exclude=(profile,),
    )


# ----------------------------------------------------------------------------------- start-up


@dataclass(frozen=True)
class Startup:
    seconds: list[float]
    evidently_modules: list[str]
    modules_seen: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sidecar_command() -> list[str]:
    """The console script next to this interpreter, else ``python -m drift.cli``."""
    script = Path(sys.executable).parent / "drift-sidecar"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "drift.cli"]


def start_sidecar(config: Path, logfile: Path, env: dict[str, str]) -> float:
    """Start ``drift-sidecar serve`` on a free port, poll ``/readyz`` every 5 ms until it is
    200, scrape ``/metrics`` once, stop the process (by its PID); the seconds to ready."""
    port = free_port()
    command = [*sidecar_command(), "serve", "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with logfile.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    try:
        wait_for_ok(f"{url}/readyz", process, 60.0, interval=0.005, log=logfile)
        seconds = time.perf_counter() - started
        with urllib.request.urlopen(f"{url}/metrics", timeout=5.0) as response:
            response.read()
    finally:
        stop_process(process)
    return seconds


def imported_modules(importtime_log: str) -> list[str]:
    """Module names from ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    names = []
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.append(name)
    return names


def measure_startup(reference: pd.DataFrame, window: int, repeats: int) -> Startup:
    """Start-up to ready with ``reference`` as a Parquet file, ``repeats`` times, then once
    more with ``PYTHONPROFILEIMPORTTIME=1`` to list every module imported until then."""
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        workdir = Path(tmp)
        reference.to_parquet(workdir / "reference.parquet", index=False)
        config = workdir / "sidecar.yaml"
        config.write_text(
            "server: {log_level: warning}\n"
            "models:\n"
            "  bench:\n"
            "    reference: {path: reference.parquet}\n"
            "    columns:\n"
            f"      numerical: [{', '.join(NUMERICAL)}]\n"
            f"      categorical: [{', '.join([*CATEGORICAL, PREDICTED_CLASS])}]\n"
            f"      prediction: {SCORE}\n"
            "      prediction_type: numerical\n"
            f"    window: {{size: {window}, step: {max(1, window // 10)}}}\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
        env.pop("PYTHONPROFILEIMPORTTIME", None)
        seconds = []
        for i in range(repeats):
            seconds.append(start_sidecar(config, workdir / "sidecar.log", env))
            print(f"  start-up {i + 1}/{repeats}: {seconds[-1]:.2f} s", file=sys.stderr)
        importtime = workdir / "importtime.log"
        start_sidecar(config, importtime, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
        modules = imported_modules(importtime.read_text(errors="replace"))
    if "drift.service.app" not in modules:  # the log must really list the service's imports
        raise RuntimeError("the -X importtime log does not list drift.service.app")
    evidently = [m for m in modules if m == "evidently" or m.startswith("evidently.")]
    return Startup(seconds, evidently, len(modules))


def cold_import_seconds(statement: str) -> float:
    """Wall time of ``statement`` in a fresh interpreter (nothing imported before)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])
