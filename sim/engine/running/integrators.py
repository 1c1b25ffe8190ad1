"""Integrators: Vensim-equivalent fixed-step Euler and RK4, SciPy's solve_ivp solvers and DOPRI5.

All share one contract: they get the derivative ``rates(t, y, full)`` of an
:class:`~sim.engine.running.evaluator.Evaluator` and call ``sample(k, t)`` right after the
auxiliaries have been evaluated at the k-th save time, so recorded values are
Vensim's (auxiliaries computed from the stocks at that time); a SciPy run may
instead hand all saved states to ``sample_many`` at the end. ``full=False``
lets the evaluator skip auxiliaries that no stock's rate needs.

Every SciPy run is bounded (:class:`Limits`): a number of solver steps and a
wall-clock time, and a step size collapsing to nothing ends it; it then
returns an :class:`Outcome` saying why instead of running on.
"""
from __future__ import annotations

import contextlib
import functools
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau, ode

# SciPy's private modules (pinned SciPy): the interpolant of the explicit Runge-Kutta
# solvers, evaluated in batches below, and what a restarted RK solver needs (_Starter)
from scipy.integrate._ivp.common import validate_first_step
from scipy.integrate._ivp.rk import RkDenseOutput, RungeKutta

from sim.engine.results import FailureKind
from sim.engine.running.methods import SCIPY_METHODS, ScipyMethod
from sim.errors import ParameterError


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
                post_step: Callable | None, commit: Callable | None = None) -> None:
    """March at TIME STEP: derivative at t (all auxiliaries when saving), save, advance.

    ``commit()`` runs after each advance (discrete state moves on to the new step).
    """
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
        if commit is not None:
            commit()


def euler(rates: Callable, y0, grid: TimeGrid, sample: Callable,
          post_step: Callable | None = None, commit: Callable | None = None) -> None:
    """Vensim's Euler: y(t+dt) = y(t) + dt * f(t, y(t)), saved every SAVEPER.

    ``post_step()`` runs once per step after the derivative (discrete state
    such as DELAY N's delay-time pipeline).
    """
    _fixed_step(rates, y0, grid, sample, lambda t, y, k1, h: _axpy(y, h, k1), post_step, commit)


def rk4(rates: Callable, y0, grid: TimeGrid, sample: Callable,
        post_step: Callable | None = None, commit: Callable | None = None) -> None:
    """Classical fourth-order Runge-Kutta at TIME STEP, saved every SAVEPER.

    ``commit()`` runs after each step: the four stages of a step see one value of
    the discrete state.
    """
    def advance(t, y, k1, h):
        k2 = rates(t + h / 2, _axpy(y, h / 2, k1), False)
        k3 = rates(t + h / 2, _axpy(y, h / 2, k2), False)
        k4 = rates(t + h, _axpy(y, h, k3), False)
        if isinstance(y, list):
            return [yi + h / 6 * (a + 2 * b + 2 * c + d)
                    for yi, a, b, c, d in zip(y, k1, k2, k3, k4, strict=True)]
        return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    _fixed_step(rates, y0, grid, sample, advance, post_step, commit)


_SOLVERS = {"RK45": RK45, "RK23": RK23, "DOP853": DOP853, "Radau": Radau, "BDF": BDF, "LSODA": LSODA}

#: default step budget of one SciPy run (one ``simulate()`` call: a single run or a whole
#: ensemble, all segments); the project's model takes ~60 steps with RK45
DEFAULT_MAX_STEPS = 100_000
#: default wall-clock budget of one SciPy run [s]
DEFAULT_TIME_LIMIT = 60.0
#: a step that does not advance the time, or this many in a row shorter than this fraction
#: of the horizon (not ending a segment), are a step size collapsed to nothing; stiff
#: solvers starting a stiff run take up to ~100 such steps before they grow (measured)
COLLAPSE_FRACTION = 1e-12
COLLAPSE_STEPS = 1000

#: ``Outcome.kind`` -> ``Failure.reason`` ({} the detail)
REASONS = {FailureKind.STEP_COLLAPSE: "step size collapsed: {}",
           FailureKind.STEP_LIMIT: "step limit reached: {}",
           FailureKind.TIME_LIMIT: "time limit reached: {}",
           FailureKind.SOLVER_ERROR: "raised {}", FailureKind.SOLVER_FAILED: "failed: {}"}
