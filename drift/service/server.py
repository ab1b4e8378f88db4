"""How ``drift-sidecar serve`` runs uvicorn: the listening sockets, TLS, the protocol class,
what the metrics port lets through, and a shutdown that ends within its budget.

- **Ports.** ``server.host``:``server.port`` serves every route. With ``server.metrics_port``
  one more socket, on ``server.metrics_host`` (default 0.0.0.0), answers ``GET /metrics``,
  ``/healthz`` and ``/readyz`` only, 404 for everything else (``ServerApp``; the fast path
  takes no CloudEvents there either). The sidecar shape this is for: ``host: 127.0.0.1``, as
  the model server and its payload logger share the pod's loopback, and the metrics port on the
  pod IP for Prometheus and the kubelet's probes. One uvicorn server and event loop serve both
  sockets; ``server.auth`` applies on both (``/metrics`` with ``auth.metrics: true``).
- **TLS.** ``server.tls`` goes to uvicorn's ``ssl_certfile`` / ``ssl_keyfile``: every socket
  speaks HTTPS. The protocol classes sit above the TLS transport, so the fast path is unchanged.
- **Slow clients.** ``server.request_timeout_seconds`` (``fastpath.TimedHttpProtocol``): a
  request that has not all arrived that long after its first byte gets 408 and its connection
  is closed, counted in ``drift_requests_rejected_total{reason="timeout"}``. WebSocket upgrades
  are off (the sidecar has no WebSocket route). A client that goes away (or is timed out) in
  the middle of a body the app is reading ends in starlette's ``ClientDisconnect`` inside the
  app: ``ServerApp`` logs it at debug level instead of uvicorn's error with a traceback.
- **Shutdown.** The first SIGTERM (or SIGINT) starts ``server.shutdown_timeout_seconds``
  (``ShutdownBudget``). uvicorn stops accepting, closes idle connections and gives requests in
  progress until half of the budget is spent; the connections of those still unfinished are
  then closed (the client sees the connection dropped; their tasks a disconnect) and uvicorn's
  ``timeout_graceful_shutdown`` cancels what has not ended a moment later. Then the app's
  lifespan stops the service (``DriftService.stop``) in what is left,
  ``app.state.shutdown_budget.stop_timeout()``. A watchdog thread ends the process (exit status
  1, after one log line) if it is still running when the budget is spent, whatever a client or
  a thread does. Without a signal nothing of this runs.
- **Process settings** kept from before: the start-up heap frozen for the GC, the GIL switch
  interval of ``fastpath.SWITCH_INTERVAL``, no proxy-headers middleware, no access log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from drift.config.settings import ServerConfig
from drift.service import fastpath

log = logging.getLogger("drift.service")

EXIT_STARTUP_FAILURE = 3
"""Exit status when a socket cannot be bound or the app does not start (uvicorn's)."""
EXIT_SHUTDOWN_OVERRUN = 1
"""Exit status when the watchdog ends the process at the end of the shutdown budget."""
GRACEFUL_SHARE = 0.5
"""Share of ``server.shutdown_timeout_seconds`` that requests in progress get after a signal;
the service's stop gets the rest (and whatever the requests did not use)."""
DROP_SECONDS = 0.25
"""After the graceful part, how long the tasks of dropped connections get to end (at most a
tenth of the budget) before uvicorn cancels them."""
EXIT_SECONDS = 0.25
"""What the process keeps of the budget, after the service's stop, to exit by itself."""
PROBE_PATHS = frozenset(["/metrics", "/healthz", "/readyz"])
"""What the metrics port answers (``GET`` only)."""
_NOT_HERE = (
    b'{"error":"not_found","detail":"this port serves GET /metrics, /healthz and /readyz only"}'
)


class ShutdownBudget:
    """``seconds`` from the first signal: ``begin`` (from the signal handler) sets the deadline,
    ``left`` is what remains of it, ``watch`` starts the thread that ends the process there."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline: float | None = None  # time.monotonic()
        self._begun = threading.Event()

    def begin(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.seconds
            self._begun.set()

    def left(self) -> float | None:
        """Seconds until the deadline (0 once passed); None before a signal."""
        deadline = self.deadline
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def stop_timeout(self) -> float | None:
        """What the service's stop may take (``DriftService.stop(timeout)``): what is left, less
        a moment (``EXIT_SECONDS``, at most a tenth of the budget) for the process to exit after
        it before the watchdog would; None before a signal (the stop's own default)."""
        left = self.left()
        if left is None:
            return None
        return max(0.0, left - min(EXIT_SECONDS, self.seconds / 10))

    def graceful_left(self) -> float:
        """Seconds left for requests in progress: until ``GRACEFUL_SHARE`` of the budget is
        spent."""
        left = self.left()
        if left is None:
            left = self.seconds
        return max(0.0, left - self.seconds * (1.0 - GRACEFUL_SHARE))

    def watch(self) -> threading.Thread:
        thread = threading.Thread(target=self._watch, name="drift-shutdown-watchdog", daemon=True)
        thread.start()
        return thread

    def _watch(self) -> None:
        self._begun.wait()
        left = self.left()
        if left:
            time.sleep(left)
        message = (
            f"shutdown not finished within server.shutdown_timeout_seconds "
            f"({self.seconds:g} s): exiting now"
        )
        # logging may wait for a lock a stuck thread holds: a tenth of a second at most
        writer = threading.Thread(target=log.error, args=(message,), daemon=True)
        writer.start()
        writer.join(0.1)
        os._exit(EXIT_SHUTDOWN_OVERRUN)


class SidecarServer(uvicorn.Server):
    """uvicorn's server: the signal starts ``budget``; the graceful part of the shutdown is
    what ``budget.graceful_left`` says; a log line names the sockets once they listen."""

    def __init__(self, config: uvicorn.Config, budget: ShutdownBudget, listening: str) -> None:
        super().__init__(config)
        self.budget = budget
        self.listening = listening

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.budget.begin()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            log.info("listening on %s", self.listening)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.budget.begin()  # also when uvicorn exits for another reason than a signal
        graceful = self.budget.graceful_left()
        # at the end of the graceful part the connections of requests still in progress are
        # closed: their tasks see the client gone and end; uvicorn would cancel them, each
        # logged as an error with a traceback, when its own timeout (a moment later) expires
        wait = graceful + min(DROP_SECONDS, self.budget.seconds / 10)
        # uvicorn types it int; it is passed to asyncio.timeout, which takes any number
        self.config.timeout_graceful_shutdown = wait  # type: ignore[assignment]
        dropping = asyncio.get_running_loop().call_later(graceful, self._drop_connections)
        try:
            await super().shutdown(sockets)
        finally:
            dropping.cancel()

    def _drop_connections(self) -> None:
        connections = list(self.server_state.connections)
        if connections:
            log.warning(
                "shutdown: dropping %d connection(s) whose request did not finish in time",
                len(connections),
            )
        for connection in connections:
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()  # also when the client does not read what was written


class ServerApp:
    """The app as the sockets see it: on ``metrics_port`` only ``GET`` of ``PROBE_PATHS``
    reaches it (404 otherwise); a ``ClientDisconnect`` (the client went away, or was timed
    out, while the app read its body) is logged at debug level, not as an application error."""

    def __init__(self, app: ASGIApp, metrics_port: int | None = None) -> None:
        self.app = app
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._refused(scope):
            await _not_here(send)
            return
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.debug("a client went away before the whole body of its request arrived")

    def _refused(self, scope: Scope) -> bool:
        """A request to the metrics port for anything but the probe paths."""
        if self.metrics_port is None:
            return False
        server = scope.get("server")
        if not server or server[1] != self.metrics_port:
            return False
        return scope["method"] != "GET" or scope["path"] not in PROBE_PATHS


async def _not_here(send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_NOT_HERE)).encode()),
    ]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": _NOT_HERE})


