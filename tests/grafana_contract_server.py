"""A local stand-in for Grafana's HTTP API that checks every request against the documented
contract (https://grafana.com/docs/grafana/latest/developers/http_api/): method, path, token,
content type and body keys, and keeps folders, datasources and dashboards in memory the way
Grafana does (upsert by uid with ``overwrite``, versions, ``/d/<uid>/<slug>`` URLs).

No Grafana server can run on the development machines, so provisioning is tested against this:
a contract test. A request outside the contract gets Grafana's error status and is recorded in
``violations``; the tests assert there are none.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

UID = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")
FOLDER_KEYS = {"uid", "title", "description", "parentUid"}
DATASOURCE_KEYS = {
    "name", "type", "url", "access", "uid", "database", "user", "basicAuth", "basicAuthUser",
    "withCredentials", "isDefault", "jsonData", "secureJsonData", "orgId",
}  # fmt: skip
DATASOURCE_ACCESS = {"proxy", "direct"}
DASHBOARD_POST_KEYS = {"dashboard", "folderId", "folderUid", "message", "overwrite"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class Reply(Exception):
    """An HTTP answer; raised by the checks to stop handling with Grafana's error shape."""

    def __init__(self, status: int, body: dict[str, Any], violation: str = "") -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.violation = violation


def _bad(message: str) -> Reply:
    return Reply(400, {"message": message}, violation=message)


