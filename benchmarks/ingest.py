"""Ingestion throughput of the real sidecar process, with a load generator in a second process.

Run from the repository root (``benchmarks/README.md`` has the recorded command)::

    .venv/bin/python -m benchmarks.ingest --scenario all --duration 300 --warmup 10

For each scenario: a config with one model of 25 numerical features and a numerical prediction
(reference CSV written to a temporary directory; window 100,000 samples, step 10,000, so
evaluations run during the benchmark), then ``drift-sidecar serve`` (one uvicorn worker) pinned
to CPU 0, ``GET /readyz`` polled until 200, then ``benchmarks/loadgen.py`` pinned to CPU 1 for
``--warmup`` + ``--duration`` seconds. Every ``--interval`` seconds one row: samples/s,
requests/s, p50/p99 latency, the server's RSS (``VmRSS``) and the CPU use of both processes.
At the end ``/metrics`` is scraped and ``drift_samples_total`` compared with what was sent.

The report (markdown) goes to stdout as it is measured, progress to stderr. Exit status 1 when
a request failed (non-2xx, connection error) or samples were lost; a missed speed or memory
target is printed as FAIL but does not change the exit status (this is a report, not a test).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.host import cpu_model
from benchmarks.loadgen import FEATURES, PREDICTION, SAMPLES_PER_BATCH, reference_frame
from tests.components import wait_for_ok

ROOT = Path(__file__).resolve().parent.parent
MODEL = "bench"
BATCH_TARGET = 50_000  # samples/s
PAIRS_TARGET = 5_000  # CloudEvents pairs/s
RSS_TOLERANCE = 0.10
CONNECTIONS = {"batch": 4, "cloudevents": 64}
MIB = 1024 * 1024
AUTH_TOLERANCE = 0.10  # issue 14: the rate with server.auth on within 10% of the rate without


# ----------------------------------------------------------------------------- the process


TOKEN = "bench-token-0123456789abcdef"
"""The bearer token of every route class when the run has ``server.auth`` on (``--auth``)."""


def write_config(
    workdir: Path, scenario: str, args: argparse.Namespace, auth: bool = False
) -> Path:
    """Reference CSV and sidecar config for one scenario; returns the config path."""
    reference = workdir / "reference.csv"
    pd.DataFrame(reference_frame(args.reference_rows, seed=0)).to_csv(reference, index=False)
    features = ", ".join(FEATURES)
    kserve = ""
    if scenario == "cloudevents":
        kserve = f"    kserve: {{inference_service: {MODEL}, features: [{features}]}}\n"
    config = workdir / "sidecar.yaml"
    token = f"{{token: {TOKEN}}}"
    classes = f"ingest: {token}, alertmanager: {token}, read: {token}"
    server = (
        f"{{log_level: {args.log_level}, auth: {{{classes}}}}}"
        if auth
        else (f"{{log_level: {args.log_level}}}")
    )
    config.write_text(
        f"server: {server}\n"
        "models:\n"
        f"  {MODEL}:\n"
        f"    reference: {{path: {reference}}}\n"
        "    columns:\n"
        f"      numerical: [{features}]\n"
        f"      prediction: {PREDICTION}\n"
        "      prediction_type: numerical\n"
        f"    window: {{size: {args.window}, step: {args.step}}}\n" + kserve,
        encoding="utf-8",
    )
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pinned(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None

    def pin() -> None:  # runs in the child before exec: every thread it starts inherits it
        os.sched_setaffinity(0, {cpu})

    return pin


def sidecar_command() -> list[str]:
    script = Path(sys.executable).with_name("drift-sidecar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "drift.cli"]


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until ``GET /readyz`` answers 200 (polled every 50 ms, at most 120 s)."""
    started = time.perf_counter()
    wait_for_ok(f"{url}/readyz", process, 120.0, interval=0.05, log=log)
    return time.perf_counter() - started


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process and all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loaded_libraries(pid: int) -> dict[str, bool]:
    """Whether uvicorn's fast loop and HTTP parser are mapped into the server process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name: f"/{name}/" in maps for name in ("uvloop", "httptools")}


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def profile_text(path: Path, lines: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    text = out.getvalue()
    return text[text.find("   ncalls") :] if "   ncalls" in text else text


def stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """Stop one process we started, by its PID."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# ------------------------------------------------------------------------------ the results


@dataclass
class Row:
    elapsed: float
    seconds: float
    requests: int
    samples: int
    non2xx: int
    p50: float | None
    p99: float | None
    rss: int
    server_cpu: float  # share of one core over the interval
    client_cpu: float
    warmup: bool


