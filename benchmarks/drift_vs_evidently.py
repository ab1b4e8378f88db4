"""Our drift engine against evidently 0.7's ``DataDriftPreset``: same data, same process.

Run with ``make bench`` or ``.venv/bin/python benchmarks/drift_vs_evidently.py [--quick]``;
``benchmarks/README.md`` says what is measured and how. The report (markdown) goes to stdout,
progress to stderr.

Exit status 1 when the values disagree anywhere (method, score beyond 1e-9, threshold or
decision of a column); 0 otherwise, also when a speed target is missed (this is a report).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
from footprint import (
    Startup,
    StateMemory,
    cold_import_seconds,
    encoded_traffic,
    measure_startup,
    monitor_memory,
    window_memory,
)
from host import cpu_model
from ours import MODEL, OPTIONS, batches, filled_window, new_monitor, reference_profile
from peer import (
    Evidently,
    agreement,
    evidently_columns,
    import_evidently,
    our_columns,
    run_evidently,
)
from workload import ROLES, workload

from drift.core.comparison import compare
from drift.core.engine import evaluate
from drift.core.reference import ReferenceProfile
from drift.core.report import DriftReport
from drift.core.window import CountWindow

FULL_SIZES = [(10_000, 1_000), (10_000, 10_000), (100_000, 1_000), (100_000, 10_000)]
FULL_SIZES.append((100_000, 100_000))
QUICK_SIZES = [(10_000, 1_000), (100_000, 10_000)]
TARGET_SIZE = (100_000, 10_000)
TARGET_RATIO = 100.0
TARGET_EVAL_SECONDS = 0.050
TARGET_STARTUP_SECONDS = 2.0
STARTUP_REFERENCE_ROWS = 100_000
STEP_FRACTION = 10  # the service step: window / 10 new samples between evaluations


# ------------------------------------------------------------------------------------ helpers


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rows(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def secs(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def size_of(n: float) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed(fn: Callable[[], Any], repeats: int, label: str) -> tuple[Timings, Any]:
    """``repeats`` runs of ``fn`` (gc collected before each, not during); the last result."""
    timings = Timings()
    result = None
    for i in range(repeats):
        result = None
        gc.collect()
        started = time.perf_counter()
        result = fn()
        timings.seconds.append(time.perf_counter() - started)
        if timings.seconds[-1] > 0.5:
            log(f"  {label} {i + 1}/{repeats}: {secs(timings.seconds[-1])}")
    return timings, result


# ------------------------------------------------------------------------------ our timings


def full_evaluation(profile: ReferenceProfile, window: CountWindow) -> DriftReport:
    """Everything from the window's buffers: ``snapshot()`` (no summary carried over) and
    ``evaluate``."""
    snapshot = window.snapshot()
    return evaluate(MODEL, profile, snapshot, OPTIONS, window_size=window.size, now=0.0)


def service_steps(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    stream: pd.DataFrame,
    step: int,
    repeats: int,
) -> tuple[Timings, list[str]]:
    """The evaluator thread's work per step: a ``ModelMonitor`` holding ``current`` takes
    ``step`` new samples (not timed), then ``evaluate()`` is timed (copy under the lock,
    summaries carried from the previous evaluation, the stat tests). Afterwards its last report
    is checked against a full evaluation of the same window contents."""
    monitor = new_monitor(profile, len(current), step)
    for batch in batches(current):
        monitor.ingest(batch)
    monitor.evaluate()  # the first evaluation has nothing to carry over
    timings = Timings()
    report = None
    for i in range(repeats):
        for batch in batches(stream, i * step, (i + 1) * step):
            monitor.ingest(batch)
        gc.collect()
        started = time.perf_counter()
        report = monitor.evaluate()
        timings.seconds.append(time.perf_counter() - started)
    assert report is not None
    full = full_evaluation(profile, filled_window(profile, monitor.window_frame()))
    _, problems = agreement(our_columns(full), our_columns(report), peer="full evaluation")
    return timings, [f"service step vs full evaluation: {p}" for p in problems]


# ----------------------------------------------------------------------------------- one size


@dataclass
class SizeResult:
    reference_rows: int
    window: int
    evidently: Timings
    full: Timings
    step: Timings
    compare: Timings
    max_diff: float
    problems: list[str]
    drifted_ours: int
    drifted_theirs: int
    columns: int

    def ratio(self, ours: Timings) -> float:
        return self.evidently.median / ours.median


def run_size(
    ev: Evidently,
    reference: pd.DataFrame,
    reference_clean: pd.DataFrame,
    profile: ReferenceProfile,
    current: pd.DataFrame,
    args: argparse.Namespace,
) -> SizeResult:
    label = f"[ref {rows(len(reference))} / window {rows(len(current))}]"
    log(f"{label} evidently x{args.repeats}")
    current_clean = current.replace([np.inf, -np.inf], np.nan)
    ev_times, snapshot = timed(
        lambda: run_evidently(ev, reference_clean, current_clean), args.repeats, "evidently"
    )
    theirs = evidently_columns(snapshot)
    del snapshot

    log(f"{label} ours: snapshot + evaluate x{args.our_repeats}")
    window = filled_window(profile, current)
    full_evaluation(profile, window)  # warm-up: scipy's lazy imports, cached properties
    full, report = timed(lambda: full_evaluation(profile, window), args.our_repeats, "full")
    ours = our_columns(report)
    max_diff, problems = agreement(theirs, ours)

    step = max(1, len(current) // STEP_FRACTION)
    log(f"{label} ours: service step of {rows(step)} samples x{args.our_repeats}")
    stream = workload(step * args.our_repeats, drifted=True, seed=len(current) + 2)
    steps, step_problems = service_steps(profile, current, stream, step, args.our_repeats)
    problems += step_problems

    compare_repeats = max(3, args.our_repeats // 4)
    log(f"{label} ours: compare() end to end x{compare_repeats}")
    compare_times, compared = timed(
        lambda: compare(reference, current, columns=ROLES, drift=OPTIONS, model=MODEL),
        compare_repeats,
        "compare()",
    )
    _, compare_problems = agreement(ours, our_columns(compared), peer="snapshot + evaluate")
    problems += [f"compare(): {p}" for p in compare_problems]

    log(
        f"{label} evidently {secs(ev_times.median)}, ours {secs(full.median)} "
        f"(x{ev_times.median / full.median:,.0f}), step {secs(steps.median)}, "
        f"max |diff| {max_diff:.1e}, {len(problems)} disagreement(s)"
    )
    return SizeResult(
        reference_rows=len(reference),
        window=len(current),
        evidently=ev_times,
        full=full,
        step=steps,
        compare=compare_times,
        max_diff=max_diff,
        problems=problems,
        drifted_ours=sum(c.drifted for c in ours.values()),
        drifted_theirs=sum(c.drifted for c in theirs.values()),
        columns=len(theirs),
    )


# ---------------------------------------------------------------------------------- profiling


def top_functions(profiler: cProfile.Profile) -> str:
    """The top 10 functions by own time and the top 15 by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(10)
    stats.sort_stats("cumulative").print_stats(15)
    return out.getvalue().strip()


