"""The ex-ante forecasts, bands and variant comparison as ``calibrated.yaml`` mappings."""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the pipeline (SciPy, the fit) is not needed to write the mapping
    from sim.calibration.pipeline import CalibrationOutcome


def forecast_sections(out: CalibrationOutcome) -> dict:
    """``out_of_sample``, ``forecast_skill``, ``bands`` and ``variants`` of the document."""
    names = list(out.space.names)
    origins = []
    for o in out.out_of_sample:
        origins.append({
            "origin": o.origin, "fit_years": [out.spec.window[0], o.origin],
            "estimates": dict(zip(names, o.theta.tolist(), strict=True)), "payoff": o.payoff,
            "inputs": {r.constant: {"growth": r.growth, "step_sd": r.step_sd,
                                    "drift_se": r.drift_se, "years": list(r.years)}
                       for r in o.rates},
            "error_model": {s: e.to_dict() for s, e in o.errors.items()},
            "series": {s: {"years": f.years, "observed": f.observed, "exante": f.exante,
                           "conditional": f.conditional, "low": f.low, "median": f.median,
                           "high": f.high}
                       for s, f in o.series.items()}})
    skill = {s: {"n": k.n, "exante_mape": k.exante_mape, "conditional_mape": k.conditional_mape,
                 "by_horizon": k.by_horizon, "inside": k.inside, "total": k.total,
                 "coverage": k.coverage, "winkler_pct": k.winkler,
                 "beats_every_benchmark": k.beats_all}
             for s, k in out.skill.items()}
    bands = {"level": out.spec.out_of_sample.band_level,
             "last_observed_year": out.spec.window[1],
             "inputs": {r.constant: {"growth": r.growth, "drift": r.drift,
                                     "drift_se": r.drift_se, "step_sd": r.step_sd,
                                     "years": list(r.years), "n_steps": r.n_steps}
                        for r in out.projection},
             "error_model": {
                 s: {"variable": t.variable, **out.error_models[s].to_dict()}
                 for t in out.spec.targets if t.role == "primary"
                 for s in [t.series]}}
    variants = []
    for v in out.variants:
        d = asdict(v)
        d["coverage"] = {s: list(c) for s, c in v.coverage.items()}
        variants.append(d)
    return {"out_of_sample": origins, "forecast_skill": skill, "bands": bands,
            "variants": variants}
