"""``drift-sidecar``: serve, check-config, demo. Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drift.errors import ConfigError, DriftError

if TYPE_CHECKING:
    from drift.config import Settings
    from drift.core.report import DriftReport

EXIT_CONFIG = 2


def _print_config_error(exc: ConfigError) -> None:
    print("configuration error:", file=sys.stderr)
    for field, reason in exc.problems:
        print(f"  {field}: {reason}", file=sys.stderr)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_check_config(args: argparse.Namespace) -> int:
    from drift.config import load_settings
    from drift.service.service import load_profile

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    failed = False
    for name, model in settings.models.items():
        try:
            profile = load_profile(name, model)
        except ConfigError as exc:
            _print_config_error(exc)
            failed = True
            continue
        except DriftError as exc:
            print(f"models.{name}.reference: {exc}", file=sys.stderr)
            failed = True
            continue
        cols = ", ".join(f"{c.name} ({c.column_type}, {c.role})" for c in profile.columns.values())
        print(f"model {name}: reference {profile.source}: {profile.rows} rows; columns: {cols}")
    if failed:
        return EXIT_CONFIG
    print(f"{args.config}: OK ({len(settings.models)} model(s))")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from drift.config import load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    _setup_logging(settings.server.log_level)
    return _run_server(settings, host, port)


def _run_server(settings: Settings, host: str, port: int) -> int:
    from drift.service.app import app_from_settings
    from drift.service.server import serve

    if settings.server.metrics_port == port:
        _print_config_error(
            ConfigError([("--port", f"{port} is server.metrics_port; choose another port")])
        )
        return EXIT_CONFIG
    app = app_from_settings(settings)
    return serve(app, settings.server, host, port)


def _compare_sections(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``columns`` and ``drift`` sections for ``compare``: from a sidecar config (one model,
    or ``--model``) or from a file with just those two top-level keys."""
    from drift.config import load_settings, read_config

    if not args.config:
        return {}, {}
    data = read_config(args.config) or {}
    if isinstance(data, dict) and "models" in data:
        settings = load_settings(args.config)
        names = list(settings.models)
        name = args.model or (names[0] if len(names) == 1 else None)
        if name is None or name not in settings.models:
            raise ConfigError([("--model", f"choose one of: {', '.join(names)}")])
        model = settings.models[name]
        return model.columns.model_dump(), model.drift.model_dump()
    if not isinstance(data, dict) or set(data) - {"columns", "drift"}:
        raise ConfigError([(args.config, "expected a sidecar config or 'columns'/'drift' keys")])
    return dict(data.get("columns") or {}), dict(data.get("drift") or {})


def _table(report: DriftReport) -> str:
    rows = [*report.columns, *([report.prediction] if report.prediction else [])]
    width = max([len(c.column) for c in rows] + [6])
    lines = [
        f"{'column':<{width}}  {'type':<11}  {'method':<13}  {'score':>12}  {'threshold':>9}  drift"
    ]
    for col in rows:
        score = "n/a" if col.score is None else f"{col.score:.6g}"
        flag = "DRIFT" if col.drifted else ("n/a" if col.status != "ok" else "-")
        name = col.column + (" (prediction)" if col is report.prediction else "")
        lines.append(
            f"{name:<{width}}  {col.column_type.value:<11}  {col.method:<13}  {score:>12}  "
            f"{col.threshold:>9.4g}  {flag}"
        )
    verdict = "DRIFT" if report.dataset_drift else "no drift"
    lines.append(
        f"dataset: {report.drifted_columns}/{report.evaluated_columns} columns drifted "
        f"(share {report.drift_share:.3f}, threshold {report.share_threshold}): {verdict}"
    )
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from drift.core.comparison import compare
    from drift.sources.file import FileReference

    try:
        columns, drift = _compare_sections(args)
        reference = FileReference(Path(args.reference)).load()
        current = FileReference(Path(args.current)).load()
        report = compare(reference, current, columns=columns, drift=drift, source=args.reference)
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    except DriftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(_table(report))
    return 1 if args.fail_on_drift and report.dataset_drift else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from drift.demo import run_demo

    _setup_logging("info")
    return run_demo(
        host=args.host,
        port=args.port,
        drift_after=args.drift_after,
        rate=args.rate,
        workdir=Path(args.workdir) if args.workdir else None,
    )