def profile_full(profile: ReferenceProfile, current: pd.DataFrame, repeats: int) -> str:
    """cProfile of ``repeats`` full evaluations (snapshot + evaluate)."""
    window = filled_window(profile, current)
    full_evaluation(profile, window)
    profiler = cProfile.Profile()
    for _ in range(repeats):
        profiler.enable()
        full_evaluation(profile, window)
        profiler.disable()
    return top_functions(profiler)


def profile_steps(profile: ReferenceProfile, current: pd.DataFrame, repeats: int) -> str:
    """cProfile of ``repeats`` service steps (only ``ModelMonitor.evaluate`` is profiled)."""
    step = max(1, len(current) // STEP_FRACTION)
    stream = workload(step * repeats, drifted=True, seed=len(current) + 2)
    monitor = new_monitor(profile, len(current), step)
    for batch in batches(current):
        monitor.ingest(batch)
    monitor.evaluate()
    profiler = cProfile.Profile()
    for i in range(repeats):
        for batch in batches(stream, i * step, (i + 1) * step):
            monitor.ingest(batch)
        profiler.enable()
        monitor.evaluate()
        profiler.disable()
    return top_functions(profiler)


# ------------------------------------------------------------------------------------- output


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy "
        f"{np.__version__}, pandas {pd.__version__}, scipy {version('scipy')}"
    )


@dataclass
class Findings:
    results: list[SizeResult]
    profile_seconds: dict[int, float]
    evidently_import: float
    cold_imports: dict[str, float]
    memory: list[StateMemory]
    startup: Startup | None
    load: tuple[float, float]  # 1-minute load average at the start and at the end


