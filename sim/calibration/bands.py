"""Forecast bands: parameter, input and model-error uncertainty in one ensemble.

A band is drawn from an ensemble whose members differ in three ways:

1. **Parameters**: drawn from the fit's Gaussian approximation in unit
   coordinates, ``N(u_hat, (J'J/s2 + 12 I)^-1)``: the Gauss-Newton precision
   plus that of a uniform prior over the bounds (variance 1/12 in unit
   coordinates), so a direction the data do not inform keeps the spread of its
   bounds instead of none. Clipped to the bounds.
2. **Exogenous inputs** after the last observed year: each input's log level is
   a random walk with the drift and step of its projection rule
   (:mod:`sim.calibration.projection`); the drift itself is drawn from its
   standard error. Passed to the model as per-member yearly growth tables.
3. **Model error**: an AR(1) process on the log error of each target,
   ``e_t = rho e_(t-1) + sqrt(1 - rho^2) sigma z_t``, started from the last
   in-window residual, with ``sigma`` and ``rho`` estimated from the in-window
   residuals of the fit (``rho`` clipped to [0, 0.9]: a negative lag-1
   autocorrelation from a handful of residuals is taken as none).

The band of a target is the central ``level`` interval of ``model value x
exp(e)`` over the members (Hyndman & Athanasopoulos, *Forecasting: Principles
and Practice*, 3rd ed., on regression with ARIMA errors; the forecast-evaluation
notes in the project's docs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.calibration.projection import InputRate
from sim.engine.inputs import Table

RHO_MAX = 0.9
"""Largest AR(1) coefficient of the error model."""

PRIOR_PRECISION = 12.0
"""Precision of a uniform distribution over [0, 1] (1 / variance), in unit coordinates."""


@dataclass(frozen=True)
class ErrorModel:
    """AR(1) log-error model of one target.

    Attributes
    ----------
    sigma : float
        Standard deviation of the log error (dimensionless).
    rho : float
        Lag-1 autocorrelation, in [0, RHO_MAX].
    last : float
        Log error in the last fitted year (the AR(1) process starts from it).
    n : int
        Residuals it was estimated from.
    """

    sigma: float
    rho: float
    last: float
    n: int

    def to_dict(self) -> dict:
        return {"sigma": self.sigma, "rho": self.rho, "last_error": self.last, "n": self.n}


def error_model(log_errors: np.ndarray) -> ErrorModel:
    """Estimate the AR(1) error model from in-window log errors (first year excluded).

    The first fitted year is the model's initial value (error 0 by construction)
    and carries no information on the error; it is dropped.
    """
    e = np.asarray(log_errors, dtype=float)[1:]
    if e.size == 0:
        return ErrorModel(0.0, 0.0, 0.0, 0)
    sigma = float(np.sqrt(np.mean(e ** 2)))
    rho = 0.0
    if e.size >= 3 and np.sum(e[:-1] ** 2) > 0:
        rho = float(np.sum(e[1:] * e[:-1]) / np.sum(e ** 2))
    return ErrorModel(sigma=sigma, rho=float(np.clip(rho, 0.0, RHO_MAX)), last=float(e[-1]),
                      n=int(e.size))


def error_paths(em: ErrorModel, horizon: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """AR(1) log errors for years 1..horizon after the last fitted one: (horizon, n)."""
    out = np.empty((horizon, n))
    prev = np.full(n, em.last)
    scale = em.sigma * np.sqrt(1.0 - em.rho ** 2)
    for h in range(horizon):
        prev = em.rho * prev + scale * rng.standard_normal(n)
        out[h] = prev
    return out


def sample_parameters(u_hat: np.ndarray, jacobian: np.ndarray, s2: float, n: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Parameter draws in unit coordinates (n, k), clipped to [0, 1]; member 0 is ``u_hat``."""
    k = u_hat.size
    precision = jacobian.T @ jacobian / max(s2, 1e-300) + PRIOR_PRECISION * np.eye(k)
    cov = np.linalg.inv(precision)
    chol = np.linalg.cholesky((cov + cov.T) / 2.0)
    u = u_hat[None, :] + rng.standard_normal((n, k)) @ chol.T
    u[0] = u_hat
    return np.clip(u, 0.0, 1.0)


