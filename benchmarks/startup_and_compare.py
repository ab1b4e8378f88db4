"""Start-up, ``drift.compare`` and per-evaluation cost on a wide workload with string
categories, in one run (issue 21).

``.venv/bin/python benchmarks/startup_and_compare.py [--quick]``; ``benchmarks/README.md``
("Start-up and compare at the floor") says what is measured and how. The report (markdown)
goes to stdout, progress to stderr. Exit status 1 when our values disagree with evidently's
(method, score beyond 1e-9, threshold or decision of a column) or when ``compare`` and the
evaluation of the same data disagree; 0 otherwise, also when a speed target is missed.

The workload: the 20 numerical features, the 5 string categorical ones (3 to 5,000 levels) and
the score of ``workload.py``, 100,000 reference rows. Every timing is interleaved: each
repetition runs every case once, in an order rotated per repetition, so a change of the
machine's speed (it is shared) spreads over all cases instead of landing on one.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from footprint import free_port, start_sidecar
from host import cpu_model
from ours import APPEND_BATCH
from peer import agreement, evidently_columns, import_evidently, our_columns, third_party_warnings
from workload import CATEGORICAL, NUMERICAL, SCORE, workload

from drift.config import ColumnsConfig, DriftConfig, ModelConfig, ReferenceConfig, WindowConfig
from drift.core.columns import worker_count
from drift.core.comparison import compare, snapshot_from_frame
from drift.core.engine import evaluate
from drift.core.reference import ReferenceProfile, build_profile
from drift.core.report import DriftReport
from drift.core.window import CountWindow
from drift.ingest.samples import Batch
from drift.service.monitor import ModelMonitor
from tests.components import stop_process, wait_for_ok  # footprint put the root on sys.path

COLUMNS = [*NUMERICAL, *CATEGORICAL, SCORE]  # 26: 20 numerical, 5 string categorical, a score
ROLES = ColumnsConfig(
    numerical=NUMERICAL, categorical=CATEGORICAL, prediction=SCORE, prediction_type="numerical"
)
OPTIONS = DriftConfig()
REFERENCE_ROWS = 100_000
COMPARE_WINDOW = 10_000
EVAL_WINDOWS = [1_000, 10_000, 100_000]
STEP_FRACTION = 10
TARGET_STARTUP_FACTOR, TARGET_STARTUP_PLUS = 1.5, 0.3
TARGET_COMPARE_FACTOR = 1.5
TARGET_RATIO = 100.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> float:
    return os.getloadavg()[0]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass
class Series:
    """Timings of one case, with the 1-minute load average seen at each run."""

    seconds: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def min(self) -> float:
        return min(self.seconds)

    def add(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.loads.append(load_average())


def interleaved(
    cases: dict[str, Callable[[], float]], repeats: int, what: str
) -> dict[str, Series]:
    """Run every case once per repetition, in an order rotated per repetition; each case
    returns its own measured seconds."""
    out = {name: Series() for name in cases}
    names = list(cases)
    for i in range(repeats):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            gc.collect()
            out[name].add(cases[name]())
        log(
            f"  {what} {i + 1}/{repeats}: "
            + ", ".join(f"{n} {ms(out[n].seconds[-1])}" for n in names)
        )
    return out


def timed(fn: Callable[[], Any], cpu: list[float] | None = None) -> Callable[[], float]:
    """``fn`` as a case of ``interleaved``: its wall time; with ``cpu``, the CPU time of the
    process (all its threads) during the call is appended there too."""

    def run() -> float:
        cpu_started, started = time.process_time(), time.perf_counter()
        fn()
        wall = time.perf_counter() - started
        if cpu is not None:
            cpu.append(time.process_time() - cpu_started)
        return wall

    return run


# ------------------------------------------------------------------------------- start-up

BARE = """
import sys, time
import numpy, pandas, fastapi, uvicorn
path = sys.argv[1]
frame = pandas.read_parquet(path) if path.endswith(".parquet") else pandas.read_csv(path)
print(len(frame), flush=True)
"""


def bare_seconds(path: Path) -> float:
    """A bare process: imports numpy, pandas, fastapi and uvicorn, reads ``path`` with pandas;
    from ``Popen`` to the line it prints when done."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", BARE, str(path)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    seconds = time.perf_counter() - started
    process.wait(30)
    if not line.strip():
        raise RuntimeError(f"the bare process failed on {path}")
    return seconds


