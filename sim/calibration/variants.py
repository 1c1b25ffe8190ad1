"""Structural hypotheses compared on the same evidence.

Each variant of the specification (``variants:``) is the model with some
constants set and possibly more free parameters. It is calibrated with the
same targets, window, error model and projection rules as the adopted model,
then judged three ways:

- **ex-ante skill**: the rolling-origin forecasts of :mod:`sim.calibration.exante`
  (mean MAPE over every origin and horizon, band coverage);
- **fit penalised for parameters**: AICc and BIC of the weighted least-squares
  fit, ``n ln(S/n) + 2k + 2k(k+1)/(n-k-1)`` and ``n ln(S/n) + k ln n``
  (with eight points per series, parameters are expensive);
- **behaviour**: the baseline path of China's world share after the window,
  its mean growth beside the 2010-2022 pace.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.calibration import exante
from sim.calibration.fit import fit as run_fit
from sim.calibration.fit import start_points
from sim.calibration.objective import Objective, ParameterSpace, build_observations
from sim.calibration.projection import input_rates, overrides
from sim.calibration.spec import CalibrationSpec, Variant
from sim.data.observed import ObservedData

SHARE_VARIABLE = "China World Share"
"""Model variable of China's share of world DDS exports (the behaviour test)."""

SHARE_SERIES = "china_world_share_dds_exports"
"""Its observed series (UNCTAD)."""


@dataclass(frozen=True)
class VariantResult:
    """One hypothesis, calibrated and judged.

    Attributes
    ----------
    name, hypothesis : str
    estimates : dict
        Free parameter -> estimate.
    payoff : float
    n, k : int
        Observations and free parameters.
    aicc, bic : float
    exante_mape : dict
        Target series -> method -> mean ex-ante MAPE [%].
    coverage : dict
        Target series -> (inside, total) of the 90% band.
    share : dict
        Baseline share of world DDS exports: ``{year: value}`` at the window's
        end and the report years.
    share_growth : float
        Mean growth of that share from the window's end to the horizon [1/year].
    """

    name: str
    hypothesis: str
    estimates: dict
    payoff: float
    n: int
    k: int
    aicc: float
    bic: float
    exante_mape: dict
    coverage: dict
    share: dict
    share_growth: float


def information_criteria(payoff: float, n: int, k: int) -> tuple[float, float]:
    """AICc and BIC of a least-squares fit with sum of squares ``payoff``."""
    base = n * math.log(payoff / n)
    aicc = base + 2 * k + (2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf)
    return aicc, base + k * math.log(n)


def variant_spec(spec: CalibrationSpec, variant: Variant) -> CalibrationSpec:
    """Return the specification with the variant's extra free parameters."""
    if not variant.free:
        return spec
    return spec.model_copy(update={"parameters": {**spec.parameters, **variant.free}})


def evaluate(model, spec: CalibrationSpec, observed: ObservedData, variant: Variant, *,
             starts: int, n_polish: int, seed: int, horizon: float,
             years: tuple[int, ...]) -> VariantResult:
    """Calibrate one variant and judge it.

    Parameters
    ----------
    starts, n_polish : int
        Multi-start settings of each fit.
    seed : int
        Seeds the start points and the bands (the same for every variant).
    horizon : float
        Final year of the baseline run [year].
    years : tuple of int
        Years the share is reported at.
    """
    vs = variant_spec(spec, variant)
    space = ParameterSpace.from_spec(vs)
    end = vs.window[1]
    fixed = dict(variant.set)
    fixed.update(overrides(vs.projection, input_rates(observed, vs.projection, end), end))
    obs = build_observations(vs, observed)
    obj = Objective(model, vs, obs, space, fixed=fixed)
    rng = np.random.default_rng(seed)
    st = start_points(obj, starts, rng)
    res = run_fit(obj, st, n_polish)
    aicc, bic = information_criteria(res.payoff, obs.m, space.k)
    run = obj.simulate(res.theta[None, :], final_time=horizon, outputs=[SHARE_VARIABLE])
    share_years = (end,) + tuple(y for y in years if y > end)
    vals = obj.values_at(run, SHARE_VARIABLE, np.array(share_years))[0]
    fc = exante.rolling_exante(model, vs, observed, st, n_polish,
                               np.random.default_rng(seed + 1), constants=dict(variant.set))
    rows = exante.rows(fc)
    mape, cov = {}, {}
    for s in dict.fromkeys(r.series for r in rows):  # first-seen order, not a set's
        sk = exante.skill(rows, s, vs.out_of_sample.band_level)
        mape[s] = sk.exante_mape
        cov[s] = (sk.inside, sk.total)
    last_year = share_years[-1]
    growth = math.log(vals[-1] / vals[0]) / (last_year - end) if last_year > end else math.nan
    return VariantResult(name=variant.name, hypothesis=variant.hypothesis,
                         estimates=dict(zip(space.names, res.theta.tolist(), strict=True)),
                         payoff=res.payoff, n=obs.m, k=space.k, aicc=aicc, bic=bic,
                         exante_mape=mape, coverage=cov,
                         share=dict(zip(share_years, vals.tolist(), strict=True)),
                         share_growth=growth)
