"""Evaluate a compiled :class:`~sim.engine.compiled.program.Program` for one parameter set.

An :class:`Evaluator` owns the value list ``v`` of one simulation: it runs the
initialisation program once, then offers ``rates(t, y)``, the derivative of
all stocks for all ensemble members, as the integrators need it.
"""
from __future__ import annotations

import functools
import math
from graphlib import CycleError, TopologicalSorter

import numpy as np

from sim.engine.compiled.program import Program
from sim.errors import ModelError

_FALLBACK = (ZeroDivisionError, ValueError, OverflowError)


def _order(nodes: set[int], deps: dict[int, frozenset], program: Program, what: str) -> list[int]:
    key = (what, frozenset(nodes), id(deps) if deps is not program.run_deps else 0)
    cache = program.__dict__.setdefault("_order_cache", {})
    if deps is program.run_deps or deps is program.init_deps:
        if key in cache:
            return cache[key]
    order = _toposort(nodes, deps, program, what)
    if deps is program.run_deps or deps is program.init_deps:
        cache[key] = order
    return order


def _toposort(nodes, deps, program, what):
    ts = TopologicalSorter()
    for n in sorted(nodes):
        ts.add(n, *sorted(d for d in deps.get(n, ()) if d in nodes and d != n))
    try:
        return list(ts.static_order())
    except CycleError as exc:
        cycle = [program.slots[i].name for i in exc.args[1]]
        raise ModelError(program.path, f"{what}: circular definition (algebraic loop) "
                         f"through {' -> '.join(cycle)}", variable=cycle[0]) from exc


def pipe_sources(program: Program) -> dict[int, int]:
    """DELAY N pipeline slot -> the delay-time slot it copies in continuous time."""
    return {p_: it for it, pipes in program.pipelines for p_ in pipes}


def _orders(program: Program, bp, series: frozenset,
            continuous: bool = False) -> tuple[list[int], list[int]]:
    """Run order of the time-dependent auxiliaries, and the part of it the stocks' rates need.

    In continuous time (``continuous``) the DELAY N pipeline slots are
    auxiliaries too, copies of their delay time placed after it, so every
    evaluation is a function of the time and the stocks alone. Cached on the
    program per set of time-series overrides and mode (all they depend on).
    """
    cache = program.__dict__.setdefault("_run_order_cache", {})
    pipes = pipe_sources(program) if continuous else {}
    key = (id(bp), series, bool(pipes))
    if key in cache:
        return cache[key]
    run_nodes = set(bp.run_fn) | set(series) | set(pipes)
    dynamic = set(program.stock_slots) | set(series) | (program.uses_time & run_nodes)
    deps = program.run_deps
    if pipes:
        deps = {**deps, **{p_: frozenset({it}) for p_, it in pipes.items()}}
    order = _order(run_nodes, deps, program, "auxiliary equations")
    for s in order:
        if s in dynamic or any(d in dynamic for d in deps.get(s, ())):
            dynamic.add(s)
    run_order = [s for s in order if s in dynamic and s not in series]
    # the auxiliaries the stocks' rates need (others are computed only when saved)
    need, todo = set(), [d for s in program.stock_slots for d in program.rate_deps.get(s, ())]
    while todo:
        s = todo.pop()
        if s not in need:
            need.add(s)
            todo += list(deps.get(s, ()))
    cache[key] = (run_order, [s for s in run_order if s in need])
    return cache[key]


def _init_order(program: Program, bp, series) -> list[int]:
    """Order of the initial-value equations; time-series overrides are inputs (no equation)."""
    init_nodes = set(bp.init_fn) | set(series)
    if not series:
        return _order(init_nodes, program.init_deps, program, "initial values")
    deps = dict(program.init_deps)
    for s in series:
        deps[s] = frozenset()
    return _order(init_nodes, deps, program, "initial values")


