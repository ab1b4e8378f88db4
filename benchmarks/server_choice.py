"""Which HTTP server for the sidecar: CloudEvents pairs/s of the same app under uvicorn with the
fast path, uvicorn through plain ASGI, granian and hypercorn, measured interleaved.

The hardening issue asks whether a maintained server reaches the CloudEvents throughput of the
uvicorn fast path (``drift/service/fastpath.py``, which relies on private attributes of
uvicorn's ``HttpToolsProtocol``). Every candidate serves the app ``benchmarks/ingest.py``
builds for its ``cloudevents`` scenario (the same config: one model of 25 numerical features,
KServe v1 logger, reference 100,000 rows, window 100,000, step 10,000), in its own process
pinned to CPU 0, driven by ``benchmarks/loadgen.py --scenario cloudevents`` (64 keep-alive
connections) pinned to CPU 1:

- ``uvicorn-fastpath``: today's ``drift-sidecar serve`` (the console script itself);
- ``uvicorn-asgi``: the same app and ``uvicorn.run`` options without the fast path;
- ``granian-*``: ``python -m granian --interface asgi --workers 1 --http 1 --no-ws --factory
  benchmarks.server_choice:granian_sidecar`` with a few runtime settings (see ``CANDIDATES``);
- ``hypercorn``: ``hypercorn.asyncio.serve`` on uvloop, 1 process.

All of them get the process settings ``fastpath.run`` makes (the start-up heap frozen for the
GC, its GIL switch interval), the lifespan (which starts the service's evaluator thread), no
access log. Each round runs every candidate
once, in an order rotated by one each round; a fresh server process per measurement. Per
measurement: pairs/s, p50/p99 latency over the measured part, the CPU and RSS of the server's
process tree, start-up to ``/readyz`` 200, SIGTERM to exit, and ``drift_samples_total`` against
what was sent. With ``--ceiling-duration`` > 0 each round also measures each server's ceiling:
the empty ASGI app of ``benchmarks/http_ceiling.py`` (and, for uvicorn, its fast path with an
answer that costs nothing) under the same load.

On a shared machine look at "others on its core" (the server's CPU used by other processes):
a multi-threaded server (granian) gets more of a contended core than a single-threaded one, so
compare pairs/s only from rounds where it is ~0%, or compare "pairs per server CPU-s".

``--probes`` instead starts one server of each kind (granian: one setting) and checks what the
throughput does not show: how long idle, silent and half-sent connections are kept, what the
body and header limits answer, and what SIGTERM does to a half-received CloudEvent.

granian and hypercorn are not dependencies of the sidecar: run this from a venv that has them
and sees the project (``benchmarks/README.md``, "Which HTTP server"); candidates whose server is
not importable are skipped. Run from the repository root::

    /tmp/gvenv/bin/python -m benchmarks.server_choice --rounds 3 --duration 20 --nice -10
    /tmp/gvenv/bin/python -m benchmarks.server_choice --probes --reference-rows 1000

The report (markdown) goes to stdout, progress to stderr. Exit status 1 when a request failed or
samples were lost; the throughput is a report, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmarks.ingest import (
    MIB,
    MODEL,
    cpu_seconds,
    free_port,
    get,
    machine,
    metric_values,
    pinned,
    sidecar_command,
    wait_ready,
    write_config,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "SERVER_CHOICE_CONFIG"  # the sidecar config for granian's factory
CONNECTIONS = 64  # as the ingest benchmark's cloudevents scenario
GRANIAN_COMMON = ("--interface", "asgi", "--workers", "1", "--http", "1", "--no-ws")


@dataclass(frozen=True)
class Candidate:
    name: str
    server: str  # the package that must be importable
    what: str  # for the report


CANDIDATES = (
    Candidate("uvicorn-fastpath", "uvicorn", "`drift-sidecar serve`: uvicorn, uvloop, httptools, "
              "CloudEvents answered inside the protocol"),
    Candidate("uvicorn-asgi", "uvicorn", "`uvicorn.run(app, proxy_headers=False, "
              "access_log=False)`: uvloop, httptools, CloudEvents through the ASGI middleware"),
    Candidate("granian-mt", "granian", "granian defaults for ASGI: `--runtime-mode mt` (auto), "
              "`--loop auto` (uvloop), 1 runtime thread"),
    Candidate("granian-st", "granian", "granian `--runtime-mode st --loop uvloop`"),
    Candidate("granian-st-rust", "granian", "granian `--runtime-mode st --loop uvloop "
              "--task-impl rust` (experimental, Python < 3.12)"),
    Candidate("hypercorn", "hypercorn", "`hypercorn.asyncio.serve` on uvloop, h11, 1 process"),
)  # fmt: skip
GRANIAN_OPTIONS = {
    "granian-mt": (),
    "granian-st": ("--runtime-mode", "st", "--loop", "uvloop"),
    "granian-st-rust": ("--runtime-mode", "st", "--loop", "uvloop", "--task-impl", "rust"),
}
# the ceilings: (name, server package); the empty app of benchmarks/http_ceiling.py
CEILINGS = (
    ("uvicorn-fastpath", "uvicorn"),
    ("uvicorn-asgi", "uvicorn"),
    ("granian-st", "granian"),
    ("hypercorn", "hypercorn"),
)


# ------------------------------------------------------------------------- the servers


def _settings() -> Any:
    from drift.config import load_settings

    return load_settings(os.environ[CONFIG_ENV])


def _sidecar_app(settings: Any) -> Any:
    """The app as ``drift-sidecar serve`` builds it, with the process settings
    ``drift.service.fastpath.run`` makes before it starts uvicorn (the start-up heap frozen, the
    GIL switch interval when it sets one), so that only the server differs."""
    import gc
    import logging

    from drift.service import fastpath
    from drift.service.app import app_from_settings

    level = settings.server.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = app_from_settings(settings)
    gc.collect()
    gc.freeze()
    interval = getattr(fastpath, "SWITCH_INTERVAL", None)
    if interval is not None:
        sys.setswitchinterval(interval)
    return app


def granian_sidecar() -> Any:
    """granian's ``--factory`` target: the sidecar app of ``$SERVER_CHOICE_CONFIG``."""
    return _sidecar_app(_settings())