#: what a solver may raise on a non-finite state or derivative (BDF/Radau: ValueError from LU)
_SOLVER_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class Limits:
    """Bounds of one SciPy run (a single run or a whole ensemble).

    Attributes
    ----------
    max_steps : int
        Solver steps over the whole horizon, all segments together (DOPRI5
        counts its accepted steps; each of its calls also stops after this many
        attempts).
    time_limit : float
        Wall-clock time [s]; ``math.inf`` for none.
    """

    max_steps: int = DEFAULT_MAX_STEPS
    time_limit: float = DEFAULT_TIME_LIMIT

    def __post_init__(self) -> None:
        m = self.max_steps
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ParameterError(f"max_steps must be a whole number >= 1, got {m!r}")
        t = self.time_limit
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) \
                or not t > 0:
            raise ParameterError(f"time_limit must be a positive number of seconds, got {t!r}")


@dataclass(frozen=True)
class Outcome:
    """How a SciPy run ended.

    Attributes
    ----------
    ok : bool
        The run reached the final time.
    kind : FailureKind or None
        Why it stopped (None when ``ok``): ``STEP_COLLAPSE`` a step size
        collapsing to nothing (the solver's own check or
        :data:`COLLAPSE_FRACTION` of the horizon), ``STEP_LIMIT``/``TIME_LIMIT``
        a bound of :class:`Limits`, ``SOLVER_ERROR`` an exception of the solver
        (e.g. BDF's LU of a non-finite Jacobian), ``SOLVER_FAILED`` any other
        failure the solver reports.
    reason : str
        ``REASONS[kind]`` with the detail, e.g. ``"step limit reached: 100000
        steps (max_steps)"``; "ok" when ``ok``.
    time : float
        Time reached [model time unit].
    state : ndarray or None
        The (flat) state there.
    """

    ok: bool
    kind: FailureKind | None
    reason: str
    time: float
    state: np.ndarray | None = None


@dataclass(frozen=True)
class PiecewiseProblem:
    """What :func:`scipy_piecewise` integrates, and how.

    Attributes
    ----------
    rates : callable
        ``rates(t, y, full)``: the stocks' derivatives (the evaluator's).
    y0 : list or ndarray
        Initial stocks (a list for one member with the closures, else an array).
    grid : TimeGrid
        The time axis.
    breaks : list of float
        Switch times [model time unit]: the horizon is split there.
    sample : callable
        ``sample(k, t, y)``: record the k-th save time (after ``rates(t, y, True)``).
    method : ScipyMethod
        The solver.
    rtol, atol : float
        Its tolerances.
    shape : tuple or None
        Shape of the states the evaluator takes ((stocks,), (stocks, N)), None
        for lists of floats.
    tol : float
        The time functions' tolerance [model time unit]: clipped times stay
        further than this from a segment's edges.
    blame : callable, optional
        ``blame(t, y, kind, reason)``: in an ensemble, the members to freeze
        when the solver fails (empty: none is to blame).
    segment_rates : callable, optional
        ``segment_rates(lo, hi)``: the clipped right-hand side of one segment,
        float64 arrays of the states' shape (1-D states).
    sample_many : callable, optional
        ``sample_many(ks, ts, states)``: record all save times at the end
        (1-D states), in place of ``rates`` + ``sample`` at each.
    limits : Limits
        Bounds of the run.
    """

    rates: Callable
    y0: Any
    grid: TimeGrid
    breaks: list[float]
    sample: Callable
    method: ScipyMethod = "RK45"
    rtol: float = 1e-6
    atol: float = 1e-6
    shape: tuple | None = None
    tol: float = 0.0
    blame: Callable | None = None
    segment_rates: Callable | None = None
    sample_many: Callable | None = None
    limits: Limits = Limits()


@dataclass
class _Run:
    """What every segment of one :func:`scipy_piecewise` run shares (its segment drivers' context).

    ``save`` are the saved times, ``shaped`` turns a flat state into what
    ``rates`` takes, ``collected`` gathers save points for ``sample_many``
    (None: sample each at once), ``raw`` says the right-hand side returns
    float64 arrays (no SciPy wrapper needed).
    """

    starter: _Starter
    rtol: float
    atol: float
    save: np.ndarray
    rates: Callable
    sample: Callable
    shaped: Callable
    collected: list | None
    raw: bool
    budget: _Budget


class _Budget:
    """Steps taken and the deadline of one run, shared by all its segments."""

    def __init__(self, limits: Limits, horizon: float) -> None:
        self.limits = limits
        self.steps = 0
        self.deadline = time.monotonic() + limits.time_limit
        self.h_min = COLLAPSE_FRACTION * horizon

    def left(self) -> int:
        return max(self.limits.max_steps - self.steps, 0)

    def exhausted(self) -> tuple[str, str] | None:
        """(kind, detail) when a bound is reached, else None."""
        if self.steps >= self.limits.max_steps:
            return "max_steps", f"{self.limits.max_steps} steps (max_steps)"
        if time.monotonic() > self.deadline:
            return "time_limit", f"{self.limits.time_limit:g} s (time_limit)"
        return None


