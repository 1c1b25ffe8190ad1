"""Switch times of a run: where STEP/PULSE/RAMP/time lookups change, known before it starts.

The SciPy integration splits the horizon there, so no solver step straddles
a discontinuity.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.engine.compiled.program import Program
from sim.engine.running.evaluator import FALLBACK, Evaluator, as_numpy
from sim.engine.running.integrators import TimeGrid

#: at most this many switch times of one PULSE TRAIN (a guard against a tiny interval)
MAX_PULSES = 10000


def switch_table(p: Program) -> list:
    """Return per switch: (kind, value pairs, deps, gates).

    A value pair is its (scalar, vector) closure. The same for every run of the program: :class:`~sim.engine.running.cache.ProgramCache`
    builds it once.
    """
    sb, vb = p.backends["scalar"], p.backends["vector"]
    return [
        (kind, list(zip(sb.breakpoints[k][1], vals, strict=True)), p.breakpoint_deps[k],
         list(zip(zip(sb.gates[k], vb.gates[k], strict=True), p.breakpoint_gates[k],
                  strict=True)))
        for k, (kind, vals) in enumerate(vb.breakpoints)]


def breakpoints(ev: Evaluator, grid: TimeGrid) -> list[float]:
    """Return the switch times of STEP/PULSE/RAMP/time lookups whose arguments are static.

    A switch whose effect is multiplied by a value that is static and 0 for
    every member switches nothing: a STEP of height 0 (a policy lever left
    at its default), ``0 * PULSE(...)`` (a shock of size 0). It does not
    split the run. One member's values come from the scalar closures (a
    value they cannot compute, e.g. ``1 / 0``, from the vector ones, with
    numpy's answer); an ensemble's from the vector closures.

    Parameters
    ----------
    ev : Evaluator
        The run's evaluator, initialised.
    grid : TimeGrid
        The run's time axis.

    Returns
    -------
    list of float
        Sorted switch times strictly inside the horizon [model time unit].
    """
    out: list[float] = []
    dynamic = set(ev.run_order) | set(ev.stocks) | set(ev.series)
    one = ev.backend == "scalar"
    t0 = np.float64(grid.t0)
    vv: list[list] = []

    def vector_value(f) -> list[float]:
        if callable(f):
            if not vv:
                vv.append(as_numpy(ev.v))
            f = f(vv[0], t0)
        return np.asarray(f, float).reshape(-1).tolist()

    def value(pair) -> list[float]:
        fs, fv = pair
        if not one or not callable(fs):
            return vector_value(fv)
        try:
            return [float(fs(ev.v, grid.t0))]
        except FALLBACK:
            return vector_value(fv)

    with np.errstate(all="ignore"):
        for kind, vals, deps, gates in ev.cache.switch_table():
            _switches(kind, vals, deps, gates, dynamic, value, grid, out)
    return sorted({x for x in out if math.isfinite(x) and grid.t0 < x < grid.tf})


def _switches(kind: str, vals: list, deps: frozenset, gates: list, dynamic: set[int],
              value: Callable[..., list[float]], grid: TimeGrid, out: list[float]) -> None:
    """Append the switch times of one STEP/PULSE/RAMP/lookup to ``out`` (see :func:`breakpoints`)."""
    if deps & dynamic:
        return
    for gate, gate_deps in gates:
        if not gate_deps & dynamic and not any(x != 0 for x in value(gate)):
            return  # multiplied by 0 for every member
    xs = [value(f) for f in vals]
    if kind == "at":
        for x in xs:
            out += x
    elif kind == "pulse":
        st, w = np.broadcast_arrays(*xs)
        out += st.tolist() + (st + np.where(w == 0, grid.dt, w)).tolist()
    elif kind == "pulse_train":
        start, itv, width, end = (x[0] for x in xs)
        width = width or grid.dt
        k = start
        if itv == 0:  # one pulse (whatever the end)
            out += [start, start + width]
        while k < min(end, grid.tf) and itv > 0 and len(out) < MAX_PULSES:
            out += [k, k + width]
            k += itv
        out.append(end)
