"""``sim simulate MODEL.mdl``: one run, written as Vensim-style CSV."""
from __future__ import annotations

import argparse
import sys

from ..errors import ParameterError
from ..io import atomic_write_text
from ..model import load_model


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a Vensim .mdl model once",
                       description="Simulate a Vensim model and write one row per saved time, "
                                   "one column per variable (Vensim names).")
    p.add_argument("model", help="path to a Vensim .mdl file")
    p.add_argument("--method", choices=["euler", "rk4", "scipy"], default="scipy")
    p.add_argument("--scipy-method", default="RK45",
                   help="solve_ivp method (RK45, LSODA, BDF, Radau, RK23, DOP853) or DOPRI5 "
                        "(SciPy's compiled Dormand-Prince, scipy.integrate.ode)")
    p.add_argument("--rtol", type=float, default=1e-6)
    p.add_argument("--atol", type=float, default=1e-6)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a constant (repeatable); NAME as in the .mdl or its Python name")
    p.add_argument("-o", "--output", help="CSV file to write (default: standard output)")
    p.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    params = parse_sets(args.set)
    res = model.simulate(params=params, method=args.method, scipy_method=args.scipy_method,
                         rtol=args.rtol, atol=args.atol)
    df = res.to_frame()
    df.index.name = "Time"
    text = df.to_csv(float_format="%.10g")
    if args.output:
        atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)
    for f in res.failures:
        print(f"warning: non-finite value in '{f.variable}' at time {f.time}", file=sys.stderr)
    return 0 if res.success else 1
