"""Builders of the Vensim functions that are more than a primitive (:mod:`sim.engine.reading.special`).

Each builder takes the :class:`~sim.engine.compiling.compiler.Compiler` in the
middle of an equation and returns what :meth:`Compiler.expr` returns: a compiled
node, the slots it reads, and whether it reads the time. They add hidden slots
as SMOOTH and TREND do:

ACTIVE INITIAL(active, initial)
    A hidden auxiliary whose initial-value equation is ``initial`` and whose
    equation during the run is ``active`` (which breaks an initialisation loop,
    as in Vensim).
FORECAST(input, average time, horizon)
    A hidden stock AV (``d AV/dt = (input - AV) / average time``, AV(0) =
    input) and ``input * (1 + ZIDZ(input - AV, average time * AV) * horizon)``,
    as PySD.
DELAY FIXED(input, delay time, initial)
    A ``discrete`` slot: the input of ``round(delay time / TIME STEP)`` steps
    ago (at least one step), ``initial`` before; the delay time is read once, at
    the initial time (Vensim). The ring buffer lives in the run
    (:mod:`sim.engine.running.discrete`).
SAMPLE IF TRUE(condition, input, initial)
    ``IF condition THEN input ELSE held``, where ``held`` (a ``discrete`` slot)
    is the value of the previous step, ``initial`` at first.
RANDOM 0 1 / UNIFORM / NORMAL / EXPONENTIAL / POISSON
    A ``discrete`` slot holding a uniform draw u in [0, 1), new at each time
    step (constant within the step), turned into the distribution by its
    inverse CDF, truncated to [min, max] (PySD's parameters). UNIFORM and 0 1
    are arithmetic (the tape computes them); the others need scipy.special and
    run with the closures (``Program.python_only``).
ALLOCATE BY PRIORITY
    A closure over the requests and priorities of every element (made by
    :mod:`sim.engine.reading.arrays`) running Vensim's algorithm (a port of
    PySD's ``allocation._allocate_by_priority_1d``, MIT): closures only.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from sim.engine.compiled.discrete import Discrete
from sim.engine.compiled.program import Slot
from sim.engine.compiling.backends import BackendKind
from sim.engine.compiling.closures import add, lift, mul, read_slot, sub
from sim.engine.reading.special import SPECIAL_CALLS
from sim.errors import ModelError

Compiled = tuple[Any, set, bool]


# ------------------------------------------------------------------ helpers
def _slot(c: Any, key: str, kind: str) -> int:
    return c._new_slot(key, Slot(key, key, kind, visible=False))  # type: ignore[arg-type]


def _initial(c: Any, key: str, node) -> int:
    """Return a new hidden slot fixed at its initial value ``node``."""
    i = _slot(c, key, "initial")
    f, deps, _ = c.expr(node)
    c.prog.init_fn[i] = f
    c.init_deps[i] = frozenset(deps)
    return i


def _aux(c: Any, key: str, node) -> int:
    i = _slot(c, key, "hidden_aux")
    c._hidden_aux(i, node)
    return i


def _vector(c: Any) -> bool:
    return c.B.name == BackendKind.VECTOR


def _python_only(c: Any, construct: str) -> None:
    """Record that ``construct`` has no tape (its model runs with the closures)."""
    if _vector(c) and construct not in c.python_only:
        c.python_only.append(construct)


def _no_tape(construct: str) -> Callable[..., Any]:
    def f(v, t):
        raise TypeError(f"{construct} has no tape: the model runs with kernel 'python'")
    return f


def _discrete(c: Any, record: Discrete, init: Callable[..., Any], init_deps: set) -> None:
    """Give the discrete slot its stand-in initial equation (the run replaces it)."""
    c.prog.init_fn[record.slot] = init
    c.init_deps[record.slot] = frozenset(init_deps)
    if _vector(c):
        c.discrete.append(record)


# ---------------------------------------------------------------- dispatch
def compile_call(c: Any, fname: str, args: list) -> Compiled:
    """Compile a call of :data:`~sim.engine.reading.special.SPECIAL_CALLS`."""
    spec = SPECIAL_CALLS[fname]
    if spec.arity and len(args) not in spec.arity:
        raise ModelError(c.path, f"{spec.vensim} takes {spec.arity[0]} arguments, got {len(args)}",
                         variable=c._current, construct=spec.vensim)
    if fname == "active_initial":
        return _active_initial(c, args)
    if fname == "allocate_by_priority":
        return _allocate(c, args)
    return _random(c, fname, spec.vensim, args)


def compile_structure(c: Any, node) -> Compiled:
    """Compile DELAY FIXED, SAMPLE IF TRUE or FORECAST."""
    if isinstance(node, ae.DelayFixedStructure):
        return _delay_fixed(c, node)
    if isinstance(node, ae.SampleIfTrueStructure):
        return _sample_if_true(c, node)
    return _forecast(c, node)


# --------------------------------------------------------- ACTIVE INITIAL
def _active_initial(c: Any, args: list) -> Compiled:
    key = c._hidden_key("active_initial")
    i = _slot(c, key, "hidden_aux")
    run, rdeps, _ = c.expr(args[0])
    init, ideps, _ = c.expr(args[1])
    c.prog.run_fn[i] = lift(run)
    c.prog.init_fn[i] = init
    c.run_deps[i] = frozenset(rdeps)
    c.init_deps[i] = frozenset(ideps)
    c.uses_time.add(i)  # evaluated during the run even when ``active`` is constant
    return read_slot(i), {i}, False


# ---------------------------------------------------------------- FORECAST
def _forecast(c: Any, node) -> Compiled:
    key = c._hidden_key("forecast")
    i_in = _aux(c, key + "_input", node.input)
    i_t = _aux(c, key + "_time", node.average_time)
    i_h = _aux(c, key + "_horizon", node.horizon)
    i_tr = _initial(c, key + "_init", node.initial_trend)
    s = _slot(c, key + "_stock0", "hidden_stock")
    c.prog.init_fn[s] = lambda v, t: v[i_in] / (1.0 + v[i_tr])
    c.init_deps[s] = frozenset({i_in, i_tr})
    c.prog.rate_fn[s] = lambda v, t: (v[i_in] - v[s]) / v[i_t]
    c.rate_deps[s] = frozenset({i_in, s, i_t})
    out = _slot(c, key + "_output", "hidden_aux")
    zidz = c._primitive("zidz")
    fout = lambda v, t: v[i_in] * (1.0 + zidz(v[i_in] - v[s], v[i_t] * v[s]) * v[i_h])  # noqa: E731
    c.prog.run_fn[out] = fout
    c.prog.init_fn[out] = fout
    c.run_deps[out] = c.init_deps[out] = frozenset({i_in, s, i_t, i_h})
    return read_slot(out), {out}, False


# ------------------------------------------------------------- DELAY FIXED
def _delay_fixed(c: Any, node) -> Compiled:
    key = c._hidden_key("delay_fixed")
    i_in = _aux(c, key + "_input", node.input)
    i_dt = _initial(c, key + "_time", node.delay_time)
    i_init = _initial(c, key + "_init", node.initial)
    out = _slot(c, key + "_output", "discrete")
    _discrete(c, Discrete("DELAY FIXED", "DELAY FIXED", c._current, out, reads=(i_in,),
                          init_reads=(i_dt, i_init)),
              lambda v, t: v[i_init], {i_dt, i_init})
    return read_slot(out), {out}, False


# ----------------------------------------------------------- SAMPLE IF TRUE
def _sample_if_true(c: Any, node) -> Compiled:
    key = c._hidden_key("sample_if_true")
    i_init = _initial(c, key + "_init", node.initial)
    held = _slot(c, key + "_held", "discrete")
    cond, cdeps, cut = c.expr(node.condition)
    inp, ideps, iut = c.expr(node.input)
    out = _slot(c, key + "_output", "hidden_aux")
    f = lift(c._ite(lift(cond), inp, read_slot(held)))
    c.prog.run_fn[out] = f
    c.prog.init_fn[out] = f
    c.run_deps[out] = c.init_deps[out] = frozenset(cdeps | ideps | {held})
    if cut or iut:
        c.uses_time.add(out)
    _discrete(c, Discrete("SAMPLE IF TRUE", "SAMPLE IF TRUE", c._current, held, reads=(out,),
                          init_reads=(i_init,)),
              lambda v, t: v[i_init], {i_init})
    return read_slot(out), {out}, False


# ------------------------------------------------------------------ RANDOM
#: arguments before the seed, by function
_PARAMS = {"random_0_1": 0, "random_uniform": 2, "random_normal": 4, "random_exponential": 4,
           "random_poisson": 5}


def _random(c: Any, fname: str, vensim: str, args: list) -> Compiled:
    n = _PARAMS[fname]
    seed = None
    if len(args) > n:
        try:
            seed = c._static_value(args[n])
        except ModelError:
            raise ModelError(c.path, f"{vensim}: the seed (last argument) must be a constant",
                             variable=c._current, construct=vensim) from None
    key = c._hidden_key("random")
    u = _slot(c, key + "_u", "discrete")
    site = sum(1 for d in c.discrete if d.kind == "RANDOM") if _vector(c) else 0
    _discrete(c, Discrete("RANDOM", vensim, c._current, u, site=site, seed=seed),
              read_slot(u), set())
    compiled = [c.expr(a) for a in args[:n]]
    deps = set().union({u}, *(x[1] for x in compiled))
    ut = any(x[2] for x in compiled)
    vals = [x[0] for x in compiled]
    uu = read_slot(u)
    if fname == "random_0_1":
        return uu, deps, ut
    if fname == "random_uniform":
        lo, hi = vals
        return add(lo, mul(sub(hi, lo), uu)), deps, ut
    _python_only(c, vensim)
    if c.B.name == BackendKind.TAPE:
        return _no_tape(vensim), deps, ut
    fs = [lift(x) for x in vals]
    inverse = _INVERSE[fname]
    if c.B.name == BackendKind.SCALAR:
        return (lambda v, t: float(inverse(v[u], *(f(v, t) for f in fs)))), deps, ut
    return (lambda v, t: inverse(v[u], *(f(v, t) for f in fs))), deps, ut


def _clip(x, lo, hi):
    return np.minimum(np.maximum(x, lo), hi)


def normal_inverse(u, lo, hi, mean, sd):
    """RANDOM NORMAL's value for the uniform draw ``u``: N(mean, sd) truncated to [lo, hi]."""
    from scipy import special as sp  # imported when a model draws (scipy.stats is slow to load)

    with np.errstate(all="ignore"):
        sd_ok = np.asarray(sd) > 0
        s = np.where(sd_ok, sd, 1.0)
        a, b = sp.ndtr((lo - mean) / s), sp.ndtr((hi - mean) / s)
        x = mean + s * sp.ndtri(a + u * (b - a))
    return _clip(np.where(sd_ok, x, mean), lo, hi)


