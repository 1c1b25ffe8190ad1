"""``sim sensitivity MODEL.mdl``: Sobol or Morris indices over time, CSV and charts."""
from __future__ import annotations

import hashlib
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "sensitivity", help="global sensitivity (Sobol or Morris) of outputs over time",
        description="Vary constants over their ranges (from --factors FILE, or the [min, max] "
                    "the model declares), run all samples as one ensemble and write the Sobol "
                    "(S1, ST) or Morris (mu*, sigma) indices of each output at every saved "
                    "time: OUT/indices.csv, OUT/metadata.json and one chart per output.")
    p.add_argument("model", help="path to a Vensim .mdl file or an XMILE .xmile/.stmx file")
    p.add_argument("--factors", metavar="FILE",
                   help="YAML: schema: sim.sensitivity/1, factors: {NAME: {low, high, log}}, "
                        "optional outputs: [NAME, ...]")
    p.add_argument("--output", action="append", default=[], metavar="NAME",
                   help="variable to analyse (repeatable; default: the file's outputs, else the "
                        "model's stocks)")
    p.add_argument("--method", choices=["sobol", "morris"], default="sobol")
    p.add_argument("--samples", type=int, default=256,
                   help="Sobol base sample N, a power of 2: N x (factors + 2) runs (default 256)")
    p.add_argument("--seed", type=int, default=1, help="sampler and bootstrap seed (default 1)")
    p.add_argument("--sim-method", choices=["euler", "rk4", "scipy"], default="euler",
                   help="integration method of the runs (default euler)")
    p.add_argument("--out", default="sensitivity", help="output folder (default sensitivity/)")
    p.set_defaults(func=run)


def run(args) -> int:
    from sim.extras import require
    require("SALib", "sim sensitivity")
    require("matplotlib", "sim sensitivity's charts")
    from sim.engine.model import load_model, package_version
    from sim.errors import ParameterError
    from sim.sensitivity.factors import declared_factors, factors_from_file, load_factor_file
    from sim.sensitivity.output import write_outputs
    from sim.sensitivity.run import sensitivity_over_time

    if args.samples < 2 or args.samples & (args.samples - 1):
        raise ParameterError(f"--samples: expected a power of 2 such as 128, 256 or 1024, "
                             f"got {args.samples}")
    model = load_model(args.model)
    spec = load_factor_file(args.factors) if args.factors else None
    factors = factors_from_file(model, spec, args.factors) if spec else declared_factors(model)
    outputs = args.output or (spec.outputs if spec and spec.outputs else
                              [model.variables[s].name for s in model.stocks])
    for name in outputs:
        model.py_name(name)  # an unknown name: ParameterError with suggestions
    result = sensitivity_over_time(model, factors, outputs, method=args.method,
                                   samples=args.samples, seed=args.seed,
                                   sim_method=args.sim_method)
    meta = {"model": str(args.model),
            "model_hash": hashlib.sha256(Path(args.model).read_bytes()).hexdigest(),
            "factor_file": args.factors, "sim_method": args.sim_method,
            "version": package_version()}
    written = write_outputs(result, Path(args.out), meta)
    print(f"wrote {len(written)} files to {args.out}/ ({result.n_runs:,} runs"
          + (f", {result.failed} failed members replaced by the median" if result.failed else "")
          + ")")
    return 0