def granian_empty() -> Any:
    """granian's ``--factory`` target for the ceiling: ``http_ceiling.empty_app``."""
    from benchmarks.http_ceiling import empty_app

    return empty_app


def serve_uvicorn_asgi(app: Any, port: int, log_level: str) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        http="httptools",
        loop="uvloop",
    )


def serve_hypercorn(app: Any, port: int, log_level: str) -> None:
    import asyncio

    import uvloop
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    # hypercorn closes a keep-alive connection after 1000 requests by default; the load
    # generator does not reconnect (nor would a payload logger want to pay for it)
    config.keep_alive_max_requests = 2**31
    config.loglevel = log_level.upper()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    uvloop.run(main())


def serve(kind: str, port: int, empty: bool) -> None:
    """The in-process candidates (``--serve``); granian and the fast path run as commands."""
    if empty:
        from benchmarks.http_ceiling import empty_app

        app, level = empty_app, "warning"
    else:
        settings = _settings()
        app, level = _sidecar_app(settings), settings.server.log_level
    if kind == "uvicorn-asgi":
        serve_uvicorn_asgi(app, port, level)
    elif kind == "hypercorn":
        serve_hypercorn(app, port, level)
    else:
        raise SystemExit(f"unknown --serve {kind}")


def command(name: str, port: int, config: Path | None) -> list[str]:
    """How to start candidate ``name`` (``config`` None: the empty app of the ceiling)."""
    py = sys.executable
    host_port = ["--host", "127.0.0.1", "--port", str(port)]
    if name.startswith("granian"):
        target = "granian_sidecar" if config is not None else "granian_empty"
        level = ("--log-level", "warning") if config is None else ()
        return [
            *(py, "-m", "granian", *GRANIAN_COMMON, *GRANIAN_OPTIONS[name], *level, *host_port),
            *("--factory", f"benchmarks.server_choice:{target}"),
        ]
    if name == "uvicorn-fastpath":
        if config is None:
            return [py, "-m", "benchmarks.http_ceiling", "--serve", "fastpath", "--port", str(port)]
        return [*sidecar_command(), "serve", "--config", str(config), *host_port]
    serve_args = [py, "-m", "benchmarks.server_choice", "--serve", name, "--port", str(port)]
    return serve_args + (["--empty"] if config is None else [])


