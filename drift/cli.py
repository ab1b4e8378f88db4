"""``drift-sidecar``: serve, check-config, demo. Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from drift.errors import ConfigError, DriftError

if TYPE_CHECKING:
    import pandas as pd

    from drift.config import ModelConfig, Settings
    from drift.core.report import DriftReport

EXIT_FAILED = 1
EXIT_CONFIG = 2


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
        _write_output(json.dumps(schema, indent=2) + "\n", args.output)
    except DriftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def _print_config_error(exc: ConfigError) -> None:
    print("configuration error:", file=sys.stderr)
    for field, reason in exc.problems:
        print(f"  {field}: {reason}", file=sys.stderr)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cmd_check_config(args: argparse.Namespace) -> int:
    """Every problem of the file in one run: the schema, the cross-field rules, and each model's
    reference and columns (for every model whose reference and columns sections are valid, the
    broken sections of the file set aside), then ``OK`` or exit 2."""
    from drift.config import read_config

    try:
        data = read_config(args.config)
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    problems, models = _validate_collecting(data, Path(args.config).parent)
    summaries = []
    for name, model in models.items():
        found, summary = _check_model(name, model)
        problems += found
        summaries += [summary] if summary else []
    for line in summaries:
        print(line)
    if problems:
        _print_config_error(ConfigError(list(dict.fromkeys(problems))))
        return EXIT_CONFIG
    print(f"{args.config}: OK ({len(models)} model(s))")
    return 0


def _validate_collecting(
    data: Any, base_dir: Path
) -> tuple[list[tuple[str, str]], dict[str, ModelConfig]]:
    """The schema problems of ``data``, and the models whose reference and columns can be
    checked. Validation skips a model's cross-field rules where a field of it fails, and the
    file's where any field fails; so the broken sections are left out (their defaults apply)
    and the rest validated again, to find the problems those rules and the references hide."""
    from pydantic import ValidationError

    from drift.config import Settings, settings_from_mapping

    try:
        return [], dict(settings_from_mapping(data, base_dir).models)
    except ConfigError as exc:
        problems = list(exc.problems)
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return problems, {}
    try:
        Settings(**data)
    except ValidationError as exc:
        locs = [tuple(err["loc"]) for err in exc.errors()]
    else:  # cannot happen: the same validation failed above
        return problems, {}
    broken_top = {loc[0] for loc in locs if loc and loc[0] != "models"}
    broken: dict[Any, set[Any]] = {}
    for loc in locs:
        if len(loc) >= 2 and loc[0] == "models":
            broken.setdefault(loc[1], set()).add(loc[2] if len(loc) >= 3 else None)
    models: dict[str, Any] = {}
    for name, raw in data["models"].items():
        sections = broken.get(name, set())
        if sections & {None, "reference", "columns"} or not isinstance(raw, dict):
            continue  # nothing to check the reference against
        models[name] = {key: value for key, value in raw.items() if key not in sections}
    if not models:
        return problems, {}
    rest = {key: value for key, value in data.items() if key not in broken_top | {"models"}}
    try:
        return problems, dict(settings_from_mapping({**rest, "models": models}, base_dir).models)
    except ConfigError as exc:  # a rule across the models (e.g. two take the same events)
        problems += exc.problems
    checked = {}
    for name, raw in models.items():
        try:
            checked[name] = settings_from_mapping({"models": {name: raw}}, base_dir).models[name]
        except ConfigError as exc:
            problems += exc.problems
    return problems, checked


def _check_model(name: str, model: ModelConfig) -> tuple[list[tuple[str, str]], str | None]:
    """The problems of one model's reference and columns, or its summary line."""
    from drift.service.references import profile_frame, reference_source

    where = f"models.{name}.reference"
    try:
        source = reference_source(model)
        version = source.current()
        frame = source.load(version)
    except ConfigError as exc:
        return list(exc.problems), None
    except DriftError as exc:
        return [(where, one_line(str(exc)))], None
    absent = [(role, c) for role, c in _configured_columns(model) if c not in frame.columns]
    problems = [
        (f"models.{name}.columns.{role}", f"{c!r} is not in the reference {version.description}")
        for role, c in absent
    ]
    try:  # without the absent columns: what else is wrong (methods, types, ...)
        trimmed = _without(model, {c for _, c in absent})
        profile = profile_frame(name, trimmed, frame, version.description)
    except ConfigError as exc:
        return [*problems, *exc.problems], None
    except DriftError as exc:
        return [*problems, (where, one_line(str(exc)))], None
    if problems:
        return problems, None
    cols = ", ".join(f"{c.name} ({c.column_type}, {c.role})" for c in profile.columns.values())
    summary = f"model {name}: reference {version.description}: {profile.rows} rows; columns: {cols}"
    return [], summary