@dataclass
class Outcome:
    scenario: str
    connections: int
    auth: bool = False  # server.auth on, every request with its bearer token
    window: int = 0  # the model's window size in samples
    rows: list[Row] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    counted: float | None = None  # drift_samples_total at the end
    rejected: float = 0.0
    evaluations: float = 0.0
    evaluation_seconds: float = 0.0
    ready_seconds: float = 0.0
    libraries: dict[str, bool] = field(default_factory=dict)
    log_tail: str = ""
    profile: str = ""

    @property
    def rate(self) -> float:
        """Samples/s over the measured part (for CloudEvents: pairs/s)."""
        return float(self.final["samples"]) / float(self.final["seconds"])

    @property
    def requests_rate(self) -> float:
        return float(self.final["requests"]) / float(self.final["seconds"])

    @property
    def rss_first_last(self) -> tuple[int, int]:
        measured = [r for r in self.rows if not r.warmup]
        warm = [r for r in self.rows if r.warmup]
        first = warm[-1].rss if warm else measured[0].rss
        return first, measured[-1].rss

    @property
    def rss_window_full(self) -> tuple[float, int, int] | None:
        """(elapsed s, RSS then, RSS at the end) from the first report after ``window``
        samples were sent: the window's slots, sorted columns and evaluation buffers are all
        in use from then on. None when the run never filled the window."""
        sent = 0
        for row in self.rows:
            sent += row.samples
            if sent >= self.window:
                return row.elapsed, row.rss, self.rows[-1].rss
        return None

    @property
    def sent(self) -> int:
        return int(self.final["total_samples"])

    @property
    def failures(self) -> int:
        failed = int(self.final["total_non2xx"]) + int(self.final["errors"])
        return failed if self.final["total_requests"] else max(failed, 1)


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.2f}"


def unit(scenario: str) -> str:
    return "pairs" if scenario == "cloudevents" else "samples"


def print_row(row: Row, scenario: str) -> None:
    label = f"{row.elapsed:.0f}" + (" (warm-up)" if row.warmup else "")
    rate = row.samples / row.seconds if row.seconds else 0.0
    print(
        f"| {label} | {rate:,.0f} | {row.requests / row.seconds:,.0f} | {ms(row.p50)} | "
        f"{ms(row.p99)} | {row.rss / MIB:.1f} | {row.server_cpu:.0%} | {row.client_cpu:.0%} |"
        + (f" {row.non2xx} |" if row.non2xx else " 0 |"),
        flush=True,
    )