def exponential_inverse(u, lo, hi, shift, stretch):
    """RANDOM EXPONENTIAL's value: shift (at least ``lo``) + stretch * Exp(1), truncated at ``hi``."""
    with np.errstate(all="ignore"):
        loc = np.maximum(lo, shift)
        b = (hi - loc) / stretch
        x = loc - stretch * np.log1p(-u * -np.expm1(-b))
    return _clip(x, lo, hi)


def poisson_inverse(u, lo, hi, mean, shift, stretch):
    """RANDOM POISSON's value: shift + stretch * Poisson(mean), truncated to [lo, hi]."""
    from scipy import stats

    with np.errstate(all="ignore"):
        kmin = np.ceil((lo - shift) / stretch)
        kmax = np.floor((hi - shift) / stretch)
        f0 = np.where(kmin > 0, stats.poisson.cdf(kmin - 1, mean), 0.0)
        f1 = stats.poisson.cdf(kmax, mean)
        k = stats.poisson.ppf(f0 + u * (f1 - f0), mean)
        x = shift + stretch * np.clip(k, np.maximum(kmin, 0), kmax)
    return _clip(x, lo, hi)


_INVERSE: dict[str, Callable[..., Any]] = {
    "random_normal": normal_inverse, "random_exponential": exponential_inverse,
    "random_poisson": poisson_inverse}