def http_protocol(
    app: Any,
    server: ServerConfig,
    on_timeout: Callable[[], None] | None = None,
    plain_ports: frozenset[int] = frozenset(),
) -> type[asyncio.Protocol] | str:
    """uvicorn's ``http`` for ``app``: the fast path's class (``server.fast_path``), the
    request deadline alone, or, on a uvicorn they do not fit, uvicorn's own (with a warning:
    neither the fast path nor ``request_timeout_seconds`` then)."""
    reason = fastpath.protocol_support()
    if reason is not None:
        log.warning(
            "plain uvicorn: %s; CloudEvents go through ASGI (slower) and "
            "server.request_timeout_seconds is NOT enforced",
            reason,
        )
        return "auto"
    timeout = server.request_timeout_seconds
    endpoint = getattr(app.state, "cloudevents_endpoint", None)
    if server.fast_path and endpoint is not None:
        return fastpath.protocol_for(
            endpoint,
            getattr(app.state, "authenticator", None),
            request_timeout=timeout,
            on_timeout=on_timeout,
            plain_ports=plain_ports,
        )
    if server.fast_path:
        log.warning("CloudEvents served through ASGI (slower): the app has no CloudEvents")
    else:
        log.info("server.fast_path is false: CloudEvents served through ASGI")
    return fastpath.timed_protocol(timeout, on_timeout)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (not listening yet), as uvicorn binds one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def uvicorn_config(
    app: Any, server: ServerConfig, host: str, port: int, *, log_level: str | None = None
) -> uvicorn.Config:
    """uvicorn's config for ``app`` (``create_app``'s: its ``state.service`` counts the
    timeouts) under ``server``'s settings: ``ServerApp`` around it, ``http_protocol``, TLS."""
    if server.metrics_port == port:
        raise ValueError(f"the metrics port {port} is the main port")
    timeouts = app.state.service.metrics.requests_rejected.labels(fastpath.TIMEOUT_REASON)
    metrics_port = server.metrics_port
    plain_ports = frozenset() if metrics_port is None else frozenset([metrics_port])
    tls = server.tls
    return uvicorn.Config(
        ServerApp(app, metrics_port),
        host=host,
        port=port,
        http=http_protocol(app, server, timeouts.inc, plain_ports),
        ws="none",
        log_level=log_level or server.log_level,
        access_log=False,
        proxy_headers=False,  # the sidecar never reads the client address
        ssl_certfile=None if tls is None else str(tls.cert_file),
        ssl_keyfile=None if tls is None else str(tls.key_file),
    )


