"""``drift-sidecar``: serve, check-config, demo. Heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from drift.errors import ConfigError, DriftError

if TYPE_CHECKING:
    from drift.config import Settings

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
    import uvicorn

    from drift.service.app import app_from_settings

    app = app_from_settings(settings)
    uvicorn.run(app, host=host, port=port, log_level=settings.server.log_level, access_log=False)
    return 0


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

    demo = sub.add_parser("demo", help="run the service on a bundled dataset with live traffic")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument(
        "--drift-after", type=float, default=60.0, help="seconds of clean traffic before drift"
    )
    demo.add_argument("--rate", type=float, default=20.0, help="samples per second")
    demo.add_argument("--workdir", help="where to write the demo reference and config")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