class _Interrupt:
    """Note SIGINT instead of raising it while SciPy's compiled DOPRI5 runs; raise it after.

    A ``KeyboardInterrupt`` raised inside DOPRI5's Python callbacks is held by
    SciPy until the compiled call returns (up to ``nsteps`` steps later); noted
    here, it makes the step callback stop the call at once. Only in the main
    thread (the only one signals reach) and over Python's default handler.
    """

    def __init__(self) -> None:
        self.hit = False
        self.previous: Any = None  # the handler replaced (signal.signal's return)

    def _note(self, signum, frame) -> None:
        self.hit = True

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.hit and exc_type is None:
            raise KeyboardInterrupt
        return False


def scipy_piecewise(problem: PiecewiseProblem) -> Outcome:
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

    When the solver fails in an ensemble, ``blame(t, y, kind, reason)`` may name
    members to freeze (their derivative is set to zero from then on);
    integration then resumes from where it stopped, so one diverging member
    does not sink the others. A bound of ``limits`` (default
    :class:`Limits()`) reached is not any member's fault: it ends the run.

    ``segment_rates(lo, hi)``, when given, returns the clipped right-hand side
    ``f(t, y)`` of one segment directly (1-D states), in place of a clip
    around ``rates``. It must return a float64 array of the states' shape:
    the solver then calls it without SciPy's conversion wrapper.

    ``sample_many(ks, ts, states)``, when given (1-D states), records all save
    times at the end in one call (``states`` is stocks x len(ts)), in place of
    ``rates`` + ``sample`` at each; the run's outcome is the same, since every
    evaluation is a function of the time and the stocks alone.

    Parameters
    ----------
    problem : PiecewiseProblem
        The run: its right-hand side, grid, switch times, solver and options.

    Returns
    -------
    Outcome
    """
    pb = problem
    method, grid, rtol, atol, shape = pb.method, pb.grid, pb.rtol, pb.atol, pb.shape
    rates, blame, segment_rates, sample_many = pb.rates, pb.blame, pb.segment_rates, pb.sample_many
    if method not in SCIPY_METHODS:
        raise ParameterError(f"scipy_method '{method}' is not one of {', '.join(SCIPY_METHODS)}")
    solver_class = _SOLVERS.get(method)
    run_segment = _segment if solver_class is not None else _segment_dopri5
    edges = [grid.t0] + sorted(b for b in set(pb.breaks) if grid.t0 < b < grid.tf) + [grid.tf]
    save = grid.save_times
    y = np.asarray(pb.y0, dtype=float).ravel()
    scale = max(1.0, abs(grid.t0), abs(grid.tf))
    eps = max(4.0 * pb.tol, 1e-12 * scale)
    h_last = None
    collected: list | None = [] if sample_many is not None and shape and len(shape) == 1 else None
    raw = bool(segment_rates is not None and shape and len(shape) == 1)
    save_at = save.tolist()

    def shaped(yy):
        return yy.reshape(shape) if shape else yy.tolist()

    run = _Run(_Starter(solver_class, rtol, atol, raw), rtol, atol, save, rates, pb.sample,
               shaped, collected, raw, _Budget(pb.limits, grid.tf - grid.t0))
    fun: Callable

    for i in range(len(edges) - 1):
        a, b = edges[i], edges[i + 1]
        lo, hi = a + eps, b - eps
        last = i == len(edges) - 2
        pending = [k for k, tk in enumerate(save_at)
                   if tk >= a - eps and (tk < b - eps or (last and tk <= b + eps))]

        if raw and segment_rates is not None:
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
            code, detail, t_end, y_end, h = run_segment(run, fun, start, ystart, b, first,
                                                        pending)
            h_last = h or h_last
            if code == "ok":
                y = y_end
                break
            kind = FailureKind(code)
            reason = REASONS[kind].format(detail)
            culprits = (blame(t_end, y_end, kind, reason)
                        if blame is not None and not kind.is_bound else [])
            if not len(culprits):
                _record(collected, sample_many)
                return Outcome(False, kind, reason, t_end, y_end)
            start, ystart = t_end, y_end.copy()
    _record(collected, sample_many)
    return Outcome(True, None, "ok", grid.tf, y)


def _record(collected: list | None, sample_many: Callable | None) -> None:
    """Hand the collected (k, t, state or interpolant) save points to ``sample_many`` at once."""
    if collected and sample_many is not None:
        ks, ts, states = zip(*collected, strict=True)
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
            if isinstance(s, RungeKutta) and s.direction == 1:
                self.last = s
        return s


def _segment(run: _Run, fun: Callable, start: float, ystart: np.ndarray, end: float,
             first_step: float | None, pending: list[int]):
    """Step one solver (from ``run.starter``) from ``start`` to ``end``, sampling on the way.

    ``pending`` are the indices of the save times to sample. Save points go to ``run.collected`` (k, t, state) when it is a list, else are
    evaluated and sampled at once. ``run.raw``: ``fun`` already returns float64
    arrays, so the solver calls it directly instead of through SciPy's
    conversion and counting wrapper (``solver.nfev`` then stays at 1).

    Before each step the ``budget`` is checked, and the step size: SciPy's RK
    classes loop forever inside one step on a NaN step size (their first
    step, guessed from a NaN derivative). ``COLLAPSE_STEPS`` steps in a row
    shorter than ``budget.h_min``, or one that does not move the time (LSODA
    on an infinite derivative), short of ``end``, are a collapsed step size.

    Returns
    -------
    (kind, detail, time reached, state there, step size to carry on with)
        ``kind`` is "ok" (``end`` reached) or a failure of :class:`Outcome`.
    """
    budget, collected, save = run.budget, run.collected, run.save
    try:
        solver = run.starter(fun, start, ystart, end, first_step)
    except _SOLVER_ERRORS as exc:
        return "error", f"{type(exc).__name__}: {exc}", start, np.asarray(ystart, float), None
    h_prev = h_cur = 0.0
    record = _recorder(collected, run.rates, run.sample, run.shaped)

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
                if collected is not None and type(dense) is RkDenseOutput and tk <= end:
                    collected.append((k, tk, dense))  # evaluated with the others after the run
                    continue
                ys = np.asarray(dense(min(tk, end)), dtype=float)
            record(k, tk, ys)
        return float(save[pending[0]]) if pending else inf

    t_before, y_before = start, ystart  # the state before the last step (solvers replace y)
    tiny = 0  # consecutive steps shorter than budget.h_min

    def stopped(kind: str, detail: str):
        """Where the run stopped: the start of the last step if it made the state non-finite."""
        t, y = float(solver.t), np.asarray(solver.y, dtype=float)
        if not np.isfinite(y).all() and np.isfinite(y_before).all():
            t, y = float(t_before), np.asarray(y_before, dtype=float)
        return kind, detail, t, y, (h_prev if h_cur < h_prev else h_cur) or None

    following = flush(start, False)
    message = None
    quiet = isinstance(solver, LSODA)  # it warns of a failure its status reports too
    with warnings.catch_warnings() if quiet else contextlib.nullcontext():
        if quiet:
            warnings.simplefilter("ignore")
        while solver.status == "running":
            over = budget.exhausted()
            if over is not None:
                return stopped(*over)
            h_abs = getattr(solver, "h_abs", 1.0)
            if not h_abs > 0:  # NaN or 0: no step can be taken (an RK step would never end)
                return stopped("collapse", f"step size {h_abs!r} at time {solver.t!r}")
            t_before, y_before = solver.t, solver.y
            try:
                message = solver.step()
            except _SOLVER_ERRORS as exc:
                return stopped("error", f"{type(exc).__name__}: {exc}")
            budget.steps += 1
            if solver.status == "failed":
                break
            h_prev, h_cur = h_cur, solver.t - solver.t_old
            if h_cur <= budget.h_min and solver.status != "finished":
                tiny += 1
                if h_cur <= 0 or tiny >= COLLAPSE_STEPS:
                    return stopped("collapse", f"{tiny} steps of at most {budget.h_min:.3g} "
                                               f"({COLLAPSE_FRACTION:g} of the horizon) up to "
                                               f"time {float(solver.t):.12g}")
            else:
                tiny = 0
            if solver.t >= following or solver.status == "finished":
                following = flush(solver.t, solver.status == "finished")
    # the last step is often cut short by the segment's end: carry the one before it
    h = h_prev if h_cur < h_prev else h_cur
    if solver.status == "finished":
        return "ok", "ok", float(solver.t), np.asarray(solver.y, dtype=float), h
    return stopped(*_failure_kind(solver, message))


def _failure_kind(solver, message) -> tuple[str, str]:
    """(kind, detail) of a solver whose status is "failed"."""
    text = str(message)
    lsoda = getattr(solver, "_lsoda_solver", None)
    if lsoda is not None:  # 'Unexpected istate in LSODA.': say which
        integ = lsoda._integrator
        text = getattr(integ, "messages", {}).get(getattr(integ, "istate", None), text)
    low = text.lower()
    if "step size" in low and ("small" in low or "spacing" in low):
        return "collapse", text
    return "failed", text


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


def _segment_dopri5(run: _Run, fun: Callable, start: float, ystart: np.ndarray, end: float,
                    first_step: float | None, pending: list[int]):
    """:func:`_segment` with SciPy's Fortran DOPRI5 (``scipy.integrate.ode("dopri5")``).

    The Dormand-Prince 5(4) pair of RK45, stepped in compiled code (Hairer and
    Wanner's DOPRI5); only the right-hand side is Python. The solver
    integrates to each saved time in turn and lands on it, so saved values
    are the solver's own steps, not an interpolation. Each of these calls
    starts with the last full step of the one before (``first_step`` for the
    first), as one uninterrupted run would: DOPRI5's own first-step guess
    fails near a state of 0 with a small ``atol``.

    The ``budget`` is kept by the step callback, which stops the compiled
    call when a bound is reached (or on SIGINT, see :class:`_Interrupt`).
    Returns as :func:`_segment`.
    """
    budget, save, rtol, atol = run.budget, run.save, run.rtol, run.atol
    accepted: list[float] = []
    over: list = []  # the bound that stopped the call
    clock, deadline, max_steps = time.monotonic, budget.deadline, budget.limits.max_steps

    def solout(t, y) -> int:
        accepted.append(t)  # accepted[0] is the start of the call
        if interrupt.hit:
            return -1
        if budget.steps + len(accepted) - 1 >= max_steps or clock() > deadline:
            over.append(True)
            return -1
        return 0

    def configure(first: float) -> None:  # the public way to set the first step: a new integrator
        solver.set_integrator("dopri5", rtol=rtol, atol=atol, nsteps=max_steps,
                              first_step=first)
        solver.set_solout(solout)

    solver = ode(fun)
    configure(0.0)
    y = np.array(ystart, dtype=float)  # the compiled code overwrites its state in place
    solver.set_initial_value(y, start)
    work = _dopri5_work(solver)
    h = first_step or 0.0

    record = _recorder(run.collected, run.rates, run.sample, run.shaped)
    while pending and float(save[pending[0]]) <= start:
        k = pending.pop(0)
        record(k, float(save[k]), np.array(ystart, dtype=float))
    if y.size == 0:  # no stocks: nothing to integrate (the compiled code refuses n = 0)
        while pending:  # (all of this segment's saved times)
            k = pending.pop(0)
            record(k, float(save[k]), y)
        return "ok", "ok", end, y, None
    ys = y
    with warnings.catch_warnings(), _Interrupt() as interrupt:
        warnings.simplefilter("ignore")  # a failure is reported through the return code below
        while solver.t < end:
            bound = budget.exhausted()
            if bound is not None:
                return (*bound, float(solver.t), ys, h)
            nxt = pending[0] if pending and float(save[pending[0]]) <= end else None
            tk = end if nxt is None else float(save[nxt])
            if work is not None:
                work[6] = min(h, tk - solver.t)
            else:
                configure(min(h, tk - solver.t))
            accepted.clear()
            ys = np.array(solver.integrate(tk), dtype=float)
            budget.steps += max(len(accepted) - 1, 0)
            if interrupt.hit:
                break  # raised on leaving the context
            if over:
                bound = budget.exhausted() or ("max_steps", f"{max_steps} steps (max_steps)")
                return (*bound, float(solver.t), ys, h)
            if not solver.successful():
                code = solver.get_return_code()
                if code == -2:  # more attempted steps in this call than the whole budget
                    return "max_steps", f"{max_steps} steps (max_steps)", float(solver.t), ys, h
                kind = "collapse" if code == -3 else "failed"
                detail = _DOPRI5_CODES.get(code, f"code {code}")
                return kind, f"DOPRI5: {detail}", float(solver.t), ys, h
            steps = np.diff(accepted)  # accepted[0] is the start of the call
            if steps.size:  # the last step is cut short by the target: carry the one before
                h = float(steps[-2] if steps.size > 1 and steps[-1] < steps[-2] else steps[-1])
            if nxt is not None:
                pending.pop(0)
                record(nxt, tk, ys)
    while pending:  # a saved time a rounding error past the segment's end: the state there
        k = pending.pop(0)
        record(k, float(save[k]), ys)
    return "ok", "ok", end, ys, h