# ---------------------------------------------------- ALLOCATE BY PRIORITY
def _allocate(c: Any, args: list) -> Compiled:
    construct = "ALLOCATE BY PRIORITY"
    _python_only(c, construct)
    k = int(args[0])
    rest = [c.expr(a) for a in args[1:]]
    deps = set().union(*(x[1] for x in rest))
    ut = any(x[2] for x in rest)
    if c.B.name == BackendKind.TAPE:
        return _no_tape(construct), deps, ut
    n = (len(rest) - 2) // 2
    fs = [lift(x[0]) for x in rest]
    scalar = c.B.name == BackendKind.SCALAR

    def f(v, t):
        vals = [g(v, t) for g in fs]
        if scalar:
            return float(allocate_1d(np.array(vals[:n], float), np.array(vals[n:2 * n], float),
                                     vals[-2], vals[-1])[k])
        cols = np.broadcast_arrays(*(np.asarray(x, float) for x in vals))
        members = cols[0].shape[0] if cols[0].ndim else 0
        if members == 0:
            return np.float64(allocate_1d(np.array(vals[:n], float),
                                          np.array(vals[n:2 * n], float), vals[-2], vals[-1])[k])
        out = np.empty(members)
        for m in range(members):
            out[m] = allocate_1d(np.array([x[m] for x in cols[:n]]),
                                 np.array([x[m] for x in cols[n:2 * n]]),
                                 cols[-2][m], cols[-1][m])[k]
        return out
    return f, deps, ut


