"""Integrators: Vensim-equivalent fixed-step Euler and RK4, SciPy's solve_ivp solvers and DOPRI5.

All share one contract: they get the derivative ``rates(t, y, full)`` of an
:class:`~sim.runtime.Evaluator` and call ``sample(k, t)`` right after the
auxiliaries have been evaluated at the k-th save time, so recorded values are
Vensim's (auxiliaries computed from the stocks at that time); a SciPy run may
instead hand all saved states to ``sample_many`` at the end. ``full=False``
lets the evaluator skip auxiliaries that no stock's rate needs.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau, ode

from .errors import ParameterError

try:  # the interpolant of SciPy's explicit Runge-Kutta solvers, evaluated in batches below
    from scipy.integrate._ivp.rk import RkDenseOutput
except ImportError:  # pragma: no cover - a SciPy that moved it: call each interpolant instead
    RkDenseOutput = None
try:  # what a restarted RK solver needs (_Starter); without them each segment gets a new one
    from scipy.integrate._ivp.common import validate_first_step
    from scipy.integrate._ivp.rk import RungeKutta
except ImportError:  # pragma: no cover
    RungeKutta = None


@dataclass(frozen=True)
class TimeGrid:
    """The time axis of a run [model time units]."""

    t0: float
    tf: float
    dt: float
    saveper: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ParameterError(f"TIME STEP must be a positive number, got {self.dt}")
        if not self.tf > self.t0:
            raise ParameterError(f"FINAL TIME ({self.tf}) must be after INITIAL TIME ({self.t0})")
        if not (math.isfinite(self.saveper) and self.saveper > 0):
            raise ParameterError(f"SAVEPER must be a positive number, got {self.saveper}")
        ratio = self.saveper / self.dt
        if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
            raise ParameterError(f"SAVEPER ({self.saveper}) must be a whole multiple of TIME STEP "
                                 f"({self.dt})")
        steps = (self.tf - self.t0) / self.dt
        if abs(steps - round(steps)) > 1e-6:
            raise ParameterError(f"FINAL TIME - INITIAL TIME ({self.tf - self.t0}) must be a whole "
                                 f"multiple of TIME STEP ({self.dt})")

    @property
    def n_steps(self) -> int:
        return int(round((self.tf - self.t0) / self.dt))

    @property
    def save_every(self) -> int:
        return int(round(self.saveper / self.dt))

    @functools.cached_property
    def save_times(self) -> np.ndarray:
        """The saved times (computed once; do not modify the array)."""
        n = self.n_steps // self.save_every
        times = self.t0 + self.saveper * np.arange(n + 1)
        if times[-1] < self.tf - 1e-9 * max(1.0, abs(self.tf)):
            times = np.append(times, self.tf)
        return times


def _axpy(y, a, r):
    if isinstance(y, list):
        return [yi + a * ri for yi, ri in zip(y, r, strict=True)]
    return y + a * r


def _fixed_step(rates: Callable, y0, grid: TimeGrid, sample: Callable, advance: Callable,
                post_step: Callable | None) -> None:
    """March at TIME STEP: derivative at t (all auxiliaries when saving), save, advance."""
    y, k_save, every, h = y0, 0, grid.save_every, grid.dt
    n = grid.n_steps
    for k in range(n + 1):
        t = grid.t0 + k * h
        save = k % every == 0 or k == n
        k1 = rates(t, y, save)
        if save:
            sample(k_save, t, y)
            k_save += 1
        if k == n:
            break
        if post_step is not None:
            post_step()
        y = advance(t, y, k1, h)


def euler(rates: Callable, y0, grid: TimeGrid, sample: Callable,
          post_step: Callable | None = None) -> None:
    """Vensim's Euler: y(t+dt) = y(t) + dt * f(t, y(t)), saved every SAVEPER.

    ``post_step()`` runs once per step after the derivative (discrete state
    such as DELAY N's delay-time pipeline).
    """
    _fixed_step(rates, y0, grid, sample, lambda t, y, k1, h: _axpy(y, h, k1), post_step)


def rk4(rates: Callable, y0, grid: TimeGrid, sample: Callable,
        post_step: Callable | None = None) -> None:
    """Classical fourth-order Runge-Kutta at TIME STEP, saved every SAVEPER."""
    def advance(t, y, k1, h):
        k2 = rates(t + h / 2, _axpy(y, h / 2, k1), False)
        k3 = rates(t + h / 2, _axpy(y, h / 2, k2), False)
        k4 = rates(t + h, _axpy(y, h, k3), False)
        if isinstance(y, list):
            return [yi + h / 6 * (a + 2 * b + 2 * c + d) for yi, a, b, c, d in zip(y, k1, k2, k3, k4)]
        return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    _fixed_step(rates, y0, grid, sample, advance, post_step)


SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA", "DOPRI5")
_SOLVERS = {"RK45": RK45, "RK23": RK23, "DOP853": DOP853, "Radau": Radau, "BDF": BDF, "LSODA": LSODA}
#: step budget of one DOPRI5 call (between two saved times); SciPy's default is 500
DOPRI5_MAX_STEPS = 100_000


def scipy_piecewise(rates: Callable, y0, grid: TimeGrid, breaks: list[float],
                    sample: Callable, method: str, rtol: float, atol: float,
                    shape: tuple | None = None, tol: float = 0.0,
                    blame: Callable | None = None,
                    segment_rates: Callable | None = None,
                    sample_many: Callable | None = None) -> tuple[bool, str, float]:
    """Integrate with SciPy's ``solve_ivp`` solvers, segment by segment between the switch times.

    Each segment runs one of the solver classes ``solve_ivp`` dispatches to
    (:class:`scipy.integrate.RK45`, ``LSODA``, ``BDF``, ...) with the same
    options, and steps it exactly as ``solve_ivp`` does; the saved values come
    from the solver's dense output of the step that contains them, which is
    what ``solve_ivp(..., dense_output=True)`` returns there (a test checks the
    two agree to rounding). Driving the classes directly skips what a
    piecewise run does not need: an interpolant for every step, the result
    object, and the argument checks of each segment.

    Inside a segment the right-hand side is evaluated with the time clipped
    into the open interval (by more than ``tol``, the time functions'
    tolerance), so a STEP at a segment's edge is seen on the correct side and
    the solver never meets a discontinuity. Saved values are evaluated at the
    exact saved time. The step size reached at the end of a segment is the
    first step of the next, instead of a restart from a tiny one.

    When the solver fails in an ensemble, ``blame(t, y)`` may name members to
    freeze (their derivative is set to zero from then on); integration then
    resumes from where it stopped, so one diverging member does not sink
    the others.

    ``segment_rates(lo, hi)``, when given, returns the clipped right-hand side
    ``f(t, y)`` of one segment directly (1-D states), in place of a clip
    around ``rates``. It must return a float64 array of the states' shape:
    the solver then calls it without SciPy's conversion wrapper.

    ``sample_many(ks, ts, states)``, when given (1-D states), records all save
    times at the end in one call (``states`` is stocks x len(ts)), in place of
    ``rates`` + ``sample`` at each; the run's outcome is the same, since every
    evaluation is a function of the time and the stocks alone.

    Returns
    -------
    (success, message, t_fail)
    """
    if method not in SCIPY_METHODS:
        raise ParameterError(f"scipy_method '{method}' is not one of {', '.join(SCIPY_METHODS)}")
    solver_class = _SOLVERS.get(method)
    run_segment = _segment if solver_class is not None else _segment_dopri5
    edges = [grid.t0] + sorted(b for b in set(breaks) if grid.t0 < b < grid.tf) + [grid.tf]
    save = grid.save_times
    y = np.asarray(y0, dtype=float).ravel()
    scale = max(1.0, abs(grid.t0), abs(grid.tf))
    eps = max(4.0 * tol, 1e-12 * scale)
    h_last = None
    collected: list | None = [] if sample_many is not None and shape and len(shape) == 1 else None
    raw = bool(segment_rates is not None and shape and len(shape) == 1)
    starter = _Starter(solver_class, rtol, atol, raw)
    save_at = save.tolist()

    def shaped(yy):
        return yy.reshape(shape) if shape else yy.tolist()

    for i in range(len(edges) - 1):
        a, b = edges[i], edges[i + 1]
        lo, hi = a + eps, b - eps
        last = i == len(edges) - 2
        pending = [k for k, tk in enumerate(save_at)
                   if tk >= a - eps and (tk < b - eps or (last and tk <= b + eps))]

        if raw:
            fun = segment_rates(lo, hi)
        elif shape and len(shape) == 1:
            def fun(t, yy, lo=lo, hi=hi):
                return rates(lo if t < lo else (hi if t > hi else t), yy, False)
        elif shape:
            def fun(t, yy, lo=lo, hi=hi):
                tc = lo if t < lo else (hi if t > hi else t)
                return rates(tc, yy.reshape(shape), False).ravel()
        else:
            def fun(t, yy, lo=lo, hi=hi):
                tc = lo if t < lo else (hi if t > hi else t)
                return np.array(rates(tc, yy.tolist(), False))

        start, ystart = a, y
        while True:
            first = min(h_last, b - start) if h_last else None
            ok, message, t_end, y_end, h = run_segment(starter, fun, start, ystart, b, rtol,
                                                       atol, first, save, pending, rates, sample,
                                                       shaped, collected, raw)
            h_last = h or h_last
            if ok:
                y = y_end
                break
            culprits = blame(t_end, y_end) if blame is not None else []
            if not len(culprits):
                _record(collected, sample_many)
                return False, message, t_end
            start, ystart = t_end, y_end.copy()
    _record(collected, sample_many)
    return True, "ok", grid.tf


def _record(collected: list | None, sample_many: Callable | None) -> None:
    """Hand the collected (k, t, state or interpolant) save points to ``sample_many`` at once."""
    if collected:
        ks, ts, states = zip(*collected)
        sample_many(np.asarray(ks), np.asarray(ts, dtype=float), _states(ts, states))


def _states(ts, items) -> np.ndarray:
    """States (n, K) at the times ``ts``: each item is a state or the RK interpolant of its step.

    The interpolants are evaluated together, with the formula of SciPy's
    ``RkDenseOutput`` (``y_old + h Q [x, x^2, ...]``, ``x = (t - t_old) / h``):
    one numpy expression instead of a call per saved time.
    """
    dense = [j for j, it in enumerate(items) if not isinstance(it, np.ndarray)]
    n = next((it.shape[0] for it in items if isinstance(it, np.ndarray)), None)
    if n is None:
        n = items[0].y_old.shape[0]
    out = np.empty((n, len(items)))
    for j, it in enumerate(items):
        if isinstance(it, np.ndarray):
            out[:, j] = it
    if dense:
        d = [items[j] for j in dense]
        h = np.array([it.h for it in d])
        x = (np.array([ts[j] for j in dense]) - np.array([it.t_old for it in d])) / h
        q = np.stack([it.Q for it in d])                            # (m, n, order + 1)
        p = np.cumprod(np.repeat(x[:, None], q.shape[2], axis=1), axis=1)
        out[:, dense] = (h[:, None] * np.einsum("mnj,mj->mn", q, p)
                         + np.stack([it.y_old for it in d])).T
    return out


def _recorder(collected: list | None, rates: Callable, sample: Callable,
              shaped: Callable) -> Callable:
    """``record(k, t, state)``: keep a save point for the batch at the end, or sample it now."""
    if collected is not None:
        return lambda k, tk, ys: collected.append((k, tk, ys))

    def record(k, tk, ys):
        rates(tk, shaped(ys), True)
        sample(k, tk, shaped(ys))
    return record


class _Starter:
    """The solver of each segment: a new one, or the last one started again (explicit RK classes).

    A Runge-Kutta solver's state between steps is its time, state, derivative
    there and next step size; starting it again at a segment's edge sets these
    as its constructor would (with ``first_step``), without its argument checks
    and set-up, which cost as much as a step. The other classes, and a right-hand
    side that needs SciPy's wrapper (``raw`` False), get a new solver. A test
    checks both ways give the same numbers.
    """

    def __init__(self, solver_class, rtol: float, atol: float, raw: bool) -> None:
        self.solver_class, self.rtol, self.atol, self.raw = solver_class, rtol, atol, raw
        self.last = None

    def __call__(self, fun, t0: float, y0: np.ndarray, t_bound: float, first_step: float | None):
        s = self.last
        if s is not None and first_step and t_bound > t0:
            s.fun = fun
            s.t_old, s.t, s.t_bound, s.status = None, t0, t_bound, "running"
            s.y, s.y_old, s.h_previous = np.array(y0, dtype=float), None, None
            s.f = fun(t0, s.y)
            s.h_abs = validate_first_step(first_step, t0, t_bound)
            return s
        opts = {"first_step": first_step} if first_step else {}
        s = self.solver_class(fun, t0, y0, t_bound, rtol=self.rtol, atol=self.atol, **opts)
        if self.raw:
            s.fun = fun
            if REUSE_SOLVERS and RungeKutta is not None and isinstance(s, RungeKutta) \
                    and s.direction == 1:
                self.last = s
        return s


#: start explicit RK solvers again at each segment instead of building new ones (tests compare)
REUSE_SOLVERS = True


def _segment(starter: _Starter, fun, start: float, ystart: np.ndarray, end: float, rtol: float,
             atol: float, first_step: float | None, save: np.ndarray, pending: list[int],
             rates: Callable, sample: Callable, shaped: Callable, collected: list | None = None,
             raw: bool = False):
    """Step one solver (from ``starter``) from ``start`` to ``end``, sampling the save times
    ``pending`` on the way.

    Save points go to ``collected`` (k, t, state) when it is a list, else are
    evaluated and sampled at once. ``raw``: ``fun`` already returns float64
    arrays, so the solver calls it directly instead of through SciPy's
    conversion and counting wrapper (``solver.nfev`` then stays at 1).

    Returns
    -------
    (reached end, solver message, time reached, state there, step size to carry on with)
    """
    solver = starter(fun, start, ystart, end, first_step)
    h_prev = h_cur = 0.0
    record = _recorder(collected, rates, sample, shaped)

    inf = float("inf")

    def flush(t_now, finished) -> float:
        """Record the pending save times up to ``t_now``; return the next one."""
        dense = None
        while pending and (finished or float(save[pending[0]]) <= t_now):
            k = pending.pop(0)
            tk = float(save[k])
            if tk <= start:
                ys = ystart
            else:
                dense = dense or solver.dense_output()
                if collected is not None and RkDenseOutput is not None \
                        and type(dense) is RkDenseOutput and tk <= end:
                    collected.append((k, tk, dense))  # evaluated with the others after the run
                    continue
                ys = np.asarray(dense(min(tk, end)), dtype=float)
            record(k, tk, ys)
        return float(save[pending[0]]) if pending else inf

    following = flush(start, False)
    message = None
    while solver.status == "running":
        message = solver.step()
        if solver.status == "failed":
            break
        h_prev, h_cur = h_cur, solver.t - solver.t_old
        if solver.t >= following or solver.status == "finished":
            following = flush(solver.t, solver.status == "finished")
    # the last step is often cut short by the segment's end: carry the one before it
    h = h_prev if h_cur < h_prev else h_cur
    ok = solver.status == "finished"
    return ok, str(message), float(solver.t), np.asarray(solver.y, dtype=float), h


def euler_dynamic(rates: Callable, y0, t0: float, controls: Callable, sample: Callable,
                  post_step: Callable | None = None, max_steps: int = 10_000_000) -> None:
    """Euler with control variables that change during the run.

    Vensim lets TIME STEP, SAVEPER and FINAL TIME be equations of TIME. After
    each derivative evaluation ``controls()`` returns their current
    ``(time_step, saveper, final_time)``; a value is saved whenever the time
    reaches the next save point.
    """
    y, t, next_save, k = y0, t0, t0, 0
    for _ in range(max_steps):
        r = rates(t, y, True)
        dt, sp, tf = controls()
        if not (dt > 0 and sp > 0):
            raise ParameterError(f"TIME STEP ({dt}) and SAVEPER ({sp}) must stay positive (time {t})")
        eps = 1e-9 * max(1.0, abs(t))
        if t >= next_save - eps or t >= tf - eps:
            sample(k, t, y)
            k += 1
            next_save = t + sp
        if t >= tf - eps:
            return
        if post_step is not None:
            post_step()
        y = _axpy(y, dt, r)
        t = t + dt
    raise ParameterError(f"more than {max_steps} steps: check TIME STEP and FINAL TIME")


def _dopri5_work(solver) -> np.ndarray | None:
    """DOPRI5's work array, whose WORK(7) is the first step of the next call (0: it guesses).

    Writing the first step there spares a new integrator per saved time. None
    when a SciPy keeps it elsewhere: the first step is then set through the
    public ``set_integrator`` (slower, same steps).
    """
    work = getattr(getattr(solver, "_integrator", None), "work", None)
    if isinstance(work, np.ndarray) and work.size > 6 and work[6] == 0.0:
        return work
    return None


_DOPRI5_CODES = {-1: "input is not consistent", -2: "larger nsteps is needed",
                 -3: "step size becomes too small", -4: "problem is probably stiff"}


def _segment_dopri5(_starter, fun, start: float, ystart: np.ndarray, end: float,
                    rtol: float, atol: float, first_step: float | None, save: np.ndarray,
                    pending: list[int], rates: Callable, sample: Callable, shaped: Callable,
                    collected: list | None = None, raw: bool = False):
    """:func:`_segment` with SciPy's Fortran DOPRI5 (``scipy.integrate.ode("dopri5")``).

    The Dormand-Prince 5(4) pair of RK45, stepped in compiled code (Hairer and
    Wanner's DOPRI5); only the right-hand side is Python. The solver
    integrates to each saved time in turn and lands on it, so saved values
    are the solver's own steps, not an interpolation. Each of these calls
    starts with the last full step of the one before (``first_step`` for the
    first), as one uninterrupted run would: DOPRI5's own first-step guess
    fails near a state of 0 with a small ``atol``.
    """
    accepted: list[float] = []

    def configure(first: float) -> None:  # the public way to set the first step: a new integrator
        solver.set_integrator("dopri5", rtol=rtol, atol=atol, nsteps=DOPRI5_MAX_STEPS,
                              first_step=first)
        solver.set_solout(lambda t, y: accepted.append(t))

    solver = ode(fun)
    configure(0.0)
    y = np.array(ystart, dtype=float)  # the compiled code overwrites its state in place
    solver.set_initial_value(y, start)
    work = _dopri5_work(solver)
    h = first_step or 0.0

    record = _recorder(collected, rates, sample, shaped)
    while pending and float(save[pending[0]]) <= start:
        k = pending.pop(0)
        record(k, float(save[k]), np.array(ystart, dtype=float))
    if y.size == 0:  # no stocks: nothing to integrate (the compiled code refuses n = 0)
        while pending:  # (all of this segment's saved times)
            k = pending.pop(0)
            record(k, float(save[k]), y)
        return True, "ok", end, y, None
    ys = y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failure is reported through the return code below
        while solver.t < end:
            k = pending[0] if pending and float(save[pending[0]]) <= end else None
            tk = end if k is None else float(save[k])
            if work is not None:
                work[6] = min(h, tk - solver.t)
            else:
                configure(min(h, tk - solver.t))
            accepted.clear()
            ys = np.array(solver.integrate(tk), dtype=float)
            if not solver.successful():
                code = solver.get_return_code()
                return (False, f"DOPRI5 failed: {_DOPRI5_CODES.get(code, f'code {code}')}",
                        float(solver.t), ys, h)
            steps = np.diff(accepted)  # accepted[0] is the start of the call
            if steps.size:  # the last step is cut short by the target: carry the one before
                h = float(steps[-2] if steps.size > 1 and steps[-1] < steps[-2] else steps[-1])
            if k is not None:
                pending.pop(0)
                record(k, tk, ys)
    while pending:  # a saved time a rounding error past the segment's end: the state there
        k = pending.pop(0)
        record(k, float(save[k]), ys)
    return True, "ok", end, ys, h
