"""Year ticks and the markers of the time axis shared by every chart.

A projection is read at its horizon (2035): its year is always a tick. The
end of the observed data (2022) and each lever's start are marked, so a reader
sees where history ends and where a policy begins.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sim.data.observed import LAST_YEAR

DATA_END = LAST_YEAR
"""Last year of observed data in the repository [year]: later years are projections."""


def year_ticks(first: float, last: float, step: int = 5) -> list[int]:
    """Whole years for the ticks of a time axis from ``first`` to ``last``.

    Multiples of ``step`` inside the span, plus the first and last years; a
    multiple closer than ``step / 2`` to the last year gives way to it (2033
    and 2035 would collide), so the horizon is always labelled.

    Parameters
    ----------
    first, last : float
        The axis span [year].
    step : int
        Spacing of the regular ticks [year], >= 1.

    Returns
    -------
    list of int
        Ascending, unique.

    Raises
    ------
    ValueError
        ``last`` before ``first`` or ``step`` < 1.
    """
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    lo, hi = math.ceil(first - 1e-9), math.floor(last + 1e-9)
    ticks = [y for y in range(lo, hi + 1) if y % step == 0 and hi - y >= step / 2 or y == hi]
    if ticks and ticks[0] - lo >= step / 2:
        ticks.insert(0, lo)
    return sorted(set(ticks))


@dataclass(frozen=True)
class Marker:
    """A vertical line on a time axis.

    Attributes
    ----------
    year : float
        Where [year].
    kind : {"data_end", "lever"}
    label : str
        What starts or ends there, e.g. "end of observed data, 2022".
    """

    year: float
    kind: str
    label: str


def lever_starts(levers: Mapping[str, object]) -> dict[str, float]:
    """Return the year each lever of a scenario departs from the baseline.

    Parameters
    ----------
    levers : mapping
        Lever short name -> setting of :class:`sim.scenarios.Scenario`
        (``{value, start}``, step, ramp or table).

    Returns
    -------
    dict
        Lever short name -> start [year]; a table lever starts at its first year.
    """
    out: dict[str, float] = {}
    for short, setting in levers.items():
        spec = getattr(setting, "step", None) or getattr(setting, "ramp", None) or setting
        start = getattr(spec, "start", None)
        if start is None and getattr(setting, "table", None):
            start = min(setting.table)
        if start is not None:
            out[short] = float(start)
    return out


def markers(starts: Mapping[str, float], names: Mapping[str, str] | None = None,
            span: tuple[float, float] | None = None, data_end: float = DATA_END) -> list[Marker]:
    """Return the end of the data and one marker per lever start year (levers of one year together).

    Parameters
    ----------
    starts : mapping
        Lever -> start year (:func:`lever_starts`).
    names : mapping, optional
        Lever -> display name (default: the key).
    span : (float, float), optional
        Axis span [year]; markers outside it are left out.
    data_end : float
        Last observed year [year].

    Returns
    -------
    list of Marker
        Sorted by year, the end of the data first in a tie.
    """
    names = names or {}
    out = [Marker(float(data_end), "data_end", f"end of observed data, {data_end:g}")]
    by_year: dict[float, list[str]] = {}
    for lever, year in starts.items():
        by_year.setdefault(float(year), []).append(names.get(lever, lever))
    for year, levers in sorted(by_year.items()):
        out.append(Marker(year, "lever", f"{', '.join(levers)} from {year:g}"))
    if span is not None:
        out = [m for m in out if span[0] - 1e-9 <= m.year <= span[1] + 1e-9]
    return sorted(out, key=lambda m: (m.year, m.kind != "data_end"))
