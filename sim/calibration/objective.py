"""The calibration payoff: weighted residuals of the targets, for a whole ensemble.

Parameters are searched in unit coordinates ``u ∈ [0, 1]^k`` mapped onto
their bounds (linearly, or in log for ``scale: log``), so that one finite
difference step and one damping scale suit every parameter.

The residual of target ``s`` in year ``t`` is ``sqrt(w_s) · e_st`` with

- ``log`` error model: ``e = ln(model) − ln(observed)``;
- ``relative`` error model: ``e = (model − observed) / observed``;

where ``model`` is the target variable times the target's ``scale`` at the
saved time ``t``. The payoff is the sum of squared residuals (Sterman 2000,
ch. 21: a weighted least-squares fit to the historical series).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.calibration.spec import CalibrationSpec
from sim.data.observed import ObservedData

PENALTY = 10.0
"""Residual given to an observation the model cannot produce (non-finite, or
non-positive under the log error model): e^10 ≈ 22,000× off."""

FD_STEP = {"euler": 1e-6, "rk4": 1e-6, "scipy": 1e-4}
"""Finite-difference step in unit coordinates by integration method: fixed-step
integration is smooth in the parameters; adaptive steps add noise of the order
of the tolerance, so the step must be larger."""


@dataclass(frozen=True)
class ParameterSpace:
    """Free parameters and the map between unit coordinates and their values.

    Attributes
    ----------
    names : tuple of str
        Vensim names, in specification order.
    lower, upper : ndarray (k,)
        Bounds [parameter units].
    log : ndarray (k,) of bool
        Parameters searched in log coordinates.
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    log: np.ndarray

    @classmethod
    def from_spec(cls, spec: CalibrationSpec) -> ParameterSpace:
        names = tuple(spec.parameters)
        lo = np.array([spec.parameters[n].bounds[0] for n in names], dtype=float)
        hi = np.array([spec.parameters[n].bounds[1] for n in names], dtype=float)
        log = np.array([spec.parameters[n].scale == "log" for n in names], dtype=bool)
        return cls(names, lo, hi, log)

    @property
    def k(self) -> int:
        return len(self.names)

    def to_theta(self, u: np.ndarray) -> np.ndarray:
        """Map unit coordinates (..., k) -> parameter values (..., k)."""
        u = np.asarray(u, dtype=float)
        lin = self.lower + u * (self.upper - self.lower)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.exp(np.log(np.where(self.log, self.lower, 1.0)) + u * (
                np.log(np.where(self.log, self.upper, 1.0)) - np.log(
                    np.where(self.log, self.lower, 1.0))))
        return np.clip(np.where(self.log, lg, lin), self.lower, self.upper)

    def to_unit(self, theta: np.ndarray) -> np.ndarray:
        """Parameter values (..., k) -> unit coordinates (..., k)."""
        theta = np.asarray(theta, dtype=float)
        lin = (theta - self.lower) / (self.upper - self.lower)
        safe_lo = np.where(self.log, self.lower, 1.0)
        safe_hi = np.where(self.log, self.upper, 2.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = (np.log(np.where(self.log, theta, 1.0)) - np.log(safe_lo)) / (
                np.log(safe_hi) - np.log(safe_lo))
        return np.where(self.log, lg, lin)

    def dtheta_du(self, u: np.ndarray) -> np.ndarray:
        """Return the derivative of the map at ``u`` (k,)."""
        theta = self.to_theta(u)
        lin = self.upper - self.lower
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = theta * (np.log(np.where(self.log, self.upper, 2.0)) - np.log(
                np.where(self.log, self.lower, 1.0)))
        return np.where(self.log, lg, lin)


@dataclass(frozen=True)
class Observations:
    """The observed figures a payoff is computed on, flattened.

    Attributes
    ----------
    series, variables : tuple of str
        Per target.
    weights, scales : ndarray (n_targets,)
    target : ndarray (m,) of int
        Target index of each observation.
    years : ndarray (m,) of int
    values : ndarray (m,)
        Observed values [series unit].
    """

    series: tuple[str, ...]
    variables: tuple[str, ...]
    roles: tuple[str, ...]
    weights: np.ndarray
    scales: np.ndarray
    target: np.ndarray
    years: np.ndarray
    values: np.ndarray

    @property
    def m(self) -> int:
        return len(self.values)

    def select(self, series: str) -> np.ndarray:
        """Boolean mask (m,) of the observations of one series."""
        return self.target == self.series.index(series)


def build_observations(spec: CalibrationSpec, observed: ObservedData,
                       last_year: int | None = None, min_points: int = 3) -> Observations:
    """Collect the targets' observed values inside the window (up to ``last_year``).

    Raises
    ------
    ValueError
        A target series has fewer than ``min_points`` observations in the window.
    """
    start, end = spec.window
    end = end if last_year is None else min(end, last_year)
    target, years, values = [], [], []
    for i, t in enumerate(spec.targets):
        s = observed.series(t.series)
        s = s[(s.index >= start) & (s.index <= end)]
        if len(s) < min_points:
            raise ValueError(f"target '{t.series}' has {len(s)} observations in {start}-{end}; "
                             f"at least {min_points} are needed")
        target += [i] * len(s)
        years += [int(y) for y in s.index]
        values += [float(v) for v in s.to_numpy()]
    return Observations(
        series=tuple(t.series for t in spec.targets),
        variables=tuple(t.variable for t in spec.targets),
        roles=tuple(t.role for t in spec.targets),
        weights=np.array([t.weight for t in spec.targets], dtype=float),
        scales=np.array([t.scale for t in spec.targets], dtype=float),
        target=np.array(target, dtype=int), years=np.array(years, dtype=int),
        values=np.array(values, dtype=float))


class Objective:
    """Residuals of the targets for ensembles of parameter sets.

    Parameters
    ----------
    model : sim.Model
    spec : CalibrationSpec
    observations : Observations
    space : ParameterSpace
    fixed : dict, optional
        Constants set in every simulation (e.g. the projection of the inputs
        from a forecast origin), as ``Model.simulate`` takes them.

    Attributes
    ----------
    prior : (ndarray (k,), float) or None
        Shrinkage of the fits from short samples: ``(u0, w)`` appends the rows
        ``w (u - u0)`` to :meth:`residual_vector` and :meth:`jacobian`, a
        Gaussian prior in unit coordinates (MAP estimate). None: the data alone.

    Notes
    -----
    Every method taking ``U`` accepts an (N, k) array of unit coordinates and
    simulates all N members in one vectorised run.
    """

    def __init__(self, model, spec: CalibrationSpec, observations: Observations,
                 space: ParameterSpace, fixed: dict | None = None) -> None:
        self.model = model
        self.spec = spec
        self.obs = observations
        self.space = space
        self.fixed = dict(fixed or {})
        self.prior: tuple[np.ndarray, float] | None = None
        self.n_runs = 0
        self.n_members = 0

    # ------------------------------------------------------------ simulation
    def simulate(self, theta: np.ndarray, final_time: float | None = None,
                 outputs: list[str] | None = None, extra: dict | None = None):
        """Simulate parameter sets ``theta`` (N, k) [parameter units] in one run.

        Returns the :class:`sim.SimulationResult`, saved once a year.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        params = dict(self.fixed)
        params.update({name: theta[:, j] for j, name in enumerate(self.space.names)})
        if extra:
            params.update(extra)
        self.n_runs += 1
        self.n_members += theta.shape[0]
        return self.model.simulate(
            params=params, method=self.spec.method,
            final_time=self.spec.window[1] if final_time is None else final_time,
            saveper=1.0, outputs=list(dict.fromkeys(outputs or self.obs.variables)))

    def values_at(self, res, variable: str, years: np.ndarray) -> np.ndarray:
        """Values of ``variable`` at ``years`` from a result: (N, len(years))."""
        arr = np.asarray(res[variable], dtype=float).reshape(len(res.times), -1)  # (T, N)
        idx = np.searchsorted(res.times, years.astype(float) - 1e-9)
        if np.any(idx >= len(res.times)) or not np.allclose(res.times[idx], years, atol=1e-6):
            raise ValueError(f"the simulation does not save every year {years.min()}-"
                             f"{years.max()} (saved times {res.times[:3]}...)")
        return arr[idx].T

    def predict_theta(self, theta: np.ndarray) -> np.ndarray:
        """Model values matched to the observations: (N, m) [series units]."""
        res = self.simulate(theta)
        out = np.empty((res.n_members, self.obs.m))
        for i, var in enumerate(self.obs.variables):
            sel = self.obs.target == i
            out[:, sel] = self.values_at(res, var, self.obs.years[sel]) * self.obs.scales[i]
        return out

    def predict(self, U: np.ndarray) -> np.ndarray:
        """As :meth:`predict_theta`, from unit coordinates (N, k)."""
        return self.predict_theta(self.space.to_theta(np.atleast_2d(U)))

    # ------------------------------------------------------------- residuals
    def errors(self, pred: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """Unweighted errors ``e`` (N, m) of the error model; PENALTY where undefined."""
        obs = self.obs.values if values is None else values
        with np.errstate(all="ignore"):
            if self.spec.error_model == "log":
                e = np.log(pred) - np.log(obs)
            else:
                e = (pred - obs) / obs
        return np.where(np.isfinite(e), e, PENALTY)

    def residuals(self, pred: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """Weighted residuals ``sqrt(w) · e`` (N, m)."""
        return self.errors(pred, values) * np.sqrt(self.obs.weights[self.obs.target])

    def residual_vector(self, u: np.ndarray) -> np.ndarray:
        """Weighted residuals (m,) of one parameter set in unit coordinates.

        With a :attr:`prior` (shrinkage), ``k`` prior rows follow the ``m`` data rows.
        """
        r = self.residuals(self.predict(np.asarray(u)[None, :]))[0]
        if self.prior is None:
            return r
        u0, w = self.prior
        return np.concatenate([r, w * (np.asarray(u, dtype=float) - u0)])

    def payoff_parts(self, r: np.ndarray) -> dict[str, float]:
        """Each target's share of the payoff (sum of its squared residuals)."""
        r = r[:self.obs.m]
        return {s: float(np.sum(r[self.obs.target == i] ** 2))
                for i, s in enumerate(self.obs.series)}

    def synthetic_values(self, pred: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Observed values that give errors ``e`` against model values ``pred``.

        The inverse of :meth:`errors`, used by the residual bootstrap.
        """
        if self.spec.error_model == "log":
            return pred * np.exp(-e)
        return pred / (1.0 + e)

    # -------------------------------------------------------------- jacobian
    def jacobian(self, U: np.ndarray, values: np.ndarray | None = None,
                 step: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Residuals and their Jacobian in unit coordinates for N points at once.

        Central differences (one-sided at a bound), all 2k+1 evaluations of
        all N points in one ensemble run.

        Parameters
        ----------
        U : ndarray (N, k)
        values : ndarray (N, m) or (m,), optional
            Observed values per point (bootstrap replicates); default: the data.
        step : float, optional
            Finite-difference step in unit coordinates; default by method
            (:data:`FD_STEP`).

        Returns
        -------
        r : ndarray (N, m)
        J : ndarray (N, m, k)
        """
        U = np.atleast_2d(np.asarray(U, dtype=float))
        n, k = U.shape
        step = FD_STEP[self.spec.method] if step is None else step
        plus = np.repeat(U[:, None, :], k, axis=1)   # (N, k, k)
        minus = plus.copy()
        eye = np.arange(k)
        plus[:, eye, eye] = np.minimum(U + step, 1.0)
        minus[:, eye, eye] = np.maximum(U - step, 0.0)
        h = plus[:, eye, eye] - minus[:, eye, eye]  # (N, k)
        batch = np.concatenate([U, plus.reshape(-1, k), minus.reshape(-1, k)])
        pred = self.predict(batch)
        vals = self.obs.values if values is None else np.asarray(values)
        if vals.ndim == 2:
            vals_all = np.concatenate([vals, np.repeat(vals, k, axis=0),
                                       np.repeat(vals, k, axis=0)])
        else:
            vals_all = vals
        res = self.residuals(pred, vals_all)
        r0 = res[:n]
        rp = res[n:n + n * k].reshape(n, k, -1)
        rm = res[n + n * k:].reshape(n, k, -1)
        J = np.transpose((rp - rm) / h[:, :, None], (0, 2, 1))
        if self.prior is not None:
            u0, w = self.prior
            k = U.shape[1]
            r0 = np.concatenate([r0, w * (U - u0)], axis=1)
            J = np.concatenate([J, np.broadcast_to(w * np.eye(k), (n, k, k))], axis=1)
        return r0, J
