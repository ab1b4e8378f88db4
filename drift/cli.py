"""``drift-sidecar``: serve, check-config, demo. Heavy imports happen inside the commands.

The parser (every command's options, help and exit codes) and the dispatch; the longer commands
are in ``drift.commands`` (check-config, compare, dashboards)."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drift.commands.check_config import cmd_check_config
from drift.commands.compare import cmd_compare
from drift.commands.console import EXIT_CONFIG, print_config_error, write_output
from drift.commands.dashboards import cmd_dashboards_export, cmd_dashboards_provision
from drift.errors import ConfigError, DriftError

if TYPE_CHECKING:
    from drift.config import Settings


#: exit codes, per command (``--help`` epilogs and docs/cli.md)
EXIT_CODES: dict[str, tuple[tuple[int, str], ...]] = {
    "serve": (
        (0, "stopped by SIGTERM or SIGINT after serving"),
        (2, "usage or configuration error: nothing was started"),
        (3, "could not start: a port in use or not permitted, or the app failed to start"),
    ),
    "check-config": (
        (0, "valid: every model's reference loads and has the configured columns"),
        (2, "problems found, each listed on stderr (all of them in one run), or usage error"),
    ),
    "compare": (
        (0, "compared (drift or not, unless --fail-on-drift)"),
        (1, "the dataset drifted and --fail-on-drift is set"),
        (
            2,
            "usage, configuration or input error: a file not found or unreadable, a column "
            "missing from the current data, evidently missing for --format html",
        ),
    ),
    "demo": (
        (0, "stopped by SIGTERM or SIGINT"),
        (2, "usage error, or the demo extra is missing (pip install 'drift-sidecar[demo]')"),
    ),
    "config": ((0, "done"), (2, "usage error")),
    "config schema": ((0, "schema printed"), (2, "usage error, or --output not writable")),
    "rules": ((0, "files written"), (2, "usage error")),
    "rules export": ((0, "files written"), (2, "usage error")),
    "dashboards": ((0, "done"), (1, "Grafana unreachable or answered an error"), (2, "usage")),
    "dashboards export": (
        (0, "files written"),
        (2, "usage error, or the grafana extra is missing"),
    ),
    "dashboards provision": (
        (0, "provisioned (each object: created, updated or unchanged)"),
        (1, "Grafana unreachable or answered an error (one line on stderr: URL and cause)"),
        (2, "usage error: no token in --token-env, or the grafana extra is missing"),
    ),
}
EXIT_CODES_EPILOG = """exit codes:
  0  success
  1  the command ran and its check failed: compare --fail-on-drift found dataset drift,
     dashboards provision could not reach Grafana or Grafana refused
  2  usage or configuration error (every problem named on stderr), missing input or extra
  3  serve could not start listening
  `drift-sidecar COMMAND --help` lists the codes of each command."""


def _exit_epilog(command: str) -> str | None:
    codes = EXIT_CODES.get(command)
    if codes is None:
        return None
    lines = [
        textwrap.fill(what, 88, initial_indent=f"  {code}  ", subsequent_indent="     ")
        for code, what in codes
    ]
    return "exit codes:\n" + "\n".join(lines)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines as written and adds ``(default: X)`` to each option that has
    a default and does not name it in its help already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            not action.option_strings
            or action.default in (None, False, [], argparse.SUPPRESS)
            or "(default" in text
            or "default:" in text
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: ``HelpFormatter`` unless told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _describe(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
    """Each subcommand's ``--help`` starts with its one-line help and ends with its exit
    codes (``EXIT_CODES``)."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            sub.description = sub.description or helps.get(name)
            sub.epilog = sub.epilog or _exit_epilog(" ".join((*path, name)))
            _describe(sub, (*path, name))


