"""Closure builders: turn compiled sub-expressions into ``f(v, t)`` closures.

A compiled node is a Python float (constant-folded), a slot read made by
:func:`read_slot` (tagged with ``.slot`` so arithmetic can read the slot inline instead
of calling another closure), or any other closure ``f(v, t)``. These builders
specialise on those three kinds, which is what keeps a single run cheap.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def is_num(x: object) -> bool:
    """Return True for a number of the abstract model (not a bool)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def lift(node):
    """Return a closure for a node (a float becomes a constant closure)."""
    if callable(node):
        return node
    c = float(node)
    return lambda v, t: c


def _kind(x):
    """'c' constant, 'r' slot reference, 'f' other closure."""
    if not callable(x):
        return "c", x
    i = getattr(x, "slot", None)
    return ("r", i) if i is not None else ("f", x)


def read_slot(i: int) -> Callable[[Any, Any], Any]:
    """Return a closure reading slot ``i``, tagged so arithmetic can inline the read."""
    f = lambda v, t: v[i]  # noqa: E731
    f.slot = i  # type: ignore[attr-defined]  # a tag on the function object, read by _kind
    return f


_ADD = {
    ('r', 'r'): lambda a, b: (lambda v, t: v[a] + v[b]),
    ('r', 'c'): lambda a, b: (lambda v, t: v[a] + b),
    ('c', 'r'): lambda a, b: (lambda v, t: a + v[b]),
    ('r', 'f'): lambda a, b: (lambda v, t: v[a] + b(v, t)),
    ('f', 'r'): lambda a, b: (lambda v, t: a(v, t) + v[b]),
    ('f', 'f'): lambda a, b: (lambda v, t: a(v, t) + b(v, t)),
    ('f', 'c'): lambda a, b: (lambda v, t: a(v, t) + b),
    ('c', 'f'): lambda a, b: (lambda v, t: a + b(v, t)),
}


_SUB = {
    ('r', 'r'): lambda a, b: (lambda v, t: v[a] - v[b]),
    ('r', 'c'): lambda a, b: (lambda v, t: v[a] - b),
    ('c', 'r'): lambda a, b: (lambda v, t: a - v[b]),
    ('r', 'f'): lambda a, b: (lambda v, t: v[a] - b(v, t)),
    ('f', 'r'): lambda a, b: (lambda v, t: a(v, t) - v[b]),
    ('f', 'f'): lambda a, b: (lambda v, t: a(v, t) - b(v, t)),
    ('f', 'c'): lambda a, b: (lambda v, t: a(v, t) - b),
    ('c', 'f'): lambda a, b: (lambda v, t: a - b(v, t)),
}


_MUL = {
    ('r', 'r'): lambda a, b: (lambda v, t: v[a] * v[b]),
    ('r', 'c'): lambda a, b: (lambda v, t: v[a] * b),
    ('c', 'r'): lambda a, b: (lambda v, t: a * v[b]),
    ('r', 'f'): lambda a, b: (lambda v, t: v[a] * b(v, t)),
    ('f', 'r'): lambda a, b: (lambda v, t: a(v, t) * v[b]),
    ('f', 'f'): lambda a, b: (lambda v, t: a(v, t) * b(v, t)),
    ('f', 'c'): lambda a, b: (lambda v, t: a(v, t) * b),
    ('c', 'f'): lambda a, b: (lambda v, t: a * b(v, t)),
}


_DIV = {
    ('r', 'r'): lambda a, b: (lambda v, t: v[a] / v[b]),
    ('r', 'c'): lambda a, b: (lambda v, t: v[a] / b),
    ('c', 'r'): lambda a, b: (lambda v, t: a / v[b]),
    ('r', 'f'): lambda a, b: (lambda v, t: v[a] / b(v, t)),
    ('f', 'r'): lambda a, b: (lambda v, t: a(v, t) / v[b]),
    ('f', 'f'): lambda a, b: (lambda v, t: a(v, t) / b(v, t)),
    ('f', 'c'): lambda a, b: (lambda v, t: a(v, t) / b),
    ('c', 'f'): lambda a, b: (lambda v, t: a / b(v, t)),
}


def _arith2(table, fold, a, b):
    ka, xa = _kind(a)
    kb, xb = _kind(b)
    if ka == "c" and kb == "c":
        return fold(xa, xb)
    return table[(ka, kb)](xa, xb)


def add(a, b):
    """Return the compiled node ``a + b`` (folded when both are numbers)."""
    return _arith2(_ADD, lambda x, y: x + y, a, b)


def sub(a, b):
    """Return the compiled node ``a - b`` (folded when both are numbers)."""
    return _arith2(_SUB, lambda x, y: x - y, a, b)


def mul(a, b):
    """Return the compiled node ``a * b`` (folded when both are numbers)."""
    return _arith2(_MUL, lambda x, y: x * y, a, b)


def div(a, b):
    """Return the compiled node ``a / b`` (folded when both are numbers; x / 0 folds to inf)."""
    return _arith2(_DIV, lambda x, y: float(np.float64(x) / np.float64(y)), a, b)


def call(fn, args):
    """Apply ``fn`` to compiled args, folding when all are constant."""
    if not any(callable(a) for a in args):
        with np.errstate(all="ignore"):
            return float(_fold(fn, args))
    kinds = [_kind(a) for a in args]
    if len(args) == 1:
        k0, x0 = kinds[0]
        if k0 == "r":
            return lambda v, t: fn(v[x0])
        return lambda v, t: fn(x0(v, t))
    if len(args) == 2:
        (k0, x0), (k1, x1) = kinds
        if k0 == "r" and k1 == "r":
            return lambda v, t: fn(v[x0], v[x1])
        if k0 == "r" and k1 == "c":
            return lambda v, t: fn(v[x0], x1)
        if k0 == "c" and k1 == "r":
            return lambda v, t: fn(x0, v[x1])
        if k1 == "c":
            return lambda v, t: fn(x0(v, t), x1)
        if k0 == "c":
            return lambda v, t: fn(x0, x1(v, t))
        if k0 == "r":
            return lambda v, t: fn(v[x0], x1(v, t))
        if k1 == "r":
            return lambda v, t: fn(x0(v, t), v[x1])
        return lambda v, t: fn(x0(v, t), x1(v, t))
    fs = [lift(a) for a in args]
    if len(fs) == 2:
        f0, f1 = fs
        return lambda v, t: fn(f0(v, t), f1(v, t))
    if len(fs) == 3:
        f0, f1, f2 = fs
        return lambda v, t: fn(f0(v, t), f1(v, t), f2(v, t))
    return lambda v, t: fn(*[f(v, t) for f in fs])


def _fold(fn, args):
    try:
        return fn(*[float(a) for a in args])
    except (ZeroDivisionError, ValueError, OverflowError):
        return np.nan