def run_scenario(scenario: str, args: argparse.Namespace, auth: bool = False) -> Outcome:
    connections = args.connections or CONNECTIONS[scenario]
    outcome = Outcome(scenario, connections, auth=auth, window=args.window)
    workdir = Path(tempfile.mkdtemp(prefix=f"drift-ingest-{scenario}-"))
    log = workdir / "sidecar.log"
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(workdir, scenario, args, auth)
    profile = workdir / "server.prof"
    server_cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "drift.cli"]
    command = [
        *(server_cmd if args.profile else sidecar_command()),
        "serve",
        "--config",
        str(config),
    ]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    print(f"[{scenario}] starting {' '.join(command)} (log: {log})", file=sys.stderr)
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=pinned(args.server_cpu),
        )
    client: subprocess.Popen[str] | None = None
    try:
        outcome.ready_seconds = wait_ready(url, server, log)
        outcome.libraries = loaded_libraries(server.pid)
        load = [sys.executable, "-m", "benchmarks.loadgen", "--port", str(port)]
        load += ["--scenario", scenario, "--model", MODEL, "--path", args.path]
        load += ["--duration", str(args.duration), "--warmup", str(args.warmup)]
        load += ["--interval", str(args.interval), "--connections", str(connections)]
        if auth:
            load += ["--token", TOKEN]
        libs = (
            ", ".join(k for k, v in outcome.libraries.items() if v)
            or "neither uvloop nor httptools"
        )
        what = (
            f"{SAMPLES_PER_BATCH} samples x {len(FEATURES)} features + prediction per request"
            if scenario == "batch"
            else f"KServe v1 request + response events, {len(FEATURES)} features, path {args.path}"
        )
        print(
            f"\n#### {scenario}{', server.auth on' if auth else ''}: {what}\n\n"
            f"Server pid {server.pid} on CPU {args.server_cpu} (uvicorn, 1 worker, {libs}), "
            f"ready in {outcome.ready_seconds:.2f} s; load generator on CPU {args.client_cpu}, "
            f"{connections} keep-alive connections, one request in flight each.\n\n"
            f"| elapsed s | {unit(scenario)}/s | requests/s | p50 ms | p99 ms | server RSS MiB "
            "| server CPU | load generator CPU | non-2xx |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            flush=True,
        )
        server_cpu0 = cpu_seconds(server.pid)
        client = subprocess.Popen(
            load,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            text=True,
            preexec_fn=pinned(args.client_cpu),
        )
        assert client.stdout is not None
        last_server, last_client = server_cpu0, 0.0
        measured_server = 0.0
        for line in client.stdout:
            data = json.loads(line)
            if data["kind"] == "final":
                outcome.final = data
                break
            server_now = cpu_seconds(server.pid)
            seconds = float(data["seconds"])
            row = Row(
                elapsed=float(data["elapsed"]),
                seconds=seconds,
                requests=int(data["requests"]),
                samples=int(data["samples"]),
                non2xx=int(data["non2xx"]),
                p50=data["p50"],
                p99=data["p99"],
                rss=rss_bytes(server.pid),
                server_cpu=(server_now - last_server) / seconds,
                client_cpu=(float(data["cpu"]) - last_client) / seconds,
                warmup=bool(data["warmup"]),
            )
            if not row.warmup:
                measured_server += server_now - last_server
            last_server, last_client = server_now, float(data["cpu"])
            outcome.rows.append(row)
            print_row(row, scenario)
        client.wait(30)
        if not outcome.final:
            raise RuntimeError(f"the load generator exited with {client.returncode}")
        seconds = float(outcome.final["seconds"])
        outcome.server_cpu = measured_server / seconds
        outcome.client_cpu = sum(r.client_cpu * r.seconds for r in outcome.rows if not r.warmup)
        outcome.client_cpu /= seconds
        model = (("model", MODEL),)
        deadline = time.monotonic() + 5.0  # samples the server still batches may land late
        while True:
            values = metric_values(get(f"{url}/metrics")[1].decode())
            outcome.counted = values.get(("drift_samples_total", model))
            if outcome.counted == outcome.sent or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        outcome.rejected = sum(
            v for (name, _), v in values.items() if name == "drift_samples_rejected_total"
        )
        outcome.evaluations = values.get(("drift_evaluation_seconds_count", model), 0.0)
        outcome.evaluation_seconds = values.get(("drift_evaluation_seconds_sum", model), 0.0)
    finally:
        if client is not None:
            stop(client)
        # uvicorn re-raises SIGTERM after its graceful shutdown, which would kill cProfile
        # before it writes; SIGINT ends in KeyboardInterrupt, after which it does
        stop(server, signal.SIGINT if args.profile else signal.SIGTERM)
        if args.profile and profile.exists():
            outcome.profile = profile_text(profile, args.profile_lines)
        outcome.log_tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_summary_of(outcome)
    return outcome


def print_summary_of(o: Outcome) -> None:
    f = o.final
    first, last = o.rss_first_last
    print(
        f"\nMeasured {float(f['seconds']):.0f} s after a {o.rows[0].elapsed:.0f} s warm-up: "
        f"**{o.rate:,.0f} {unit(o.scenario)}/s**, {o.requests_rate:,.0f} requests/s, "
        f"latency p50 {ms(f['p50'])} ms / p99 {ms(f['p99'])} ms; server CPU "
        f"{o.server_cpu:.0%}, load generator CPU {o.client_cpu:.0%}; RSS "
        f"{first / MIB:.1f} -> {last / MIB:.1f} MiB; {o.evaluations:.0f} evaluations "
        f"({o.evaluation_seconds:.1f} s of evaluator time, "
        f"{o.evaluation_seconds / max(float(f['elapsed']), 1e-9):.0%} of the run).",
        flush=True,
    )
    if o.profile:
        print(f"\ncProfile of the server's main thread (the request path):\n\n```\n{o.profile}```")
    if f["non2xx_examples"] or f["error_examples"]:
        print("\nFailed requests (first few):\n", file=sys.stderr)
        for text in [*f["non2xx_examples"], *f["error_examples"]]:
            print(f"  {text}", file=sys.stderr)
        print(f"\nsidecar log (tail):\n{o.log_tail}", file=sys.stderr)