def _without(model: ModelConfig, absent: set[str]) -> ModelConfig:
    """``model`` with the columns in ``absent`` taken out of its roles."""
    if not absent:
        return model
    roles = model.columns

    def kept(names: list[str] | None) -> list[str] | None:
        return None if names is None else [name for name in names if name not in absent]

    prediction = None if roles.prediction in absent else roles.prediction
    update = {
        "numerical": kept(roles.numerical),
        "categorical": kept(roles.categorical),
        "prediction": prediction,
        "target": None if roles.target in absent or prediction is None else roles.target,
        "scores": {label: c for label, c in roles.scores.items() if c not in absent},
    }
    return model.model_copy(update={"columns": roles.model_copy(update=update)})


def _configured_columns(model: ModelConfig) -> list[tuple[str, str]]:
    """(role, column) of every column the model's roles require in the reference."""
    roles = model.columns
    found = [("numerical", c) for c in roles.numerical or []]
    found += [("categorical", c) for c in roles.categorical or []]
    found += [(role, c) for role in ("prediction", "target") if (c := getattr(roles, role))]
    found += [(f"scores.{label}", c) for label, c in roles.scores.items()]
    return found


def network_cause(exc: BaseException) -> str:
    """What went wrong underneath an HTTP library's error, on one line: the innermost error of
    the chain (``Connection refused``, ``Name or service not known``, ``timed out``)."""
    inner = exc
    seen = {id(inner)}
    while (nxt := inner.__cause__ or inner.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        inner = nxt
    if isinstance(inner, OSError) and inner.strerror:
        return f"cannot connect: {inner.strerror}"
    return one_line(str(inner) or type(inner).__name__)


def one_line(text: str) -> str:
    """An error message on one line: SDKs put tracebacks and repr()s of objects in theirs."""
    text = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>: ", "", text)
    return " ".join(text.split())


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
    names = [c.column for c in report.columns]
    names += [f"{report.prediction.column} (prediction)"] if report.prediction else []
    width = max([len(name) for name in names] + [6])
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


class InputUnavailable(DriftError):
    """An input file of ``compare`` (``role``: reference or current) cannot be read."""

    def __init__(self, role: str, path: str, cause: str) -> None:
        super().__init__(f"{role} {path}: {cause}")
        self.role = role
        self.path = path
        self.cause = cause


def _read_input(role: str, name: str, progress: Progress) -> pd.DataFrame:
    """The ``reference`` or ``current`` file as a frame; errors name the role and the file."""
    from drift.errors import ReferenceUnavailable
    from drift.sources.file import FileReference, detect_format

    path = Path(name)
    if not path.is_file():
        raise InputUnavailable(role, name, "file not found")
    try:
        fmt = detect_format(path.name, "auto", name)
    except ReferenceUnavailable:
        raise InputUnavailable(
            role, name, "cannot tell the format from the extension: name it .csv or .parquet"
        ) from None
    with progress.stage(f"reading {role} {name}") as note:
        try:
            frame = FileReference(path, fmt).load()
        except ReferenceUnavailable as exc:
            raise InputUnavailable(role, name, exc.cause) from None
        note.append(f"{len(frame)} rows")
    return frame


class Progress:
    """One line per stage of a long command on stderr, with its timing: ``stage ... 1.2 s``."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr

    @classmethod
    def from_flag(cls, flag: bool | None) -> Progress:
        """``--progress`` / ``--no-progress``; neither: on when stderr is a terminal."""
        return cls(sys.stderr.isatty() if flag is None else flag)

    @contextlib.contextmanager
    def stage(self, what: str) -> Iterator[list[str]]:
        """Announce ``what``; the caller may append notes, shown with the time it took."""
        notes: list[str] = []
        if self.enabled:
            self.stream.write(f"drift-sidecar: {what} ...")
            self.stream.flush()
        started = time.perf_counter()
        try:
            yield notes
        except BaseException:
            if self.enabled:
                self.stream.write(" failed\n")
            raise
        if self.enabled:
            elapsed = f"{time.perf_counter() - started:.2f} s"
            self.stream.write(f" {', '.join(notes)} ({elapsed})\n" if notes else f" {elapsed}\n")
            self.stream.flush()


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    import drift

    progress = Progress.from_flag(args.progress)
    try:
        columns, sections = _compare_sections(args)
        reference = _read_input("reference", args.reference, progress)
        current = _read_input("current", args.current, progress)
        with progress.stage("profiling the reference and scoring the current data") as note:
            report = drift.compare(
                reference, current, columns=columns, drift=sections, source=args.reference
            )
            scored = len(report.columns) + (report.prediction is not None)
            note.append(f"{scored} columns scored in {report.evaluation_seconds:.2f} s")
        if args.format == "html":
            with progress.stage("drawing the HTML report (evidently)"):
                page = report.to_html()
        elif args.format == "json":
            page = json.dumps(report.to_dict(), indent=2) + "\n"
        else:
            page = _table(report) + "\n"
        _write_output(page, args.output)
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    except DriftError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    if args.output and args.output != "-":
        print(f"{args.output}: {args.format} report written", file=sys.stderr)
    return EXIT_FAILED if args.fail_on_drift and report.dataset_drift else 0


def _write_output(text: str, output: str | None) -> None:
    if not output or output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputUnavailable("--output", output, exc.strerror or str(exc)) from None


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
