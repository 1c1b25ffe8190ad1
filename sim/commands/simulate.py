"""``sim simulate MODEL.mdl``: one run, written as Vensim-style CSV (also an XMILE model)."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from sim.engine.model import load_model
from sim.engine.running.integrators import DEFAULT_MAX_STEPS, DEFAULT_TIME_LIMIT
from sim.engine.running.methods import DEFAULT_SCIPY_METHOD, METHODS, SCIPY_METHODS
from sim.errors import ParameterError
from sim.io import atomic_write_text
from sim.scenarios.namer import limit_error


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a Vensim .mdl (or XMILE) model once",
                       description="Simulate a Vensim model and write one row per saved time, "
                                   "one column per variable (Vensim names).")
    p.add_argument("model", help="path to a Vensim .mdl file or an XMILE .xmile/.stmx file")
    p.add_argument("--method", choices=list(METHODS), default="scipy",
                   help="integration method (default: scipy)")
    p.add_argument("--scipy-method", choices=list(SCIPY_METHODS), default=DEFAULT_SCIPY_METHOD,
                   help="solve_ivp method (RK45, LSODA, BDF, Radau, RK23, DOP853) or DOPRI5 "
                        "(SciPy's compiled Dormand-Prince, scipy.integrate.ode)")
    p.add_argument("--rtol", type=float, default=1e-6)
    p.add_argument("--atol", type=float, default=1e-6)
    add_bound_options(p)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a constant (repeatable); NAME as in the .mdl or its Python name")
    p.add_argument("--allow-out-of-range", action="store_true",
                   help="accept a --set value outside the [min, max] range the model declares "
                        "for the constant (refused otherwise, as in scenarios); a warning is "
                        "printed")
    p.add_argument("-o", "--output", help="CSV file to write (default: standard output)")
    p.set_defaults(func=run)


def whole_number_arg(what: str = ""):
    """Return an argparse type: a whole number >= 1 (``what`` names it in the message)."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"{what + ' ' if what else ''}must be >= 1, got {n}")
        return n
    return parse


max_steps_arg = whole_number_arg()
"""``--max-steps``: a whole number >= 1."""


def time_limit_arg(text: str) -> float:
    """``--time-limit``: a positive number of seconds, or 'none'."""
    if text.strip().lower() in ("none", "inf"):
        return math.inf
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return x


def add_bound_options(p: argparse.ArgumentParser) -> None:
    """``--max-steps`` and ``--time-limit``: the bounds of a SciPy run (``sim simulate``, ``sim run``)."""
    p.add_argument("--max-steps", type=max_steps_arg, default=DEFAULT_MAX_STEPS, metavar="N",
                   help=f"most solver steps of one SciPy run (default: {DEFAULT_MAX_STEPS:,}); "
                        "reached, the run fails with a message")
    p.add_argument("--time-limit", type=time_limit_arg, default=DEFAULT_TIME_LIMIT,
                   metavar="SECONDS",
                   help=f"most wall-clock time of one SciPy run (default: {DEFAULT_TIME_LIMIT:g} "
                        "s; 'none' for no limit); reached, the run fails with a message")


def parse_sets(items: list[str]) -> dict[str, float]:
    """Parse ``NAME=VALUE`` strings into a dict of floats."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"--set '{item}': expected NAME=VALUE, e.g. --set \"Room Temperature=65\"")
        name, _, value = item.rpartition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ParameterError(f"--set '{item}': value '{value}' is not a number") from None
    return out


def check_ranges(model, params: dict[str, float]) -> list[str]:
    """Messages for the ``--set`` values outside their constant's declared range.

    The rule is the scenarios' (:func:`sim.scenarios.namer.limit_error`): a
    constant whose units field gives ``[min, max]`` takes values within it.
    Names the model does not have are left to ``simulate()`` to report.
    """
    out = []
    for name, value in params.items():
        try:
            info = model.variables[model.py_name(name)]
        except ParameterError:
            continue
        if info.kind != "constant":
            continue
        msg = limit_error(f"--set '{name}={value:g}'", info.name, value, info.limits)
        if msg:
            out.append(msg)
    return out


def check_output(output: str | None) -> None:
    """Refuse an ``-o`` that cannot be a file: empty, a folder, or inside a file.

    Raises
    ------
    ParameterError
        Naming the option and what is accepted.
    """
    if output is None:
        return
    path = Path(output)
    if not output.strip():
        raise ParameterError("-o '': expected a CSV file name, e.g. -o run.csv (or leave -o out "
                             "to write to standard output)")
    if path.is_dir() or output.endswith(("/", "\\")):
        raise ParameterError(f"-o {output}: is a folder; expected a CSV file name, e.g. "
                             f"-o {path / 'run.csv'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ParameterError(f"-o {output}: {parent} is a file, not a folder")
            break


def run(args: argparse.Namespace) -> int:
    check_output(args.output)
    model = load_model(args.model)
    params = parse_sets(args.set)
    outside = check_ranges(model, params)
    if outside and not args.allow_out_of_range:
        raise ParameterError("\n".join(outside) + "; pass --allow-out-of-range to run with "
                             "such values anyway")
    for msg in outside:
        print(f"warning: {msg} (allowed by --allow-out-of-range)", file=sys.stderr)
    res = model.simulate(params=params, method=args.method, scipy_method=args.scipy_method,
                         rtol=args.rtol, atol=args.atol, max_steps=args.max_steps,
                         time_limit=args.time_limit)
    df = res.to_frame()
    df.index.name = "Time"
    text = df.to_csv(float_format="%.10g")
    if args.output:
        try:
            atomic_write_text(args.output, text)
        except OSError as exc:
            raise ParameterError(f"-o {args.output}: cannot write the file: "
                                 f"{exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    for f in res.failures:  # member, time, variable or 'solver', reason: the same for every method
        print(f"failed: {f}", file=sys.stderr)
    return 0 if res.success else 1
