"""The held-out check: the calibrated projection against figures after the calibration window.

The repository holds 2015-2022 (the calibration window); later figures are
kept out of it so that they can test the model out of sample. This module
compares a projection ensemble (the baseline scenario) with such figures,
supplied from outside, series by series and year by year: the ensemble's
median and 5-95 % band against the figure, and how many figures the band holds
(its coverage, against the 90 % it should), beside two benchmarks fitted to the
window alone (a log-linear trend and the last observed growth carried forward,
as in :mod:`sim.calibration.exante`). Pure computation; the command
(:mod:`sim.commands.holdout`) reads, runs and writes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sim.calibration import stats
from sim.calibration.exante import benchmarks
from sim.calibration.projection import input_rates
from sim.calibration.spec import CalibrationSpec
from sim.data.observed import HeldOutRow, ObservedData

BAND = (5.0, 95.0)
"""Percentiles of the ensemble band the figures are checked against [%]."""
NOMINAL_COVERAGE = BAND[1] - BAND[0]
"""Share of figures a well-calibrated band holds [%]: the 5-95 % band is a 90 % band."""


@dataclass(frozen=True)
class HeldOutPoint:
    """One held-out figure beside the projection.

    Attributes
    ----------
    series : str
    role : str
        'primary' / 'secondary' (calibration targets) or 'cross-check'.
    year : int
    observed : float
        The figure [the series' unit].
    median, low, high : float
        Ensemble median and 5 % / 95 % percentiles, in the series' unit.
    trend, naive : float
        The benchmarks' forecasts (NaN when the window gives none).
    persistence : float
        Share persistence: the last ratio to the series' driver times the driver
        projected by the baseline's rule (NaN when the series has no driver).
    """

    series: str
    role: str
    year: int
    observed: float
    median: float
    low: float
    high: float
    trend: float
    naive: float
    persistence: float = float("nan")

    @property
    def error_pct(self) -> float:
        """(median - observed) / observed [%]."""
        return 100.0 * (self.median - self.observed) / self.observed

    @property
    def inside(self) -> bool:
        """The figure lies within the 5-95 % band."""
        return bool(self.low <= self.observed <= self.high)


@dataclass(frozen=True)
class SeriesScore:
    """One series over its held-out years.

    Attributes
    ----------
    series, role : str
    n : int
        Held-out years compared.
    mape : dict
        'model' (ensemble median), 'trend', 'naive', 'persistence' -> mean
        absolute percentage error [%] (NaN where a benchmark is missing).
    inside : int
        Years whose figure lies within the band.
    bias_pct : float
        Mean signed error of the median [%]: > 0 the model runs high.
    """

    series: str
    role: str
    n: int
    mape: dict
    inside: int
    bias_pct: float

    @property
    def coverage_pct(self) -> float:
        """Share of the figures inside the band [%] (``inside`` of ``n``)."""
        return 100.0 * self.inside / self.n


@dataclass(frozen=True)
class Skipped:
    """A held-out figure not compared, and why.

    Attributes
    ----------
    series : str
    year : int
    reason : str
    """

    series: str
    year: int
    reason: str

    def __str__(self) -> str:
        return f"{self.series} {self.year}: {self.reason}"


@dataclass(frozen=True)
class HeldOutCheck:
    """The whole check.

    Attributes
    ----------
    points : list of HeldOutPoint
        Sorted by series, then year.
    scores : list of SeriesScore
        One per series, targets first.
    skipped : list of Skipped
        Held-out figures not compared, each with the reason.
    window : (int, int)
        The calibration window the benchmarks are fitted to.
    """

    points: list
    scores: list
    skipped: list
    window: tuple

    @property
    def n(self) -> int:
        """Figures compared, all series together."""
        return len(self.points)

    @property
    def inside(self) -> int:
        """Figures inside the band, all series together."""
        return sum(p.inside for p in self.points)

    @property
    def coverage_pct(self) -> float:
        """Share of all figures inside the band [%] (NaN when none was compared).

        Compare with :data:`NOMINAL_COVERAGE`: far below it, the band is too
        narrow (or the model biased); far above, too wide. With few figures
        the share is coarse: read it with its count.
        """
        return 100.0 * self.inside / self.n if self.n else float("nan")


def _mape(pred: np.ndarray, obs: np.ndarray) -> float:
    ok = np.isfinite(pred)
    if not ok.all():
        return float("nan")
    return float(100.0 * np.mean(np.abs(pred - obs) / np.abs(obs)))


def _benchmarks(observed: ObservedData, series: str, window: tuple[int, int],
                years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trend and naive forecasts at ``years`` from the series' values inside the window."""
    nan = np.full(years.shape, np.nan)
    try:
        s = observed.series(series)
    except (KeyError, ValueError):
        return nan, nan
    s = s[(s.index >= window[0]) & (s.index <= window[1])]
    t, v = s.index.to_numpy(float), s.to_numpy(float)
    try:
        trend = stats.loglinear_values(stats.loglinear_trend(t, v), years)
    except ValueError:
        trend = nan
    try:
        naive = stats.naive_growth_forecast(t, v, years)
    except ValueError:
        naive = nan
    return trend, naive


def _persistence(observed: ObservedData, spec: CalibrationSpec, series: str,
                 years: np.ndarray) -> np.ndarray:
    """Share persistence from the window's last year, as the ex-ante forecasts define it.

    The series' last ratio to its driver (``out_of_sample.drivers``) times the driver grown at
    the projection rule's drift from the window's end; NaN without a driver.
    """
    if series not in spec.out_of_sample.drivers:
        return np.full(years.shape, np.nan)
    end = spec.window[1]
    try:
        rates = input_rates(observed, spec.projection, end)
        return benchmarks(observed, spec, series, end, years, rates)["persistence"]
    except (KeyError, ValueError):
        return np.full(years.shape, np.nan)


def check_held_out(rows: Sequence[HeldOutRow], spec: CalibrationSpec, observed: ObservedData,
                   values_at: Callable[[list[str], int], np.ndarray | None]) -> HeldOutCheck:
    """Compare held-out figures with a projection ensemble.

    Parameters
    ----------
    rows : sequence of HeldOutRow
        Figures after the window (:func:`sim.data.build.read_held_out`).
    spec : CalibrationSpec
        Which series measure which model variables: the targets (with their
        ``scale``) and the cross-checks (sums of variables).
    observed : ObservedData
        The window's figures, for the benchmarks.
    values_at : callable
        ``values_at(variables, year)``: the sum of ``variables`` over the
        ensemble members at ``year`` (shape (members,)), or None when the
        projection does not reach that year.

    Returns
    -------
    HeldOutCheck
    """
    measures: dict[str, tuple[str, list[str], float]] = {}
    for t in spec.targets:
        measures[t.series] = (t.role, [t.variable], t.scale)
    for c in spec.cross_checks:
        measures.setdefault(c.series, ("cross-check", list(c.variables), 1.0))
    by_series: dict[str, list[HeldOutRow]] = {}
    skipped: list[Skipped] = []
    for r in rows:
        if r.series in measures:
            by_series.setdefault(r.series, []).append(r)
        elif r.status != "derived":  # derived series nobody measures are not worth a line
            skipped.append(Skipped(r.series, r.year, "not a calibration target or cross-check"))
    points: list[HeldOutPoint] = []
    scores: list[SeriesScore] = []
    order = list(measures)
    for series in sorted(by_series, key=order.index):
        role, variables, scale = measures[series]
        kept = []
        for r in sorted(by_series[series], key=lambda r: r.year):
            members = values_at(variables, r.year)
            if members is None:
                skipped.append(Skipped(series, r.year, "after the projection's last year"))
                continue
            finite = members[np.isfinite(members)] * scale
            if finite.size == 0:
                skipped.append(Skipped(series, r.year, "no finite ensemble member"))
                continue
            if r.value == 0:
                skipped.append(Skipped(series, r.year, "figure is 0 (no percentage error)"))
                continue
            kept.append((r, np.percentile(finite, [50.0, *BAND])))
        if not kept:
            continue
        years = np.array([r.year for r, _ in kept], dtype=float)
        trend, naive = _benchmarks(observed, series, spec.window, years)
        persist = _persistence(observed, spec, series, years)
        pts = [HeldOutPoint(series, role, r.year, r.value, float(q[0]), float(q[1]), float(q[2]),
                            float(trend[i]), float(naive[i]), float(persist[i]))
               for i, (r, q) in enumerate(kept)]
        points += pts
        obs = np.array([p.observed for p in pts])
        med = np.array([p.median for p in pts])
        scores.append(SeriesScore(
            series, role, len(pts),
            {"model": _mape(med, obs), "trend": _mape(trend, obs), "naive": _mape(naive, obs),
             "persistence": _mape(persist, obs)},
            sum(p.inside for p in pts), float(np.mean([p.error_pct for p in pts]))))
    return HeldOutCheck(points, scores, skipped, tuple(spec.window))
