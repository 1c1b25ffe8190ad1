"""Fit statistics of a simulated series against an observed one, and benchmarks.

References
----------
Sterman, J. D. (1984). Appropriate summary statistics for evaluating the
historical fit of system dynamics models. Dynamica 10(2), 51-66.
Theil, H. (1966). Applied Economic Forecasting. North-Holland.
Durbin, J., Watson, G. S. (1950). Testing for serial correlation in least
squares regression. Biometrika 37, 409-428.

Conventions: ``sim`` (S) and ``obs`` (A, "actual") are 1-D arrays of equal
length; residuals are ``obs − sim`` unless given. Standard deviations in the
Theil decomposition are population ones (divide by n), so that
U^M + U^S + U^C = 1 exactly (Sterman 1984, eq. 2).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def _pair(sim, obs) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(sim, dtype=float)
    a = np.asarray(obs, dtype=float)
    if s.shape != a.shape or s.ndim != 1:
        raise ValueError(f"sim and obs must be 1-D arrays of equal length, got shapes "
                         f"{s.shape} and {a.shape}")
    if s.size < 2:
        raise ValueError(f"need at least 2 points, got {s.size}")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(a))):
        raise ValueError("sim and obs must be finite")
    return s, a


def r_squared(sim, obs) -> float:
    """Coefficient of determination ``1 − SSE/SST`` (1 for a perfect fit; can be < 0)."""
    s, a = _pair(sim, obs)
    sst = float(np.sum((a - a.mean()) ** 2))
    sse = float(np.sum((a - s) ** 2))
    if sst == 0.0:
        return 1.0 if sse == 0.0 else float("-inf")
    return 1.0 - sse / sst


def mape(sim, obs) -> float:
    """Mean absolute percentage error ``100 · mean(|A − S| / |A|)`` [%]."""
    s, a = _pair(sim, obs)
    if np.any(a == 0):
        raise ValueError("MAPE is undefined when an observed value is 0")
    return float(100.0 * np.mean(np.abs(a - s) / np.abs(a)))


def rmse(sim, obs) -> float:
    """Root mean square error [series unit]."""
    s, a = _pair(sim, obs)
    return float(np.sqrt(np.mean((a - s) ** 2)))


@dataclass(frozen=True)
class Theil:
    """Theil inequality statistics.

    Attributes
    ----------
    u : float
        Theil's inequality coefficient ``sqrt(MSE) / (sqrt(mean S²) + sqrt(mean A²))``
        in [0, 1]; 0 for a perfect fit.
    um, us, uc : float
        Fractions of the MSE due to bias (unequal means), unequal variation
        (unequal standard deviations) and unequal covariation (imperfect
        correlation); they sum to 1. NaN when MSE = 0.
    mse : float
    r : float
        Correlation of S and A (NaN when either is constant).
    """

    u: float
    um: float
    us: float
    uc: float
    mse: float
    r: float


def theil(sim, obs) -> Theil:
    """Theil's U and its decomposition MSE = (S̄−Ā)² + (s_S−s_A)² + 2(1−r)s_S s_A.

    Sterman (1984), eqs. 1-2; population standard deviations.
    """
    s, a = _pair(sim, obs)
    mse = float(np.mean((s - a) ** 2))
    denom = float(np.sqrt(np.mean(s ** 2)) + np.sqrt(np.mean(a ** 2)))
    u = mse ** 0.5 / denom if denom > 0 else 0.0
    ss, sa = float(s.std()), float(a.std())
    r = float(np.mean((s - s.mean()) * (a - a.mean())) / (ss * sa)) if ss > 0 and sa > 0 \
        else float("nan")
    if mse == 0.0:
        return Theil(u=0.0, um=float("nan"), us=float("nan"), uc=float("nan"), mse=0.0, r=r)
    um = (s.mean() - a.mean()) ** 2 / mse
    us = (ss - sa) ** 2 / mse
    # with a constant series r is undefined and the covariation term is 0
    uc = 2.0 * (1.0 - r) * ss * sa / mse if np.isfinite(r) else 0.0
    return Theil(u=float(u), um=float(um), us=float(us), uc=float(uc), mse=mse, r=r)


def durbin_watson(resid) -> float:
    """Durbin-Watson statistic ``Σ(e_t − e_{t−1})² / Σ e_t²`` (≈2: no lag-1 autocorrelation)."""
    e = np.asarray(resid, dtype=float)
    if e.ndim != 1 or e.size < 2:
        raise ValueError("residuals must be a 1-D array of at least 2 points")
    den = float(np.sum(e ** 2))
    if den == 0.0:
        return float("nan")
    return float(np.sum(np.diff(e) ** 2) / den)


def autocorrelation(resid, lags=(1, 2, 3)) -> list[float]:
    """Sample autocorrelation of the residuals at ``lags`` (Box-Jenkins estimator).

    ``r_k = Σ_{t>k}(e_t − ē)(e_{t−k} − ē) / Σ(e_t − ē)²``; NaN for a lag not
    shorter than the series or for constant residuals.
    """
    e = np.asarray(resid, dtype=float)
    d = e - e.mean()
    den = float(np.sum(d ** 2))
    out = []
    for k in lags:
        if k < 1:
            raise ValueError(f"lags must be >= 1, got {k}")
        if k >= e.size or den == 0.0:
            out.append(float("nan"))
        else:
            out.append(float(np.sum(d[k:] * d[:-k]) / den))
    return out


@dataclass(frozen=True)
class FitStatistics:
    """All statistics of one series (see :func:`fit_statistics`)."""

    n: int
    r2: float
    mape_pct: float
    rmse: float
    theil_u: float
    theil_um: float
    theil_us: float
    theil_uc: float
    durbin_watson: float
    autocorrelation: list

    def to_dict(self) -> dict:
        return asdict(self)


def fit_statistics(sim, obs, resid=None, lags=(1, 2, 3)) -> FitStatistics:
    """R², MAPE, RMSE, Theil U with U^M/U^S/U^C, Durbin-Watson and residual autocorrelation.

    Parameters
    ----------
    sim, obs : array (n,)
    resid : array (n,), optional
        Residuals for Durbin-Watson and the autocorrelations (e.g. the error
        model's log errors); default ``obs − sim``.
    """
    s, a = _pair(sim, obs)
    e = a - s if resid is None else np.asarray(resid, dtype=float)
    th = theil(s, a)
    return FitStatistics(n=int(s.size), r2=r_squared(s, a), mape_pct=mape(s, a),
                         rmse=rmse(s, a), theil_u=th.u, theil_um=th.um, theil_us=th.us,
                         theil_uc=th.uc, durbin_watson=durbin_watson(e),
                         autocorrelation=autocorrelation(e, lags))


def loglinear_trend(years, values) -> tuple[float, float]:
    """Least-squares fit of ``ln(value) = a + b·year``; returns ``(a, b)``.

    ``b`` is the continuous growth rate [1/year].
    """
    t = np.asarray(years, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.shape != y.shape or t.size < 2:
        raise ValueError("years and values must be equal-length arrays of at least 2 points")
    if np.any(y <= 0):
        raise ValueError("a log-linear trend needs positive values")
    b, a = np.polyfit(t, np.log(y), 1)
    return float(a), float(b)


def loglinear_values(coef: tuple[float, float], years) -> np.ndarray:
    """Trend values ``exp(a + b·year)`` at ``years``."""
    a, b = coef
    return np.exp(a + b * np.asarray(years, dtype=float))


def naive_growth_forecast(years, values, horizon) -> np.ndarray:
    """Carry the last observed growth rate forward.

    ``ŷ_{T+h} = y_T · (y_T / y_{T−1})^h`` for the years in ``horizon`` (after
    the last of ``years``, which must be consecutive at the end).
    """
    t = np.asarray(years, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.size < 2 or t[-1] - t[-2] != 1:
        raise ValueError("need the last two consecutive years to carry the growth forward")
    g = y[-1] / y[-2]
    h = np.asarray(horizon, dtype=float) - t[-1]
    if np.any(h <= 0):
        raise ValueError("forecast years must come after the last observed year")
    return y[-1] * g ** h