def growth_tables(rates: list[InputRate], last_year: int, horizon: int, n: int,
                  rng: np.random.Generator) -> dict:
    """Per-member yearly growth of each input after ``last_year``: {constant: sim.Table}.

    Member ``i`` draws a drift ``mu_i ~ N(drift, drift_se)`` and each year's log
    growth ``mu_i + step_sd z``; the growth fraction ``exp(g) - 1`` is held
    through each year (two table points a year). Member 0 keeps the rule's
    drift every year (the point projection).
    """
    out = {}
    for r in rates:
        mu = r.drift + r.drift_se * rng.standard_normal(n)
        g = mu[None, :] + r.step_sd * rng.standard_normal((horizon, n))
        g[:, 0] = r.drift
        points = {}
        for h in range(horizon):
            val = np.expm1(g[h])
            points[float(last_year + h)] = val
            points[float(last_year + h) + 0.999] = val
        out[r.constant] = Table(points)
    return out


def central_interval(values: np.ndarray, level: float, axis: int = -1
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bound, median and upper bound of the central ``level`` interval."""
    lo, hi = 50.0 * (1.0 - level), 50.0 * (1.0 + level)
    q = np.nanpercentile(values, [lo, 50.0, hi], axis=axis)
    return q[0], q[1], q[2]


def coverage(observed: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[int, int]:
    """(inside, total) of observed figures within [low, high] (NaN bounds count as outside)."""
    obs, lo, hi = (np.asarray(a, dtype=float).ravel() for a in (observed, low, high))
    ok = np.isfinite(obs)
    inside = ok & (obs >= lo) & (obs <= hi)
    return int(inside.sum()), int(ok.sum())


def rates_from_document(bands_doc: dict) -> list[InputRate]:
    """Return the inputs' projection as written under ``bands.inputs`` of ``calibrated.yaml``."""
    return [InputRate(constant=c, growth=float(d["growth"]), drift=float(d["drift"]),
                      step_sd=float(d["step_sd"]), drift_se=float(d["drift_se"]),
                      years=tuple(d["years"]), n_steps=int(d["n_steps"]))
            for c, d in (bands_doc.get("inputs") or {}).items()]


def errors_from_document(bands_doc: dict) -> dict[str, ErrorModel]:
    """Model variable -> its AR(1) error model, from ``bands.error_model``."""
    return {d["variable"]: ErrorModel(sigma=float(d["sigma"]), rho=float(d["rho"]),
                                      last=float(d["last_error"]), n=int(d["n"]))
            for d in (bands_doc.get("error_model") or {}).values()}


def projection_inputs(bands_doc: dict, final_time: float, n: int, rng: np.random.Generator
                      ) -> dict:
    """Per-member growth tables of the inputs after the last observed year (see :func:`growth_tables`)."""
    last = int(bands_doc["last_observed_year"])
    horizon = max(int(np.ceil(final_time - last)), 1)
    return growth_tables(rates_from_document(bands_doc), last, horizon, n, rng)


def apply_error(times: np.ndarray, values: np.ndarray, em: ErrorModel, last_year: float,
                rng: np.random.Generator) -> np.ndarray:
    """``values`` (T, N) times ``exp(e)``, ``e`` the AR(1) error after ``last_year``.

    The error is applied to the saved times after the last observed year, each
    year's error held through that year; member 0 is left as it is (the point run).
    """
    values = np.asarray(values, dtype=float)
    out = values.copy()
    draws = error_draws(times, values.shape[1], em, last_year, rng)
    if draws is not None:
        after, rows, eps = draws
        out[after] = values[after] * np.exp(eps[rows])
    return out


def error_draws(times: np.ndarray, members: int, em: ErrorModel, last_year: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return the draws :func:`apply_error` applies: ``(after, rows, eps)``, or None.

    ``after`` marks the saved times after ``last_year``; ``rows`` gives, for each
    of them, its row of ``eps`` (the year after ``last_year`` it falls in, 0-based);
    ``eps`` is the AR(1) error, ``(horizon [years], members)``, member 0's zero (the
    point run). None when no saved time is after ``last_year`` or for one member.
    """
    after = times > last_year + 1e-9
    if not after.any() or members < 2:
        return None
    years_after = np.ceil(times[after] - last_year - 1e-9).astype(int)
    eps = error_paths(em, int(years_after.max()), members, rng)      # (horizon, N)
    eps[:, 0] = 0.0
    return after, years_after - 1, eps
