"""``sim check MODEL.mdl``: every model check, a table or JSON, exit 0 (all pass) or 1."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "check", help="run the model checks (structure, units, step, expectations)",
        description="Check a Vensim model: every stock has a flow, every input is used, every "
                    "constant has a unit, units are consistent, halving TIME STEP changes the "
                    "stocks little, and the behaviour expected in NAME.checks.yaml beside the "
                    "model (or --expectations FILE) holds. Exit 0 if all pass, 1 if any fails, "
                    "2 on bad input.")
    p.add_argument("model", help="path to a Vensim .mdl file or an XMILE .xmile/.stmx file")
    p.add_argument("--expectations", metavar="FILE",
                   help="expectations YAML (default: NAME.checks.yaml beside the model, if any)")
    p.add_argument("--step-tolerance", type=float, default=None, metavar="FRACTION",
                   help="largest relative change of a stock when TIME STEP is halved "
                        "(default 0.01)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=run)


def run(args) -> int:
    from sim.checks.outcome import table
    from sim.checks.run import run_checks
    from sim.checks.step import DEFAULT_TOLERANCE
    from sim.errors import ParameterError

    tol = DEFAULT_TOLERANCE if args.step_tolerance is None else args.step_tolerance
    if not (0 < tol < 1):
        raise ParameterError(f"--step-tolerance: expected a fraction between 0 and 1, got {tol:g}")
    outcomes = run_checks(args.model, args.expectations, step_tolerance=tol)
    if args.format == "json":
        doc = {"model": str(args.model), "passed": all(o.passed for o in outcomes),
               "checks": [o.as_dict() for o in outcomes]}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(table(outcomes) + "\n")
    return 0 if all(o.passed for o in outcomes) else 1