def print_report(f: Findings, args: argparse.Namespace) -> None:
    p = print
    today = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    p(f"## drift engine vs evidently {version('evidently')} ({today})\n")
    p(f"Machine: {machine()}.  ")
    p(f"Load average (1 min) at the start / end of the run: {f.load[0]:.2f} / {f.load[1]:.2f}.  ")
    p(
        f"Runs per size: evidently {args.repeats}, ours {args.our_repeats} (full and service "
        f"step), compare() {max(3, args.our_repeats // 4)}."
        + (" Quick run (`--quick`)." if args.quick else "")
    )
    p()
    p(
        "| reference | window | ours | evidently min | evidently median | ours min "
        "| ours median | evidently / ours (medians) | max \\|diff\\| |"
    )
    p("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in f.results:
        size = f"| {rows(r.reference_rows)} | {rows(r.window)} "
        theirs = f"| {secs(r.evidently.min)} | {secs(r.evidently.median)} "
        for name, ours, diff in (
            ("snapshot + evaluate", r.full, f"{r.max_diff:.1e}"),
            (f"service step ({rows(r.window // STEP_FRACTION)} new)", r.step, ""),
            ("compare() end to end", r.compare, ""),
        ):
            ratio = f"{r.ratio(ours):,.0f}x"
            if ours is r.step:  # the targets are judged on the service step
                ratio = f"**{ratio}**"
            p(
                f"{size}| {name} {theirs}| {secs(ours.min)} | {secs(ours.median)} "
                f"| {ratio} | {diff} |"
            )
    p()
    p(
        "Values, per column (25 features, the predicted class, the score): same method, score "
        "within 1e-9 (absolute or relative), same threshold, same decision.\n"
    )
    for r in f.results:
        status = "all agree" if not r.problems else f"{len(r.problems)} DISAGREEMENT(S)"
        p(
            f"- ref {rows(r.reference_rows)} / window {rows(r.window)}: {r.columns} columns, "
            f"{status}; drifted: evidently {r.drifted_theirs}, ours {r.drifted_ours}"
        )
        for problem in r.problems[:20]:
            p(f"  - {problem}")
    p()
    p("Built or loaded once, outside the timings:\n")
    for n, seconds in sorted(f.profile_seconds.items()):
        p(f"- reference profile of {rows(n)} rows: {secs(seconds)} (median of 5)")
    p(f"- `import evidently` (+ presets) in this process: {secs(f.evidently_import)}")
    for what, seconds in f.cold_imports.items():
        p(f"- {what} in a fresh interpreter: {secs(seconds)}")
    p()
    if f.memory:
        p("State held after 1x and 10x the window size in samples (JSON-decoded batches of 1000):")
        p()
        p(
            "| state | window | after 1x | after 10x | counted 1x / 10x | counted ÷ window "
            "| extra at evaluation peak |"
        )
        p("|---|---:|---:|---:|---:|---:|---:|")
        for m in f.memory:
            p(
                f"| {m.what} | {rows(m.size)} | {size_of(m.traced_1x)} | {size_of(m.traced_10x)} "
                f"| {size_of(m.counted_1x)} / {size_of(m.counted_10x)} "
                f"| {m.counted_10x / m.size:,.0f} | {size_of(m.snapshot_peak)} |"
            )
        p()
    if f.startup is not None:
        s = f.startup
        p(
            f"Start-up to ready (`drift-sidecar serve`, {rows(STARTUP_REFERENCE_ROWS)}-row Parquet "
            f"reference, until `GET /readyz` is 200), {len(s.seconds)} runs: min "
            f"{secs(min(s.seconds))}, median {secs(statistics.median(s.seconds))}. Modules "
            f"imported until ready and one `/metrics` scrape (`-X importtime`): "
            f"{s.modules_seen}, of which evidently: {len(s.evidently_modules)}."
        )
        p()
    p("Targets:\n")
    p("```")
    for line in target_lines(f):
        p(line)
    p("```")


def linearity(what: str, points: list[tuple[int, int]]) -> str:
    """Bytes = fixed + per sample x window: the line through the smallest and the largest
    window must predict the ones between within 10%."""
    (x0, y0), (x1, y1) = points[0], points[-1]
    per_sample = (y1 - y0) / (x1 - x0)
    fixed = y0 - per_sample * x0
    errors = [abs(y - (fixed + per_sample * x)) / y for x, y in points[1:-1]]
    text = (
        f"{what} proportional to the window: {per_sample:,.0f} bytes per sample + "
        f"{size_of(fixed)} fixed (vocabularies)"
    )
    if not errors:
        return f"----  {text} (2 sizes: linearity not checked)"
    verdict = "PASS" if max(errors) <= 0.10 else "FAIL"
    return f"{verdict}  {text}, middle size off the line by {max(errors):.1%}"


def target_lines(f: Findings) -> list[str]:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    lines = []
    for r in f.results:
        lines.append(
            f"{verdict(r.ratio(r.step) >= TARGET_RATIO)}  >= {TARGET_RATIO:.0f}x faster than "
            f"evidently at ref {rows(r.reference_rows)} / window {rows(r.window)}: "
            f"service step {r.ratio(r.step):,.0f}x (cold snapshot + evaluate "
            f"{r.ratio(r.full):,.0f}x)"
        )
    for r in f.results:
        if (r.reference_rows, r.window) == TARGET_SIZE:
            lines.append(
                f"{verdict(r.step.median < TARGET_EVAL_SECONDS)}  evaluation < "
                f"{TARGET_EVAL_SECONDS * 1e3:.0f} ms at ref 100k / window 10k: service step "
                f"median {secs(r.step.median)} (cold {secs(r.full.median)})"
            )
    if f.startup is not None:
        median = statistics.median(f.startup.seconds)
        lines.append(
            f"{verdict(median < TARGET_STARTUP_SECONDS)}  start-up to ready < "
            f"{TARGET_STARTUP_SECONDS:.0f} s with a 100k-row reference: median {secs(median)}"
        )
        lines.append(
            f"{verdict(not f.startup.evidently_modules)}  no evidently import on the start-up "
            f"path: {len(f.startup.evidently_modules)} evidently modules"
        )
    for m in f.memory:
        lines.append(
            f"{verdict(not m.grows)}  {m.what} {rows(m.size)} does not grow with traffic: "
            f"{size_of(m.traced_1x)} after 1x, {size_of(m.traced_10x)} after 10x"
        )
    for what in dict.fromkeys(m.what for m in f.memory):
        points = [(m.size, m.counted_10x) for m in f.memory if m.what == what]
        lines.append(linearity(what, points))
    problems = sum(len(r.problems) for r in f.results)
    lines.append(f"{verdict(not problems)}  values agree at every size: {problems} disagreement(s)")
    return lines


# --------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 sizes, 1 evidently run, 1 start-up (~1 minute)"
    )
    parser.add_argument("--repeats", type=int, help="evidently runs per size (default 3)")
    parser.add_argument("--our-repeats", type=int, help="our runs per size (default 20)")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile ours at 100k/10k and 100k/100k"
    )
    parser.add_argument("--skip-startup", action="store_true", help="do not start the sidecar")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.our_repeats is None:
        args.our_repeats = 5 if args.quick else 20
    if args.repeats < 1 or args.our_repeats < 1:
        parser.error("repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]

    log("generating the workload")
    references = {n: workload(n, drifted=False, seed=n) for n, _ in sizes}
    windows = {n: workload(n, drifted=True, seed=n + 1) for _, n in sizes}
    clean = {n: frame.replace([np.inf, -np.inf], np.nan) for n, frame in references.items()}

    log("reference profiles (built once per reference, as the sidecar does at start-up)")
    profiles: dict[int, ReferenceProfile] = {}
    profile_seconds: dict[int, float] = {}
    for n, frame in references.items():
        times, profiles[n] = timed(lambda f=frame: reference_profile(f), 5, "profile")
        profile_seconds[n] = times.median

    log("importing evidently")
    ev = import_evidently()
    log(f"  {secs(ev.import_seconds)}; one warm-up run")
    run_evidently(ev, clean[sizes[0][0]], windows[sizes[0][1]])

    results = [
        run_size(ev, references[n], clean[n], profiles[n], windows[w], args) for n, w in sizes
    ]

    log("memory of the window state (tracemalloc)")
    bodies = encoded_traffic(workload(10_000, drifted=False, seed=7))
    largest = profiles[max(profiles)]
    memory = []
    for size in (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000):
        for measure in (window_memory, monitor_memory):
            memory.append(measure(largest, size, bodies))
            log(f"  {memory[-1].what} {rows(size)}: {size_of(memory[-1].traced_10x)}")

    startup = None
    if not args.skip_startup:
        log("start-up of the sidecar")
        reference = references.get(STARTUP_REFERENCE_ROWS)
        if reference is None:
            reference = workload(STARTUP_REFERENCE_ROWS, drifted=False, seed=STARTUP_REFERENCE_ROWS)
        startup = measure_startup(reference, 10_000, 1 if args.quick else 5)

    log("cold imports")
    cold = {
        "`import evidently` (+ presets)": cold_import_seconds(
            "import evidently, evidently.presets"
        ),
        "`import drift.core.comparison` (ours)": cold_import_seconds(
            "import drift.core.comparison"
        ),
    }

    load = (load_at_start, os.getloadavg()[0])
    findings = Findings(results, profile_seconds, ev.import_seconds, cold, memory, startup, load)
    print_report(findings, args)

    if args.profile:
        for n, w in ((100_000, 10_000), (100_000, 100_000)):
            profile = profiles.get(n) or reference_profile(workload(n, drifted=False, seed=n))
            current = windows.get(w)
            if current is None:
                current = workload(w, drifted=True, seed=w + 1)
            repeats = 20 if w <= 10_000 else 5
            runs = (("snapshot + evaluate", profile_full), ("service step", profile_steps))
            for name, run in runs:
                log(f"cProfile {name}, ref {rows(n)} / window {rows(w)} x{repeats}")
                print(f"\n### cProfile: {name}, ref {rows(n)} / window {rows(w)}, x{repeats}\n")
                print("```")
                print(run(profile, current, repeats))
                print("```")

    log(f"done in {time.perf_counter() - started:.0f} s")
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
