"""Command-line interface: ``sim <command> ...``.

Each command lives in :mod:`sim.commands` and exposes ``register(subparsers)``
(adds its parser and sets ``func``). ``main`` returns the process exit code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import SimError

COMMANDS = ("simulate", "run", "calibrate", "report", "holdout", "app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sim", description="System-dynamics simulator for China's digitally deliverable "
                                "services trade")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