def sidecar_seconds(config: Path, logfile: Path) -> float:
    """``drift-sidecar serve``: from ``Popen`` to the first 200 of ``GET /readyz`` (polled every
    5 ms; ``footprint.start_sidecar``); the process is then stopped by its PID."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return start_sidecar(config, logfile, env)


def sidecar_config(workdir: Path, reference: Path, cache: Path, name: str) -> Path:
    config = workdir / f"{name}.yaml"
    config.write_text(
        "server: {log_level: warning}\n"
        "models:\n"
        "  bench:\n"
        f"    reference: {{path: {reference}, cache_dir: {cache}}}\n"
        "    columns:\n"
        f"      numerical: [{', '.join(NUMERICAL)}]\n"
        f"      categorical: [{', '.join(CATEGORICAL)}]\n"
        f"      prediction: {SCORE}\n"
        "      prediction_type: numerical\n"
        "    window: {size: 10000, step: 1000}\n",
        encoding="utf-8",
    )
    return config


@dataclass
class StartupResult:
    series: dict[str, Series]
    heavy_modules: list[str]


HEAVY = ("scipy.stats", "scipy.spatial", "evidently", "clearml", "confluent_kafka", "slack_sdk")
HEAVY += ("boto3",)


def modules_until_ready(config: Path, workdir: Path) -> list[str]:
    """Start once more with ``-X importtime``: the heavy modules imported until ready."""
    port = free_port()
    logfile = workdir / "importtime.log"
    command = [sys.executable, "-X", "importtime", "-m", "drift.cli", "serve"]
    command += ["--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with logfile.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        wait_for_ok(url, process, 60.0, interval=0.005, log=logfile)
    finally:
        stop_process(process)
    names = []
    for line in logfile.read_text(errors="replace").splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.append(line.rsplit("|", 1)[1].strip())
    if "drift.service.app" not in names:
        raise RuntimeError("the -X importtime log does not list drift.service.app")
    return [n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY)]


def measure_startup(reference: pd.DataFrame, repeats: int) -> StartupResult:
    with tempfile.TemporaryDirectory(prefix="drift-startup-") as tmp:
        workdir = Path(tmp)
        files = {"Parquet": workdir / "reference.parquet", "CSV": workdir / "reference.csv"}
        reference.to_parquet(files["Parquet"], index=False)
        reference.to_csv(files["CSV"], index=False)
        cases: dict[str, Callable[[], float]] = {}
        counter = iter(range(10**6))
        for kind, path in files.items():
            warm = sidecar_config(workdir, path, workdir / f"cache-{kind}", f"warm-{kind}")
            sidecar_seconds(warm, workdir / "warmup.log")  # fills the cache

            def cold(path: Path = path, kind: str = kind) -> float:
                # a cache directory of its own: the profile is built from the file
                i = next(counter)
                config = sidecar_config(workdir, path, workdir / f"cold-{i}", f"cold-{kind}-{i}")
                return sidecar_seconds(config, workdir / "sidecar.log")

            cases[f"bare {kind}"] = lambda path=path: bare_seconds(path)
            cases[f"sidecar {kind}, first start"] = cold
            cases[f"sidecar {kind}, restart"] = lambda warm=warm: sidecar_seconds(
                warm, workdir / "sidecar.log"
            )
        series = interleaved(cases, repeats, "start-up")
        heavy = modules_until_ready(
            sidecar_config(workdir, files["Parquet"], workdir / "cache-x", "imports"), workdir
        )
    return StartupResult(series, heavy)


# ------------------------------------------------------------------------ compare and floor


def floor(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    """The single-core floor of a comparison: sort every numerical column of both frames and
    ``pandas.factorize`` every categorical one, one after the other."""
    for frame in (reference, current):
        for name in [*NUMERICAL, SCORE]:
            np.sort(frame[name].to_numpy(dtype=np.float64))
        for name in CATEGORICAL:
            pd.factorize(frame[name])


def run_compare(reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    return compare(reference, current, columns=ROLES, drift=OPTIONS)


ONE_CORE = """
import json, os, sys, time, statistics
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before drift sizes its threads
sys.path.insert(0, sys.argv[1])
from startup_and_compare import COLUMNS, floor, run_compare
from workload import workload
reference = workload(100_000, drifted=False, seed=1)[COLUMNS]
current = workload(10_000, drifted=True, seed=2)[COLUMNS]
run_compare(reference, current)
out = {"floor": [], "compare": []}
for i in range(int(sys.argv[2])):
    for name in (["floor", "compare"] if i % 2 == 0 else ["compare", "floor"]):
        started = time.perf_counter()
        floor(reference, current) if name == "floor" else run_compare(reference, current)
        out[name].append(time.perf_counter() - started)