# ------------------------------------------------------------------------ measurement


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (granian's worker is a child of its supervisor)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                text = Path(f"/proc/{p}/task/{task}/children").read_text()
            except OSError:
                continue
            todo += [int(c) for c in text.split()]
    return out


@dataclass(frozen=True)
class Core:
    busy: float  # seconds
    steal: float


def core(cpu: int | None) -> Core:
    """Busy and steal seconds of one CPU from ``/proc/stat`` (all CPUs when None)."""
    name = "cpu" if cpu is None else f"cpu{cpu}"
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts[0] == name:
            ticks = [int(v) for v in parts[1:9]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
            hz = os.sysconf("SC_CLK_TCK")
            return Core((user + nice + system + irq + softirq) / hz, steal / hz)
    raise RuntimeError(f"no {name} in /proc/stat")


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(OSError, IndexError):  # it just exited
            total += cpu_seconds(p)
    return total


def tree_rss(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


@dataclass
class Measure:
    name: str
    round: int
    pairs_per_s: float = 0.0
    requests_per_s: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    server_cpu: float = 0.0  # shares of one core over the measured part
    client_cpu: float = 0.0
    others_cpu: float = 0.0  # other processes on the server's core
    steal: float = 0.0  # the server's core taken by the host (a VM's steal time)
    evaluations: float = 0.0
    rss: int = 0
    ready: float = 0.0
    exit_seconds: float = 0.0
    exit_code: int | None = None
    failed: int = 0
    sent: int = 0
    counted: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> bool:
        return self.counted is not None and self.counted != self.sent


def measure(
    name: str, rnd: int, args: argparse.Namespace, config: Path | None, workdir: Path
) -> Measure:
    """One server process, one load run. ``config`` None: the ceiling (empty app)."""
    m = Measure(name, rnd)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    kind = "ceiling" if config is None else "sidecar"
    log = workdir / f"{name}-{kind}-{rnd}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    if config is not None:
        env[CONFIG_ENV] = str(config)
    cmd = command(name, port, config)
    print(f"[round {rnd}] {kind} {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with log.open("wb") as out:
        server = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pinned(args.server_cpu),
        )
    duration = args.duration if config is not None else args.ceiling_duration
    warmup = args.warmup if config is not None else args.ceiling_warmup
    load: subprocess.Popen[str] | None = None
    try:
        wait_ready(url, server, log)
        m.ready = time.perf_counter() - started
        load = subprocess.Popen(
            [
                *(sys.executable, "-m", "benchmarks.loadgen", "--port", str(port)),
                *("--scenario", "cloudevents", "--model", MODEL, "--path", "/v1/cloudevents"),
                *("--connections", str(CONNECTIONS), "--duration", str(duration)),
                *("--warmup", str(warmup), "--interval", str(duration)),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=pinned(args.client_cpu),
        )
        assert load.stdout is not None
        final: dict[str, Any] = {}
        marks: list[tuple[float, float, Core]] = []  # server CPU, load generator CPU, core 0
        for line in load.stdout:  # one report at the end of the warm-up, one at the end
            data = json.loads(line)
            if data["kind"] == "final":
                final = data
                break
            marks.append((tree_cpu(server.pid), float(data["cpu"]), core(args.server_cpu)))
            if not data["warmup"]:
                m.rss = tree_rss(server.pid)
        load.wait(30)
        if not final or len(marks) < 2:
            raise RuntimeError(f"the load generator exited with {load.returncode}")
        seconds = float(final["seconds"])
        m.requests_per_s = final["requests"] / seconds
        m.pairs_per_s = final["samples"] / seconds
        m.p50, m.p99 = float(final["p50"]), float(final["p99"])
        (server0, client0, core0), (server1, client1, core1) = marks[0], marks[-1]
        m.server_cpu = (server1 - server0) / seconds
        m.client_cpu = (client1 - client0) / seconds
        m.others_cpu = max(0.0, (core1.busy - core0.busy) - (server1 - server0)) / seconds
        m.steal = (core1.steal - core0.steal) / seconds
        m.failed = int(final["total_non2xx"]) + int(final["errors"])
        m.problems += final["non2xx_examples"] + final["error_examples"]
        m.sent = int(final["total_samples"])
        if config is not None:
            deadline = time.monotonic() + 5.0
            while True:
                values = metric_values(get(f"{url}/metrics")[1].decode())
                m.counted = values.get(("drift_samples_total", (("model", MODEL),)))
                m.evaluations = values.get(
                    ("drift_evaluation_seconds_count", (("model", MODEL),)), 0.0
                )
                if m.counted == m.sent or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait(10)
        t0 = time.perf_counter()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                m.problems.append("did not exit 20 s after SIGTERM: killed")
                for p in reversed(tree(server.pid)):
                    with contextlib.suppress(OSError):
                        os.kill(p, signal.SIGKILL)
                server.wait(10)
        m.exit_seconds = time.perf_counter() - t0
        m.exit_code = server.returncode
    if m.failed or m.lost:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        print(f"[round {rnd}] {name}: failures; log tail:\n{tail}", file=sys.stderr)
    return m


# ------------------------------------------------------------- slow clients, limits, SIGTERM

PROBE_WAIT = 65.0
PROBE_SKIPPED = (
    "granian-mt",
    "granian-st-rust",
)  # seconds a probe waits for the server to close or answer
_CE_HEAD = (
    b"POST /v1/cloudevents HTTP/1.1\r\nHost: 127.0.0.1\r\nce-specversion: 1.0\r\n"
    b"ce-id: probe-%s\r\nce-source: probe\r\nce-type: org.kubeflow.serving.inference.request\r\n"
    b"ce-inferenceservicename: bench\r\nContent-Type: application/json\r\n"
)
_CE_BODY = json.dumps({"instances": [[1.0] * 25]}).encode()


def _event(tag: bytes, length: int | None = None, body: bytes = _CE_BODY) -> bytes:
    size = len(body) if length is None else length
    return _CE_HEAD % tag + b"Content-Length: %d\r\n\r\n" % size + body


def _connect(port: int, timeout: float = PROBE_WAIT) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    return s


def _closed_after(s: socket.socket) -> str:
    """Seconds until the server closes ``s`` (what it sent before is ignored)."""
    s.settimeout(PROBE_WAIT)
    started = time.monotonic()
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return f"open after {PROBE_WAIT:.0f} s"
    except OSError as exc:
        return f"reset after {time.monotonic() - started:.1f} s ({exc.__class__.__name__})"
    return f"closed after {time.monotonic() - started:.1f} s"


def _status(s: socket.socket, timeout: float) -> str:
    s.settimeout(timeout)
    try:
        data = s.recv(65536)
    except TimeoutError:
        return f"no answer in {timeout:.0f} s"
    except OSError as exc:
        return exc.__class__.__name__
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"


def _probe_idle_after_response(port: int) -> str:
    with _connect(port) as s:
        s.sendall(_event(b"idle"))
        _status(s, 10.0)
        return _closed_after(s)


def _probe_nothing_sent(port: int) -> str:
    with _connect(port) as s:
        return _closed_after(s)


def _probe_partial_headers(port: int) -> str:
    with _connect(port) as s:
        s.sendall(b"POST /v1/cloudevents HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return _closed_after(s)


def _probe_partial_body(port: int) -> str:
    with _connect(port) as s:
        s.sendall(_event(b"short")[:-10])
        return _closed_after(s)


def _probe_declared_too_large(port: int) -> str:
    with _connect(port) as s:
        s.sendall(_event(b"large", 20 * MIB, b""))
        return _status(s, 5.0)


def _probe_chunked_too_large(port: int) -> str:
    with _connect(port) as s:
        s.sendall(_CE_HEAD % b"chunked" + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (MIB, b"1" * MIB)
        try:
            for _ in range(16):
                s.sendall(chunk)
            s.sendall(b"0\r\n\r\n")
        except OSError as exc:
            return f"{exc.__class__.__name__} while sending; then {_status(s, 5.0)}"
        return _status(s, 10.0)


def _probe_large_header(port: int) -> str:
    with _connect(port) as s:
        big = b"x-big: " + b"a" * (200 * 1024) + b"\r\n"
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + b"\r\n")
        except OSError as exc:
            return exc.__class__.__name__
        return _status(s, 10.0)


PROBES = (
    ("idle keep-alive connection after a response", _probe_idle_after_response),
    ("new connection, nothing sent", _probe_nothing_sent),
    ("request line and one header, then silence (slowloris)", _probe_partial_headers),
    ("whole headers, body 10 bytes short, then silence", _probe_partial_body),
    ("CloudEvent declaring 20 MiB (limit 10 MiB), headers only", _probe_declared_too_large),
    ("CloudEvent with a chunked body of 16 MiB (limit 10 MiB)", _probe_chunked_too_large),
    ("GET /healthz with one 200 KiB header line", _probe_large_header),
)


def _probe_sigterm(server: subprocess.Popen[bytes], port: int) -> str:
    """SIGTERM while one CloudEvent is half received and another connection is idle."""
    with _connect(port) as busy, _connect(port) as idle:
        idle.sendall(_event(b"sigterm-idle"))
        _status(idle, 10.0)
        busy.sendall(_event(b"sigterm-busy")[:-10])
        time.sleep(0.5)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
            answer = _status(busy, 1.0)
            return (
                f"exit {server.returncode} after {time.monotonic() - started:.1f} s; "
                f"the half-received request: {answer}"
            )
        except subprocess.TimeoutExpired:
            pass
        busy.sendall(_event(b"sigterm-busy")[-10:])
        answer = _status(busy, 5.0)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            return f"waits for the request; answered {answer}; still running 15 s later"
        return (
            f"waits for the half-received request (still running 15 s after SIGTERM); once its "
            f"body came: {answer}, exit {server.returncode} "
            f"{time.monotonic() - started:.1f} s after SIGTERM"
        )


def run_probes(names: list[str], config: Path, workdir: Path) -> None:
    """Every probe against every server at once (they wait in threads), then SIGTERM."""
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    env[CONFIG_ENV] = str(config)
    try:
        for name in names:
            port = free_port()
            log = workdir / f"{name}-probes.log"
            with log.open("wb") as out:
                server = subprocess.Popen(
                    command(name, port, config),
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            servers[name] = (server, port)
            wait_ready(f"http://127.0.0.1:{port}", server, log)
        print(
            f"probes: {len(PROBES)} x {len(names)} servers, up to {PROBE_WAIT:.0f} s",
            file=sys.stderr,
        )
        with ThreadPoolExecutor(len(PROBES) * len(names)) as pool:
            futures = {
                (label, name): pool.submit(probe, port)
                for label, probe in PROBES
                for name, (_, port) in servers.items()
            }
            with ThreadPoolExecutor(len(names)) as stoppers:
                for future in futures.values():
                    future.exception()  # all probes done before the SIGTERMs
                stops = {n: stoppers.submit(_probe_sigterm, s, p) for n, (s, p) in servers.items()}
        rows = [(label, [futures[(label, n)] for n in names]) for label, _ in PROBES]
        rows.append(
            ("SIGTERM with a half-received CloudEvent in flight", [stops[n] for n in names])
        )
        print("\n| probe | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
        for label, cells in rows:
            texts = [
                f.result() if f.exception() is None else f"error: {f.exception()!r}" for f in cells
            ]
            print(f"| {label} | " + " | ".join(texts) + " |", flush=True)
    finally:
        for server, _ in servers.values():
            if server.poll() is None:
                for p in reversed(tree(server.pid)):
                    with contextlib.suppress(OSError):
                        os.kill(p, signal.SIGKILL)
                server.wait(10)


# ---------------------------------------------------------------------------- the report


def code_state() -> str:
    """The commit and how many files under ``drift/`` differ from it (the code measured)."""
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "drift"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}, {len(changed)} file(s) under drift/ changed since"


def available(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def per_cpu_second(m: Measure) -> float:
    """Pairs (ceiling: requests) per second of the server's CPU: what one core would give."""
    rate = m.pairs_per_s if m.counted is not None else m.requests_per_s
    return rate / m.server_cpu if m.server_cpu else float("nan")


def print_sidecar_table(results: list[Measure], names: list[str]) -> None:
    by_round: dict[int, dict[str, Measure]] = {}
    for m in results:
        by_round.setdefault(m.round, {})[m.name] = m
    print(
        "| server | pairs/s | per round | vs fast path | pairs per server CPU-s | p50 ms "
        "| p99 ms | server CPU | others on its core | RSS MiB | ready s | SIGTERM to exit s "
        "| failed / lost |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    for name in names:
        ms_ = [m for m in results if m.name == name]
        ratios = [
            r[name].pairs_per_s / r["uvicorn-fastpath"].pairs_per_s
            for r in by_round.values()
            if name in r and "uvicorn-fastpath" in r and r["uvicorn-fastpath"].pairs_per_s
        ]
        exits = sorted({str(m.exit_code) for m in ms_})
        print(
            f"| {name} | **{median([m.pairs_per_s for m in ms_]):,.0f}** | "
            f"{' / '.join(f'{m.pairs_per_s:,.0f}' for m in ms_)} | "
            f"{median(ratios):.2f}x | {median([per_cpu_second(m) for m in ms_]):,.0f} | "
            f"{median([m.p50 for m in ms_]) * 1000:.2f} | "
            f"{median([m.p99 for m in ms_]) * 1000:.2f} | "
            f"{median([m.server_cpu for m in ms_]):.0%} | "
            f"{median([m.others_cpu + m.steal for m in ms_]):.0%} | "
            f"{median([m.rss for m in ms_]) / MIB:.0f} | {median([m.ready for m in ms_]):.2f} | "
            f"{median([m.exit_seconds for m in ms_]):.2f} (exit {', '.join(exits)}) | "
            f"{sum(m.failed for m in ms_)} / {sum(1 for m in ms_ if m.lost)} |"
        )


def print_ceiling_table(results: list[Measure], names: list[str]) -> None:
    print(
        "| server, empty answer | requests/s | per round | requests per server CPU-s "
        "| p50 ms | p99 ms | server CPU | load generator CPU | failed |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|"
    )
    for name in names:
        ms_ = [m for m in results if m.name == name]
        label = f"{name} (an answer that costs nothing)" if name == "uvicorn-fastpath" else name
        print(
            f"| {label} | **{median([m.requests_per_s for m in ms_]):,.0f}** | "
            f"{' / '.join(f'{m.requests_per_s:,.0f}' for m in ms_)} | "
            f"{median([per_cpu_second(m) for m in ms_]):,.0f} | "
            f"{median([m.p50 for m in ms_]) * 1000:.2f} | "
            f"{median([m.p99 for m in ms_]) * 1000:.2f} | "
            f"{median([m.server_cpu for m in ms_]):.0%} | "
            f"{median([m.client_cpu for m in ms_]):.0%} | {sum(m.failed for m in ms_)} |"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per candidate")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument(
        "--ceiling-duration",
        type=float,
        default=5.0,
        help="measured seconds of each empty-answer ceiling per round (0: none)",
    )
    p.add_argument("--ceiling-warmup", type=float, default=2.0)
    p.add_argument(
        "--only", nargs="+", choices=[c.name for c in CANDIDATES], help="these candidates only"
    )
    p.add_argument("--window", type=int, default=100_000, help="window size in samples")
    p.add_argument("--step", type=int, default=10_000, help="evaluate every this many samples")
    p.add_argument("--reference-rows", type=int, default=100_000)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of this process, the servers and the load generator (negative: ahead of "
        "other work on a shared machine; needs the privilege)",
    )
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument(
        "--probes",
        action="store_true",
        help="instead of the throughput rounds: slow clients, limits and SIGTERM per server "
        f"(about {PROBE_WAIT + 20:.0f} s)",
    )
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--empty", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.serve and len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 CPUs available; not pinning", file=sys.stderr)
        args.server_cpu = args.client_cpu = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.empty)
        return 0
    if args.client_cpu is not None:
        os.sched_setaffinity(0, {args.client_cpu})  # keep this process off the server's core
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # the servers and the load generator too
    wanted = [c for c in CANDIDATES if args.only is None or c.name in args.only]
    names = [c.name for c in wanted if available(c.server)]
    skipped = [c.name for c in wanted if not available(c.server)]
    ceilings = [n for n, pkg in CEILINGS if n in names and available(pkg)]
    if args.ceiling_duration <= 0:
        ceilings = []
    workdir = Path(tempfile.mkdtemp(prefix="drift-server-choice-"))
    config = write_config(workdir, "cloudevents", args)
    if args.probes:  # one granian setting is enough: the runtime options do not change these
        probed = names if args.only else [n for n in names if n not in PROBE_SKIPPED]
        print(
            f"### Which HTTP server: slow clients, limits, SIGTERM ({datetime.now(UTC):%Y-%m-%d})"
        )
        run_probes(probed, config, workdir)
        return 0
    started = datetime.now(UTC)
    servers = ", ".join(
        f"{p} {package_version(p)}" for p in ("granian", "hypercorn", "uvloop", "httptools")
    )
    print(
        f"### Which HTTP server: CloudEvents pairs/s ({started:%Y-%m-%d %H:%M} UTC)\n\n"
        f"Machine: {machine()}; {servers}.  \nCode: {code_state()}.  \n"
        f"Load average (1 min) at the start: {os.getloadavg()[0]:.2f}. {args.rounds} rounds, "
        f"{args.duration:.0f} s measured after {args.warmup:.0f} s of warm-up per candidate; "
        f"{CONNECTIONS} keep-alive connections; window {args.window:,}, step {args.step:,}, "
        f"reference {args.reference_rows:,} rows; niceness {os.getpriority(os.PRIO_PROCESS, 0)}."
        f" Logs in {workdir}.\n",
        flush=True,
    )
    for c in wanted:
        print(
            f"- `{c.name}`: {c.what}" + (" (skipped: not installed)" if c.name in skipped else "")
        )
    print(
        "\n| round | server | pairs/s | p50 ms | p99 ms | server CPU | others on its core "
        "| host steal | load generator CPU | RSS MiB | evaluations | ready s | SIGTERM to exit s "
        "| failed / lost |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        flush=True,
    )
    results: list[Measure] = []
    ceiling_results: list[Measure] = []
    for rnd in range(1, args.rounds + 1):
        shift = (rnd - 1) % max(len(names), 1)
        for name in names[shift:] + names[:shift]:
            m = measure(name, rnd, args, config, workdir)
            results.append(m)
            print(
                f"| {rnd} | {name} | {m.pairs_per_s:,.0f} | {m.p50 * 1000:.2f} | "
                f"{m.p99 * 1000:.2f} | {m.server_cpu:.0%} | {m.others_cpu:.0%} | "
                f"{m.steal:.0%} | {m.client_cpu:.0%} | {m.rss / MIB:.0f} | "
                f"{m.evaluations:.0f} | {m.ready:.2f} | {m.exit_seconds:.2f} | "
                f"{m.failed} / {'lost' if m.lost else 0} |",
                flush=True,
            )
        shift = (rnd - 1) % max(len(ceilings), 1)
        for name in ceilings[shift:] + ceilings[:shift]:
            m = measure(name, rnd, args, None, workdir)
            ceiling_results.append(m)
            print(
                f"[round {rnd}] ceiling {name}: {m.requests_per_s:,.0f} requests/s, server CPU "
                f"{m.server_cpu:.0%}, load generator CPU {m.client_cpu:.0%}",
                file=sys.stderr,
                flush=True,
            )
    print(f"\nMedians over {args.rounds} rounds:\n")
    print_sidecar_table(results, names)
    if ceiling_results:
        print(
            f"\nThe empty-answer ceiling of each server ({args.ceiling_duration:.0f} s after "
            f"{args.ceiling_warmup:.0f} s per round, `benchmarks/http_ceiling.py`'s empty app):\n"
        )
        print_ceiling_table(ceiling_results, ceilings)
    problems = [
        f"{m.name} round {m.round}: {p}" for m in results + ceiling_results for p in m.problems
    ]
    if problems:
        print("\nProblems (first few):\n")
        for text in problems[:10]:
            print(f"- {text}")
    print(f"\nLoad average (1 min) at the end: {os.getloadavg()[0]:.2f}.", flush=True)
    bad = any(m.failed or m.lost for m in results + ceiling_results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
