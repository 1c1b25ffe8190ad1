"""Bounded nonlinear least squares: multi-start fit and a batched solver.

:func:`fit` screens a seeded Latin hypercube of start points in one ensemble
run, polishes the best few with :func:`scipy.optimize.least_squares` (trust
region reflective, bounds in unit coordinates, Jacobian by central differences
evaluated as one ensemble) and keeps the best. :func:`batched_lm` runs many
small fits at once (profile points, bootstrap replicates): a projected
Levenberg-Marquardt iteration whose Jacobians and trial steps for all fits are
each one ensemble run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import qmc

from sim.calibration.objective import Objective

LS_TOL = 1e-10
"""ftol, xtol and gtol of least_squares (the payoff is cheap; converge tightly)."""

SAME_OPTIMUM_RTOL = 1e-6
"""Two polished starts reached the same optimum when their payoffs differ by less."""


@dataclass(frozen=True)
class FitResult:
    """Outcome of a multi-start fit.

    Attributes
    ----------
    u, theta : ndarray (k,)
        Estimate in unit coordinates and in parameter units.
    residuals : ndarray (m,)
        Weighted residuals at the estimate.
    payoff : float
        Sum of squared weighted residuals.
    parts : dict
        Series -> its share of the payoff.
    jacobian : ndarray (m, k)
        Of the residuals in unit coordinates, at the estimate.
    success, status, message, nfev
        From the best least_squares run.
    n_screened : int
        Start points evaluated in the screening ensemble.
    polished_payoffs : list of float
        Final payoff of each polished start (best first).
    n_same_optimum : int
        Polished starts within :data:`SAME_OPTIMUM_RTOL` of the best payoff.
    """

    u: np.ndarray
    theta: np.ndarray
    residuals: np.ndarray
    payoff: float
    parts: dict
    jacobian: np.ndarray
    success: bool
    status: int
    message: str
    nfev: int
    n_screened: int
    polished_payoffs: list = field(default_factory=list)
    n_same_optimum: int = 1


def latin_hypercube(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` Latin-hypercube points in the unit cube [0, 1]^k, seeded by ``rng``."""
    return qmc.LatinHypercube(d=k, rng=rng).random(n)


def start_points(objective: Objective, n: int, rng: np.random.Generator) -> np.ndarray:
    """Return the model's own parameter values (clipped into the bounds) and ``n − 1`` LHS points."""
    space = objective.space
    default = np.array([objective.model.constants[objective.model.py_name(p)]
                        for p in space.names])
    u0 = np.clip(space.to_unit(default), 0.0, 1.0)
    u0 = np.where(np.isfinite(u0), u0, 0.5)
    if n == 1:
        return u0[None, :]
    return np.vstack([u0, latin_hypercube(space.k, n - 1, rng)])


def polish(objective: Objective, u0: np.ndarray, max_nfev: int = 200):
    """One bounded least-squares run from ``u0`` (unit coordinates)."""
    def jac(u):
        return objective.jacobian(u[None, :])[1][0]

    u0 = np.clip(u0, 1e-9, 1 - 1e-9)
    return least_squares(objective.residual_vector, u0, jac=jac, bounds=(0.0, 1.0),
                         method="trf", ftol=LS_TOL, xtol=LS_TOL, gtol=LS_TOL,
                         max_nfev=max_nfev)


def fit(objective: Objective, starts: np.ndarray, n_polish: int) -> FitResult:
    """Multi-start bounded least squares.

    Parameters
    ----------
    objective : Objective
    starts : ndarray (n, k)
        Start points in unit coordinates (see :func:`start_points`).
    n_polish : int
        How many of the best screened starts to polish.

    Returns
    -------
    FitResult
        The best polished fit; deterministic for given starts.
    """
    r = objective.residuals(objective.predict(starts))
    screened = np.sum(r ** 2, axis=1)
    order = np.argsort(screened, kind="stable")[:n_polish]
    runs = [polish(objective, starts[i]) for i in order]
    costs = np.array([2.0 * run.cost for run in runs])
    best = int(np.argmin(costs))
    run = runs[best]
    u = np.clip(run.x, 0.0, 1.0)
    r_hat, J = objective.jacobian(u[None, :])
    r_hat, J = r_hat[0], J[0]
    payoff = float(r_hat @ r_hat)
    same = int(np.sum(np.abs(costs - costs[best]) <= SAME_OPTIMUM_RTOL * max(costs[best], 1e-300)))
    return FitResult(u=u, theta=objective.space.to_theta(u), residuals=r_hat, payoff=payoff,
                     parts=objective.payoff_parts(r_hat), jacobian=J, success=bool(run.success),
                     status=int(run.status), message=str(run.message), nfev=int(run.nfev),
                     n_screened=len(starts), polished_payoffs=sorted(costs.tolist()),
                     n_same_optimum=same)