print(json.dumps(out))
"""


def one_core(repeats: int) -> dict[str, Series]:
    """The floor and ``compare`` in a child process pinned to one core (no column threads)."""
    here = str(Path(__file__).resolve().parent)
    result = subprocess.run(
        [sys.executable, "-c", ONE_CORE, here, str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = {}
    for name, seconds in json.loads(result.stdout.strip().splitlines()[-1]).items():
        out[name] = Series(seconds, [load_average()] * len(seconds))
    return out


# ------------------------------------------------------------------------ per evaluation


def column_lists(frame: pd.DataFrame, start: int, stop: int) -> dict[str, list[Any]]:
    """Rows ``start:stop`` as the service's ``Batch.columns`` (a POST's decoded samples)."""
    return {name: frame[name].iloc[start:stop].tolist() for name in COLUMNS}


def filled_window(profile: ReferenceProfile, current: pd.DataFrame) -> CountWindow:
    """A window as ``ModelMonitor.install_reference`` makes it, filled by appends of 1000."""
    window = CountWindow(
        profile.column_types,
        len(current),
        vocabularies=profile.vocabularies,
        max_new_categories=OPTIONS.max_categories,
    )
    for first in range(0, len(current), APPEND_BATCH):
        last = min(first + APPEND_BATCH, len(current))
        window.append(column_lists(current, first, last), last - first)
    return window


def snapshot_evaluate(profile: ReferenceProfile, window: CountWindow) -> DriftReport:
    """A fresh snapshot (nothing carried over) and the evaluation, as after a restart."""
    return evaluate("bench", profile, window.snapshot(), OPTIONS, window_size=window.size)


class ServiceSteps:
    """The service's evaluator step: ``window / 10`` new samples from a stream of the drifted
    distribution (not timed), then ``monitor.evaluate()`` (timed: the copy under the lock, the
    summaries carried from the previous evaluation, the stat tests)."""

    def __init__(self, profile: ReferenceProfile, current: pd.DataFrame, repeats: int) -> None:
        size = len(current)
        self.step = max(1, size // STEP_FRACTION)
        config = ModelConfig(
            reference=ReferenceConfig(path="reference.parquet"),  # not read: the profile is given
            columns=ROLES,
            window=WindowConfig(size=size, step=self.step),
            drift=OPTIONS,
        )
        self.monitor = ModelMonitor("bench", config)
        self.monitor.install_reference(profile)
        self.stream = workload(self.step * (repeats + 2), drifted=True, seed=3)[COLUMNS]
        self.position = 0
        self.cpu: list[float] = []
        self._push(current, 0, size)
        self.monitor.evaluate()  # the first evaluation has nothing to carry over: not timed

    def _push(self, frame: pd.DataFrame, start: int, stop: int) -> None:
        for first in range(start, stop, APPEND_BATCH):
            last = min(first + APPEND_BATCH, stop)
            columns = column_lists(frame, first, last)
            self.monitor.ingest(Batch(columns=columns, ids=[None] * (last - first)))

    def run(self) -> float:
        start = self.position % (len(self.stream) - self.step)
        self._push(self.stream, start, start + self.step)
        self.position += self.step
        gc.collect()
        cpu_started, started = time.process_time(), time.perf_counter()
        self.monitor.evaluate()
        wall = time.perf_counter() - started
        self.cpu.append(time.process_time() - cpu_started)
        return wall


# ---------------------------------------------------------------------------------- peer


class Peer:
    """evidently's ``DataDriftPreset`` on the wide workload (26 columns)."""

    def __init__(self) -> None:
        from evidently import DataDefinition

        self.ev = import_evidently()
        self.definition = DataDefinition(
            numerical_columns=[*NUMERICAL, SCORE], categorical_columns=CATEGORICAL
        )

    def run(self, reference: pd.DataFrame, current: pd.DataFrame) -> Any:
        report = self.ev.report([self.ev.preset()], include_tests=True)
        with third_party_warnings():
            return report.run(
                self.ev.dataset.from_pandas(current, self.definition),
                self.ev.dataset.from_pandas(reference, self.definition),
            )

    def timings(self, reference: pd.DataFrame, current: pd.DataFrame, repeats: int) -> Series:
        self.run(reference, current)  # warm-up, not timed
        cases = {"evidently": timed(lambda: self.run(reference, current))}
        return interleaved(cases, repeats, "evidently")["evidently"]


