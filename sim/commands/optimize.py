"""``sim optimize SPEC.yaml``: the cheapest (or best) robust lever mix, as a scenario file."""
from __future__ import annotations

import hashlib
from pathlib import Path

DEFAULT_MODEL = "model/digital_trade.mdl"
DEFAULT_CALIBRATED = "model/calibrated.yaml"


def register(sub) -> None:
    p = sub.add_parser(
        "optimize", help="search the levers for the cheapest robust mix (differential evolution)",
        description="Search the levers of an optimisation spec (schema sim.optimize/1) with "
                    "SciPy's differential evolution, each generation one vectorised ensemble "
                    "over the scenario's uncertainty; write the best mix as a scenario file "
                    "(best.yaml), the convergence history, every candidate, the Pareto front "
                    "(if the spec asks for it) and a summary.")
    p.add_argument("spec", help="optimisation spec (YAML)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model (default {DEFAULT_MODEL})")
    cal = p.add_mutually_exclusive_group()
    cal.add_argument("--calibrated", default=None,
                     help=f"calibrated estimates (default {DEFAULT_CALIBRATED})")
    cal.add_argument("--no-calibration", action="store_true",
                     help="start from the model's own values, not the calibrated estimates")
    p.add_argument("--members", type=int, default=None,
                   help="ensemble size (default: the spec's, else the scenario's)")
    p.add_argument("--out", default="optimize", help="output folder (default optimize/)")
    p.set_defaults(func=run)


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(args) -> int:
    from sim.engine.model import load_model, package_version
    from sim.errors import ParameterError
    from sim.optimize.evaluate import Problem
    from sim.optimize.output import write_results
    from sim.optimize.search import pareto_front, run_search
    from sim.optimize.spec import load_spec
    from sim.scenarios.calibrated import load_calibrated_option

    spec = load_spec(args.spec)
    if spec.pareto:
        from sim.extras import require
        require("matplotlib", "sim optimize's Pareto chart")
    if args.members is not None:
        if args.members < 2:
            raise ParameterError(f"--members: expected a whole number >= 2, got {args.members}")
        spec = spec.model_copy(update={"members": args.members})
    model = load_model(args.model)
    calibrated = None if args.no_calibration else load_calibrated_option(args.calibrated,
                                                                         DEFAULT_CALIBRATED)
    problem = Problem(spec, Path(args.spec), model, calibrated)
    neutral = problem.evaluate(problem.neutral())
    result = run_search(problem)
    front = pareto_front(problem, spec.pareto.points) if spec.pareto else None
    meta = {"spec": str(args.spec), "spec_hash": _sha(args.spec), "model": str(args.model),
            "model_hash": _sha(args.model), "seed": spec.search.seed,
            "members": problem.m, "member_runs": problem.runs, "method": spec.search.method,
            "version": package_version()}
    written = write_results(Path(args.out), problem, result, meta, front, neutral)
    if result.best is not None:
        b = result.best
        mix = ", ".join(f"{lv[0]} {b.x[j]:.3f}" for j, lv in enumerate(problem.levers))
        print(f"best mix: {mix} (cost {b.cost:.4g}, objective {b.objective:.4g}); "
              f"wrote {len(written)} files to {args.out}/")
        return 0
    print(f"no mix within the bounds meets the requirement; see {args.out}/summary.md")
    return 1
