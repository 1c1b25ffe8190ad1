"""Rolling-origin forecasts that cannot look ahead, with benchmarks and bands.

For each origin year ``k`` (Tashman 2000: refit at each origin, forecast
h = 1..H, report every origin):

- **Ex-ante** forecast: the free parameters are refitted to the targets' data
  of ``window start .. k`` only (with ``prior_sd`` set, shrunk toward the model's
  own values: two or three years of data cannot identify three parameters); the model's inputs are read up to ``k`` (its
  ``Last Observed Year`` is set to ``k``) and projected after ``k`` by the
  projection rule with rates estimated from data up to ``k``
  (:mod:`sim.calibration.projection`). No figure after ``k`` reaches the
  forecast in any form (tested by altering every later figure).
- Ex-ante benchmarks, from the same years of history (the projection's
  trailing window ending at ``k``): a log-linear trend, the last growth carried
  forward (naive), and share persistence: the last observed ratio of the target
  to its driver (China's world share, for exports) times the driver projected
  by the same rule the model uses.
- **Conditional** forecast (labelled as such): the same fitted parameters, the
  observed inputs after ``k``; compared with the persistence benchmark given the
  same information (last ratio times the observed driver).
- A band (:mod:`sim.calibration.bands`) of the ex-ante forecast, drawn from the
  fit's parameter uncertainty, the inputs' random walks and the AR(1) model
  error, all estimated from data up to ``k``.

Pure computation: the caller reads files and writes results.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.calibration import bands, stats
from sim.calibration.fit import fit as run_fit
from sim.calibration.objective import Objective, ParameterSpace, build_observations
from sim.calibration.projection import InputRate, input_rates, overrides
from sim.calibration.spec import CalibrationSpec
from sim.calibration.uncertainty import sigma2
from sim.data.observed import ObservedData

METHODS = ("model", "trend", "naive", "persistence")
"""Ex-ante forecasts compared, the model first."""

CONDITIONAL = ("model", "persistence")
"""Conditional forecasts (observed inputs after the origin) compared."""


@dataclass(frozen=True)
class SeriesForecast:
    """Forecasts of one target series from one origin.

    Attributes
    ----------
    series : str
    years : ndarray (h,)
        Forecast years with an observation (origin+1 .. origin+horizon, inside the window).
    observed : ndarray (h,)
    exante : dict
        Method (:data:`METHODS`) -> forecasts (h,) [series unit].
    conditional : dict
        Method (:data:`CONDITIONAL`) -> forecasts (h,) given the observed inputs.
    low, median, high : ndarray (h,)
        The ex-ante band of the model.
    """

    series: str
    years: np.ndarray
    observed: np.ndarray
    exante: dict
    conditional: dict
    low: np.ndarray
    median: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class OriginForecast:
    """Everything forecast from one origin.

    Attributes
    ----------
    origin : int
    theta : ndarray (k,)
        Estimate from ``window start .. origin``.
    payoff : float
    rates : list of InputRate
        The projection of the inputs from the origin.
    errors : dict
        Target series -> :class:`bands.ErrorModel` estimated up to the origin.
    series : dict
        Target series -> :class:`SeriesForecast`.
    """

    origin: int
    theta: np.ndarray
    payoff: float
    rates: list
    errors: dict
    series: dict = field(default_factory=dict)


def _history(observed: ObservedData, series: str, first: int, last: int):
    s = observed.series(series)
    s = s[(s.index >= first) & (s.index <= last)].sort_index()
    return s.index.to_numpy().astype(int), s.to_numpy(dtype=float)


def _rate_of(rates: Sequence[InputRate], spec: CalibrationSpec, driver: str) -> InputRate:
    for rule, rate in zip(spec.projection.inputs, rates, strict=True):
        if rule.series == driver:
            return rate
    raise ValueError(f"driver series '{driver}' is not the series of any projection input "
                     f"({[r.series for r in spec.projection.inputs]})")


def benchmarks(observed: ObservedData, spec: CalibrationSpec, series: str, origin: int,
               years: np.ndarray, rates: Sequence[InputRate]) -> dict:
    """Ex-ante benchmark forecasts of ``series`` for ``years`` from data up to ``origin``."""
    first = max(spec.projection.history_start, origin - spec.projection.trailing_years)
    t, y = _history(observed, series, first, origin)
    out = {"trend": stats.loglinear_values(stats.loglinear_trend(t, y), years),
           "naive": stats.naive_growth_forecast(t, y, years)}
    driver = spec.out_of_sample.drivers.get(series)
    if driver is not None:
        rate = _rate_of(rates, spec, driver)
        _, d = _history(observed, driver, origin, origin)
        ratio = y[-1] / d[-1]
        out["persistence"] = ratio * d[-1] * np.exp(rate.drift * (years - origin))
    return out


def conditional_persistence(observed: ObservedData, spec: CalibrationSpec, series: str,
                            origin: int, years: np.ndarray) -> np.ndarray | None:
    """Last ratio of ``series`` to its driver times the driver *observed* in ``years``."""
    driver = spec.out_of_sample.drivers.get(series)
    if driver is None:
        return None
    _, y = _history(observed, series, origin, origin)
    d = observed.series(driver)
    return y[-1] / float(d.loc[origin]) * d.reindex(years).to_numpy(dtype=float)


def shrinkage(model, spec: CalibrationSpec, space: ParameterSpace
              ) -> tuple[np.ndarray, float] | None:
    """Return the prior ``(u0, w)`` of :attr:`Objective.prior` for fits from an origin, or None.

    ``u0``: the model's own values of the free parameters in unit coordinates
    (clipped into the bounds); ``w = error_scale / prior_sd``.
    """
    oos = spec.out_of_sample
    if oos.prior_sd is None:
        return None
    own = np.array([model.constants[model.py_name(n)] for n in space.names], dtype=float)
    u0 = np.clip(space.to_unit(own), 0.0, 1.0)
    return np.where(np.isfinite(u0), u0, 0.5), oos.error_scale / oos.prior_sd


def forecast_from(model, spec: CalibrationSpec, observed: ObservedData, origin: int,
                  starts: np.ndarray, n_polish: int, rng: np.random.Generator,
                  constants: dict | None = None) -> OriginForecast:
    """Fit to ``window start .. origin`` and forecast ``origin+1 .. origin+horizon``.

    Parameters
    ----------
    starts : ndarray (n, k)
        Start points in unit coordinates (the full fit's, for comparability).
    rng : numpy.random.Generator
        Draws of the band's ensemble.
    constants : dict, optional
        Constants set in every run (a model variant's settings).
    """
    start, end = spec.window
    oos = spec.out_of_sample
    last = min(origin + oos.horizon, end)
    horizon = last - origin
    space = ParameterSpace.from_spec(spec)
    rates = input_rates(observed, spec.projection, origin)
    fixed = dict(constants or {})
    fixed.update(overrides(spec.projection, rates, origin))
    obs = build_observations(spec, observed, last_year=origin, min_points=oos.min_fit_years)
    obj = Objective(model, spec, obs, space, fixed=fixed)
    obj.prior = shrinkage(model, spec, space)
    res = run_fit(obj, starts, n_polish)
    data_payoff = float(np.sum(res.residuals[:obs.m] ** 2))
    s2 = sigma2(data_payoff, obs.m, space.k) if obs.m > space.k else data_payoff
    e_fit = obj.errors(obj.predict(res.u[None, :]))[0]
    errors = {s: bands.error_model(e_fit[obs.select(s)]) for s in obs.series}

    n = oos.band_members
    u = bands.sample_parameters(res.u, res.jacobian[:obs.m], s2, n, rng)
    tables = bands.growth_tables(rates, origin, horizon, n, rng)
    # member 0 of the band is the point forecast: the estimate, the rule's own growth
    band_run = obj.simulate(space.to_theta(u), final_time=last, extra=tables)
    cond_obj = Objective(model, spec, obs, space, fixed=constants)  # inputs observed to the end
    cond = cond_obj.simulate(res.theta[None, :], final_time=last)

    out = {}
    for t in spec.targets:
        if t.role != "primary":
            continue
        s = observed.series(t.series)
        fut = s[(s.index > origin) & (s.index <= last)].sort_index()
        if len(fut) == 0:
            continue
        years = fut.index.to_numpy().astype(int)
        members = obj.values_at(band_run, t.variable, years) * t.scale      # (n, h)
        model_pt = members[0]
        eps = bands.error_paths(errors[t.series], horizon, n, rng)         # (horizon, n)
        noisy = members * np.exp(eps[years - origin - 1].T)
        lo, med, hi = bands.central_interval(noisy, oos.band_level, axis=0)
        exante = {"model": model_pt}
        exante.update(benchmarks(observed, spec, t.series, origin, years, rates))
        conditional = {"model": obj.values_at(cond, t.variable, years)[0] * t.scale}
        cp = conditional_persistence(observed, spec, t.series, origin, years)
        if cp is not None:
            conditional["persistence"] = cp
        out[t.series] = SeriesForecast(series=t.series, years=years,
                                       observed=fut.to_numpy(dtype=float), exante=exante,
                                       conditional=conditional, low=lo, median=med, high=hi)
    return OriginForecast(origin=origin, theta=res.theta, payoff=data_payoff, rates=rates,
                          errors=errors, series=out)


@dataclass(frozen=True)
class Row:
    """One forecast point: origin, horizon, series, observed and each method's value."""

    series: str
    origin: int
    year: int
    horizon: int
    observed: float
    exante: dict
    conditional: dict
    low: float
    high: float


def rows(forecasts: Sequence[OriginForecast]) -> list[Row]:
    """Every (origin, horizon, series) point, in origin order."""
    out = []
    for f in forecasts:
        for s, sf in f.series.items():
            for j, year in enumerate(sf.years):
                out.append(Row(series=s, origin=f.origin, year=int(year),
                               horizon=int(year - f.origin), observed=float(sf.observed[j]),
                               exante={m: float(v[j]) for m, v in sf.exante.items()},
                               conditional={m: float(v[j]) for m, v in sf.conditional.items()},
                               low=float(sf.low[j]), high=float(sf.high[j])))
    return out


def ape(pred: float, obs: float) -> float:
    """Absolute percentage error [%]."""
    return 100.0 * abs(pred - obs) / abs(obs)


@dataclass(frozen=True)
class SeriesSkill:
    """Pooled skill of one series over every origin and horizon.

    Attributes
    ----------
    n : int
        Forecast points.
    exante_mape, conditional_mape : dict
        Method -> mean absolute percentage error [%].
    by_horizon : dict
        Horizon -> method -> ex-ante MAPE [%].
    inside, total : int
        Observed figures inside the model's band, and all.
    winkler : float
        Mean interval score of the band (Gneiting & Raftery 2007) [% of the observed value].
    beats_all : bool
        The model's ex-ante MAPE is below every benchmark's.
    """

    n: int
    exante_mape: dict
    conditional_mape: dict
    by_horizon: dict
    inside: int
    total: int
    winkler: float
    beats_all: bool

    @property
    def coverage(self) -> float:
        return self.inside / self.total if self.total else float("nan")


def skill(all_rows: Sequence[Row], series: str, level: float) -> SeriesSkill:
    """Pool the rows of one series."""
    rs = [r for r in all_rows if r.series == series]
    methods = [m for m in METHODS if all(m in r.exante for r in rs)]
    cmethods = [m for m in CONDITIONAL if all(m in r.conditional for r in rs)]
    ex = {m: float(np.mean([ape(r.exante[m], r.observed) for r in rs])) for m in methods}
    co = {m: float(np.mean([ape(r.conditional[m], r.observed) for r in rs])) for m in cmethods}
    by_h = {}
    for h in sorted({r.horizon for r in rs}):
        rh = [r for r in rs if r.horizon == h]
        by_h[h] = {m: float(np.mean([ape(r.exante[m], r.observed) for r in rh]))
                   for m in methods}
    obs = np.array([r.observed for r in rs])
    lo = np.array([r.low for r in rs])
    hi = np.array([r.high for r in rs])
    inside, total = bands.coverage(obs, lo, hi)
    alpha = 1.0 - level
    wink = (hi - lo) + 2.0 / alpha * (np.maximum(lo - obs, 0) + np.maximum(obs - hi, 0))
    return SeriesSkill(n=len(rs), exante_mape=ex, conditional_mape=co, by_horizon=by_h,
                       inside=inside, total=total, winkler=float(np.mean(100.0 * wink / obs)),
                       beats_all=all(ex["model"] < v for m, v in ex.items() if m != "model"))


def rolling_exante(model, spec: CalibrationSpec, observed: ObservedData, starts: np.ndarray,
                   n_polish: int, rng: np.random.Generator, constants: dict | None = None
                   ) -> list[OriginForecast]:
    """Forecasts from every origin of ``spec.out_of_sample``, in order."""
    return [forecast_from(model, spec, observed, o, starts, n_polish, rng, constants)
            for o in sorted(spec.out_of_sample.origins)]