def allocate_1d(request: np.ndarray, priority: np.ndarray, width: float,
                supply: float) -> np.ndarray:
    """Vensim's ALLOCATE BY PRIORITY over one range (a port of PySD's, MIT licence).

    Parameters
    ----------
    request : ndarray (n,)
        What each element asks for [units of supply]; negative requests count as 0.
    priority : ndarray (n,)
        Each element's priority [priority units].
    width : float
        The gap in priority beyond which a lower priority gets only leftovers
        [priority units]; must be positive (else every element gets NaN).
    supply : float
        What there is to allocate [units of supply]; negative counts as 0.

    Returns
    -------
    ndarray (n,)
        Each element's allocation.
    """
    request = np.maximum(np.asarray(request, float), 0.0)
    if not width > 0 or not math.isfinite(width):
        return np.full(request.shape, np.nan)
    supply = max(float(supply), 0.0)
    if supply >= request.sum():
        return request.copy()
    if supply == 0:
        return np.zeros_like(request)
    is_0 = request == 0
    sort = (-priority[~is_0]).argsort(kind="stable")
    req = request[~is_0][sort]
    pri = priority[~is_0][sort]
    out = np.zeros_like(req)
    distances = np.full_like(req, np.nan)
    distances[:-1] = np.minimum(-np.diff(pri) / width, 1) * req[:-1]
    active = np.zeros(req.shape, dtype=bool)
    active[0] = True
    c_i = 0
    for _ in range(4 * req.size + 4):  # each pass starts or fills an element, or ends
        if supply <= 0:
            break
        slopes = req * active
        slopes = slopes / np.sum(slopes)
        dx_top = np.nanmin((req - out)[active] / slopes[active])
        dx_start = (distances[c_i] - out[c_i]) / slopes[c_i]
        dx = np.nanmin((dx_top, dx_start, supply))
        out += slopes * dx
        if np.isclose(dx, dx_start, rtol=1e-10, atol=1e-16):
            c_i += 1
            active[c_i] = True
        if dx == dx_top:
            active[out == req] = False
        supply -= dx
    result = np.zeros(request.shape)
    result[~is_0] = out[sort.argsort(kind="stable")]
    return result
