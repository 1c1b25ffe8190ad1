"""Time-series overrides of model constants (policy switches over time)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import ParameterError


def _levels(name: str, *values) -> tuple:
    """Return the levels of a Step or Ramp: floats, or all (N,) arrays.

    Arrays when one of them is a 1-D array (one value per ensemble member;
    the switch times stay common).
    """
    arrays = [np.asarray(v, dtype=float) for v in values]
    if not any(a.ndim for a in arrays):
        return tuple(float(a) for a in arrays)
    n = max(a.size for a in arrays if a.ndim)
    for a in arrays:
        if a.ndim > 1 or (a.ndim == 1 and a.size not in (1, n)) or a.size == 0:
            raise ParameterError(f"{name}: a value per member must be a 1-D array of the same "
                                 f"length ({n}) for every level, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ParameterError(f"{name}: values must be finite")
    return tuple(np.broadcast_to(a.reshape(-1) if a.ndim else a, (n,)).copy() for a in arrays)


@dataclass(frozen=True)
class Step:
    """``before`` until ``start`` [year], then ``value``.

    ``before=None`` means the model's own value of the constant. ``value`` (and
    ``before``) may be a 1-D array, one value per ensemble member.
    """

    value: float | np.ndarray
    start: float
    before: float | np.ndarray | None = None

    def resolve(self, default: float):
        before, value = _levels("Step", default if self.before is None else self.before,
                                self.value)
        start = float(self.start)
        return (lambda t: value if t >= start else before), [start]


@dataclass(frozen=True)
class Ramp:
    """Linear from ``before`` at ``start`` to ``value`` at ``end`` [year], held after.

    ``value`` (and ``before``) may be a 1-D array, one value per ensemble member.
    """

    value: float | np.ndarray
    start: float
    end: float
    before: float | np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ParameterError(f"Ramp: end ({self.end}) must be after start ({self.start})")

    def resolve(self, default: float):
        b, v = _levels("Ramp", default if self.before is None else self.before, self.value)
        s, e = float(self.start), float(self.end)

        def f(t):
            if t <= s:
                return b
            if t >= e:
                return v
            return b + (v - b) * (t - s) / (e - s)
        return f, [s, e]


@dataclass(frozen=True)
class Table:
    """Piecewise-linear table {time [year]: value}, held constant beyond its ends.

    A value may be a 1-D array, one per ensemble member (all arrays of one
    length); the times stay common.
    """

    points: dict

    def __post_init__(self) -> None:
        if len(self.points) < 1:
            raise ParameterError("Table: needs at least one (time, value) point")
        for k, val in self.points.items():
            if not (np.isfinite(float(k)) and np.all(np.isfinite(np.asarray(val, dtype=float)))):
                raise ParameterError(f"Table: non-finite point ({k}, {val})")

    def resolve(self, default: float):
        xs = sorted(float(k) for k in self.points)
        ys = list(_levels("Table", *(self.points[k] for k in sorted(self.points, key=float))))
        import bisect

        def f(t):
            if t <= xs[0]:
                return ys[0]
            if t >= xs[-1]:
                return ys[-1]
            i = bisect.bisect_right(xs, t)
            return ys[i - 1] + (ys[i] - ys[i - 1]) * (t - xs[i - 1]) / (xs[i] - xs[i - 1])
        return f, xs


TimeSeries = Step | Ramp | Table