def listeners(server: ServerConfig, host: str, port: int) -> list[tuple[str, int, str]]:
    """(host, port, what it serves) of each socket the sidecar listens on."""
    found = [(host, port, "every route")]
    if server.metrics_port is not None:
        found.append((server.metrics_host, server.metrics_port, "GET /metrics, /healthz, /readyz"))
    return found


def serve(
    app: Any, server: ServerConfig, host: str, port: int, *, log_level: str | None = None
) -> int:
    """Run ``app`` (``create_app``'s) until a signal; the exit status when it returns (after a
    signal the process ends by raising it again, as under ``uvicorn.run``)."""
    config = uvicorn_config(app, server, host, port, log_level=log_level)
    budget = ShutdownBudget(server.shutdown_timeout_seconds)
    app.state.shutdown_budget = budget
    sockets: list[socket.socket] = []
    for listen_host, listen_port, _ in listeners(server, host, port):
        try:
            sockets.append(bind(listen_host, listen_port))
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", listen_host, listen_port, exc)
            for sock in sockets:
                sock.close()
            return EXIT_STARTUP_FAILURE
    scheme = "http" if server.tls is None else "https"
    listening = ", ".join(
        f"{_url(scheme, h, p)} ({what})" for h, p, what in listeners(server, host, port)
    )
    runner = SidecarServer(config, budget, listening)
    _tune_process()
    budget.watch()
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        runner.run(sockets=sockets)
    return 0 if runner.started else EXIT_STARTUP_FAILURE


def _tune_process() -> None:
    import gc

    # what exists now (modules, settings, the app) lives as long as the process: frozen, full
    # collections stop scanning it; GC time while ingesting CloudEvents drops from ~4% to ~1%
    # (a one-off: objects made later, references included, are collected as usual)
    gc.collect()
    gc.freeze()
    # a thread decoding a large body (``cloudevents.off_loop``) gives the GIL up to the event
    # loop after at most this long, instead of 5 ms: the loop needs it two or three times per
    # request, so a probe's answer waited ~10 ms (p50) during such work, now ~2 ms
    sys.setswitchinterval(fastpath.SWITCH_INTERVAL)
