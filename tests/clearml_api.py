"""The in-memory state and endpoint handlers of the local ClearML test server.

``ClearMLApi`` holds projects, tasks, fileserver files and events (``scalars(task_id)`` reads
back what a task received), and has one method per endpoint, named ``_<service>_<action>``
(``tests/clearml_server.py`` dispatches to them after validating the request against the SDK's
schemas). Each returns ``(HTTP status, data)``.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

API_VERSION = "2.23"
SERVER_VERSION = "1.16.0"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime())


def _get_path(obj: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _project(obj: dict[str, Any], only: list[str] | None) -> dict[str, Any]:
    if not only:
        return obj
    out: dict[str, Any] = {"id": obj["id"]}
    for dotted in only:
        value = _get_path(obj, dotted)
        if value is None:
            continue
        target = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def _tags_match(have: list[str], wanted: list[str]) -> bool:
    """The server's tag filter language: ``-tag`` and ``__$not tag`` exclude, ``__$all`` /
    ``__$any`` switch how the included tags combine (default: any)."""
    mode, negate = "any", False
    include: list[str] = []
    exclude: list[str] = []
    for tag in wanted:
        if tag in ("__$all", "__$any"):
            mode = tag[3:]
        elif tag == "__$not":
            negate = True
        elif tag.startswith("-"):
            exclude.append(tag[1:])
        else:
            (exclude if negate else include).append(tag)
            negate = False
    if any(t in have for t in exclude):
        return False
    if not include:
        return True
    return all(t in have for t in include) if mode == "all" else any(t in have for t in include)


def _page(items: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    size = body.get("page_size")
    if size is None:
        return items
    page = body.get("page") or 0
    return items[page * size : (page + 1) * size]


class ClearMLApi:
    def __init__(self) -> None:
        self.projects: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.events: list[dict[str, Any]] = []

    def _auth_login(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import jwt  # PyJWT, a dependency of the clearml SDK

        claims = {"api_version": API_VERSION, "server_version": SERVER_VERSION, "env": "test"}
        claims["exp"] = int(time.time()) + 3600
        return 200, {
            "token": jwt.encode(claims, "clearml-test-server-signing-key-32b", algorithm="HS256")
        }

    def _ensure_project(self, name: str) -> str:
        for project in self.projects.values():
            if project["name"] == name:
                return str(project["id"])
        parent = name.rpartition("/")[0]
        if parent:
            self._ensure_project(parent)
        pid = uuid.uuid4().hex
        self.projects[pid] = {
            "id": pid,
            "name": name,
            "basename": name.rpartition("/")[2],
            "created": _now(),
            "last_update": _now(),
            "system_tags": [],
            "tags": [],
            "description": "",
        }
        return pid

    def _projects_create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        pid = self._ensure_project(body["name"])
        project = self.projects[pid]
        for key in ("system_tags", "tags", "description", "default_output_destination"):
            if key in body:
                project[key] = body[key]
        return 200, {"id": pid}

    def _projects_get_by_id(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        project = self.projects.get(body["project"])
        if project is None:
            return 400, {"error": f"project {body['project']} not found"}
        return 200, {"project": project}

    def _projects_get_all(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = list(self.projects.values())
        if body.get("id"):
            found = [p for p in found if p["id"] in body["id"]]
        if body.get("name"):
            found = [p for p in found if re.search(body["name"], p["name"])]
        if body.get("basename"):
            found = [p for p in found if re.search(body["basename"], p["basename"])]
        if body.get("system_tags"):
            found = [p for p in found if _tags_match(p["system_tags"], body["system_tags"])]
        found = _page(found, body)
        return 200, {"projects": [_project(p, body.get("only_fields")) for p in found]}

    def _projects_update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fields = {k: v for k, v in body.items() if k != "project"}
        self.projects[body["project"]].update(fields)
        return 200, {"updated": 1, "fields": fields}

    def _tasks_create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        tid = uuid.uuid4().hex
        task: dict[str, Any] = {
            "id": tid,
            "status": "created",
            "created": _now(),
            "last_update": _now(),
            "system_tags": [],
            "tags": [],
            "comment": "",
            "user": "test-user",
            "company": "test-company",
            "execution": {"artifacts": []},
            "hyperparams": {},
            "configuration": {},
            "runtime": {},
            "models": {"input": [], "output": []},
            "container": {},
            "output": {},
            "script": {},
        }
        task.update(body)
        self.tasks[tid] = task
        return 200, {"id": tid}

    def _events_add_batch(self, body: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """As the real server: events of an unknown task, or of a published one unless
        ``allow_locked``, are not stored but counted in ``errors``/``errors_info`` (HTTP 200);
        a metric event raises its task's ``last_iteration``."""
        errors: dict[str, int] = {}
        added = 0
        for event in body:
            task = self.tasks.get(event.get("task") or "")
            if task is None or (task["status"] == "published" and not event.get("allow_locked")):
                reason = "Invalid task id" if task is None else "Task is published"
                errors[reason] = errors.get(reason, 0) + 1
                continue
            self.events.append(event)
            added += 1
            if event.get("type") != "log" and event.get("iter") is not None:
                task["last_iteration"] = max(task.get("last_iteration") or 0, event["iter"])
                task["last_update"] = _now()
        return 200, {"added": added, "errors": sum(errors.values()), "errors_info": errors}

    def scalars(self, task_id: str) -> list[tuple[str, str, int, float]]:
        """(title, series, iteration, value) of every scalar event of a task, in arrival order."""
        return [
            (e["metric"], e["variant"], e["iter"], e["value"])
            for e in self.events
            if e.get("task") == task_id and e.get("type") == "training_stats_scalar"
        ]

    def _events_scalar_metrics_iter_histogram(
        self, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``{title: {series: {"name", "x": iterations, "y": values}}}``, as
        ``Task.get_reported_scalars`` reads it (the response schema only names ``images``; the
        real server answers with the metrics themselves). Only ``key="iter"``, no sampling."""
        if body.get("key", "iter") != "iter":
            return 400, {"error": f"key {body['key']!r} is not modelled by the test server"}
        if body["task"] not in self.tasks:
            return 400, {"error": f"task {body['task']} not found"}
        series: dict[tuple[str, str], dict[int, float]] = {}
        for metric, variant, iteration, value in self.scalars(body["task"]):
            series.setdefault((metric, variant), {})[iteration] = value
        out: dict[str, Any] = {}
        for (metric, variant), points in series.items():
            x = sorted(points)
            out.setdefault(metric, {})[variant] = {
                "name": variant,
                "x": x,
                "y": [points[i] for i in x],
            }
        return 200, out

    def _task(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.tasks[body["task"]]

    def _tasks_get_by_id(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body["task"] not in self.tasks:
            return 400, {"error": f"task {body['task']} not found", "code": (400, 101)}
        return 200, {"task": self.tasks[body["task"]]}

    def _tasks_get_all(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = list(self.tasks.values())
        if body.get("id"):
            ids = body["id"] if isinstance(body["id"], list) else [body["id"]]
            found = [t for t in found if t["id"] in ids]
        if body.get("name"):
            found = [t for t in found if re.search(body["name"], t.get("name", ""))]
        if body.get("project"):
            found = [t for t in found if t.get("project") in body["project"]]
        for key in ("status", "type"):
            if body.get(key):
                found = [t for t in found if t.get(key) in body[key]]
        for key in ("system_tags", "tags"):
            if body.get(key):
                found = [t for t in found if _tags_match(t.get(key, []), body[key])]
        for order in reversed(body.get("order_by") or []):
            key = order.lstrip("-")
            found.sort(key=lambda t, k=key: str(_get_path(t, k) or ""), reverse=order[0] == "-")
        found = _page(found, body)
        return 200, {"tasks": [_project(t, body.get("only_fields")) for t in found]}

    def _edit(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body)
        fields = {k: v for k, v in body.items() if k not in ("task", "force")}
        task.update(fields)
        task["last_update"] = _now()
        return fields

    def _tasks_edit(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"updated": 1, "fields": self._edit(body)}

    def _tasks_update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"updated": 1, "fields": self._edit(body)}

    def _status(self, body: dict[str, Any], status: str) -> tuple[int, dict[str, Any]]:
        task = self._task(body)
        task["status"] = status
        task["last_update"] = _now()
        return 200, {"updated": 1, "fields": {"status": status}}

    def _tasks_started(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._status(body, "in_progress")

    def _tasks_stopped(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._status(body, "stopped")

    def _tasks_completed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._status(body, "completed")

    def _tasks_close(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._status(body, "closed")

    def _tasks_publish(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._status(body, "published")

    def _tasks_ping(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {}

    def _tasks_add_or_update_artifacts(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        artifacts = self._task(body).setdefault("execution", {}).setdefault("artifacts", [])
        for new in body["artifacts"]:
            artifacts[:] = [a for a in artifacts if a["key"] != new["key"]] + [new]
        return 200, {"updated": len(body["artifacts"])}

    def _merge_section(self, body: dict[str, Any], field: str, items: str) -> dict[str, Any]:
        task = self._task(body)
        target = task.setdefault(field, {})
        if body.get("replace_" + items):
            target.clear()
        entries = body.get(items) or []
        for entry in entries:
            if field == "hyperparams":
                target.setdefault(entry["section"], {})[entry["name"]] = entry
            else:
                target[entry["name"]] = entry
        return {"updated": 1}

    def _tasks_edit_hyper_params(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, self._merge_section(body, "hyperparams", "hyperparams")

    def _tasks_edit_configuration(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, self._merge_section(body, "configuration", "configuration")
