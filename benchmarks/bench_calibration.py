"""Calibration benchmark: the whole ``sim calibrate`` against one model run, same process.

Measures the full calibration of ``model/calibration.yaml`` (multi-start fit,
profile likelihood, residual bootstrap, ex-ante rolling-origin forecasts
with their bands, the structural variants, statistics), stage by stage, and as a ratio against the reference: the median
time of one ``Model.simulate()`` call of the same model (its integration
method, to its final time), timed in the same run. Machines are noisy; the
ratio is the figure to quote. Target: the full calibration under 60 s on the
2-core machine.

Usage::

    python benchmarks/bench_calibration.py
    python benchmarks/bench_calibration.py --write-readme README.md
    python benchmarks/bench_calibration.py --spec model/calibration.yaml --quick

``--write-readme`` replaces the block between ``<!-- bench:calibration:start -->``
and ``<!-- bench:calibration:end -->`` in the given file and changes nothing else.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date
from pathlib import Path

from _common import median_time, write_readme_block  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0




def measure(spec_path: Path, quick: bool, repeats: int) -> dict:
    import numpy as np

    import sim
    from sim.calibration.pipeline import calibrate
    from sim.calibration.spec import load_spec
    from sim.data.observed import load_observed

    spec = load_spec(spec_path)
    t0 = time.perf_counter()
    model = sim.load_model(spec_path.parent / spec.model)
    observed = load_observed(spec_path.parent / spec.data)
    load = time.perf_counter() - t0

    model.simulate(method=spec.method)  # warm-up
    ref = median_time(lambda: model.simulate(method=spec.method), repeats)

    marks = []
    t0 = time.perf_counter()
    out = calibrate(spec, model, observed, quick=quick,
                    progress=lambda s: marks.append((s, time.perf_counter())))
    total = time.perf_counter() - t0
    marks.append(("end", time.perf_counter()))
    stages = {marks[i][0]: marks[i + 1][1] - marks[i][1] for i in range(len(marks) - 1)}
    return {"spec": spec, "load": load, "reference": ref, "total": total, "stages": stages,
            "evaluations": out.model_evaluations, "quick": quick,
            "versions": {"numpy": np.__version__, "python": platform.python_version()}}


def table(m: dict, spec_path: Path) -> str:
    ref = m["reference"]
    spec = m["spec"]
    rows = ["| measure | seconds | ratio to one simulate() | target |",
            "| --- | ---: | ---: | --- |"]
    total = m["total"] + m["load"]
    met = "met" if total < TARGET_SECONDS else "NOT met"
    rows.append(f"| reference: one `simulate()` ({spec.method}, to the final time) | "
                f"{ref * 1e3:.2f} ms | 1 | |")
    for stage, sec in m["stages"].items():
        rows.append(f"| stage: {stage} | {sec:.2f} | {sec / ref:,.0f}x | |")
    rows.append(f"| **full calibration** (load model and data + all stages) | **{total:.1f}** | "
                f"**{total / ref:,.0f}x** | < {TARGET_SECONDS:.0f} s: {met} |")
    settings = (f"{spec.starts} starts, {spec.polish} polished, {spec.bootstrap} bootstrap "
                f"replicates, {spec.profile_points} profile points, "
                f"{len(spec.out_of_sample.origins)} ex-ante origins (horizon "
                f"{spec.out_of_sample.horizon}, {spec.out_of_sample.band_members}-member bands), "
                f"{len(spec.variants)} structural variants (each refitted, with its own ex-ante "
                "forecasts)"
                if not m["quick"] else "--quick settings")
    foot = (f"\n`{spec_path.relative_to(REPO) if spec_path.is_relative_to(REPO) else spec_path}`"
            f": {settings}; {m['evaluations']:,} model evaluations in the main fit and its "
            f"uncertainty (ensemble members; the forecasts' and variants' runs come on top). Measured {date.today().isoformat()} on "
            f"{platform.machine()} with {os.cpu_count()} cores, Python "
            f"{m['versions']['python']}, numpy {m['versions']['numpy']} "
            "(`python benchmarks/bench_calibration.py --write-readme README.md`).")
    return "\n".join(rows) + "\n" + foot




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=REPO / "model" / "calibration.yaml")
    ap.add_argument("--quick", action="store_true", help="the --quick settings")
    ap.add_argument("--repeats", type=int, default=50,
                    help="runs of the reference simulate() (median)")
    ap.add_argument("--write-readme", type=Path, metavar="FILE",
                    help="replace the bench:calibration block of FILE")
    args = ap.parse_args(argv)
    spec_path = args.spec.resolve()
    block = table(measure(spec_path, args.quick, args.repeats), spec_path)
    print(block)
    if args.write_readme:
        write_readme_block(args.write_readme, "calibration", block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
