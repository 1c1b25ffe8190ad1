"""``sim calibrate``: fit the free parameters and write ``calibrated.yaml``.

The file is reproducible (:mod:`sim.calibration.results`): the date and the
evaluation counts, which would differ between runs or machines, are printed
on standard error instead of being written into it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sim.calibration.pipeline import STAGES, calibrate
from sim.calibration.results import run_counts, to_document, write_calibrated
from sim.calibration.spec import load_spec, spec_hash
from sim.data.observed import display_path, load_observed
from sim.engine.model import load_model
from sim.paths import default_file
from sim.project import CALIBRATION_SPEC_FILE

DEFAULT_SPEC = CALIBRATION_SPEC_FILE
"""The default specification, under the project folder (:mod:`sim.paths`)."""


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate the model to 2015-2022 data (writes calibrated.yaml)",
        description="Multi-start bounded least squares to the targets of the specification, "
                    "profile-likelihood and bootstrap intervals, out-of-sample checks and fit "
                    "statistics; writes the result atomically.")
    p.add_argument("--spec", default=None,
                   help="calibration specification (default: model/calibration.yaml of the "
                        "project folder)")
    p.add_argument("--out", default=None,
                   help="result file (default: calibrated.yaml beside the specification)")
    p.add_argument("--quick", action="store_true",
                   help="fewer starts, bootstrap replicates and profile points (a smoke run)")
    p.set_defaults(func=run)


def provenance(spec_path: Path, out: Path, model, model_path: Path, data_path: Path,
               observed, quick: bool) -> dict:
    """Paths relative to the result file's folder, hashes, and the command to rerun."""
    base = out.resolve().parent

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p.resolve(), base)).as_posix()

    cmd = f"sim calibrate --spec {display_path(spec_path)} --out {display_path(out)}"
    return {"command": cmd + (" --quick" if quick else ""),
            "spec": {"path": rel(spec_path), "hash": spec_hash(spec_path)},
            "model": {"path": rel(model_path), "hash": model.model_hash},
            "data": {"path": rel(data_path), "hash": observed.data_hash}}


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sim.extras import require
    require("SALib", "sim calibrate's sensitivity stage")

    spec_path = Path(default_file(args.spec, *DEFAULT_SPEC))
    spec = load_spec(spec_path)
    out = Path(args.out) if args.out else spec_path.parent / "calibrated.yaml"
    model_path = spec_path.parent / spec.model
    data_path = spec_path.parent / spec.data
    t0 = time.perf_counter()
    model = load_model(model_path)
    observed = load_observed(data_path)
    bar = tqdm(total=len(STAGES), file=sys.stderr, desc="calibrate", unit="stage",
               bar_format="{desc}: {n_fmt}/{total_fmt} stages |{bar}| {elapsed} {postfix}")

    def progress(stage: str) -> None:
        if stage != STAGES[0]:
            bar.update(1)
        bar.set_postfix_str(stage)

    try:
        outcome = calibrate(spec, model, observed, quick=args.quick, progress=progress,
                            where=display_path(spec_path))
        bar.update(1)
        bar.set_postfix_str("done")
    finally:
        bar.close()
    doc = to_document(outcome, provenance(spec_path, out, model, model_path, data_path,
                                          observed, args.quick))
    write_calibrated(out, doc)
    seconds = time.perf_counter() - t0
    met = doc["targets"]["all_met"]
    n_ok = sum(c["met"] for c in doc["targets"]["criteria"])
    counts = run_counts(outcome)
    print(f"wrote {display_path(out)} in {seconds:.1f} s: payoff {doc['fit']['payoff']:.6g}; "
          f"targets met {n_ok}/{len(doc['targets']['criteria'])}"
          f"{'' if met else ' (see the report)'}", file=sys.stderr)
    print(f"  {datetime.now(UTC).isoformat(timespec='seconds')}; "
          f"{counts['model_evaluations']:,} model evaluations "
          f"({counts['optimizer_evaluations']:,} by the polishing optimiser; not stored in "
          "the file: they vary with the machine's floating-point last bits)", file=sys.stderr)
    for name, p in doc["parameters"].items():
        lo, hi = p["interval"]
        print(f"  {name} = {p['estimate']:.6g} [{lo:.4g}, {hi:.4g}] {p['flag']}", file=sys.stderr)
    return 0
