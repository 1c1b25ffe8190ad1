"""The whole calibration, stage by stage, as one pure function.

:func:`calibrate` takes a validated specification, the compiled model and the
observed data (the caller reads the files) and returns a
:class:`CalibrationOutcome`; :func:`sim.calibration.results.to_document`
turns it into the ``calibrated.yaml`` mapping. Progress is reported through
an optional callback (the command-line layer draws the progress bar).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.calibration import bands, exante, stats
from sim.calibration.exante import OriginForecast, SeriesSkill
from sim.calibration.fit import FitResult, fit, start_points
from sim.calibration.objective import Objective, ParameterSpace, build_observations
from sim.calibration.projection import InputRate, input_rates
from sim.calibration.spec import CalibrationSpec, check_against_model
from sim.calibration.uncertainty import (
    Bootstrap,
    Covariance,
    Profile,
    bootstrap,
    covariance,
    profiles,
    sigma2,
)
from sim.calibration.variants import VariantResult, evaluate
from sim.data.observed import ObservedData
from sim.project import REPORT_YEARS

STAGES = ("fit", "profile likelihood", "bootstrap", "ex-ante forecasts", "variants",
          "statistics")
"""Stages reported to the progress callback, in order."""

COVERAGE_RANGE = (0.80, 0.97)
"""Acceptable share of ex-ante observations inside the 90% band."""

THEIL_MAX = 0.1
"""Largest acceptable U^M and U^S of a primary target (bias and unequal
variation below 10% of the MSE; Sterman 1984)."""

"""Years the variants' baseline share is reported at."""

QUICK = {"starts": 16, "polish": 2, "bootstrap": 40, "profile_points": 9}
"""Caps applied by ``--quick`` (smoke runs and tests)."""

STREAMS = ("starts", "bootstrap", "sensitivity", "band", "exante")
"""Independent random streams spawned from the seed, in this order."""


