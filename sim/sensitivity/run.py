"""Sobol or Morris indices of several outputs at every saved time, from one ensemble run."""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.calibration.sensitivity import MORRIS_LEVELS, MORRIS_TRAJECTORIES, Factor

METHODS = ("sobol", "morris")


@dataclass(frozen=True)
class IndicesOverTime:
    """Indices of each factor for each output at each saved time.

    Attributes
    ----------
    method : {'sobol', 'morris'}
    factors : list of Factor
    outputs : list of str
        Vensim names.
    times : ndarray (T,)
        Saved times [model time unit].
    first, total : ndarray (O, T, D)
        Sobol: S1 and ST. Morris: mu* and sigma divided by the output's mean
        magnitude at that time. NaN where the output does not vary.
    first_conf, total_conf : ndarray (O, T, D)
        95 % bootstrap half-widths (Morris: sigma has none, NaN).
    n_runs : int
        Ensemble members run.
    failed : int
        Members that failed (their values replaced by the median, counted here).
    seed : int
    """

    method: str
    factors: list
    outputs: list
    times: np.ndarray
    first: np.ndarray
    total: np.ndarray
    first_conf: np.ndarray
    total_conf: np.ndarray
    n_runs: int
    failed: int
    seed: int


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def sensitivity_over_time(model, factors: list[Factor], outputs: list[str], *,
                          method: str = "sobol", samples: int = 256, seed: int = 1,
                          sim_method: str = "euler", base_params: dict | None = None,
                          final_time: float | None = None,
                          progress: Callable[[str], None] | None = _say) -> IndicesOverTime:
    """Run one ensemble and compute the indices of every output at every saved time.

    Parameters
    ----------
    model : sim.Model
    factors : list of Factor
        Constants varied, each over its range (uniform, or uniform in log).
    outputs : list of str
        Variables analysed (Vensim or Python names).
    method : {'sobol', 'morris'}
        Sobol: ``samples`` x (D + 2) runs (Saltelli, no second order).
        Morris: 64 trajectories x (D + 1) runs, 4 levels.
    samples : int
        Sobol base sample N, a power of 2.
    seed : int
        Seeds the sampler and the bootstrap: the same seed gives the same numbers.
    sim_method : {'euler', 'rk4', 'scipy'}
    base_params : dict, optional
        Constants (or time series) set in every run, under the factors (e.g. a
        scenario's settings); the factors' samples replace any of the same name.
    final_time : float, optional
        Stop the runs here [model time unit].
    progress : callable, optional
        Called with one line per stage (default: standard error).

    Returns
    -------
    IndicesOverTime
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if samples < 2 or samples & (samples - 1):
        raise ValueError(f"samples must be a power of 2 (>= 2), got {samples}")
    say = progress or (lambda _text: None)
    D = len(factors)
    problem = {"num_vars": D, "names": [f.name for f in factors], "bounds": [[0.0, 1.0]] * D}
    if method == "sobol":
        U = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    else:
        U = morris_sample.sample(problem, MORRIS_TRAJECTORIES, num_levels=MORRIS_LEVELS, seed=seed)
    names = [model.variables[model.py_name(o)].name for o in outputs]
    say(f"sensitivity: {method}, {D} factors, {U.shape[0]:,} runs in one ensemble ({sim_method})")
    params = dict(base_params or {})
    params.update({f.name: f.value(U[:, j]) for j, f in enumerate(factors)})
    res = model.simulate(params, method=sim_method, outputs=names, final_time=final_time)
    times = np.asarray(res.times, float)
    shape = (len(names), len(times), D)
    first, total, c1, ct = (np.full(shape, np.nan) for _ in range(4))
    failed_members: set[int] = {f.member for f in res.failures}
    for o, name in enumerate(names):
        say(f"sensitivity: indices of {name} at {len(times)} times ({o + 1}/{len(names)})")
        Y = np.asarray(res[name], float).reshape(len(times), -1)
        bad = ~np.isfinite(Y)
        failed_members |= set(np.flatnonzero(bad.any(axis=0)).tolist())
        if bad.any():
            Y = np.where(bad, np.nanmedian(Y, axis=1, keepdims=True), Y)
        for k in range(len(times)):
            y = Y[k]
            if not np.all(np.isfinite(y)) or np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
                continue  # the output does not vary here: indices undefined
            if method == "sobol":
                si = sobol_analyze.analyze(problem, y, calc_second_order=False,
                                           num_resamples=100, seed=seed)
                first[o, k], total[o, k] = si["S1"], si["ST"]
                c1[o, k], ct[o, k] = si["S1_conf"], si["ST_conf"]
            else:
                mi = morris_analyze.analyze(problem, U, y, num_levels=MORRIS_LEVELS,
                                            num_resamples=100, seed=seed)
                scale = abs(float(np.mean(y))) or 1.0
                first[o, k] = np.asarray(mi["mu_star"]) / scale
                total[o, k] = np.asarray(mi["sigma"]) / scale
                c1[o, k] = np.asarray(mi["mu_star_conf"]) / scale
    return IndicesOverTime(method, list(factors), names, times, first, total, c1, ct,
                           int(U.shape[0]), len(failed_members), seed)
