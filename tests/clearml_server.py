"""A small local ClearML API server and fileserver for the tests (no real server runs here).

It serves only the endpoints the ClearML SDK calls to create, upload, finalize and read
datasets, and to find, create and start a Task, send its scalars and read them back
(``exporters/clearml/reporting.py``). It checks every request body and every response body
against the JSON schemas that ship inside the ``clearml`` package
(``clearml/backend_api/services/v2_23/*.py``, the ``_schema`` of each ``Request``/``Response``
class). An endpoint it does not implement answers HTTP 400 *and* is recorded in
``unimplemented``; a schema violation is recorded in ``violations``. The ``backend`` fixture
(``tests/integration/reference_components.py``) fails the test when either list is non-empty,
so nothing is ever answered "empty" silently.

State and endpoint handlers live in ``tests/clearml_api.py``. Modelled: projects (parents
created implicitly), tasks (``tasks.create`` fills the default fields, edits merge), status
changes, artifacts, configuration and hyper-parameter sections, ``events.add_batch`` (stored;
as on the real server, events of an unknown or published task are counted in
``errors``/``errors_info`` of a 200 answer, and metric events raise the task's
``last_iteration``), scalars read back by ``events.scalar_metrics_iter_histogram`` (by
iteration, never down-sampled), ``get_all`` filtering on id/name/project/system_tags/tags/
status/type with the server's tag operators (``__$all``, ``__$not``, ``-tag``),
``only_fields`` projections, ``order_by`` and ``page``/``page_size`` paging. Not modelled:
credentials checks, users, queues, workers, models, other event queries, permissions, search
beyond the filters above.

Faults for the reporting tests: ``fail_events("error")`` makes ``events.add_batch`` answer HTTP
500; ``fail_events("hang")`` holds every such request open without an answer until
``heal_events()`` (held requests then get a 500, later ones are served); ``stop()`` and
``start()`` take the whole server away and bring it back on the same ports. A request is
schema-checked before the fault applies; ``events_held`` counts the requests held open.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema

from tests.clearml_api import API_VERSION, ClearMLApi

ACCESS_KEY, SECRET_KEY = "test-access", "test-secret"
FAULT_STATUS = {"error": 500, "bad_gateway": 502, "maintenance": 503}
HANG_LIMIT_SECONDS = 60.0  # a "hang" nobody heals is answered 500 after this


def _schemas(service: str, action: str) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(schema of one request item, response schema, batched?); batched requests
    (newline-delimited JSON, e.g. events.add_batch) are validated item by item against the
    item class."""
    module = importlib.import_module(f"clearml.backend_api.services.v2_23.{service}")
    for request_cls, response_cls in module.response_mapping.items():
        if request_cls._action == action:
            item_cls = getattr(request_cls, "_batched_request_cls", None)
            return (item_cls or request_cls)._schema, response_cls._schema, item_cls is not None
    raise KeyError(f"{service}.{action}")