def random_streams(seed: int) -> dict[str, np.random.Generator]:
    """One generator per use, spawned from ``seed`` (stable across releases of the code)."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(c) for name, c in zip(STREAMS, children, strict=True)}


@dataclass(frozen=True)
class Settings:
    """Effective settings (the spec's, capped by ``--quick``)."""

    starts: int
    polish: int
    bootstrap: int
    profile_points: int
    quick: bool

    @classmethod
    def from_spec(cls, spec: CalibrationSpec, quick: bool = False) -> Settings:
        vals = {k: getattr(spec, k) for k in QUICK}
        if quick:
            vals = {k: min(v, QUICK[k]) for k, v in vals.items()}
        vals["polish"] = min(vals["polish"], vals["starts"])
        return cls(quick=quick, **vals)


@dataclass(frozen=True)
class SeriesFit:
    """Simulated against observed values of one target over the window."""

    series: str
    variable: str
    role: str
    weight: float
    years: np.ndarray
    observed: np.ndarray
    simulated: np.ndarray
    statistics: stats.FitStatistics
    trend: np.ndarray
    trend_statistics: stats.FitStatistics


@dataclass(frozen=True)
class CrossCheckResult:
    series: str
    variables: list
    note: str
    years: np.ndarray
    observed: np.ndarray
    simulated: np.ndarray
    percent_difference: np.ndarray
    mape_pct: float


@dataclass(frozen=True)
class Criterion:
    """One target the calibration is held to, and whether it is met."""

    name: str
    series: str
    value: float
    benchmark: float
    met: bool


@dataclass(frozen=True)
class CalibrationOutcome:
    spec: CalibrationSpec
    settings: Settings
    space: ParameterSpace
    n_observations: int
    sigma2: float
    fit: FitResult
    covariance: Covariance
    profiles: list[Profile]
    bootstrap: Bootstrap
    out_of_sample: list[OriginForecast]
    skill: dict[str, SeriesSkill]
    variants: list[VariantResult]
    projection: list[InputRate]
    error_models: dict[str, bands.ErrorModel]
    series: list[SeriesFit]
    cross_checks: list[CrossCheckResult]
    criteria: list[Criterion]
    fixed_values: dict
    model_evaluations: int


def _series_fits(objective: Objective, spec: CalibrationSpec, fit_res: FitResult
                 ) -> list[SeriesFit]:
    obs = objective.obs
    pred = objective.predict(fit_res.u[None, :])[0]
    e = objective.errors(pred[None, :])[0]
    out = []
    for i, t in enumerate(spec.targets):
        sel = obs.target == i
        years, a, s = obs.years[sel], obs.values[sel], pred[sel]
        trend = stats.loglinear_values(stats.loglinear_trend(years, a), years)
        out.append(SeriesFit(series=t.series, variable=t.variable, role=t.role,
                             weight=t.weight, years=years, observed=a, simulated=s,
                             statistics=stats.fit_statistics(s, a, resid=e[sel]),
                             trend=trend, trend_statistics=stats.fit_statistics(trend, a)))
    return out


def _cross_checks(objective: Objective, spec: CalibrationSpec, observed: ObservedData,
                  theta: np.ndarray) -> list[CrossCheckResult]:
    start, end = spec.window
    out = []
    for c in spec.cross_checks:
        s = observed.series(c.series)
        s = s[(s.index >= start) & (s.index <= end)]
        if len(s) == 0:
            continue
        res = objective.simulate(theta[None, :], outputs=c.variables)
        years = s.index.to_numpy()
        sim = sum(objective.values_at(res, v, years)[0] for v in c.variables)
        a = s.to_numpy()
        pdiff = 100.0 * (sim - a) / a
        out.append(CrossCheckResult(series=c.series, variables=list(c.variables), note=c.note,
                                    years=years, observed=a, simulated=sim,
                                    percent_difference=pdiff,
                                    mape_pct=float(np.mean(np.abs(pdiff)))))
    return out


def _criteria(series: list[SeriesFit], skill: dict[str, SeriesSkill]) -> list[Criterion]:
    out = []
    for sf in series:
        if sf.role != "primary":
            continue
        st, tr = sf.statistics, sf.trend_statistics
        out.append(Criterion("MAPE below the log-linear trend's", sf.series, st.mape_pct,
                             tr.mape_pct, st.mape_pct < tr.mape_pct))
        out.append(Criterion(f"Theil U^M <= {THEIL_MAX}", sf.series, st.theil_um, THEIL_MAX,
                             bool(st.theil_um <= THEIL_MAX)))
        out.append(Criterion(f"Theil U^S <= {THEIL_MAX}", sf.series, st.theil_us, THEIL_MAX,
                             bool(st.theil_us <= THEIL_MAX)))
        sk = skill.get(sf.series)
        if sk is None:
            continue
        m = sk.exante_mape["model"]
        for bench, b in sk.exante_mape.items():
            if bench != "model":
                out.append(Criterion(f"ex-ante MAPE below the {bench} benchmark's", sf.series,
                                     m, b, m < b))
        lo, hi = COVERAGE_RANGE
        out.append(Criterion(f"90% band covers {lo:.0%}-{hi:.0%} of ex-ante figures",
                             sf.series, sk.coverage, lo, bool(lo <= sk.coverage <= hi)))
    return out


def calibrate(spec: CalibrationSpec, model, observed: ObservedData, *, quick: bool = False,
              progress: Callable[[str], None] | None = None,
              where: str = "calibration.yaml") -> CalibrationOutcome:
    """Run the calibration described by ``spec``.

    Parameters
    ----------
    spec : CalibrationSpec
    model : sim.Model
    observed : ObservedData
    quick : bool
        Cap starts, bootstrap and profile points (:data:`QUICK`).
    progress : callable, optional
        Called with each stage name of :data:`STAGES` as it starts.
    where : str
        Spec file name for error messages.

    Returns
    -------
    CalibrationOutcome
        Deterministic for a given spec, model, data and ``quick``.
    """
    check_against_model(spec, model, where)
    note = progress or (lambda stage: None)
    settings = Settings.from_spec(spec, quick)
    rng = random_streams(spec.seed)
    space = ParameterSpace.from_spec(spec)
    obs = build_observations(spec, observed)
    objective = Objective(model, spec, obs, space)

    note("fit")
    starts = start_points(objective, settings.starts, rng["starts"])
    best = fit(objective, starts, settings.polish)
    s2 = sigma2(best.payoff, obs.m, space.k)
    cov = covariance(best, objective, s2)

    note("profile likelihood")
    profs = profiles(objective, best, s2, settings.profile_points)

    note("bootstrap")
    boot = bootstrap(objective, best, settings.bootstrap, rng["bootstrap"])

    note("ex-ante forecasts")
    oos = exante.rolling_exante(model, spec, observed, starts, settings.polish, rng["exante"])
    rows = exante.rows(oos)
    skill = {t.series: exante.skill(rows, t.series, spec.out_of_sample.band_level)
             for t in spec.targets if any(r.series == t.series for r in rows)}

    note("variants")
    horizon = float(model.controls.final_time)
    variants = [evaluate(model, spec, observed, v, starts=settings.starts,
                         n_polish=settings.polish, seed=spec.seed, horizon=horizon,
                         years=REPORT_YEARS) for v in spec.variants]

    note("statistics")
    series = _series_fits(objective, spec, best)
    checks = _cross_checks(objective, spec, observed, best.theta)
    fixed = {name: float(model.constants[model.py_name(name)]) for name in spec.fixed}
    e_fit = objective.errors(objective.predict(best.u[None, :]))[0]
    errors = {s: bands.error_model(e_fit[obs.select(s)]) for s in obs.series}
    return CalibrationOutcome(
        spec=spec, settings=settings, space=space, n_observations=obs.m, sigma2=s2, fit=best,
        covariance=cov, profiles=profs, bootstrap=boot, out_of_sample=oos, skill=skill,
        variants=variants, projection=input_rates(observed, spec.projection, spec.window[1]),
        error_models=errors, series=series,
        cross_checks=checks, criteria=_criteria(series, skill), fixed_values=fixed,
        model_evaluations=objective.n_members)
