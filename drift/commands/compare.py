"""``drift-sidecar compare``: the drift of a current data file against a reference file, for
CI jobs: the ``columns`` and ``drift`` sections from a config, the two files read, the report as
a table, JSON or evidently's HTML page, and a progress line per stage on stderr."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from drift.commands.console import (
    EXIT_CONFIG,
    EXIT_FAILED,
    InputUnavailable,
    one_line,
    print_config_error,
    write_output,
)
from drift.errors import ConfigError, DriftError, ReferenceUnavailable

if TYPE_CHECKING:
    import pandas as pd

    from drift.core.report import DriftReport


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
        write_output(page, args.output)
    except ConfigError as exc:
        print_config_error(exc)
        return EXIT_CONFIG
    except DriftError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    if args.output and args.output != "-":
        print(f"{args.output}: {args.format} report written", file=sys.stderr)
    return EXIT_FAILED if args.fail_on_drift and report.dataset_drift else 0


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


def _read_input(role: str, name: str, progress: Progress) -> pd.DataFrame:
    """The ``reference`` or ``current`` file as a frame; errors name the role and the file."""
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
