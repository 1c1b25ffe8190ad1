"""Parameter uncertainty: profile likelihood, residual bootstrap, correlations, flags.

Two methods a reviewer can compare:

- **Profile likelihood** (Venzon & Moolgavkar 1988; Raue et al. 2009): for
  each parameter on a grid, the payoff minimised over the others. With
  Gaussian errors of variance σ² (estimated as ``S(θ̂)/(m − k)``), the 95%
  interval is where ``(S_prof − S(θ̂))/σ² ≤ 3.84`` (χ²₁, 95%).
- **Residual bootstrap** (Efron & Tibshirani 1993, ch. 9): resample each
  target's errors (inflated by ``sqrt(m/(m − k))``), rebuild synthetic data
  around the fitted trajectories, refit; 2.5% and 97.5% percentiles.

All profile points of all parameters are one batched fit, and so are all
bootstrap replicates (:func:`sim.calibration.fit.batched_lm`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.calibration.fit import FitResult, batched_lm
from sim.calibration.objective import Objective

CHI2_95 = 3.84
"""95% quantile of χ² with one degree of freedom."""

NARROW = 0.5
"""A closed profile interval is "narrow" when it covers at most this fraction of
the search range (in the coordinates the parameter is searched in)."""

REFINE_POINTS = 6
"""Extra profile points placed inside each bracket of a threshold crossing."""


def sigma2(payoff: float, m: int, k: int) -> float:
    """Residual variance ``S/(m − k)`` (the weighted errors' variance estimate)."""
    if m <= k:
        raise ValueError(f"{m} observations cannot estimate {k} parameters and σ²")
    return payoff / (m - k)


@dataclass(frozen=True)
class Covariance:
    """Asymptotic covariance from the Jacobian at the optimum.

    Attributes
    ----------
    cov : ndarray (k, k)
        ``σ² (JᵀJ)⁺`` in parameter units.
    se : ndarray (k,)
        Standard errors.
    corr : ndarray (k, k)
        Correlation matrix (NaN where a standard error is 0).
    rank : int
        Numerical rank of J (k when all parameters move the residuals).
    """

    cov: np.ndarray
    se: np.ndarray
    corr: np.ndarray
    rank: int


def covariance(fit: FitResult, objective: Objective, s2: float) -> Covariance:
    """Covariance and correlation of the estimates from the Jacobian (Gauss-Newton)."""
    J = fit.jacobian / objective.space.dtheta_du(fit.u)[None, :]
    JtJ = J.T @ J
    cov = s2 * np.linalg.pinv(JtJ, rcond=1e-12, hermitian=True)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(se, se)
    corr = np.where(np.isfinite(corr), corr, np.nan)
    np.fill_diagonal(corr, np.where(se > 0, 1.0, np.nan))
    rank = int(np.linalg.matrix_rank(fit.jacobian, tol=1e-10 * max(
        np.abs(fit.jacobian).max(), 1e-300)))
    return Covariance(cov=cov, se=se, corr=np.clip(corr, -1.0, 1.0), rank=rank)


@dataclass(frozen=True)
class Profile:
    """The profile of one parameter.

    Attributes
    ----------
    name : str
    theta : ndarray (G,)
        Grid [parameter unit], ascending.
    delta : ndarray (G,)
        ``(S_prof − S(θ̂))/σ²`` at the grid points.
    interval : (float, float)
        95% interval [parameter unit]; a bound where the profile stays below
        the threshold (open side).
    open_low, open_high : bool
        The profile does not reach the threshold below / above the estimate.
    max_delta : float
    flag : {'identified', 'weakly identified', 'not identified'}
    evidence : str
    """

    name: str
    theta: np.ndarray
    delta: np.ndarray
    interval: tuple
    open_low: bool
    open_high: bool
    max_delta: float
    flag: str
    evidence: str


def _crossing(x: np.ndarray, d: np.ndarray, side: int, x_hat: float) -> tuple[float, bool]:
    """Where ``d`` first reaches CHI2_95 going from ``x_hat`` to one side (-1/+1).

    Returns (crossing, open): linear interpolation between the bracketing grid
    points, or the last grid point and ``open=True`` when it never does.
    """
    sel = (x <= x_hat) if side < 0 else (x >= x_hat)
    xs, ds = x[sel], d[sel]
    order = np.argsort(xs)[::-1] if side < 0 else np.argsort(xs)
    xs, ds = xs[order], ds[order]
    for i in range(1, len(xs)):
        if ds[i] >= CHI2_95:
            d0, d1 = max(ds[i - 1], 0.0), ds[i]
            f = (CHI2_95 - d0) / (d1 - d0) if d1 > d0 else 1.0
            return float(xs[i - 1] + f * (xs[i] - xs[i - 1])), False
    return float(xs[-1]) if len(xs) else float(x_hat), True


def identification(u_grid: np.ndarray, delta: np.ndarray, u_hat: float
                   ) -> tuple[tuple[float, float], bool, bool, str, str]:
    """Interval (unit coordinates), open sides, flag and evidence from one profile.

    identified: closed on both sides within the bounds and narrow (at most
    :data:`NARROW` of the search range); weakly identified: open on one side,
    or closed but wide; not identified: the profile stays below the threshold
    over the whole search range (flat).
    """
    lo, open_lo = _crossing(u_grid, delta, -1, u_hat)
    hi, open_hi = _crossing(u_grid, delta, +1, u_hat)
    width = hi - lo
    dmax = float(np.max(delta))
    d_lo, d_hi = float(delta[np.argmin(u_grid)]), float(delta[np.argmax(u_grid)])
    ends = (f"Δχ² = {d_lo:.3g} at the lower bound, {d_hi:.3g} at the upper bound "
            f"(threshold {CHI2_95})")
    if dmax < CHI2_95:
        flag = "not identified"
        ev = f"flat profile: max Δχ² = {dmax:.3g} < {CHI2_95} over the whole range; {ends}"
    elif open_lo or open_hi:
        flag = "weakly identified"
        side = "both sides" if open_lo and open_hi else ("below" if open_lo else "above")
        ev = f"profile open {side} the estimate within the bounds; {ends}"
    elif width > NARROW:
        flag = "weakly identified"
        ev = (f"profile closed but wide: interval covers {100 * width:.0f}% of the search "
              f"range (> {100 * NARROW:.0f}%); {ends}")
    else:
        flag = "identified"
        ev = (f"profile closed on both sides; interval covers {100 * width:.0f}% of the "
              f"search range; {ends}")
    if u_hat <= 1e-6 or u_hat >= 1 - 1e-6:
        ev += (f"; the estimate lies on the {'lower' if u_hat <= 1e-6 else 'upper'} bound "
               "(the data push it outside the plausible range)")
    return (lo, hi), open_lo, open_hi, flag, ev


def profiles(objective: Objective, fit: FitResult, s2: float, points: int,
             max_iter: int = 60) -> list[Profile]:
    """Profile likelihood of every free parameter.

    A coarse grid of ``points`` values over the bounds (plus the estimate) for
    every parameter, all refitted in one batched run; then
    :data:`REFINE_POINTS` more inside each bracket where the threshold is
    crossed, in a second batched run.
    """
    space = objective.space
    k = space.k
    u_hat = fit.u

    def run(jobs: list[tuple[int, float]], warm: np.ndarray) -> np.ndarray:
        if not jobs:
            return np.empty(0)
        idx = np.array([j for j, _ in jobs])
        U0 = warm.copy()
        U0[np.arange(len(jobs)), idx] = [v for _, v in jobs]
        fixed = np.zeros_like(U0, dtype=bool)
        fixed[np.arange(len(jobs)), idx] = True
        if k == 1:
            r = objective.residuals(objective.predict(U0))
            return np.sum(r ** 2, axis=1)
        return batched_lm(objective, U0, fixed=fixed, max_iter=max_iter).payoff

    coarse = np.linspace(0.0, 1.0, points)
    jobs = [(j, float(v)) for j in range(k) for v in coarse]
    pay = run(jobs, np.repeat(u_hat[None, :], len(jobs), axis=0))
    grids = {j: (list(coarse), list(pay[j * points:(j + 1) * points])) for j in range(k)}
    best = min(fit.payoff, float(np.min(pay)))
    refine = []
    for j in range(k):
        x = np.array(grids[j][0])
        d = (np.array(grids[j][1]) - best) / s2
        for side in (-1, +1):
            sel = np.nonzero((x - u_hat[j]) * side > 0)[0]
            sel = sel[np.argsort(np.abs(x[sel] - u_hat[j]))]
            prev = u_hat[j]
            for i in sel:
                if d[i] >= CHI2_95:
                    for v in np.linspace(prev, x[i], REFINE_POINTS + 2)[1:-1]:
                        refine.append((j, float(v)))
                    break
                prev = x[i]
    pay2 = run(refine, np.repeat(u_hat[None, :], len(refine), axis=0))
    for (j, v), p in zip(refine, pay2, strict=True):
        grids[j][0].append(v)
        grids[j][1].append(float(p))
    best = min(best, float(np.min(pay2)) if len(pay2) else best)
    out = []
    for j, name in enumerate(space.names):
        x = np.append(np.array(grids[j][0]), u_hat[j])
        p = np.append(np.array(grids[j][1]), fit.payoff)
        order = np.argsort(x, kind="stable")
        x, p = x[order], p[order]
        keep = np.concatenate([[True], np.diff(x) > 1e-12])
        x, p = x[keep], p[keep]
        d = (p - best) / s2
        (lo, hi), olo, ohi, flag, ev = identification(x, d, float(u_hat[j]))
        if best < fit.payoff * (1 - 1e-6):
            ev += (f"; note: the profile found a payoff {best:.6g} below the fit's "
                   f"{fit.payoff:.6g} (a better optimum exists)")
        th = _coordinate_map(space, j)
        out.append(Profile(name=name, theta=th(x), delta=d,
                           interval=(float(th(lo)), float(th(hi))), open_low=olo, open_high=ohi,
                           max_delta=float(np.max(d)), flag=flag, evidence=ev))
    return out


def _coordinate_map(space, j: int):
    """Map unit coordinates of parameter ``j`` alone to its values."""
    def th(uj):
        uj = np.asarray(uj, dtype=float)
        U = np.zeros(uj.shape + (space.k,))
        U[..., j] = uj
        return space.to_theta(U)[..., j]
    return th


@dataclass(frozen=True)
class Bootstrap:
    """Residual-bootstrap estimates.

    Attributes
    ----------
    theta : ndarray (B, k)
        Refitted estimates [parameter units] of the converged replicates.
    n_replicates, n_converged : int
    interval : ndarray (k, 2)
        2.5% and 97.5% percentiles.
    """

    theta: np.ndarray
    n_replicates: int
    n_converged: int
    interval: np.ndarray


def bootstrap(objective: Objective, fit: FitResult, n: int, rng: np.random.Generator,
              max_iter: int = 60) -> Bootstrap:
    """Residual bootstrap: resample each target's errors, refit all replicates at once.

    Errors are resampled within each series (their scales differ), inflated
    by ``sqrt(m/(m − k))`` for the degrees of freedom the fit used, and put
    back on the fitted trajectories through the error model's inverse.
    Replicates start from the estimate (warm start).
    """
    obs = objective.obs
    k = objective.space.k
    pred = objective.predict(fit.u[None, :])[0]
    e = objective.errors(pred[None, :])[0]
    infl = np.sqrt(obs.m / (obs.m - k))
    E = np.empty((n, obs.m))
    for i in range(len(obs.series)):
        sel = np.nonzero(obs.target == i)[0]
        picks = rng.integers(0, sel.size, size=(n, sel.size))
        E[:, sel] = e[sel][picks] * infl
    values = objective.synthetic_values(pred[None, :], E)
    res = batched_lm(objective, np.repeat(fit.u[None, :], n, axis=0), values=values,
                     max_iter=max_iter)
    ok = res.converged & np.isfinite(res.payoff)
    theta = objective.space.to_theta(res.u[ok])
    if len(theta) == 0:
        iv = np.full((k, 2), np.nan)
    else:
        iv = np.percentile(theta, [2.5, 97.5], axis=0).T
    return Bootstrap(theta=theta, n_replicates=n, n_converged=int(ok.sum()), interval=iv)