def verdicts(o: Outcome) -> list[tuple[bool, str]]:
    f = o.final
    first, last = o.rss_first_last
    growth = (last - first) / first
    out = []
    if o.scenario == "batch":
        out.append((o.rate >= BATCH_TARGET, f">= {BATCH_TARGET:,} samples/s: {o.rate:,.0f}"))
    else:
        out.append((o.rate >= PAIRS_TARGET, f">= {PAIRS_TARGET:,} pairs/s: {o.rate:,.0f}"))
    full = o.rss_window_full
    if full is None:
        out.append((False, f"RSS flat once the window is full: never full ({o.window:,} samples)"))
    else:
        at, rss_full, rss_end = full
        change = (rss_end - rss_full) / rss_full
        out.append(
            (
                abs(change) <= RSS_TOLERANCE,
                f"RSS flat within {RSS_TOLERANCE:.0%} once the window is full (from {at:.0f} s): "
                f"{rss_full / MIB:.1f} -> {rss_end / MIB:.1f} MiB ({change:+.1%}); "
                f"after warm-up, while the window filled: {first / MIB:.1f} -> "
                f"{last / MIB:.1f} MiB ({growth:+.1%})",
            )
        )
    out.append(
        (
            o.failures == 0,
            f"every request 2xx: {f['total_non2xx']} non-2xx, {f['errors']} connection errors "
            f"of {f['total_requests']:,} requests",
        )
    )
    counted = "missing" if o.counted is None else f"{o.counted:,.0f}"
    out.append(
        (
            o.counted == o.sent and o.rejected == 0,
            f"nothing lost: drift_samples_total {counted} = {o.sent:,} sent, "
            f"{o.rejected:.0f} rejected",
        )
    )
    return out


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, uvicorn "
        f"{version('uvicorn')}, fastapi {version('fastapi')}, starlette {version('starlette')}"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=["batch", "cloudevents", "all"], default="all")
    p.add_argument("--duration", type=float, default=300.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    p.add_argument("--interval", type=float, default=10.0, help="seconds per printed row")
    p.add_argument("--connections", type=int, help="default: 4 for batch, 64 for cloudevents")
    p.add_argument("--window", type=int, default=100_000, help="window size in samples")
    p.add_argument("--step", type=int, default=10_000, help="evaluate every this many samples")
    p.add_argument("--reference-rows", type=int, default=100_000)
    p.add_argument("--path", default="/v1/cloudevents", help="the CloudEvents route")
    p.add_argument("--port", type=int, help="default: a free port")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--profile",
        action="store_true",
        help="run the server under cProfile and print its hot spots (slows it down)",
    )
    p.add_argument("--profile-lines", type=int, default=30)
    p.add_argument("--keep", action="store_true", help="keep the temporary directories")
    p.add_argument(
        "--auth",
        choices=["off", "on", "both"],
        default="off",
        help="server.auth (bearer tokens on every route); both: each scenario without and "
        "with, --rounds times in alternating order, and the ratio of their mean rates",
    )
    p.add_argument("--rounds", type=int, default=2, help="with --auth both: pairs of runs")
    args = p.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 CPUs available; not pinning", file=sys.stderr)
        args.server_cpu = args.client_cpu = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_cpu is not None:
        os.sched_setaffinity(0, {args.client_cpu})  # keep this process off the server's core
    scenarios = ["batch", "cloudevents"] if args.scenario == "all" else [args.scenario]
    started = datetime.now(UTC)
    print(
        f"### Ingestion benchmark ({started:%Y-%m-%d %H:%M} UTC)\n\n"
        f"Machine: {machine()}.  \nLoad average (1 min) at the start: "
        f"{os.getloadavg()[0]:.2f}. Window {args.window:,} samples, step {args.step:,}, "
        f"reference {args.reference_rows:,} rows.",
        flush=True,
    )
    outcomes = []
    for scenario in scenarios:
        for turn in range(args.rounds if args.auth == "both" else 1):
            # both: off then on, then on then off, ...: a load that drifts during the run
            # weighs on both settings alike
            order = {"off": [False], "on": [True], "both": [False, True]}[args.auth]
            for auth in order if turn % 2 == 0 else order[::-1]:
                outcomes.append(run_scenario(scenario, args, auth))
    print(f"\nLoad average (1 min) at the end: {os.getloadavg()[0]:.2f}.\n\nTargets:\n\n```")
    failed = False
    for o in outcomes:
        for ok, text in verdicts(o):
            name = f"{o.scenario}{' (auth)' if o.auth else ''}"
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {text}")
        failed = failed or o.failures > 0 or o.counted != o.sent or o.rejected > 0
    for scenario in scenarios if args.auth == "both" else []:
        rates = {
            auth: [o.rate for o in outcomes if o.scenario == scenario and o.auth is auth]
            for auth in (False, True)
        }
        plain, authed = (sum(r) / len(r) for r in (rates[False], rates[True]))
        ratio = authed / plain
        print(
            f"{'PASS' if ratio >= 1 - AUTH_TOLERANCE else 'FAIL'}  {scenario}: with "
            f"server.auth {ratio:.3f}x the rate without (mean of {len(rates[True])} runs each: "
            f"{authed:,.0f} vs {plain:,.0f} {unit(scenario)}/s; within {AUTH_TOLERANCE:.0%})"
        )
    print("```", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
