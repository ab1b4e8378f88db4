"""Provisioning through Grafana's HTTP API with ``grafana-client`` (``dashboards provision``).

Idempotent: the folder and the datasource are created only when their uid is unknown, and a
dashboard is posted (``POST /api/dashboards/db`` with ``overwrite: true``, i.e. upsert by uid)
only when the stored copy differs from the generated one, so a second run changes nothing and
does not add dashboard versions. Grafana's API used, as documented at
https://grafana.com/docs/grafana/latest/developers/http_api/:

- ``GET /api/folders/{uid}``, ``POST /api/folders`` ``{"uid", "title"}``
- ``GET /api/datasources/uid/{uid}``, ``POST /api/datasources``
- ``GET /api/dashboards/uid/{uid}``,
  ``POST /api/dashboards/db`` ``{"dashboard", "folderUid", "overwrite", "message"}``
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from exporters.grafana.dashboards import all_dashboards
from exporters.grafana.files import FOLDER_TITLE, FOLDER_UID

COMMIT_MESSAGE = "drift-sidecar dashboards provision"
VOLATILE_KEYS = ("id", "version")
"""Keys Grafana sets on a stored dashboard; ignored when comparing with the generated one."""


class FolderApi(Protocol):
    def get_folder(self, uid: str) -> Any: ...
    def create_folder(self, title: str, uid: str | None = None) -> Any: ...


class DatasourceApi(Protocol):
    def get_datasource_by_uid(self, datasource_uid: str) -> Any: ...
    def create_datasource(self, datasource: dict[str, Any]) -> Any: ...


class DashboardApi(Protocol):
    def get_dashboard(self, dashboard_uid: str) -> Any: ...
    def update_dashboard(self, dashboard: dict[str, Any]) -> Any: ...


class GrafanaPort(Protocol):
    """The part of ``grafana_client.GrafanaApi`` provisioning uses (a port, so the core stays
    typed; ``GrafanaApi`` itself is unannotated)."""

    @property
    def folder(self) -> FolderApi: ...
    @property
    def datasource(self) -> DatasourceApi: ...
    @property
    def dashboard(self) -> DashboardApi: ...


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DatasourceSpec:
    """The Prometheus datasource to create when no datasource has ``uid``."""

    name: str
    uid: str
    url: str

    def body(self) -> dict[str, Any]:
        """``POST /api/datasources`` body."""
        return {
            "name": self.name,
            "uid": self.uid,
            "type": "prometheus",
            "access": "proxy",
            "url": self.url,
            "isDefault": False,
            "jsonData": {"httpMethod": "POST"},
        }


@dataclass(frozen=True)
class Outcome:
    """What provisioning did to one object; ``url`` is absolute for dashboards."""

    kind: str
    uid: str
    action: Action
    url: str = ""

    def line(self) -> str:
        return " ".join(part for part in (self.kind, self.uid, self.action.value, self.url) if part)


def _missing(exc: GrafanaClientError) -> bool:
    return bool(exc.status_code == 404)


def with_datasource(dashboard: dict[str, Any], uid: str, name: str) -> dict[str, Any]:
    """A copy of ``dashboard`` whose ``datasource`` variable defaults to datasource ``uid``."""
    data = copy.deepcopy(dashboard)
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource" and variable.get("name") == "datasource":
            variable["current"] = {"selected": True, "text": name, "value": uid}
    return data


def comparable(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored dashboard without the keys Grafana adds on save."""
    return {key: value for key, value in stored.items() if key not in VOLATILE_KEYS}


class Provisioner:
    """Creates or reuses the folder and datasource, then upserts the dashboards."""

    def __init__(self, api: GrafanaPort, base_url: str) -> None:
        self.api = api
        self.base_url = base_url.rstrip("/")

    def ensure_folder(self, uid: str = FOLDER_UID, title: str = FOLDER_TITLE) -> Outcome:
        try:
            self.api.folder.get_folder(uid)
        except GrafanaClientError as exc:
            if not _missing(exc):
                raise
            self.api.folder.create_folder(title, uid=uid)
            return Outcome("folder", uid, Action.CREATED)
        return Outcome("folder", uid, Action.UNCHANGED)

    def ensure_datasource(self, spec: DatasourceSpec) -> Outcome:
        try:
            self.api.datasource.get_datasource_by_uid(spec.uid)
        except GrafanaClientError as exc:
            if not _missing(exc):
                raise
            self.api.datasource.create_datasource(spec.body())
            return Outcome("datasource", spec.uid, Action.CREATED)
        return Outcome("datasource", spec.uid, Action.UNCHANGED)

    def upsert_dashboard(self, dashboard: dict[str, Any], folder_uid: str) -> Outcome:
        uid = str(dashboard["uid"])
        action = Action.CREATED
        try:
            stored = self.api.dashboard.get_dashboard(uid)
        except GrafanaClientError as exc:
            if not _missing(exc):
                raise
        else:
            meta = stored.get("meta", {})
            if (
                comparable(stored.get("dashboard", {})) == dashboard
                and meta.get("folderUid") == folder_uid
            ):
                return Outcome("dashboard", uid, Action.UNCHANGED, self.base_url + meta["url"])
            action = Action.UPDATED
        response = self.api.dashboard.update_dashboard(
            {
                "dashboard": dashboard,
                "folderUid": folder_uid,
                "overwrite": True,
                "message": COMMIT_MESSAGE,
            }
        )
        return Outcome("dashboard", uid, action, self.base_url + str(response["url"]))

    def provision(
        self,
        dashboards: Iterable[dict[str, Any]],
        folder_uid: str = FOLDER_UID,
        folder_title: str = FOLDER_TITLE,
        datasource: DatasourceSpec | None = None,
    ) -> list[Outcome]:
        outcomes = [self.ensure_folder(folder_uid, folder_title)]
        if datasource is not None:
            outcomes.append(self.ensure_datasource(datasource))
        for dashboard in dashboards:
            if datasource is not None:
                dashboard = with_datasource(dashboard, datasource.uid, datasource.name)
            outcomes.append(self.upsert_dashboard(dashboard, folder_uid))
        return outcomes


def provision_dashboards(
    grafana_url: str,
    token: str,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
    datasource: DatasourceSpec | None = None,
    timeout: float = 10.0,
) -> list[Outcome]:
    """Provision every dashboard of ``exporters.grafana.dashboards`` into ``grafana_url``."""
    api = GrafanaApi.from_url(grafana_url, credential=token, timeout=timeout)
    provisioner = Provisioner(api, grafana_url)
    return provisioner.provision(
        (data for _, data in all_dashboards()), folder_uid, folder_title, datasource
    )
