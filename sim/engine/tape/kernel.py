"""The compiled interpreter that runs a tape (see :mod:`sim.engine.tape.backend`) over a register file.

A tape is data: an integer array with one instruction per row
``(opcode, destination, operand 0, ..., operand 6, uniform)``; registers are
rows of a float array ``reg`` of shape (registers, N members); a *uniform*
instruction gives the same result for every member and is computed once. This module is the only
compiled code in the package: Numba compiles these few functions once (cached
on disk), whatever the model. No model text, name or expression is ever turned
into code; a model changes only the integers and floats the interpreter reads.

Semantics are those of :class:`sim.engine.compiling.backends.VectorBackend` (numpy's IEEE
answers: ``x / 0`` is inf, ``LN(-1)`` is nan), which the parity tests check
instruction by instruction.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from sim.engine.functions import SMALL_VENSIM
from sim.engine.tape.opcodes import (
    ABS,
    ACOS,
    ADD,
    AND,
    ASIN,
    ATAN,
    COPY,
    COS,
    COSH,
    DIV,
    EQ,
    EXP,
    FINGERPRINT,
    GE,
    GT,
    LAST_BINARY,
    LAST_UNARY,
    LE,
    LN,
    LOG,
    LOOKUP,
    LT,
    MAX,
    MIN,
    MOD,
    MUL,
    NE,
    NOT,
    OR,
    POW,
    PULSE,
    PULSE_TRAIN,
    QUANTUM,
    RAMP,
    RAMP_END,
    SIN,
    SINH,
    SQRT,
    STEP,
    SUB,
    TAN,
    TANH,
    TRUNC,
    VSEL,
    VSEL_START,
    WHERE,
    XIDZ,
    ZIDZ,
)

#: The opcode numbering (:data:`sim.engine.tape.opcodes.FINGERPRINT`) this file's
#: branches were written for. Numba's disk cache is keyed on this file only, and
#: freezes the opcode constants: when the registry renumbers the opcodes without
#: this file changing, a cached kernel would read the wrong ones. So the cache
#: is used only while the two agree (tests/test_registry.py checks they do).
OPCODES_FINGERPRINT = "d0427380020db8ff"
_CACHE = OPCODES_FINGERPRINT == FINGERPRINT


def cached_jit(fn):
    """Compile ``fn`` once per installation (Numba's disk cache), or once per process.

    Numba refuses ``cache=True`` when it finds no writable place for the cache
    (a read-only installation without a writable home or ``NUMBA_CACHE_DIR``);
    the kernel then compiles in each new process instead of failing. The cache
    is also skipped while :data:`OPCODES_FINGERPRINT` is out of date.
    """
    try:
        return njit(cache=_CACHE, error_model="numpy", nogil=True)(fn)
    except RuntimeError:
        return njit(cache=False, error_model="numpy", nogil=True)(fn)


@njit(inline="always")
def _vsel_start(action):
    """Return the start of VECTOR SELECT's fold (``functions._vector_select_start_v``)."""
    action = np.trunc(action)
    if action == 0.0 or action == 4.0 or action == 6.0 or action == 10.0:
        return 0.0
    if action == 1.0 or action == 5.0 or action == 7.0:
        return 1.0
    if action == 2.0 or action == 8.0:
        return np.inf
    if action == 3.0 or action == 9.0:
        return -np.inf
    return np.nan


@njit(inline="always")
def _unary(op, x):
    if op == ABS:
        return abs(x)
    if op == SQRT:
        return np.sqrt(x)
    if op == EXP:
        return np.exp(x)
    if op == LN:
        return np.log(x)
    if op == SIN:
        return np.sin(x)
    if op == COS:
        return np.cos(x)
    if op == TAN:
        return np.tan(x)
    if op == ASIN:
        return np.arcsin(x)
    if op == ACOS:
        return np.arccos(x)
    if op == ATAN:
        return np.arctan(x)
    if op == TRUNC:
        return np.trunc(x)
    if op == NOT:
        return 0.0 if x != 0.0 else 1.0
    if op == SINH:
        return np.sinh(x)
    if op == COSH:
        return np.cosh(x)
    if op == TANH:
        return np.tanh(x)
    if op == VSEL_START:
        return _vsel_start(x)
    return np.nan  # an opcode without a branch here (tests/test_registry.py fails)


@njit(inline="always")
def _minimum(a, b):
    if a != a or b != b:
        return np.nan
    return a if a <= b else b


@njit(inline="always")
def _maximum(a, b):
    if a != a or b != b:
        return np.nan
    return a if a >= b else b


@njit(inline="always")
def _binary(op, a, b):
    if op == POW:
        return a ** b
    if op == MIN:
        return _minimum(a, b)
    if op == MAX:
        return _maximum(a, b)
    if op == LOG:
        return np.log(a) / np.log(b)
    if op == MOD:
        return a - (a if b < SMALL_VENSIM else b * np.trunc(a / b))
    if op == ZIDZ:
        return 0.0 if abs(b) < SMALL_VENSIM else a / b
    if op == QUANTUM:
        return a if b < SMALL_VENSIM else b * np.trunc(a / b)
    if op == EQ:
        return 1.0 if a == b else 0.0
    if op == NE:
        return 1.0 if a != b else 0.0
    if op == LT:
        return 1.0 if a < b else 0.0
    if op == LE:
        return 1.0 if a <= b else 0.0
    if op == GT:
        return 1.0 if a > b else 0.0
    if op == GE:
        return 1.0 if a >= b else 0.0
    if op == AND:
        return 1.0 if (a != 0.0 and b != 0.0) else 0.0
    if op == OR:
        return 1.0 if (a != 0.0 or b != 0.0) else 0.0
    return np.nan  # an opcode without a branch here (tests/test_registry.py fails)


@njit(inline="always")
def _pymod(a, b):
    """Numpy's ``np.mod`` (the sign of the divisor, nan for a zero divisor)."""
    if b == 0.0:
        return np.nan
    r = np.fmod(a, b)
    if r != 0.0 and ((r < 0.0) != (b < 0.0)):
        r += b
    return r


@njit(inline="always")
def _lookup(x, tx, ty, lo, hi):
    if hi - lo == 1:  # np.interp: a one-point table is that value, whatever x
        return ty[lo]
    if x != x:
        return np.nan
    if x <= tx[lo]:
        return ty[lo]
    if x >= tx[hi - 1]:
        return ty[hi - 1]
    a, b = lo, hi - 1  # tx[a] < x < tx[b]
    while b - a > 1:
        m = (a + b) // 2
        if tx[m] <= x:
            a = m
        else:
            b = m
    return ty[a] + (ty[b] - ty[a]) * (x - tx[a]) / (tx[b] - tx[a])


@njit(inline="always")
def _xidz(a, b, x):
    return x if abs(b) < SMALL_VENSIM else a / b


@njit(inline="always")
def _step(t, tol, height, start):
    """STEP: ``height * (t + tol > start)``."""
    return height * (1.0 if t + tol > start else 0.0)


@njit(inline="always")
def _ramp(op, t, tol, slope, start, end):
    """RAMP (``end`` unused) or RAMP_END: ``(t + min(SMALL, tol) > start) * slope * (final - start)``."""
    final = t if op == RAMP else _minimum(end, t)
    on = 1.0 if t + min(SMALL_VENSIM, tol) > start else 0.0
    return on * slope * (final - start)


@njit(inline="always")
def _pulse(t, tol, dt, start, width):
    """PULSE: 1 from ``start`` for ``width`` (one TIME STEP when 0)."""
    w = dt if width == 0.0 else width
    return 1.0 if (start - min(SMALL_VENSIM, tol) <= t and t < start + w) else 0.0


@njit(inline="always")
def _pulse_train(t, tol, dt, start, interval, width, end):
    """PULSE TRAIN: pulses of ``width`` every ``interval`` from ``start`` until ``end``."""
    w = dt if width == 0.0 else width
    if interval == 0.0:  # one pulse, whatever the end (Vensim; PySD)
        return 1.0 if (start - min(SMALL_VENSIM, tol) <= t and t < start + w) else 0.0
    on = start <= t and t < end
    hit = _pymod(t - start + min(SMALL_VENSIM, tol), interval) < w
    return 1.0 if (on and hit) else 0.0


@njit(inline="always")
def _vsel(acc, sel, x, action):
    """One term of VECTOR SELECT (``functions._vector_select_step_v``)."""
    if sel == 0.0 or not (action > -1.0 and action < 11.0):
        return acc
    a = int(np.trunc(action))
    if a < 5:
        v = sel * x
    elif a == 5:
        v = x ** sel
    else:
        v = x
    if a == 0 or a == 4 or a == 6 or a == 10:
        return acc + v
    if a == 1 or a == 5 or a == 7:
        return acc * v
    if a == 2 or a == 8:
        return _minimum(acc, v)
    return _maximum(acc, v)


@cached_jit
def execute(code, reg, tx, ty, toff, rep):
    """Run every instruction of ``code`` over all members (columns) of ``reg``, in place.

    An instruction flagged uniform (column 9) is computed for member ``rep``
    only and its result copied to every member; ``rep < 0`` computes every
    instruction for every column (columns that are not members of one
    ensemble, e.g. one member at several times).
    """
    n = reg.shape[1]
    for k in range(code.shape[0]):
        op = code[k, 0]
        uniform = n > 1 and rep >= 0 and code[k, 9] != 0
        j0 = rep if uniform else 0
        j1 = rep + 1 if uniform else n
        d = code[k, 1]
        a = code[k, 2]
        b = code[k, 3]
        if op == COPY:
            for j in range(j0, j1):
                reg[d, j] = reg[a, j]
        elif op == ADD:
            for j in range(j0, j1):
                reg[d, j] = reg[a, j] + reg[b, j]
        elif op == SUB:
            for j in range(j0, j1):
                reg[d, j] = reg[a, j] - reg[b, j]
        elif op == MUL:
            for j in range(j0, j1):
                reg[d, j] = reg[a, j] * reg[b, j]
        elif op == DIV:
            for j in range(j0, j1):
                reg[d, j] = reg[a, j] / reg[b, j]
        elif op <= LAST_UNARY:
            for j in range(j0, j1):
                reg[d, j] = _unary(op, reg[a, j])
        elif op <= LAST_BINARY:
            for j in range(j0, j1):
                reg[d, j] = _binary(op, reg[a, j], reg[b, j])
        elif op == XIDZ:
            c = code[k, 4]
            for j in range(j0, j1):
                reg[d, j] = _xidz(reg[a, j], reg[b, j], reg[c, j])
        elif op == WHERE:
            c = code[k, 4]
            for j in range(j0, j1):
                reg[d, j] = reg[b, j] if reg[a, j] != 0.0 else reg[c, j]
        elif op == LOOKUP:
            lo, hi = toff[b], toff[b + 1]
            for j in range(j0, j1):
                reg[d, j] = _lookup(reg[a, j], tx, ty, lo, hi)
        elif op == STEP:  # (t, tol, height, start)
            c, e = code[k, 4], code[k, 5]
            for j in range(j0, j1):
                reg[d, j] = _step(reg[a, j], reg[b, j], reg[c, j], reg[e, j])
        elif op == RAMP or op == RAMP_END:  # (t, tol, slope, start[, end])
            c, e, f = code[k, 4], code[k, 5], code[k, 6]
            for j in range(j0, j1):
                reg[d, j] = _ramp(op, reg[a, j], reg[b, j], reg[c, j], reg[e, j], reg[f, j])
        elif op == PULSE:  # (t, tol, dt, start, width)
            c, e, f = code[k, 4], code[k, 5], code[k, 6]
            for j in range(j0, j1):
                reg[d, j] = _pulse(reg[a, j], reg[b, j], reg[c, j], reg[e, j], reg[f, j])
        elif op == PULSE_TRAIN:  # (t, tol, dt, start, interval, width, end)
            c, e, f, g, h = code[k, 4], code[k, 5], code[k, 6], code[k, 7], code[k, 8]
            for j in range(j0, j1):
                reg[d, j] = _pulse_train(reg[a, j], reg[b, j], reg[c, j], reg[e, j], reg[f, j],
                                         reg[g, j], reg[h, j])
        elif op == VSEL:  # (acc, sel, x, action)
            c, e = code[k, 4], code[k, 5]
            for j in range(j0, j1):
                reg[d, j] = _vsel(reg[a, j], reg[b, j], reg[c, j], reg[e, j])
        else:  # an opcode without a branch here (tests/test_registry.py fails)
            for j in range(j0, j1):
                reg[d, j] = np.nan
        if uniform:
            d = code[k, 1]
            value = reg[d, rep]
            for j in range(n):
                reg[d, j] = value


@cached_jit
def execute1(code, r, tx, ty, toff):
    """Run :func:`execute` for one member: registers ``r`` are 1-D.

    The same instructions and helpers, without the loops over members, which
    cost a third of a small model's evaluation.
    """
    for k in range(code.shape[0]):
        op = code[k, 0]
        d = code[k, 1]
        a = code[k, 2]
        b = code[k, 3]
        if op == COPY:
            r[d] = r[a]
        elif op == ADD:
            r[d] = r[a] + r[b]
        elif op == SUB:
            r[d] = r[a] - r[b]
        elif op == MUL:
            r[d] = r[a] * r[b]
        elif op == DIV:
            r[d] = r[a] / r[b]
        elif op <= LAST_UNARY:
            r[d] = _unary(op, r[a])
        elif op <= LAST_BINARY:
            r[d] = _binary(op, r[a], r[b])
        elif op == XIDZ:
            r[d] = _xidz(r[a], r[b], r[code[k, 4]])
        elif op == WHERE:
            r[d] = r[b] if r[a] != 0.0 else r[code[k, 4]]
        elif op == LOOKUP:
            r[d] = _lookup(r[a], tx, ty, toff[b], toff[b + 1])
        elif op == STEP:
            r[d] = _step(r[a], r[b], r[code[k, 4]], r[code[k, 5]])
        elif op == RAMP or op == RAMP_END:
            r[d] = _ramp(op, r[a], r[b], r[code[k, 4]], r[code[k, 5]], r[code[k, 6]])
        elif op == PULSE:
            r[d] = _pulse(r[a], r[b], r[code[k, 4]], r[code[k, 5]], r[code[k, 6]])
        elif op == PULSE_TRAIN:
            r[d] = _pulse_train(r[a], r[b], r[code[k, 4]], r[code[k, 5]], r[code[k, 6]],
                                r[code[k, 7]], r[code[k, 8]])
        elif op == VSEL:
            r[d] = _vsel(r[a], r[b], r[code[k, 4]], r[code[k, 5]])
        else:  # an opcode without a branch here (tests/test_registry.py fails)
            r[d] = np.nan


@cached_jit
def rates(t, y, code, reg, time_row, stock_rows, out_rows, tx, ty, toff, rep):
    """Load stocks ``y`` (stocks, N) and time ``t``, run the tape, return the derivatives (stocks, N).

    ``rep`` is a member that has not been masked: uniform instructions are computed for it.
    """
    n = reg.shape[1]
    for i in range(stock_rows.size):
        for j in range(n):
            reg[stock_rows[i], j] = y[i, j]
    for j in range(n):
        reg[time_row, j] = t
    execute(code, reg, tx, ty, toff, rep)
    out = np.empty((out_rows.size, n))
    for i in range(out_rows.size):
        for j in range(n):
            out[i, j] = reg[out_rows[i], j]
    return out


@cached_jit
def rates1(lo, hi, reg, packed, txy, t, y):
    """Return :func:`rates` for one member at the time ``t`` clipped into [lo, hi].

    ``y`` and the result are 1-D (stocks,).

    The tape and its row numbers come in one integer array (:func:`sim.engine.tape.backend.pack`) and the
    lookup tables in one (2, L) array: each argument costs Numba's dispatch time, which
    here is as long as the evaluation. ``t`` and ``y`` come last, so a SciPy segment's
    right-hand side is ``functools.partial(rates1, lo, hi, reg, packed, txy)``, called with
    no Python frame of ours.
    """
    if t < lo:
        t = lo
    elif t > hi:
        t = hi
    r = reg[:, 0]
    ns, no, nt, nc, w = packed[1], packed[2], packed[3], packed[4], packed[5]
    for i in range(ns):
        r[packed[6 + i]] = y[i]
    r[packed[0]] = t
    o = 6 + ns
    c = o + no + nt
    execute1(packed[c:c + nc * w].reshape((nc, w)), r, txy[0], txy[1], packed[o + no:c])
    out = np.empty(no)
    for i in range(no):
        out[i] = r[packed[o + i]]
    return out
