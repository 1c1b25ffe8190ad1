"""Scenario discovery on the project's model: which uncertainties lead to low 2035 exports.

Runs an ensemble of ``model/digital_trade.mdl`` through the EMA Workbench (one
vectorised ensemble via :class:`sim.ema.VectorizedEvaluator`), marks the runs whose
2035 digitally deliverable exports fall in the lowest quarter, and asks PRIM
(Friedman & Fisher 1999, as in EMA) for the box of uncertainties that holds them.

Run from the repository root (needs ``pip install -e '.[ema]'``)::

    python docs/examples/ema_prim.py --experiments 2000
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
UNCERTAIN = [  # constants with a declared [min, max] in the .mdl, the ones a reviewer doubts
    "World DDS Annual Growth Assumption",
    "Share Elasticity to Capability",
    "Trade Adjustment Time",
    "Openness Elasticity of Exports",
    "Foreign Barrier Shock Size",
    "Talent Elasticity of Innovation",
]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiments", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from ema_workbench import TimeSeriesOutcome, perform_experiments
    from ema_workbench.analysis import prim
    from ema_workbench.em_framework.samplers import LHSSampler, sample_parameters

    from sim.ema import MdlModel, VectorizedEvaluator, uncertainties_from_model

    logging.getLogger("EMA").setLevel(logging.WARNING)
    model = MdlModel("trade", REPO / "model" / "digital_trade.mdl")
    model.uncertainties = uncertainties_from_model(model.sim_model, UNCERTAIN)
    model.outcomes = [TimeSeriesOutcome("Digitally Deliverable Exports")]
    np.random.seed(args.seed)  # EMA's LHS sampler draws from numpy's global generator
    scenarios = sample_parameters(model.uncertainties, args.experiments, LHSSampler())
    with VectorizedEvaluator(model) as evaluator:
        experiments, outcomes = perform_experiments(model, scenarios, evaluator=evaluator)
    exports_2035 = outcomes["Digitally Deliverable Exports"][:, -1]
    low = exports_2035 < np.percentile(exports_2035, 25)
    x = experiments[[u.name for u in model.uncertainties]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = prim.Prim(x, low, threshold=0.8).find_box()
    stats = box.peeling_trajectory.iloc[box._cur_box]
    limits = box.box_lims[box._cur_box]
    print(f"{args.experiments} runs; low 2035 exports: below "
          f"{np.percentile(exports_2035, 25):,.0f} (100M USD)")
    print(f"PRIM box: coverage {stats['coverage']:.2f}, density {stats['density']:.2f}")
    restricted = {}
    for name in x.columns:
        lo, hi = float(limits[name].iloc[0]), float(limits[name].iloc[1])
        full_lo, full_hi = float(x[name].min()), float(x[name].max())
        if lo > full_lo + 1e-12 or hi < full_hi - 1e-12:
            restricted[name] = (lo, hi)
            print(f"  {name}: {lo:.4g} .. {hi:.4g} (sampled {full_lo:.4g} .. {full_hi:.4g})")
    return {"coverage": float(stats["coverage"]), "density": float(stats["density"]),
            "box": restricted}


if __name__ == "__main__":
    main()
    sys.exit(0)