@dataclass(frozen=True)
class BatchResult:
    """Outcome of :func:`batched_lm` for N fits.

    Attributes
    ----------
    u : ndarray (N, k)
    payoff : ndarray (N,)
    converged : ndarray (N,) of bool
    iterations : int
    """

    u: np.ndarray
    payoff: np.ndarray
    converged: np.ndarray
    iterations: int


def batched_lm(objective: Objective, U0: np.ndarray, fixed: np.ndarray | None = None,
               values: np.ndarray | None = None, max_iter: int = 60,
               rtol: float = 1e-9) -> BatchResult:
    """Fit N problems at once by projected Levenberg-Marquardt.

    Each iteration evaluates the Jacobians of all N fits in one ensemble run,
    then three damped steps per fit (damping λ/10, λ, 10λ) in another, and
    keeps the best step that lowers the fit's payoff.

    Parameters
    ----------
    objective : Objective
    U0 : ndarray (N, k)
        Start points, unit coordinates.
    fixed : ndarray (N, k) of bool, optional
        Coordinates held at their start value (profile likelihood).
    values : ndarray (N, m), optional
        Observed values per fit (bootstrap replicates); default: the data.
    max_iter : int
    rtol : float
        A fit has converged when an iteration lowers its payoff by less than
        ``rtol`` relative, or its step is below ``rtol``.

    Returns
    -------
    BatchResult
    """
    U = np.array(U0, dtype=float, copy=True)
    n, k = U.shape
    fixed = np.zeros((n, k), dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    lam = np.full(n, 1e-3)
    done = np.zeros(n, dtype=bool)
    ssr = np.full(n, np.inf)
    factors = np.array([0.1, 1.0, 10.0])
    it = 0
    for it in range(1, max_iter + 1):
        act = np.nonzero(~done)[0]
        if act.size == 0:
            it -= 1
            break
        vals = None if values is None else values[act]
        r, J = objective.jacobian(U[act], vals)
        ssr[act] = np.sum(r ** 2, axis=1)
        g = np.einsum("nmk,nm->nk", J, r)
        u = U[act]
        at_bound = ((u <= 0.0) & (g > 0)) | ((u >= 1.0) & (g < 0))
        hold = fixed[act] | at_bound
        J = np.where(hold[:, None, :], 0.0, J)
        g = np.where(hold, 0.0, g)
        A = np.einsum("nmk,nml->nkl", J, J)
        diag = np.einsum("nkk->nk", A)
        delta = 1e-9 * diag.max(axis=1, keepdims=True) + 1e-15
        trial_u, trial_l = [], []
        for f in factors:
            lf = lam[act] * f
            M = A + (lf[:, None] * (diag + delta))[:, :, None] * np.eye(k)[None]
            d = -np.linalg.solve(M, g[:, :, None])[:, :, 0]
            d = np.where(hold, 0.0, d)
            trial_u.append(np.clip(u + d, 0.0, 1.0))
            trial_l.append(lf)
        T = np.concatenate(trial_u)
        tv = None if vals is None else np.concatenate([vals] * len(factors))
        rt = objective.residuals(objective.predict(T), tv)
        st = np.sum(rt ** 2, axis=1).reshape(len(factors), -1)
        pick = np.argmin(st, axis=0)
        best = st[pick, np.arange(act.size)]
        better = best < ssr[act]
        cand = np.stack(trial_u)[pick, np.arange(act.size)]
        step = np.max(np.abs(cand - u), axis=1)
        gain = (ssr[act] - best) / np.maximum(ssr[act], 1e-300)
        chosen_l = np.stack(trial_l)[pick, np.arange(act.size)]
        U[act[better]] = cand[better]
        ssr[act[better]] = best[better]
        lam[act] = np.where(better, np.maximum(chosen_l * 0.3, 1e-12),
                            np.minimum(lam[act] * 100.0, 1e12))
        conv = (better & ((gain < rtol) | (step < rtol))) | (~better & (lam[act] >= 1e12)) | (
            ~better & (step < rtol))
        done[act[conv]] = True
    if not done.all():  # payoff of the last accepted points
        act = np.nonzero(~done)[0]
        vals = None if values is None else values[act]
        ssr[act] = np.sum(objective.residuals(objective.predict(U[act]), vals) ** 2, axis=1)
    return BatchResult(u=U, payoff=ssr, converged=done.copy(), iterations=it)
