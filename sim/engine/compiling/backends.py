"""Numerical primitives of the Vensim functions, for two array back ends.

``VECTOR`` works on numpy arrays (one value per ensemble member) and is the
reference. ``SCALAR`` works on Python floats and exists only for speed: a
single run through SciPy calls the derivative hundreds of times, and
Python's float arithmetic is about ten times cheaper than numpy's on
one-element arrays. Where a scalar primitive meets a domain error
(``ZeroDivisionError``, ``ValueError``), the caller re-evaluates with
``VECTOR``, which gives Vensim's IEEE answers (inf, nan).

The Vensim functions' primitives (``VECTOR.sqrt``, ``SCALAR.pulse``...) are
the implementations of the registry :data:`sim.engine.functions.FUNCTIONS`,
attached to the two classes below under each entry's ``primitive`` name; the
classes themselves define only the operators' primitives (comparisons,
logic, IF THEN ELSE's ``where``, lookups). ``SMALL_VENSIM`` is Vensim's zero
for XIDZ/ZIDZ.
"""
from __future__ import annotations

import bisect
from enum import StrEnum

import numpy as np

from sim.engine.functions import FUNCTIONS, SMALL_VENSIM

__all__ = ["SCALAR", "SMALL_VENSIM", "VECTOR", "BackendKind", "ScalarBackend", "VectorBackend"]


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
    def lookup(x, xs, ys):
        return np.interp(x, xs, ys)


class ScalarBackend:
    """Python-float primitives with the same meaning as :class:`VectorBackend`."""

    name = BackendKind.SCALAR

    @staticmethod
    def where(c, a, b):
        return a if c else b

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
    def lookup(x, xs, ys):
        if x <= xs[0]:
            return ys[0]
        if x >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, x)
        x0, x1 = xs[i - 1], xs[i]
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0)


for _fn in FUNCTIONS.values():  # the Vensim functions' primitives, from the registry
    if _fn.vector is not None:
        setattr(VectorBackend, _fn.primitive, staticmethod(_fn.vector))
    if _fn.scalar is not None:
        setattr(ScalarBackend, _fn.primitive, staticmethod(_fn.scalar))
del _fn

VECTOR = VectorBackend()
SCALAR = ScalarBackend()
