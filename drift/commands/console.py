"""What the commands share on the console: their exit codes, a configuration error's lines and
any other error on one line on stderr, and ``--output`` (a file, or standard output)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from drift.errors import ConfigError, DriftError

EXIT_FAILED = 1
EXIT_CONFIG = 2


def print_config_error(exc: ConfigError) -> None:
    print("configuration error:", file=sys.stderr)
    for field, reason in exc.problems:
        print(f"  {field}: {reason}", file=sys.stderr)


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


class InputUnavailable(DriftError):
    """An input file of ``compare`` (``role``: reference or current) cannot be read, or the
    ``--output`` file cannot be written."""

    def __init__(self, role: str, path: str, cause: str) -> None:
        super().__init__(f"{role} {path}: {cause}")
        self.role = role
        self.path = path
        self.cause = cause


def write_output(text: str, output: str | None) -> None:
    if not output or output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputUnavailable("--output", output, exc.strerror or str(exc)) from None
