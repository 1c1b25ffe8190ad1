"""Out-of-sample checks inside the window: rolling-origin forecasts with benchmarks.

For each origin year the model is refitted to ``window start .. origin`` (same
start points, same settings as the full fit) and simulated to the window's
end; its errors over ``origin+1 .. window end`` stand beside two benchmarks
fitted to the same years: a log-linear trend, and a naive forecast carrying
the last observed growth rate forward.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.data import ObservedData

from . import stats
from .fit import fit as run_fit
from .objective import Objective, ParameterSpace, build_observations
from .spec import CalibrationSpec


@dataclass(frozen=True)
class SeriesForecast:
    """Forecasts of one series after one origin.

    Attributes
    ----------
    years : ndarray (h,)
    observed, model, trend, naive : ndarray (h,)
    errors : dict
        ``{'model'|'trend'|'naive': {'mape_pct': float, 'rmse': float}}``.
    """

    years: np.ndarray
    observed: np.ndarray
    model: np.ndarray
    trend: np.ndarray
    naive: np.ndarray
    errors: dict


@dataclass(frozen=True)
class OriginResult:
    """One rolling-origin check.

    Attributes
    ----------
    origin : int
        Last fitted year.
    fit_years : (int, int)
    theta : ndarray (k,)
        Estimate from the truncated window.
    payoff : float
    series : dict
        Target series -> :class:`SeriesForecast`.
    """

    origin: int
    fit_years: tuple
    theta: np.ndarray
    payoff: float
    series: dict


def _errors(pred: np.ndarray, obs: np.ndarray) -> dict:
    err = obs - pred
    return {"mape_pct": float(100.0 * np.mean(np.abs(err) / np.abs(obs))),
            "rmse": float(np.sqrt(np.mean(err ** 2)))}


def rolling_origin(model, spec: CalibrationSpec, observed: ObservedData, origin: int,
                   starts: np.ndarray, n_polish: int) -> OriginResult:
    """Fit to ``window start .. origin`` and forecast to the window's end.

    Parameters
    ----------
    starts : ndarray (n, k)
        Start points in unit coordinates (the full fit's, for comparability).
    """
    start, end = spec.window
    space = ParameterSpace.from_spec(spec)
    obj = Objective(model, spec, build_observations(spec, observed, last_year=origin), space)
    res = run_fit(obj, starts, n_polish)
    sim = obj.simulate(res.theta[None, :], final_time=end)
    out = {}
    for t in spec.targets:
        s = observed.series(t.series)
        s = s[(s.index >= start) & (s.index <= end)]
        past = s[s.index <= origin]
        fut = s[s.index > origin]
        if len(fut) == 0:
            continue
        years = fut.index.to_numpy()
        model_vals = obj.values_at(sim, t.variable, years)[0] * t.scale
        trend = stats.loglinear_values(stats.loglinear_trend(past.index, past.to_numpy()), years)
        naive = stats.naive_growth_forecast(past.index, past.to_numpy(), years)
        obs = fut.to_numpy()
        out[t.series] = SeriesForecast(
            years=years, observed=obs, model=model_vals, trend=trend, naive=naive,
            errors={"model": _errors(model_vals, obs), "trend": _errors(trend, obs),
                    "naive": _errors(naive, obs)})
    return OriginResult(origin=origin, fit_years=(start, origin), theta=res.theta,
                        payoff=res.payoff, series=out)