def package_version() -> str:
    """The installed distribution's version (``drift-sidecar --version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("drift-sidecar")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def cmd_config_schema(args: argparse.Namespace) -> int:
    """The JSON Schema of the configuration file, from the settings model."""
    import json

    from drift.config import Settings

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Settings.model_json_schema(),
        "title": "drift-sidecar configuration",
    }
    try:
        write_output(json.dumps(schema, indent=2) + "\n", args.output)
    except DriftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from drift.config import load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print_config_error(exc)
        return EXIT_CONFIG
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    _setup_logging(settings.server.log_level)
    return _run_server(settings, host, port)


def _run_server(settings: Settings, host: str, port: int) -> int:
    from drift.service.app import app_from_settings
    from drift.service.server import serve

    if settings.server.metrics_port == port:
        print_config_error(
            ConfigError([("--port", f"{port} is server.metrics_port; choose another port")])
        )
        return EXIT_CONFIG
    app = app_from_settings(settings)
    return serve(app, settings.server, host, port)


def cmd_demo(args: argparse.Namespace) -> int:
    from importlib.util import find_spec

    from drift.demo import run_demo

    if find_spec("sklearn") is None:
        print(
            "error: the demo's data set comes with scikit-learn: "
            "pip install 'drift-sidecar[demo]' (make run installs it)",
            file=sys.stderr,
        )
        return EXIT_CONFIG

    _setup_logging("info")
    return run_demo(
        host=args.host,
        port=args.port,
        drift_after=args.drift_after,
        rate=args.rate,
        workdir=Path(args.workdir) if args.workdir else None,
    )


def cmd_rules_export(args: argparse.Namespace) -> int:
    from exporters.prometheus.rules import export_from_arguments

    try:
        paths = export_from_arguments(args.directory, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for path in paths:
        print(path)
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
    prov.add_argument(
        "--grafana-url", required=True, help="Grafana's base URL, e.g. https://grafana.example.com"
    )
    prov.add_argument("--token-env", default="GRAFANA_TOKEN", help="env var holding the API token")
    prov.add_argument("--folder-uid", help="uid of the folder (default: drift-sidecar)")
    prov.add_argument("--folder-title", help="its title (default: Drift monitoring)")
    prov.add_argument(
        "--prometheus-url", help="create this Prometheus datasource unless its uid exists"
    )
    prov.add_argument(
        "--datasource-name",
        default="drift-sidecar-prometheus",
        help="name of the datasource that --prometheus-url creates",
    )
    prov.add_argument(
        "--datasource-uid",
        default="drift-sidecar-prometheus",
        help="uid of the Prometheus datasource the dashboards use by default",
    )
    prov.set_defaults(func=cmd_dashboards_provision)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="drift-sidecar",
        description="Data and model drift monitoring beside a model server. "
        "`drift-sidecar COMMAND --help` describes each command.",
        epilog=EXIT_CODES_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--config", required=True, help="YAML configuration file")
    serve.add_argument("--host", help="listen address (default: server.host, 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 8000)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser(
        "check-config",
        help="validate a configuration and its references; every problem is listed at once",
    )
    check.add_argument("config", help="YAML configuration file")
    check.set_defaults(func=cmd_check_config)

    comp = sub.add_parser(
        "compare", help="drift of CURRENT against REFERENCE (CSV or Parquet files), for CI jobs"
    )
    comp.add_argument("reference", help="reference data (.csv or .parquet)")
    comp.add_argument("current", help="current data (.csv or .parquet)")
    comp.add_argument(
        "--config",
        help="sidecar config (roles and methods of one model) or a YAML file with the keys "
        "columns and drift (default: every column, types inferred, default methods)",
    )
    comp.add_argument("--model", help="which model of --config (default: the only one)")
    comp.add_argument(
        "--format",
        choices=["table", "json", "html"],
        default="table",
        help="table: one line per column; json: the body of GET /v1/models/{model}/drift; "
        "html: evidently's report page (pip install 'drift-sidecar[report]')",
    )
    comp.add_argument(
        "-o", "--output", help="write the report to this file (default: standard output)"
    )
    comp.add_argument(
        "--fail-on-drift", action="store_true", help="exit with 1 when the dataset drifted"
    )
    comp.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="a line per stage (reading, scoring, drawing) with its time on stderr "
        "(default: when stderr is a terminal)",
    )
    comp.set_defaults(func=cmd_compare)

    demo = sub.add_parser("demo", help="run the service on a bundled dataset with live traffic")
    demo.add_argument("--host", default="127.0.0.1", help="listen address")
    demo.add_argument("--port", type=int, default=8000, help="listen port")
    demo.add_argument(
        "--drift-after", type=float, default=60.0, help="seconds of clean traffic before drift"
    )
    demo.add_argument("--rate", type=float, default=20.0, help="samples per second")
    demo.add_argument(
        "--workdir", help="where to write the demo reference and config (default: a temp dir)"
    )
    demo.set_defaults(func=cmd_demo)

    config = sub.add_parser("config", help="the configuration's JSON Schema, for editors")
    config_actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    schema = config_actions.add_parser(
        "schema",
        help="print the JSON Schema of the configuration file (the settings model), e.g. for "
        "yaml-language-server: # yaml-language-server: $schema=drift-sidecar.schema.json",
    )
    schema.add_argument("-o", "--output", help="write it to this file (default: standard output)")
    schema.set_defaults(func=cmd_config_schema)

    rules = sub.add_parser("rules", help="Prometheus alerting rules for the sidecar's metrics")
    rules_sub = rules.add_subparsers(dest="action", required=True)
    export = rules_sub.add_parser(
        "export", help="write the rule file and a Prometheus Operator PrometheusRule"
    )
    export.add_argument("directory", help="where to write drift-sidecar.rules.yaml")
    from exporters.prometheus.rules import add_export_arguments  # argparse only, no I/O

    add_export_arguments(export)
    export.set_defaults(func=cmd_rules_export)
    _add_dashboards_parser(sub)
    _describe(parser, ())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
