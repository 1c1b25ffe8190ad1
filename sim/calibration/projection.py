"""Projection rules for the exogenous inputs, estimated from data up to a given year.

The baseline after the calibration window and every ex-ante forecast after an
origin project the model's exogenous inputs by the same rule
(``projection:`` in the calibration specification): each input's annual growth
after the last observed year is the weighted mean annual log growth of some
observed series over a trailing window ending at that year. The spread of the
same weighted growth, year to year, over all the history up to that year is the
input's uncertainty: the projected log level is a random walk with that drift
and that step, whose drift is itself uncertain (its standard error).

Nothing here reads a figure after ``last_year``: that is what makes a forecast
from an origin ex ante.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.calibration.spec import ProjectedInput, Projection
from sim.data.observed import ObservedData


@dataclass(frozen=True)
class InputRate:
    """The projection of one exogenous input from one last observed year.

    Attributes
    ----------
    constant : str
        Model constant the growth is written to [fraction/year].
    growth : float
        ``exp(drift) - 1`` [fraction/year].
    drift : float
        Mean annual log growth over the trailing window [1/year].
    step_sd : float
        Standard deviation of the annual log growth over the whole history
        up to ``last_year`` [1/year]: the random walk's step.
    drift_se : float
        Standard error of ``drift``: ``step_sd / sqrt(n_steps)`` [1/year].
    years : (int, int)
        Trailing window the drift is averaged over.
    n_steps : int
        Growth steps in that window.
    """

    constant: str
    growth: float
    drift: float
    step_sd: float
    drift_se: float
    years: tuple[int, int]
    n_steps: int


def _log_growth(observed: ObservedData, rule: ProjectedInput, first: int, last: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted annual log growth of the rule's terms, years ``first+1 .. last``.

    Returns the years (the later year of each step) and the growth; only the
    years where every term has both ends are kept.
    """
    steps = None
    for term in rule.terms:
        s = observed.series(term.series)
        s = s[(s.index >= first) & (s.index <= last)].sort_index()
        years = s.index.to_numpy().astype(int)
        vals = np.log(s.to_numpy(dtype=float))
        ok = np.diff(years) == 1
        g = dict(zip(years[1:][ok].tolist(), (term.weight * np.diff(vals)[ok]).tolist(),
                     strict=True))
        steps = g if steps is None else {y: steps[y] + g[y] for y in steps if y in g}
    yrs = np.array(sorted(steps), dtype=int)
    return yrs, np.array([steps[y] for y in yrs], dtype=float)


def input_rate(observed: ObservedData, projection: Projection, rule: ProjectedInput,
               last_year: int) -> InputRate:
    """Return the rule's growth and spread from data up to ``last_year`` only.

    Raises
    ------
    ValueError
        No growth step of the rule's series up to ``last_year``.
    """
    years, g = _log_growth(observed, rule, projection.history_start, last_year)
    if g.size == 0:
        raise ValueError(f"projection of '{rule.constant}': no annual growth of "
                         f"{[t.series for t in rule.terms]} between {projection.history_start} "
                         f"and {last_year}")
    recent = years > last_year - projection.trailing_years
    drift = float(np.mean(g[recent]))
    sd = float(np.std(g, ddof=1)) if g.size > 1 else abs(drift)
    n = int(recent.sum())
    return InputRate(constant=rule.constant, growth=math.expm1(drift), drift=drift,
                     step_sd=sd, drift_se=sd / math.sqrt(n),
                     years=(int(years[recent][0]) - 1, int(years[recent][-1])), n_steps=n)


def input_rates(observed: ObservedData, projection: Projection, last_year: int
                ) -> list[InputRate]:
    """Every input's projection from data up to ``last_year``."""
    return [input_rate(observed, projection, r, last_year) for r in projection.inputs]


def overrides(projection: Projection, rates: list[InputRate], last_year: int) -> dict:
    """Model constants of a projection from ``last_year``: the year and each growth."""
    out = {r.constant: r.growth for r in rates}
    out[projection.last_observed] = float(last_year)
    return out
