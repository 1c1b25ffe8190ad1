"""Numerical primitives of the Vensim functions, for two array back ends.

``VECTOR`` works on numpy arrays (one value per ensemble member) and is the
reference. ``SCALAR`` works on Python floats and exists only for speed: a
single run through SciPy calls the derivative hundreds of times, and
Python's float arithmetic is about ten times cheaper than numpy's on
one-element arrays. Where a scalar primitive meets a domain error
(``ZeroDivisionError``, ``ValueError``), the caller re-evaluates with
``VECTOR``, which gives Vensim's IEEE answers (inf, nan).

The semantics follow Vensim's documentation and PySD's implementation
(``pysd.py_backend.functions``): ``SMALL_VENSIM`` is Vensim's zero for
XIDZ/ZIDZ; ``tol`` is half a time step in fixed-step runs and a few ulps
of the time in continuous runs, where the integrator splits the horizon at
every switch (so PULSE and RAMP use ``min(SMALL_VENSIM, tol)`` as their
tolerance: Vensim's in fixed steps, none in continuous time).
"""
from __future__ import annotations

import bisect
import math
from enum import StrEnum

import numpy as np

SMALL_VENSIM = 1e-6  # what Vensim calls zero in XIDZ/ZIDZ (Vensim help; PySD)


class BackendKind(StrEnum):
    """The back ends the compiler builds a program for (the keys of ``Program.backends``).

    A :class:`~enum.StrEnum`: a member equals (and hashes as) its string, so
    ``program.backends["tape"]`` and ``program.backends[BackendKind.TAPE]`` agree.
    """

    VECTOR = "vector"  # numpy arrays, one value per ensemble member: the reference
    SCALAR = "scalar"  # Python floats: a single run's fast path
    TAPE = "tape"      # records the equations for the compiled kernel


class VectorBackend:
    """numpy primitives; arguments may be floats or arrays of shape (N,)."""

    name = BackendKind.VECTOR
    where = staticmethod(np.where)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    abs = staticmethod(np.abs)
    sqrt = staticmethod(np.sqrt)
    exp = staticmethod(np.exp)
    ln = staticmethod(np.log)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tan = staticmethod(np.tan)
    arcsin = staticmethod(np.arcsin)
    arccos = staticmethod(np.arccos)
    arctan = staticmethod(np.arctan)
    power = staticmethod(np.power)
    integer = staticmethod(np.trunc)

    @staticmethod
    def log(x, base):
        return np.log(x) / np.log(base)

    @staticmethod
    def modulo(x, m):
        return x - np.where(m < SMALL_VENSIM, x, m * np.trunc(np.true_divide(x, m)))

    @staticmethod
    def xidz(a, b, x):
        return np.where(np.abs(b) < SMALL_VENSIM, x, np.true_divide(a, b))

    @staticmethod
    def zidz(a, b):
        return np.where(np.abs(b) < SMALL_VENSIM, 0.0, np.true_divide(a, b))

    @staticmethod
    def cmp(op, a, b):
        return 1.0 * op(a, b)

    @staticmethod
    def logical_and(a, b):
        return 1.0 * np.logical_and(a, b)

    @staticmethod
    def logical_or(a, b):
        return 1.0 * np.logical_or(a, b)

    @staticmethod
    def logical_not(a):
        return 1.0 * np.logical_not(a)

    @staticmethod
    def step(t, tol, height, tstep):
        return height * (t + tol > tstep)

    @staticmethod
    def ramp(t, tol, slope, start, end=None):
        final = t if end is None else np.minimum(end, t)
        return (t + min(SMALL_VENSIM, tol) > start) * slope * (final - start)

    @staticmethod
    def pulse(t, tol, dt, start, width):
        width = np.where(width == 0, dt, width)
        return 1.0 * ((start - min(SMALL_VENSIM, tol) <= t) & (t < start + width))

    @staticmethod
    def pulse_train(t, tol, dt, start, interval, width, end):
        width = np.where(width == 0, dt, width)
        on = (start <= t) & (t < end)
        return 1.0 * (on & (np.mod(t - start + min(SMALL_VENSIM, tol), interval) < width))

    @staticmethod
    def lookup(x, xs, ys):
        return np.interp(x, xs, ys)


class ScalarBackend:
    """Python-float primitives with the same meaning as :class:`VectorBackend`."""

    name = BackendKind.SCALAR

    @staticmethod
    def where(c, a, b):
        return a if c else b

    minimum = staticmethod(min)
    maximum = staticmethod(max)
    abs = staticmethod(abs)
    sqrt = staticmethod(math.sqrt)
    exp = staticmethod(math.exp)
    ln = staticmethod(math.log)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    tan = staticmethod(math.tan)
    arcsin = staticmethod(math.asin)
    arccos = staticmethod(math.acos)
    arctan = staticmethod(math.atan)
    power = staticmethod(math.pow)

    @staticmethod
    def integer(x):
        return float(math.trunc(x))

    @staticmethod
    def log(x, base):
        return math.log(x) / math.log(base)

    @staticmethod
    def modulo(x, m):
        return x - (x if m < SMALL_VENSIM else m * math.trunc(x / m))

    @staticmethod
    def xidz(a, b, x):
        return x if abs(b) < SMALL_VENSIM else a / b

    @staticmethod
    def zidz(a, b):
        return 0.0 if abs(b) < SMALL_VENSIM else a / b

    @staticmethod
    def cmp(op, a, b):
        return 1.0 if op(a, b) else 0.0

    @staticmethod
    def logical_and(a, b):
        return 1.0 if (a and b) else 0.0

    @staticmethod
    def logical_or(a, b):
        return 1.0 if (a or b) else 0.0

    @staticmethod
    def logical_not(a):
        return 0.0 if a else 1.0

    @staticmethod
    def step(t, tol, height, tstep):
        return height if t + tol > tstep else 0.0

    @staticmethod
    def ramp(t, tol, slope, start, end=None):
        if t + min(SMALL_VENSIM, tol) <= start:
            return 0.0
        final = t if end is None else min(end, t)
        return slope * (final - start)

    @staticmethod
    def pulse(t, tol, dt, start, width):
        if width == 0:
            width = dt
        return 1.0 if start - min(SMALL_VENSIM, tol) <= t < start + width else 0.0

    @staticmethod
    def pulse_train(t, tol, dt, start, interval, width, end):
        if width == 0:
            width = dt
        if start <= t < end:
            return 1.0 if math.fmod(t - start + min(SMALL_VENSIM, tol), interval) < width else 0.0
        return 0.0

    @staticmethod
    def lookup(x, xs, ys):
        if x <= xs[0]:
            return ys[0]
        if x >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, x)
        x0, x1 = xs[i - 1], xs[i]
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0)


VECTOR = VectorBackend()
SCALAR = ScalarBackend()