# ------------------------------------------------------------------------------------ report


@dataclass
class Report:
    targets: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def target(self, ok: bool, text: str) -> None:
        self.targets.append(f"{'PASS' if ok else 'FAIL'}  {text}")


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores ({worker_count()} column threads); Python "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"pyarrow {version('pyarrow')}, scipy {version('scipy')}, evidently {version('evidently')}"
    )


def loads(series: Series) -> str:
    return f"{min(series.loads):.2f}-{max(series.loads):.2f}"


def row(*cells: str) -> None:
    print("| " + " | ".join(cells) + " |")


def startup_section(reference: pd.DataFrame, args: argparse.Namespace, out: Report) -> None:
    log("start-up ...")
    result = measure_startup(reference, args.startup_repeats)
    s = result.series
    print(f"### Start-up to ready ({args.startup_repeats} interleaved runs per case)\n")
    row("case", "min", "median", "vs bare (medians)", "load (1 min)")
    row("---", "---:", "---:", "---:", "---")
    for name, series in s.items():
        bare = s[f"bare {name.split()[1].rstrip(',')}"]
        ratio = series.median / bare.median
        row(name, ms(series.min), ms(series.median), f"{ratio:.2f}x", loads(series))
    heavy = result.heavy_modules
    print(
        f"\nHeavy modules imported until ready ({', '.join(HEAVY)}): {len(heavy)}"
        + (f": {', '.join(heavy[:10])}" if heavy else "")
        + ".\n"
    )
    for kind in ("Parquet", "CSV"):
        bare = s[f"bare {kind}"].median
        limit = TARGET_STARTUP_FACTOR * bare + TARGET_STARTUP_PLUS
        for case in (f"sidecar {kind}, first start", f"sidecar {kind}, restart"):
            got = s[case].median
            out.target(
                got <= limit,
                f"{case}: ready in {ms(got)} <= 1.5 x bare {ms(bare)} + 0.3 s = {ms(limit)}",
            )
    out.target(not heavy, f"no heavy module until ready: {len(heavy)}")


def compare_section(
    reference: pd.DataFrame, peer: Peer, args: argparse.Namespace, out: Report
) -> None:
    current = workload(COMPARE_WINDOW, drifted=True, seed=2)[COLUMNS]
    log("compare ...")
    ours = run_compare(reference, current)
    max_diff, problems = agreement(
        evidently_columns(peer.run(reference, current)), our_columns(ours)
    )
    out.failures += [f"compare 100k / 10k: {x}" for x in problems]
    profile = build_profile(reference, ROLES, "r")
    # compare() codes the frame itself: it must give what a window of the same rows gives
    through_window = snapshot_evaluate(profile, filled_window(profile, current))
    _, differ = agreement(our_columns(through_window), our_columns(ours), peer="window path")
    out.failures += [f"compare vs the window path: {x}" for x in differ]
    cases = {
        "floor: sort + factorize, one core": timed(lambda: floor(reference, current)),
        "drift.compare": timed(lambda: run_compare(reference, current)),
        "of which build_profile (100k)": timed(lambda: build_profile(reference, ROLES, "r")),
        "of which the current frame": timed(lambda: snapshot_from_frame(profile, current)),
    }
    s = interleaved(cases, args.compare_repeats, "compare")
    single = one_core(args.compare_repeats)
    s["floor, in a process on one core"] = single["floor"]
    s["drift.compare, in a process on one core"] = single["compare"]
    evidently = peer.timings(reference, current, args.evidently_repeats)
    s["evidently DataDriftPreset (Report + Datasets + run)"] = evidently
    floor_median = s["floor: sort + factorize, one core"].median
    print(
        f"### drift.compare(reference 100k, current 10k) ({args.compare_repeats} interleaved "
        f"runs; evidently {args.evidently_repeats})\n"
    )
    row("what", "min", "median", "vs floor (medians)", "evidently / this", "load (1 min)")
    row("---", "---:", "---:", "---:", "---:", "---")
    for name, series in s.items():
        row(
            name,
            ms(series.min),
            ms(series.median),
            f"{series.median / floor_median:.2f}x",
            f"{evidently.median / series.median:,.0f}x",
            loads(series),
        )
    verdict = "all agree" if not problems else f"{len(problems)} disagree"
    print(f"\nValues: {verdict} with evidently (26 columns), max |diff| {max_diff:.1e}.\n")
    got = s["drift.compare"].median
    limit = TARGET_COMPARE_FACTOR * floor_median
    out.target(
        got <= limit,
        f"drift.compare(100k, 10k) {ms(got)} <= 1.5 x floor {ms(floor_median)} = {ms(limit)}",
    )