class ClearMLTestServer(ClearMLApi):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.bodies: list[tuple[str, Any]] = []
        self.unimplemented: list[str] = []
        self.violations: list[str] = []
        self.lock = threading.RLock()
        self._api: ThreadingHTTPServer | None = None
        self._fs: ThreadingHTTPServer | None = None
        self.api_port = 0
        self.files_port = 0
        self.events_fault: str | None = None  # None, "error" or "hang"; see fail_events
        self.events_held = 0  # events.add_batch requests being held open right now
        self._events_healed = threading.Event()

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._api = ThreadingHTTPServer(("127.0.0.1", self.api_port), _handler(self, api=True))
        self._fs = ThreadingHTTPServer(("127.0.0.1", self.files_port), _handler(self, api=False))
        self.api_port, self.files_port = self._api.server_port, self._fs.server_port
        for server in (self._api, self._fs):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in (self._api, self._fs):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._api = self._fs = None

    def fail_events(self, mode: str) -> None:
        """From now on ``events.add_batch`` answers 500 ("error"), 502 ("bad_gateway"), 503
        ("maintenance", which the SDK by default waits out forever) or never answers ("hang")."""
        if mode not in FAULT_STATUS and mode != "hang":
            raise ValueError(mode)
        self._events_healed.clear()
        self.events_fault = mode

    def heal_events(self) -> None:
        """Serve ``events.add_batch`` again; requests held by "hang" are answered 500."""
        self.events_fault = None
        self._events_healed.set()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def files_url(self) -> str:
        return f"http://127.0.0.1:{self.files_port}"

    # API -----------------------------------------------------------------------------------
    def call(self, endpoint: str, body: Any) -> tuple[int, dict[str, Any]]:
        service, _, action = endpoint.partition(".")
        fault = self.events_fault if endpoint == "events.add_batch" else None
        self.calls.append(endpoint)
        self.bodies.append((endpoint, body))
        handler = getattr(self, f"_{service}_{action}", None)
        try:
            request_schema, response_schema, batched = _schemas(service, action)
        except (ImportError, KeyError):
            handler = None
        if handler is None:
            self.unimplemented.append(endpoint)
            return 400, {"error": f"{endpoint} is not implemented by the test server"}
        if batched and isinstance(body, dict):  # a batch of one arrives as a single JSON line
            body = [body]
        try:
            for item in body if isinstance(body, list) else [body]:
                if endpoint == "events.add_batch" and isinstance(item.get("level"), str):
                    # the SDK sends log levels upper-case ("INFO") where the schema's enum is
                    # lower-case; the real server accepts both. Tolerated here, nothing else is.
                    item = {**item, "level": item["level"].lower()}
                jsonschema.validate(item, request_schema)
        except jsonschema.ValidationError as exc:
            self.violations.append(f"request {endpoint}: {exc.message}")
            return 400, {"error": exc.message}
        if fault == "hang":  # outside the lock: the other endpoints keep answering
            with self.lock:
                self.events_held += 1
            self._events_healed.wait(HANG_LIMIT_SECONDS)
            with self.lock:
                self.events_held -= 1
        if fault is not None:
            status = FAULT_STATUS.get(fault, 500)
            return status, {"error": f"events.add_batch failure injected by the test ({fault})"}
        with self.lock:
            status, data = handler(body)
        if status == 200:
            try:
                jsonschema.validate(data, response_schema)
            except jsonschema.ValidationError as exc:
                self.violations.append(f"response {endpoint}: {exc.message}")
        return status, data


def _handler(server: ClearMLTestServer, api: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, payload: bytes, ctype: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a held "hang" request after its timeout)

        def _api(self) -> None:
            match = re.fullmatch(r"/v?[\d.]*/?([a-z_]+)\.([a-z_]+)", self.path.split("?")[0])
            raw = self._body()
            if match is None:
                server.unimplemented.append(f"{self.command} {self.path}")
                self._reply(404, b"{}")
                return
            endpoint = f"{match.group(1)}.{match.group(2)}"
            lines = [line for line in raw.decode().splitlines() if line.strip()]
            body: Any = json.loads(raw) if len(lines) == 1 else [json.loads(x) for x in lines]
            if not lines:
                body = {}
            status, data = server.call(endpoint, body)
            meta = {
                "id": uuid.uuid4().hex,
                "trx": uuid.uuid4().hex,
                "endpoint": {"name": endpoint, "requested_version": API_VERSION},
                "result_code": status,
                "result_subcode": 0 if status == 200 else 101,
                "result_msg": "OK" if status == 200 else str(data.get("error")),
                "error_stack": "",
            }
            payload = {"meta": meta, "data": data if status == 200 else {}}
            self._reply(status, json.dumps(payload).encode())

        def do_GET(self) -> None:
            if api:
                self._api()
                return
            data = server.files.get(self.path.lstrip("/"))
            if data is None:
                self._reply(404, b"not found", "text/plain")
            else:
                self._reply(200, data, "application/octet-stream")

        def do_POST(self) -> None:
            if api:
                self._api()
                return
            raw = self._body()
            head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
            message = BytesParser(policy=policy.default).parsebytes(head + raw)
            assert isinstance(message, EmailMessage)
            base = self.path.strip("/")
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if isinstance(name, str) and isinstance(payload, bytes):
                    server.files[f"{base}/{name}".lstrip("/")] = payload
            self._reply(200, b"{}")

        def do_DELETE(self) -> None:
            if api:
                self._api()
                return
            server.files.pop(self.path.lstrip("/"), None)
            self._reply(200, b"{}")

    return Handler