def cmd_rules_export(args: argparse.Namespace) -> int:
    from exporters.prometheus.rules import RUNBOOK_URL, export_rules

    paths = export_rules(
        Path(args.directory),
        Path(args.prometheus_rule_dir) if args.prometheus_rule_dir else None,
        runbook_url=args.runbook_url or RUNBOOK_URL,
    )
    for path in paths:
        print(path)
    return 0


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
        print(f"error: Grafana at {args.grafana_url}: {exc.message}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(outcome.line())
    return 0


def _add_dashboards_parser(sub: Any) -> None:
    """``dashboards export|provision``; defaults are resolved in the commands, so that building
    the parser does not import the Grafana libraries."""
    dashboards = sub.add_parser("dashboards", help="Grafana dashboards for the sidecar's metrics")
    actions = dashboards.add_subparsers(dest="action", required=True)
    export = actions.add_parser(
        "export", help="write the dashboard JSON, a Grafana file provider and a ConfigMap"
    )
    export.add_argument("directory", help="where to write the files")
    export.add_argument(
        "--dashboards-path",
        help="where Grafana reads the JSON files, the provider's options.path "
        "(default: /var/lib/grafana/dashboards/drift-sidecar)",
    )
    export.set_defaults(func=cmd_dashboards_export)
    prov = actions.add_parser(
        "provision", help="create or update the dashboards through Grafana's HTTP API"
    )
    prov.add_argument("--grafana-url", required=True, help="e.g. https://grafana.example.com")
    prov.add_argument("--token-env", default="GRAFANA_TOKEN", help="env var holding the API token")
    prov.add_argument("--folder-uid", help="default: drift-sidecar")
    prov.add_argument("--folder-title", help="default: Drift monitoring")
    prov.add_argument(
        "--prometheus-url", help="create this Prometheus datasource unless its uid exists"
    )
    prov.add_argument("--datasource-name", default="drift-sidecar-prometheus")
    prov.add_argument("--datasource-uid", default="drift-sidecar-prometheus")
    prov.set_defaults(func=cmd_dashboards_provision)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drift-sidecar", description="Data and model drift monitoring beside a model server."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--config", required=True, help="YAML configuration file")
    serve.add_argument("--host", help="listen address (default: server.host, 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 8000)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration and its references")
    check.add_argument("config", help="YAML configuration file")
    check.set_defaults(func=cmd_check_config)

    comp = sub.add_parser(
        "compare", help="drift of CURRENT against REFERENCE (CSV or Parquet files), for CI jobs"
    )
    comp.add_argument("reference", help="reference data (.csv or .parquet)")
    comp.add_argument("current", help="current data (.csv or .parquet)")
    comp.add_argument(
        "--config", help="sidecar config (roles and methods of one model) or columns/drift YAML"
    )
    comp.add_argument("--model", help="which model of --config (default: the only one)")
    comp.add_argument("--format", choices=["table", "json"], default="table")
    comp.add_argument(
        "--fail-on-drift", action="store_true", help="exit with 1 when the dataset drifted"
    )
    comp.set_defaults(func=cmd_compare)

    demo = sub.add_parser("demo", help="run the service on a bundled dataset with live traffic")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument(
        "--drift-after", type=float, default=60.0, help="seconds of clean traffic before drift"
    )
    demo.add_argument("--rate", type=float, default=20.0, help="samples per second")
    demo.add_argument("--workdir", help="where to write the demo reference and config")
    demo.set_defaults(func=cmd_demo)

    rules = sub.add_parser("rules", help="Prometheus alerting rules for the sidecar's metrics")
    rules_sub = rules.add_subparsers(dest="action", required=True)
    export = rules_sub.add_parser(
        "export", help="write the rule file and a Prometheus Operator PrometheusRule"
    )
    export.add_argument("directory", help="where to write drift-sidecar.rules.yaml")
    export.add_argument(
        "--prometheus-rule-dir", help="where to write prometheusrule.yaml (default: DIRECTORY)"
    )
    export.add_argument(
        "--runbook-url", help="URL of docs/runbook.md for the annotations (default: that path)"
    )
    export.set_defaults(func=cmd_rules_export)
    _add_dashboards_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