def evaluation_section(
    reference: pd.DataFrame, peer: Peer, args: argparse.Namespace, out: Report
) -> None:
    profile = build_profile(reference, ROLES, "r")
    windows = EVAL_WINDOWS[:2] if args.quick else EVAL_WINDOWS
    print(
        f"### Per evaluation against evidently (reference 100k; {args.eval_repeats} interleaved "
        f"runs; evidently {args.evidently_repeats})\n"
    )
    row(
        "window",
        "ours",
        "min",
        "median",
        "CPU median (all threads)",
        "evidently median",
        "evidently / ours",
        "load",
    )
    row("---:", "---", "---:", "---:", "---:", "---:", "---:", "---")
    for size in windows:
        log(f"evaluation at window {size:,} ...")
        current = workload(size, drifted=True, seed=2)[COLUMNS]
        window = filled_window(profile, current)
        steps = ServiceSteps(profile, current, args.eval_repeats)
        ours = snapshot_evaluate(profile, window)
        theirs = evidently_columns(peer.run(reference, current))
        _, problems = agreement(theirs, our_columns(ours))
        out.failures += [f"evaluation 100k / {size:,}: {x}" for x in problems]
        fresh_cpu: list[float] = []
        cases = {
            "fresh snapshot + evaluate": timed(
                partial(snapshot_evaluate, profile, window), fresh_cpu
            ),
            f"service step ({steps.step:,} new)": steps.run,
        }
        cpu = dict(zip(cases, (fresh_cpu, steps.cpu), strict=True))
        s = interleaved(cases, args.eval_repeats, f"window {size:,}")
        evidently = peer.timings(reference, current, args.evidently_repeats)
        for name, series in s.items():
            ratio = evidently.median / series.median
            row(
                f"{size:,}",
                name,
                ms(series.min),
                ms(series.median),
                ms(statistics.median(cpu[name])),
                ms(evidently.median),
                f"{ratio:,.0f}x",
                loads(series),
            )
            out.target(
                ratio >= TARGET_RATIO,
                f">= 100x evidently at 100k / {size:,}, {name}: {ratio:,.0f}x",
            )
    print("")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, no 100k window")
    parser.add_argument("--startup-repeats", type=int, default=7)
    parser.add_argument("--compare-repeats", type=int, default=15)
    parser.add_argument("--eval-repeats", type=int, default=20)
    parser.add_argument("--evidently-repeats", type=int, default=3)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["startup", "compare", "eval"]
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.startup_repeats, args.compare_repeats = 3, 5
        args.eval_repeats, args.evidently_repeats = 5, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started_load = load_average()
    out = Report()
    reference = workload(REFERENCE_ROWS, drifted=False, seed=1)[COLUMNS]
    print(f"## Start-up and compare on wide data ({datetime.now(UTC):%Y-%m-%d %H:%M UTC})\n")
    print(f"Machine: {machine()}.  ")
    print(
        f"Workload: {REFERENCE_ROWS:,} reference rows of {len(COLUMNS)} columns (20 numerical, "
        "5 string categorical with 3 / 10 / 50 / 500 / 5000 levels, a score).\n"
    )
    if "startup" not in args.skip:
        startup_section(reference, args, out)
    if "compare" not in args.skip or "eval" not in args.skip:
        log("importing evidently ...")
        peer = Peer()
        if "compare" not in args.skip:
            compare_section(reference, peer, args, out)
        if "eval" not in args.skip:
            evaluation_section(reference, peer, args, out)
    print(f"Load average (1 min) at the start / end: {started_load:.2f} / {load_average():.2f}.\n")
    print("Targets:\n\n```")
    for line in out.targets:
        print(line)
    out.target(
        not out.failures, f"values agree with evidently: {len(out.failures)} disagreement(s)"
    )
    print(out.targets[-1])
    for line in out.failures:
        print(f"      {line}")
    print("```")
    return 1 if out.failures else 0


if __name__ == "__main__":
    sys.exit(main())
