"""Contract test of ``drift-sidecar dashboards provision``: the real ``grafana-client`` against
``tests/grafana_contract_server.py``, which checks every request against Grafana's documented
HTTP API. No Grafana server can run here; see docs/dashboards.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from drift.cli import main
from exporters.grafana.dashboards import all_dashboards
from exporters.grafana.files import FOLDER_TITLE, FOLDER_UID
from exporters.grafana.provision import COMMIT_MESSAGE, DatasourceSpec, with_datasource
from tests.grafana_contract_server import ContractServer, Request, grafana_contract_server

TOKEN = "glsa_contract_test_token"
PROMETHEUS_URL = "http://prometheus.monitoring:9090"
DS_UID = "drift-sidecar-prometheus"
GENERATED = [data for _, data in all_dashboards()]
UIDS = [data["uid"] for data in GENERATED]


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> Iterator[ContractServer]:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    with grafana_contract_server(TOKEN) as server:
        yield server


def provision(server: ContractServer, *extra: str) -> int:
    return main(["dashboards", "provision", "--grafana-url", server.url, *extra])


def calls(requests: list[Request]) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in requests]


def expected_dashboard(data: dict[str, Any]) -> dict[str, Any]:
    return with_datasource(data, DS_UID, "drift-sidecar-prometheus")


def test_first_run_creates_everything_with_documented_requests(
    grafana: ContractServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert provision(grafana, "--prometheus-url", PROMETHEUS_URL) == 0
    state = grafana.state
    assert state.violations == []
    dashboard_calls = [
        call for uid in UIDS for call in
        (("GET", f"/api/dashboards/uid/{uid}"), ("POST", "/api/dashboards/db"))
    ]  # fmt: skip
    assert calls(state.requests) == [
        ("GET", f"/api/folders/{FOLDER_UID}"),
        ("POST", "/api/folders"),
        ("GET", f"/api/datasources/uid/{DS_UID}"),
        ("POST", "/api/datasources"),
        *dashboard_calls,
    ]
    bodies = {(r.method, r.path): r.body for r in state.requests}
    assert bodies["POST", "/api/folders"] == {"title": FOLDER_TITLE, "uid": FOLDER_UID}
    datasource = bodies["POST", "/api/datasources"]
    assert datasource == DatasourceSpec(DS_UID, DS_UID, PROMETHEUS_URL).body()
    assert (datasource["type"], datasource["access"]) == ("prometheus", "proxy")
    posts = [r.body for r in state.requests if r.path == "/api/dashboards/db"]
    for body, data in zip(posts, GENERATED, strict=True):
        assert set(body) == {"dashboard", "folderUid", "overwrite", "message"}
        assert body["overwrite"] is True
        assert body["folderUid"] == FOLDER_UID
        assert body["message"] == COMMIT_MESSAGE
        assert body["dashboard"] == expected_dashboard(data)
        assert "id" not in body["dashboard"]
    for uid in UIDS:
        stored = state.dashboards[uid]
        assert stored["folderUid"] == FOLDER_UID
        assert stored["dashboard"]["version"] == 1
        variable = stored["dashboard"]["templating"]["list"][0]
        assert variable["current"]["value"] == DS_UID
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"folder {FOLDER_UID} created", f"datasource {DS_UID} created"]
    for line, data in zip(out[2:], GENERATED, strict=True):
        assert line.startswith(f"dashboard {data['uid']} created {grafana.url}/d/{data['uid']}/")


def test_second_run_changes_nothing(
    grafana: ContractServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert provision(grafana, "--prometheus-url", PROMETHEUS_URL) == 0
    before = {uid: dict(grafana.state.dashboards[uid]) for uid in UIDS}
    first_count = len(grafana.state.requests)
    capsys.readouterr()

    assert provision(grafana, "--prometheus-url", PROMETHEUS_URL) == 0
    second = grafana.state.requests[first_count:]
    assert grafana.state.violations == []
    assert all(r.method == "GET" for r in second), calls(second)
    assert {uid: grafana.state.dashboards[uid] for uid in UIDS} == before
    assert all(grafana.state.dashboards[uid]["dashboard"]["version"] == 1 for uid in UIDS)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"folder {FOLDER_UID} unchanged", f"datasource {DS_UID} unchanged"]
    for line, uid in zip(out[2:], UIDS, strict=True):
        assert line.startswith(f"dashboard {uid} unchanged {grafana.url}/d/{uid}/")


def test_an_edited_dashboard_is_overwritten(
    grafana: ContractServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert provision(grafana) == 0
    uid = UIDS[0]
    grafana.state.dashboards[uid]["dashboard"]["title"] = "edited in the UI"
    count = len(grafana.state.requests)

    assert provision(grafana) == 0
    posts = [r for r in grafana.state.requests[count:] if r.method == "POST"]
    assert calls(posts) == [("POST", "/api/dashboards/db")]
    assert posts[0].body["overwrite"] is True
    stored = grafana.state.dashboards[uid]["dashboard"]
    assert stored["version"] == 2
    assert {k: v for k, v in stored.items() if k not in ("id", "version")} == GENERATED[0]
    assert f"dashboard {uid} updated" in capsys.readouterr().out
    assert grafana.state.violations == []


def test_without_datasource_option_no_datasource_request(grafana: ContractServer) -> None:
    assert provision(grafana, "--folder-uid", "ml-drift", "--folder-title", "ML drift") == 0
    assert not [r for r in grafana.state.requests if "datasource" in r.path]
    assert grafana.state.folders["ml-drift"]["title"] == "ML drift"
    assert {d["folderUid"] for d in grafana.state.dashboards.values()} == {"ml-drift"}
    stored = grafana.state.dashboards[UIDS[0]]["dashboard"]
    assert "current" not in stored["templating"]["list"][0]  # Grafana's default Prometheus


def test_wrong_token_fails_with_grafanas_message(
    grafana: ContractServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", "wrong")
    assert provision(grafana) == 1
    assert "Unauthorized" in capsys.readouterr().err
    assert grafana.state.dashboards == {}


def test_missing_token_is_a_usage_error(
    grafana: ContractServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN")
    assert provision(grafana) == 2
    assert "GRAFANA_TOKEN" in capsys.readouterr().err
    assert grafana.state.requests == []


# the contract server itself refuses what Grafana refuses -------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/dashboards/db", {"dashboard": {"uid": "x"}, "overwrite": True}, 400),  # no title
        ("/api/dashboards/db", {"dashboard": {"title": "t", "uid": "x"}, "force": True}, 400),
        ("/api/folders", {"uid": "has space", "title": "t"}, 400),
        ("/api/datasources", {"name": "p", "type": "prometheus", "access": "server"}, 400),
        ("/api/annotations", {"text": "not covered"}, 404),
    ],
)
def test_contract_server_rejects_requests_outside_the_api(
    grafana: ContractServer, path: str, body: dict[str, Any], status: int
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(grafana.url + path, json=body, headers=headers, timeout=5)
    assert response.status_code == status
    assert len(grafana.state.violations) == 1


def test_contract_server_refuses_a_second_create_without_overwrite(
    grafana: ContractServer,
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"dashboard": {"title": "t", "uid": "x"}, "overwrite": False}
    first = httpx.post(f"{grafana.url}/api/dashboards/db", json=body, headers=headers, timeout=5)
    second = httpx.post(f"{grafana.url}/api/dashboards/db", json=body, headers=headers, timeout=5)
    assert (first.status_code, second.status_code) == (200, 412)
    assert second.json()["status"] == "name-exists"
