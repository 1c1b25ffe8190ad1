"""Evaluate a compiled :class:`~sim.engine.compiled.program.Program` for one parameter set.

An :class:`Evaluator` owns the value list ``v`` of one simulation: it runs the
initialisation program once, then offers ``rates(t, y)``, the derivative of
all stocks for all ensemble members, as the integrators need it.
"""
from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any

import numpy as np

from sim.engine.compiled.program import Program
from sim.engine.running.cache import ProgramCache
from sim.engine.running.discrete import DiscreteRun
from sim.engine.running.orders import pipe_sources

#: what Python float arithmetic raises where numpy gives inf or NaN: the scalar back end's
#: cue to redo an evaluation with the vector closures
FALLBACK = (ZeroDivisionError, ValueError, OverflowError)


_KERNEL: list[ModuleType] = []


def _kernel() -> ModuleType:
    """:mod:`sim.engine.tape.kernel`, imported (and Numba loaded) the first time a tape runs."""
    if not _KERNEL:
        from sim.engine.tape import kernel

        _KERNEL.append(kernel)
    return _KERNEL[0]


def as_numpy(v: list) -> list:
    """Return a copy of a value list with Python floats as numpy floats."""
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
    cache : ProgramCache, optional
        The program's orders, tapes and templates (the model's; default a new
        one, for an evaluator used alone).
    seed : int
        The run's seed for the RANDOM functions without a seed of their own.
    members : ndarray of int (N,), optional
        The members' global indices (their random streams); default 0..N-1.

    Attributes
    ----------
    masked : ndarray of bool (N,)
        Members frozen after failing (their derivatives are 0); see :meth:`mask`.
    any_masked : bool
        Whether any member is masked.
    """

    def __init__(self, program: Program, backend: str, static: dict, series: dict,
                 n_members: int, kernel: str = "python", continuous: bool = False,
                 cache: ProgramCache | None = None, seed: int = 0,
                 members: np.ndarray | None = None) -> None:
        cache = ProgramCache(program) if cache is None else cache
        if cache.program is not program:
            raise ValueError("cache: a ProgramCache of another program")
        self.p = program
        self.cache = cache
        self.masked = np.zeros(n_members, dtype=bool)
        self.any_masked = False
        self.n = n_members
        self.backend = backend
        self.bp = program.backends[backend]
        self.vp = program.backends["vector"]
        # The vector back end divides with '/', so its scalars are numpy floats
        # (x / 0.0 gives inf, as in Vensim, instead of raising).
        num: Any = float if backend == "scalar" else np.float64
        self.num = num
        v = list(cache.template(num))
        for slot, val in static.items():
            v[slot] = num(val) if np.isscalar(val) else val
        self.v = v
        self.series = dict(series)
        self.continuous = continuous
        self.series_slots = frozenset(self.series)
        self.run_order, self.rate_order = cache.run_orders(backend, self.series_slots, continuous)
        self.stocks = list(program.stock_slots)
        self.pipelines = program.pipelines
        self.run_fn, self.vrun_fn = self.bp.run_fn, self.vp.run_fn
        if continuous and self.pipelines:
            copies = {p_: (lambda v, t, it=it: v[it]) for p_, it in pipe_sources(program).items()}
            self.run_fn = {**self.run_fn, **copies}
            self.vrun_fn = {**self.vrun_fn, **copies}
        self.kernel = kernel
        self.reg: np.ndarray | None = None
        # discrete-time state (DELAY FIXED, SAMPLE IF TRUE, RANDOM): updated between steps
        self.discrete = DiscreteRun(program.discrete, n_members, seed, members) \
            if program.discrete else None
        if kernel == "jit":
            seeds = frozenset([slot for slot, val in static.items()
                               if n_members > 1 and np.ndim(val) > 0]
                              + [d.slot for d in program.discrete if n_members > 1]
                              + [slot for slot, f in series.items()  # a value per member
                                 if n_members > 1 and np.ndim(f(0.0)) > 0])
            self.tapes = tp = cache.tapes(backend, self.series_slots, continuous, seeds)
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
        if self.kernel == "jit" and self.backend == "scalar" and self.discrete is None:
            return self._initialize_tape(t0)
        order = self.cache.init_order(self.backend, self.series_slots)
        held = self.discrete.by_slot if self.discrete is not None else {}
        with np.errstate(all="ignore"):
            for s in order:
                if s in self.series:
                    val = self.series[s](t0)
                    v[s] = num(val) if np.ndim(val) == 0 else val
                elif s in held:
                    self._put(s, self.discrete.initial(s, v.__getitem__, dt))  # type: ignore[union-attr]
                else:
                    v[s] = self._call(self.bp.init_fn[s], self.vp.init_fn[s], t0)
        if self.kernel == "jit":
            tp = self.tapes
            reg = np.empty((tp.n_rows, self.n))
            for i, val in enumerate(v):
                reg[i] = val
            reg[tp.const_rows] = tp.const_values[:, None]
            self.reg = reg
            if self.backend == "scalar":  # one member (discrete state initialised above)
                return reg[tp.stock_rows, 0].copy()
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

    def _put(self, slot: int, values: np.ndarray) -> None:
        """Write a discrete slot's values (n,) where this run keeps its values."""
        if self.reg is not None:
            self.reg[slot] = values
        elif self.backend == "scalar":
            self.v[slot] = float(values[0])
        else:
            self.v[slot] = values

    def discrete_step(self) -> None:
        """Compute the discrete state's next values from this step's (after its derivative)."""
        self.discrete.step(self.value)  # type: ignore[union-attr]

    def discrete_commit(self) -> None:
        """Move the discrete state on to the next step (after the stocks have advanced)."""
        self.discrete.commit(self._put)  # type: ignore[union-attr]

    def set_value(self, slot: int, value: float) -> None:
        """Set a slot's value before :meth:`initialize` (e.g. a control variable)."""
        self.v[slot] = value

    def use_closures(self) -> None:
        """Evaluate with the closures from now on (their values, ``v``, are the ones read)."""
        self.reg = None

    def mask(self, members: np.ndarray) -> None:
        """Freeze ``members`` (a boolean mask or indices): their derivatives are 0 from now on."""
        self.masked[members] = True
        self.any_masked = bool(self.masked.any())

    def set_tol(self, tol: float) -> None:
        """Set the time functions' tolerance [model time unit]."""
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
        """Return the current value of ``slot``: a float (one member) or an array (N,)."""
        if self.reg is None:
            return self.v[slot]
        return self.reg[slot, 0] if self.backend == "scalar" else self.reg[slot]

    def values(self, slots) -> list:
        """Return the current values of ``slots`` (one member): a list of floats."""
        if self.reg is None:
            return [self.v[i] for i in slots]
        return self.reg[slots, 0].tolist()

    def rates(self, t: float, y, full: bool = True):
        """Return the stocks' derivatives with the evaluator's kernel and back end."""
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
        tp, reg = self.tapes, self.reg
        if reg is None:
            raise RuntimeError("points() needs the compiled tape (kernel 'jit')")
        cols = np.repeat(reg[:, :1], len(ts), axis=1)
        cols[tp.stock_rows] = states
        cols[tp.time_row] = ts
        for s, f in self.series.items():
            cols[s] = [f(t) for t in ts]
        self._k.execute(tp.full[self.continuous], cols, tp.tx, tp.ty, tp.toff, -1)
        return cols[slots].T

    def rates_jit(self, t: float, y, full: bool = True):
        """Return the derivatives from the compiled tape.

        ``y`` is (stocks,) for one member, else (stocks, N).
        """
        reg: np.ndarray = self.reg  # type: ignore[assignment]  # set with the tape (kernel "jit")
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
        rep = int(np.argmin(self.masked)) if self.any_masked else 0
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
            except FALLBACK:
                return float(vfn(as_numpy(self.v), np.float64(t)))
        return fn(self.v, t)

    # ---------------------------------------------------------------- rates
    def rates_scalar(self, t: float, y, full: bool = True) -> list[float]:
        """Return the derivatives of a single member, Python floats."""
        v = self.v
        if isinstance(y, np.ndarray):
            y = y.tolist()
        for s, val in zip(self.stocks, y, strict=True):
            v[s] = val
        for s, f in self.series.items():
            v[s] = f(t)
        run, rate = self.run_fn, self.bp.rate_fn
        order = self.run_order if full else self.rate_order
        try:
            for s in order:
                v[s] = run[s](v, t)
            return [rate[s](v, t) for s in self.stocks]
        except FALLBACK:
            # a domain error in float arithmetic: redo this evaluation with numpy (inf, nan)
            with np.errstate(all="ignore"):
                vrun, vrate = self.vrun_fn, self.vp.rate_fn
                vv, tt = as_numpy(v), np.float64(t)
                for s in order:
                    vv[s] = vrun[s](vv, tt)
                    v[s] = float(vv[s])
                return [float(vrate[s](vv, tt)) for s in self.stocks]

    def rates_vector(self, t: float, y: np.ndarray, full: bool = True) -> np.ndarray:
        """Return the derivatives of all members: ``y`` and the result are (stocks, N)."""
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
        """Return the first slot (in evaluation order) whose value is non-finite for ``member``."""
        order = [s for s in self.stocks] + self.run_order
        for s in order + [s for s in slots if s not in order]:
            val = self.value(s)
            x = val[member] if isinstance(val, np.ndarray) and val.ndim else val
            if not math.isfinite(float(x)):
                return s
        return None
