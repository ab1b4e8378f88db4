"""``drift-sidecar dashboards export|provision``: the Grafana dashboards as files, or created
and updated through Grafana's HTTP API. The Grafana libraries (the ``grafana`` extra) are
imported when a command runs, with an install hint when they are missing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drift.commands.console import EXIT_CONFIG, EXIT_FAILED, network_cause, one_line


def _grafana_missing(exc: ImportError) -> int:
    print(
        f"error: {exc.name or 'a Grafana library'} is not installed: "
        "pip install 'drift-sidecar[grafana]'",
        file=sys.stderr,
    )
    return EXIT_CONFIG


def cmd_dashboards_export(args: argparse.Namespace) -> int:
    try:
        from exporters.grafana.files import DEFAULT_DASHBOARDS_PATH, export_dashboards
    except ImportError as exc:
        return _grafana_missing(exc)

    path_in_grafana = args.dashboards_path or DEFAULT_DASHBOARDS_PATH
    for path in export_dashboards(Path(args.directory), path_in_grafana):
        print(path)
    return 0


def cmd_dashboards_provision(args: argparse.Namespace) -> int:
    import os

    try:
        from grafana_client.client import GrafanaException

        from exporters.grafana.files import FOLDER_TITLE, FOLDER_UID
        from exporters.grafana.provision import DatasourceSpec, provision_dashboards
    except ImportError as exc:
        return _grafana_missing(exc)

    token = os.environ.get(args.token_env, "")
    if not token:
        print(f"error: set {args.token_env} to a Grafana service account token", file=sys.stderr)
        return EXIT_CONFIG
    datasource = None
    if args.prometheus_url:
        datasource = DatasourceSpec(args.datasource_name, args.datasource_uid, args.prometheus_url)
    try:
        outcomes = provision_dashboards(
            args.grafana_url,
            token,
            args.folder_uid or FOLDER_UID,
            args.folder_title or FOLDER_TITLE,
            datasource,
        )
    except GrafanaException as exc:
        print(f"error: Grafana at {args.grafana_url}: {one_line(exc.message)}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # niquests' ConnectionError, Timeout, ... are OSErrors
        print(f"error: Grafana at {args.grafana_url}: {network_cause(exc)}", file=sys.stderr)
        return EXIT_FAILED
    for outcome in outcomes:
        print(outcome.line())
    return 0