def _check_keys(body: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise _bad(f"{what}: keys not in Grafana's API: {sorted(unknown)}")


def _check_uid(uid: object, what: str) -> None:
    if not isinstance(uid, str) or not UID.match(uid):
        raise _bad(f"{what}: uid must be 1-40 of [a-zA-Z0-9_-], got {uid!r}")


def get_folder(state: GrafanaState, uid: str) -> dict[str, Any]:
    if uid not in state.folders:
        raise Reply(404, {"message": "folder not found", "status": "not-found"})
    return state.folders[uid]


def post_folder(state: GrafanaState, body: dict[str, Any]) -> dict[str, Any]:
    _check_keys(body, FOLDER_KEYS, "POST /api/folders")
    if not isinstance(body.get("title"), str) or not body["title"]:
        raise _bad("POST /api/folders: title is required")
    uid = body.get("uid", f"generated{state.next_id}")
    _check_uid(uid, "POST /api/folders")
    if uid in state.folders:
        raise Reply(409, {"message": "a folder with the same uid already exists"})
    folder = {
        "id": state.new_id(),
        "uid": uid,
        "title": body["title"],
        "url": f"/dashboards/f/{uid}/",
    }
    state.folders[uid] = folder
    return folder


def get_datasource(state: GrafanaState, uid: str) -> dict[str, Any]:
    if uid not in state.datasources:
        raise Reply(404, {"message": "Data source not found"})
    return state.datasources[uid]


def post_datasource(state: GrafanaState, body: dict[str, Any]) -> dict[str, Any]:
    _check_keys(body, DATASOURCE_KEYS, "POST /api/datasources")
    for key in ("name", "type", "access"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise _bad(f"POST /api/datasources: {key} is required")
    if body["access"] not in DATASOURCE_ACCESS:
        raise _bad(f"POST /api/datasources: access must be one of {sorted(DATASOURCE_ACCESS)}")
    if any(ds["name"] == body["name"] for ds in state.datasources.values()):
        raise Reply(409, {"message": "data source with the same name already exists"})
    uid = body.get("uid", f"generated{state.next_id}")
    _check_uid(uid, "POST /api/datasources")
    datasource = {**body, "uid": uid, "id": state.new_id()}
    state.datasources[uid] = datasource
    return {"datasource": datasource, "id": datasource["id"], "message": "Datasource added",
            "name": body["name"]}  # fmt: skip


def get_dashboard(state: GrafanaState, uid: str) -> dict[str, Any]:
    if uid not in state.dashboards:
        raise Reply(404, {"message": "Dashboard not found"})
    stored = state.dashboards[uid]
    dashboard = stored["dashboard"]
    url = f"/d/{uid}/{slug(dashboard['title'])}"
    meta = {"folderUid": stored["folderUid"], "url": url, "slug": slug(dashboard["title"]),
            "version": dashboard["version"], "provisioned": False}  # fmt: skip
    return {"dashboard": dashboard, "meta": meta}


def post_dashboard(state: GrafanaState, body: dict[str, Any]) -> dict[str, Any]:
    _check_keys(body, DASHBOARD_POST_KEYS, "POST /api/dashboards/db")
    dashboard = body.get("dashboard")
    if not isinstance(dashboard, dict) or not isinstance(dashboard.get("title"), str):
        raise _bad("POST /api/dashboards/db: dashboard must be an object with a title")
    if not isinstance(body.get("overwrite", False), bool):
        raise _bad("POST /api/dashboards/db: overwrite must be a boolean")
    folder_uid = body.get("folderUid", "")
    if folder_uid and folder_uid not in state.folders:
        raise Reply(400, {"message": "folder not found"})
    uid = dashboard.get("uid")
    _check_uid(uid, "POST /api/dashboards/db")
    assert isinstance(uid, str)
    existing = state.dashboards.get(uid)
    if existing is not None and not body.get("overwrite", False):
        raise Reply(412, {"message": "A dashboard with the same uid already exists",
                          "status": "name-exists"})  # fmt: skip
    if existing is None and dashboard.get("id") is not None:
        raise Reply(404, {"message": "Dashboard not found", "status": "not-found"})
    ident = existing["dashboard"]["id"] if existing else state.new_id()
    version = existing["dashboard"]["version"] + 1 if existing else 1
    stored = {**dashboard, "id": ident, "version": version}
    state.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid}
    return {"id": ident, "uid": uid, "url": f"/d/{uid}/{slug(dashboard['title'])}",
            "status": "success", "version": version, "slug": slug(dashboard["title"])}  # fmt: skip


ROUTES: list[tuple[str, re.Pattern[str], Any]] = [
    ("GET", re.compile(r"^/api/folders/([^/]+)$"), get_folder),
    ("POST", re.compile(r"^/api/folders$"), post_folder),
    ("GET", re.compile(r"^/api/datasources/uid/([^/]+)$"), get_datasource),
    ("POST", re.compile(r"^/api/datasources$"), post_datasource),
    ("GET", re.compile(r"^/api/dashboards/uid/([^/]+)$"), get_dashboard),
    ("POST", re.compile(r"^/api/dashboards/db$"), post_dashboard),
]


class Handler(BaseHTTPRequestHandler):
    server: ContractServer

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the request log is in state.requests

    def _handle(self) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = self._body(raw)
            state.requests.append(Request(self.command, path, body))
            self._authorize()
            status, answer = 200, self._route(path, body)
        except Reply as reply:
            status, answer = reply.status, reply.body
            if reply.violation:
                state.violations.append(f"{self.command} {path}: {reply.violation}")
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self, raw: bytes) -> Any:
        if self.command not in MUTATING:
            if raw:
                raise _bad("GET with a body")
            return None
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            raise _bad(f"Content-Type must be application/json, not {self.headers['Content-Type']}")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _bad(f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _bad("body must be a JSON object")
        return body

    def _authorize(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.server.state.token}":
            raise Reply(401, {"message": "Unauthorized"})

    def _route(self, path: str, body: Any) -> dict[str, Any]:
        state = self.server.state
        for method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if match and method == self.command:
                args = match.groups() if body is None else (body,)
                result: dict[str, Any] = handler(state, *args)
                return result
        raise Reply(404, {"message": "Not found"}, violation="not an API the contract covers")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815


class ContractServer(ThreadingHTTPServer):
    def __init__(self, state: GrafanaState) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@contextmanager
def grafana_contract_server(token: str) -> Iterator[ContractServer]:
    """The server on a free 127.0.0.1 port, serving in a thread until the block ends."""
    server = ContractServer(GrafanaState(token=token))
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="grafana-contract", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