def _tapes(program: Program, bp, series: dict, continuous: bool, seeds: frozenset) -> object:
    """The program's tapes for a back end's evaluation orders, the time-series overrides (their
    slots), the mode and the member-varying constants ``seeds`` (cached: all they depend on).
    """
    from sim.engine.tape.backend import build_tapes, varying_slots

    cache = program.__dict__.setdefault("_tape_cache", {})
    key = (id(bp), frozenset(series), continuous, seeds)
    if key not in cache:
        run_order, rate_order = _orders(program, bp, frozenset(series), continuous)
        init = [x for x in _init_order(program, bp, series) if x not in series]
        cache[key] = build_tapes(program, run_order, rate_order, list(program.stock_slots),
                                 program.pipelines, varying_slots(program, seeds), init)
    return cache[key]


_KERNEL: list = []


def _kernel():
    """:mod:`sim.engine.tape.kernel`, imported (and Numba loaded) the first time a tape runs."""
    if not _KERNEL:
        from sim.engine.tape import kernel

        _KERNEL.append(kernel)
    return _KERNEL[0]


def _as_numpy(v: list) -> list:
    """Copy of a value list with Python floats as numpy floats."""
    return [np.float64(x) if type(x) is float else x for x in v]


class Evaluator:
    """State of one (ensemble) simulation.

    Parameters
    ----------
    program : Program
        The compiled model.
    backend : {"scalar", "vector"}
        Which closures to use; "scalar" only for a single member.
    static : dict
        slot -> float or array (N,): constants overridden for this run.
    series : dict
        slot -> callable(t): constants replaced by a time series.
    n_members : int
        Ensemble size N.
    kernel : {"jit", "python"}
        How the derivatives are evaluated during integration: "jit" runs the
        traced tape (:mod:`sim.engine.tape.backend`) in the compiled interpreter
        (:mod:`sim.engine.tape.kernel`); "python" calls the closures of ``backend``. The
        initialisation runs the tape for one member, else the closures.
    continuous : bool
        A continuous-time (SciPy) run: every DELAY N stage uses the current
        delay time, instead of the fixed-step pipeline of past ones.
    """

    def __init__(self, program: Program, backend: str, static: dict, series: dict,
                 n_members: int, kernel: str = "python", continuous: bool = False) -> None:
        self.p = program
        self.n = n_members
        self.backend = backend
        self.bp = program.backends[backend]
        self.vp = program.backends["vector"]
        # The vector back end divides with '/', so its scalars are numpy floats
        # (x / 0.0 gives inf, as in Vensim, instead of raising).
        num = float if backend == "scalar" else np.float64
        self.num = num
        templates = program.__dict__.setdefault("_value_templates", {})
        if num not in templates:  # every slot 0, the model's constants at their values
            t_ = [num(0.0)] * len(program.slots)
            for slot, val in program.default_constants.items():
                t_[slot] = num(val)
            templates[num] = t_
        v = list(templates[num])
        for slot, val in static.items():
            v[slot] = num(val) if np.isscalar(val) else val
        self.v = v
        self.series = dict(series)
        self.continuous = continuous
        self.run_order, self.rate_order = _orders(program, self.bp, frozenset(self.series),
                                                  continuous)
        self.stocks = list(program.stock_slots)
        self.pipelines = program.pipelines
        self.run_fn, self.vrun_fn = self.bp.run_fn, self.vp.run_fn
        if continuous and self.pipelines:
            copies = {p_: (lambda v, t, it=it: v[it]) for p_, it in pipe_sources(program).items()}
            self.run_fn = {**self.run_fn, **copies}
            self.vrun_fn = {**self.vrun_fn, **copies}
        self.kernel = kernel
        self.reg = None
        if kernel == "jit":
            seeds = frozenset([slot for slot, val in static.items()
                               if n_members > 1 and np.ndim(val) > 0]
                              + [slot for slot, f in series.items()  # a value per member
                                 if n_members > 1 and np.ndim(f(0.0)) > 0])
            self.tapes = tp = _tapes(program, self.bp, self.series, continuous, seeds)
            self._k = _kernel()
            self._kargs = (tp.time_row, tp.stock_rows, tp.out_rows, tp.tx, tp.ty, tp.toff)

    # ----------------------------------------------------------- initialise
    def initialize(self, t0: float, tol: float, dt: float):
        """Run the initialisation program at ``t0``; return the initial stocks.

        One member with the compiled kernel runs the tape of the initial values
        (numpy's semantics, as every later evaluation); otherwise the closures.
        """
        p, v, num = self.p, self.v, self.num
        v[p.tol_slot] = num(tol)
        v[p.dt_slot] = num(dt)
        t0 = num(t0)
        if self.kernel == "jit" and self.backend == "scalar":
            return self._initialize_tape(t0)
        order = _init_order(p, self.bp, self.series)
        with np.errstate(all="ignore"):
            for s in order:
                if s in self.series:
                    val = self.series[s](t0)
                    v[s] = num(val) if np.ndim(val) == 0 else val
                else:
                    v[s] = self._call(self.bp.init_fn[s], self.vp.init_fn[s], t0)
        if self.kernel == "jit":
            tp = self.tapes
            reg = np.empty((tp.n_rows, self.n))
            for i, val in enumerate(v):
                reg[i] = val
            reg[tp.const_rows] = tp.const_values[:, None]
            self.reg = reg
            return reg[tp.stock_rows].copy()
        return self.stock_values()

    def _initialize_tape(self, t0: float) -> np.ndarray:
        """:meth:`initialize` of one member by the tape; ``v`` gets the values too."""
        tp, v = self.tapes, self.v
        reg = np.empty((tp.n_rows, 1))
        r = reg[:, 0]
        r[:len(v)] = v
        r[tp.const_rows] = tp.const_values
        r[tp.time_row] = t0
        for s, f in self.series.items():
            r[s] = f(t0)
        self._k.execute1(tp.init, r, tp.tx, tp.ty, tp.toff)
        v[:] = r[:len(v)].tolist()
        self.reg = reg
        return r[tp.stock_rows].copy()

    def set_tol(self, tol: float) -> None:
        self.v[self.p.tol_slot] = self.num(tol)
        if self.reg is not None:
            self.reg[self.p.tol_slot] = tol

    def shift(self) -> None:
        """Advance the DELAY N delay-time pipelines by one time step (fixed-step runs)."""
        v = self.v if self.reg is None else self.reg
        for it, pipes in self.pipelines:
            for k in range(len(pipes) - 1, 0, -1):
                v[pipes[k]] = v[pipes[k - 1]]
            v[pipes[0]] = v[it]

    def value(self, slot: int):
        """Current value of ``slot``: a float (one member) or an array (N,)."""
        if self.reg is None:
            return self.v[slot]
        return self.reg[slot, 0] if self.backend == "scalar" else self.reg[slot]

    def values(self, slots) -> list:
        """Current values of ``slots`` (one member): a list of floats."""
        if self.reg is None:
            return [self.v[i] for i in slots]
        return self.reg[slots, 0].tolist()

    def rates(self, t: float, y, full: bool = True):
        """Derivatives of the stocks with the evaluator's kernel and back end."""
        if self.reg is not None:
            return self.rates_jit(t, y, full)
        return self.rates_scalar(t, y, full) if self.backend == "scalar" else \
            self.rates_vector(t, y, full)

    def segment_rates(self, lo: float, hi: float):
        """``f(t, y)``: the stocks' derivatives (rates only) at ``t`` clipped into [lo, hi].

        The right-hand side SciPy calls inside one segment: with the tape and one
        member, a single compiled call; otherwise :meth:`rates` behind a clip.
        """
        if self.reg is not None and self.backend == "scalar" and not self.series:
            tp = self.tapes
            return functools.partial(self._k.rates1, lo, hi, self.reg,
                                     tp.packed[(False, self.continuous)], tp.txy)
        rates = self.rates

        def f(t, y):
            return rates(lo if t < lo else (hi if t > hi else t), y, False)
        return f

    def points(self, ts: np.ndarray, states: np.ndarray, slots: list[int]) -> np.ndarray:
        """Values of ``slots`` for one member at several times, from the compiled tape in one call.

        Parameters
        ----------
        ts : ndarray (K,)
            Times [model time unit].
        states : ndarray (stocks, K)
            The stocks at those times.
        slots : list of int
            The variables wanted.

        Returns
        -------
        ndarray (K, len(slots))
            What :meth:`rates` (all auxiliaries) then :meth:`values` give at each time.
        """
        tp = self.tapes
        cols = np.repeat(self.reg[:, :1], len(ts), axis=1)
        cols[tp.stock_rows] = states
        cols[tp.time_row] = ts
        for s, f in self.series.items():
            cols[s] = [f(t) for t in ts]
        self._k.execute(tp.full[self.continuous], cols, tp.tx, tp.ty, tp.toff, -1)
        return cols[slots].T

    def rates_jit(self, t: float, y, full: bool = True):
        """Derivatives from the compiled tape; ``y`` is (stocks,) for one member, else (stocks, N)."""
        reg = self.reg
        if self.series:
            for s, f in self.series.items():
                reg[s] = f(t)
        if type(y) is not np.ndarray:
            y = np.asarray(y, dtype=float)
        tp, _k = self.tapes, self._k
        if self.backend == "scalar":
            return _k.rates1(-np.inf, np.inf, reg, tp.packed[(full, self.continuous)], tp.txy, t, y)
        code = (tp.full if full else tp.rates)[self.continuous]
        # uniform instructions are computed for a member still running (masked ones are frozen)
        rep = int(np.argmin(self.masked)) if getattr(self, "any_masked", False) else 0
        return _k.rates(t, y, code, reg, *self._kargs, rep)

    def stock_values(self):
        v = self.v
        if self.backend == "scalar":
            return [float(v[s]) for s in self.stocks]
        y = np.empty((len(self.stocks), self.n))
        for k, s in enumerate(self.stocks):
            y[k] = v[s]
        return y

    def _call(self, fn, vfn, t):
        if not callable(fn):
            # a folded constant: a numpy float for the vector back end, so that x / 0 is inf
            return fn if self.backend == "scalar" or np.ndim(fn) else self.num(fn)
        if self.backend == "scalar":
            try:
                return fn(self.v, t)
            except _FALLBACK:
                return float(vfn(_as_numpy(self.v), np.float64(t)))
        return fn(self.v, t)

    # ---------------------------------------------------------------- rates
    def rates_scalar(self, t: float, y, full: bool = True) -> list[float]:
        """Derivatives for a single member, Python floats."""
        v = self.v
        if isinstance(y, np.ndarray):
            y = y.tolist()
        for s, val in zip(self.stocks, y):
            v[s] = val
        for s, f in self.series.items():
            v[s] = f(t)
        run, rate = self.run_fn, self.bp.rate_fn
        order = self.run_order if full else self.rate_order
        try:
            for s in order:
                v[s] = run[s](v, t)
            return [rate[s](v, t) for s in self.stocks]
        except _FALLBACK:
            # a domain error in float arithmetic: redo this evaluation with numpy (inf, nan)
            with np.errstate(all="ignore"):
                vrun, vrate = self.vrun_fn, self.vp.rate_fn
                vv, tt = _as_numpy(v), np.float64(t)
                for s in order:
                    vv[s] = vrun[s](vv, tt)
                    v[s] = float(vv[s])
                return [float(vrate[s](vv, tt)) for s in self.stocks]

    def rates_vector(self, t: float, y: np.ndarray, full: bool = True) -> np.ndarray:
        """Derivatives of all members: ``y`` and the result are (stocks, N)."""
        v = self.v
        t = np.float64(t)
        for k, s in enumerate(self.stocks):
            v[s] = y[k]
        for s, f in self.series.items():
            v[s] = np.float64(f(t))
        run, rate = self.run_fn, self.bp.rate_fn
        out = np.empty_like(y)
        for s in (self.run_order if full else self.rate_order):
            v[s] = run[s](v, t)
        for k, s in enumerate(self.stocks):
            out[k] = rate[s](v, t)
        return out

    def first_nonfinite(self, member: int, slots: list[int]) -> int | None:
        """The first slot (in evaluation order) whose value is non-finite for ``member``."""
        order = [s for s in self.stocks] + self.run_order
        for s in order + [s for s in slots if s not in order]:
            val = self.value(s)
            x = val[member] if isinstance(val, np.ndarray) and val.ndim else val
            if not math.isfinite(float(x)):
                return s
        return None
