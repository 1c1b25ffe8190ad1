"""Decision-support benchmarks: `sim optimize`'s shipped example and loop scores.

Targets (issue #17): one optimisation of the shipped example (500-member robustness
ensemble) in under 2 minutes on this machine; loop scores of the project's model over
2015-2035 in under 1 s. Each is reported beside a reference measured in the same run:
one Euler run of the 500-member ensemble (the optimiser's unit of work) and one
single Euler run of the model.

Usage::

    python benchmarks/bench_decisions.py
    python benchmarks/bench_decisions.py --write-readme README.md
"""
from __future__ import annotations

import argparse
import contextlib
import io
import platform
import sys
import time
from pathlib import Path

import numpy as np
from _common import best_time, write_readme_block

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "model" / "digital_trade.mdl"
SPEC = REPO / "scenarios" / "optimize" / "offset_fragmentation.yaml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-readme", type=Path, metavar="README.md")
    args = ap.parse_args(argv)

    import sim
    from sim.loops.scores import analyse_loops
    from sim.optimize.evaluate import Problem
    from sim.optimize.search import run_search
    from sim.optimize.spec import load_spec
    from sim.scenarios.calibrated import load_calibrated

    model = sim.load_model(MODEL)
    spec = load_spec(SPEC)
    calibrated = load_calibrated(REPO / "model" / "calibrated.yaml")

    # references: one single Euler run; one Euler run of the 500-member ensemble
    model.simulate(method="euler")
    single = best_time(lambda: model.simulate(method="euler"), 20)
    problem = Problem(spec, SPEC, model, calibrated)
    neutral = problem.neutral()
    problem.evaluate(neutral)
    ensemble = best_time(lambda: problem.evaluate(neutral), 3)

    analyse_loops(model)  # warm-up
    loops = best_time(lambda: analyse_loops(model), 5)

    problem = Problem(spec, SPEC, model, calibrated)
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        result = run_search(problem)
    search = time.perf_counter() - t0
    gens = len(result.history)
    best = result.best
    mix = ", ".join(f"{lv[0]} {best.x[j]:.3f}" for j, lv in enumerate(problem.levers)) \
        if best else "none"

    rows = [
        "| measure | seconds | ratio to its reference | target |",
        "| --- | ---: | ---: | --- |",
        f"| reference: one Euler run of the model, 2015-2035 | {single:.4f} | 1 | |",
        f"| loop scores, all {len(analyse_loops(model).loops)} loops, 2015-2035 (every step) | "
        f"{loops:.3f} | {loops / single:,.0f}x one run | < 1 s: "
        f"{'met' if loops < 1 else 'NOT met'} |",
        f"| reference: one Euler run of {problem.m} members (one lever mix) | {ensemble:.3f} | 1 | |",
        f"| `sim optimize` shipped example: {gens} generations, {problem.runs:,} member runs | "
        f"{search:.1f} | {search / ensemble:,.0f}x one mix | < 120 s: "
        f"{'met' if search < 120 else 'NOT met'} |",
    ]
    block = "\n".join(rows) + (
        f"\n\nAnswer found: {mix} (cost {best.cost:.4g}). " if best else "\n\nNo mix found. ") + (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} with "
        f"{_cpus()} CPUs, Python {platform.python_version()}, numpy {np.__version__} "
        "(`python benchmarks/bench_decisions.py --write-readme README.md`).")
    print(block)
    if args.write_readme:
        write_readme_block(args.write_readme, "decisions", block)
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
