"""Command-line interface: ``sim <command> ...``.

Each command lives in :mod:`sim.commands` and exposes ``register(subparsers)``
(adds its parser and sets ``func``). ``main`` returns the process exit code:
0 success, 1 a run or scenario failed, 2 bad input, 130 interrupted (SIGINT,
Ctrl-C: one line on standard error, no traceback; commands write their files
atomically, so none is left half-written).
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from sim.errors import SimError

COMMANDS = ("simulate", "run", "calibrate", "report", "holdout", "app", "check", "sensitivity", "optimize", "loops")
#: exit code of a command stopped by SIGINT (128 + SIGINT's number, as shells report it)
EXIT_INTERRUPTED = 130


def _version() -> str:
    """Return the installed package's version (``dds-sim``), or 'unknown' from a bare checkout."""
    from importlib import metadata
    try:
        return metadata.version("dds-sim")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sim", description="System-dynamics simulator for China's digitally deliverable "
                                "services trade")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"sim.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sim.commands.{name}":
                raise
            continue  # command not built yet (the listed modules are all expected)
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        # a process started with SIGINT ignored (a non-interactive shell's `sim ... &`) would
        # otherwise run on through Ctrl-C and `kill -INT`
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # files are written atomically: nothing half-written is left
        print("interrupted", file=sys.stderr)
        if argv is None:  # the `sim` program itself: skip the interpreter's ~0.5-1 s teardown
            _exit_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _exit_now(code: int) -> None:
    """End the process at once with ``code``, standard output and error flushed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
