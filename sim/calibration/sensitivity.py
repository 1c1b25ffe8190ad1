"""Global sensitivity of one output to the free parameters and the policy levers.

Sobol indices (Saltelli 2002; Saltelli et al. 2010) from SALib's Saltelli/Sobol
sampling: first-order ``S1`` and total ``ST`` with bootstrap confidence, for
the output at several years. All N·(D+2) samples are one vectorised ensemble
run. Morris elementary effects (Morris 1991; Campolongo et al. 2007) are the
cheaper screening used only when Sobol would cost more than the budget.

Free parameters are sampled over their bounds (in log for ``scale: log``),
levers over their ranges; every other constant stays at the model's value.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

MORRIS_TRAJECTORIES = 64
MORRIS_LEVELS = 4
PROBE_MEMBERS = 256
"""Ensemble size of the timing probe that decides Sobol or Morris (``auto``)."""


@dataclass(frozen=True)
class Factor:
    """One uncertain input: a model constant and how a unit sample maps onto it.

    Attributes
    ----------
    name : str
        Vensim name.
    low, high : float
        Range [constant's unit].
    log : bool
        Sampled uniformly in log.
    kind : {'parameter', 'lever'}
    """

    name: str
    low: float
    high: float
    log: bool
    kind: str

    def value(self, u: np.ndarray) -> np.ndarray:
        if self.log:
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True)
class SensitivityResult:
    """Indices of each factor for the output at each year.

    Attributes
    ----------
    method : {'sobol', 'morris'}
    factors : list of Factor
    years : list of float
    first, total : ndarray (Y, D)
        Sobol S1 and ST; for Morris, μ* and σ normalised by the mean output.
    first_conf, total_conf : ndarray (Y, D)
        95% confidence half-widths (Sobol); μ* confidence for Morris (σ: NaN).
    n_runs : int
        Model runs (ensemble members).
    output : str
    failed : int
        Members that went non-finite (excluded by SALib as NaN would be: here
        replaced by the sample median and counted).
    """

    method: str
    factors: list
    years: list
    first: np.ndarray
    total: np.ndarray
    first_conf: np.ndarray
    total_conf: np.ndarray
    n_runs: int
    output: str
    failed: int


def _problem(factors: list[Factor]) -> dict:
    return {"num_vars": len(factors), "names": [f.name for f in factors],
            "bounds": [[0.0, 1.0]] * len(factors)}


def _run(model, factors, U, output, years, base_params, method) -> tuple[np.ndarray, int]:
    params = dict(base_params)
    for j, f in enumerate(factors):
        params[f.name] = f.value(U[:, j])
    res = model.simulate(params=params, method=method, saveper=1.0,
                         final_time=float(max(years)), outputs=[output])
    arr = np.asarray(res[output], dtype=float).reshape(len(res.times), -1)
    idx = [int(np.argmin(np.abs(res.times - y))) for y in years]
    Y = arr[idx]  # (years, N)
    bad = ~np.isfinite(Y)
    failed = int(np.any(bad, axis=0).sum())
    if failed:
        med = np.nanmedian(Y, axis=1, keepdims=True)
        Y = np.where(bad, med, Y)
    return Y, failed


def choose_method(model, factors, output, years, base_params, base_samples: int,
                  budget: float, sim_method: str) -> str:
    """'sobol' when N·(D+2) runs fit in ``budget`` seconds (timed probe), else 'morris'."""
    probe = np.full((PROBE_MEMBERS, len(factors)), 0.5)
    t0 = time.perf_counter()
    _run(model, factors, probe, output, years, base_params, sim_method)
    per_member = (time.perf_counter() - t0) / PROBE_MEMBERS
    cost = per_member * base_samples * (len(factors) + 2)
    return "sobol" if cost <= budget else "morris"


def analyse(model, factors: list[Factor], output: str, years: list[float], *,
            base_params: dict, method: str, base_samples: int, seed: int,
            sim_method: str = "euler") -> SensitivityResult:
    """Sobol (or Morris) indices of ``output`` at ``years``.

    Parameters
    ----------
    model : sim.Model
    factors : list of Factor
    output : str
        Model variable (Vensim name).
    years : list of float
    base_params : dict
        Constants set in every run (e.g. the calibrated estimates of
        parameters that are not factors).
    method : {'sobol', 'morris'}
    base_samples : int
        Sobol N (power of 2): N·(D+2) runs (no second-order indices).
    seed : int
        Seeds SALib's sampler and its bootstrap of the confidence intervals.
    sim_method : str
        Integration method.
    """
    problem = _problem(factors)
    D = len(factors)
    if method == "sobol":
        U = sobol_sample.sample(problem, base_samples, calc_second_order=False, seed=seed)
        Y, failed = _run(model, factors, U, output, years, base_params, sim_method)
        S1, ST, C1, CT = (np.empty((len(years), D)) for _ in range(4))
        for i in range(len(years)):
            si = sobol_analyze.analyze(problem, Y[i], calc_second_order=False,
                                       num_resamples=200, seed=seed)
            S1[i], ST[i], C1[i], CT[i] = si["S1"], si["ST"], si["S1_conf"], si["ST_conf"]
    elif method == "morris":
        U = morris_sample.sample(problem, MORRIS_TRAJECTORIES, num_levels=MORRIS_LEVELS,
                                 seed=seed)
        Y, failed = _run(model, factors, U, output, years, base_params, sim_method)
        S1, ST, C1, CT = (np.empty((len(years), D)) for _ in range(4))
        for i in range(len(years)):
            mi = morris_analyze.analyze(problem, U, Y[i], num_levels=MORRIS_LEVELS,
                                        num_resamples=200, seed=seed)
            scale = abs(float(np.mean(Y[i]))) or 1.0
            S1[i] = np.asarray(mi["mu_star"]) / scale
            ST[i] = np.asarray(mi["sigma"]) / scale
            C1[i] = np.asarray(mi["mu_star_conf"]) / scale
            CT[i] = np.nan
    else:
        raise ValueError(f"method must be 'sobol' or 'morris', got {method!r}")
    return SensitivityResult(method=method, factors=list(factors), years=list(years),
                             first=S1, total=ST, first_conf=C1, total_conf=CT,
                             n_runs=int(U.shape[0]), output=output, failed=failed)
