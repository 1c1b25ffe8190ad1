"""The comparison chart of one scenario against the baseline (``comparison.png``/``.svg``).

Each output gets two panels sharing the time axis: its level (the scenario's
and the baseline's medians with 5-95 % bands, the observed history) and,
under it, the scenario's difference from the baseline with its own 5-95 %
band. The levels' bands overlap even when every member of the ensemble is
lower under the scenario; the difference, taken member by member when both
runs share their sampled parameters (as :func:`sim.ensembles.batch.summarize` does),
shows it. Lines mark the end of the observed data (2022) and each lever's
start; the horizon year is a tick; shares are in percent.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.ensembles.batch import ScenarioRun
from sim.ensembles.batch import paired as _paired
from sim.reporting.fonts import figure_fonts
from sim.reporting.labels import lever_name
from sim.reporting.timeaxis import Marker, lever_starts, markers, year_ticks

CHART_PANELS: tuple[str, ...] = ("Digitally Deliverable Exports", "Digitally Deliverable Imports",
                                 "Digital Trade Balance", "China World Share")
PANEL_TITLES: dict[str, str] = {
    "Digitally Deliverable Exports": "China's DDS exports",
    "Digitally Deliverable Imports": "China's DDS imports",
    "Digital Trade Balance": "China's DDS trade balance",
    "China World Share": "China's share of world DDS exports",
}
PANEL_SCALE: dict[str, float] = {"China World Share": 100.0}
"""Display factor of an output: the share (a fraction) is drawn in percent."""
PANEL_UNITS: dict[str, str] = {
    "Digitally Deliverable Exports": "100M USD", "Digitally Deliverable Imports": "100M USD",
    "Digital Trade Balance": "100M USD", "China World Share": "% of world DDS exports",
}
DIFFERENCE_UNITS: dict[str, str] = {"China World Share": "percentage points"}
"""Unit of a difference where it is not the level's (a difference of shares)."""

BAND_Q = (5.0, 50.0, 95.0)
"""Percentiles drawn: the band's edges and the median [%]."""
MAX_INDEPENDENT = 200
"""Members per side whose all-pairs differences make an unpaired band."""

SCENARIO_COLOUR = "#1f5fa8"
BASELINE_COLOUR = "#7f7f7f"
DIFFERENCE_COLOUR = "#b2182b"
DATA_END_COLOUR = "#444444"
LEVER_COLOUR = "#e08214"
FONT = {"title": 11, "label": 9, "tick": 8, "legend": 9, "suptitle": 12}


@dataclass(frozen=True)
class Difference:
    """The scenario minus the baseline over time, as percentiles over members.

    Attributes
    ----------
    times : ndarray
        [year], shape (T,).
    low, median, high : ndarray
        5th, 50th and 95th percentiles [the output's units], shape (T,).
    paired : bool
        Member by member (both runs share their sampled parameters); else all
        pairs of the first :data:`MAX_INDEPENDENT` members of each.
    """

    times: np.ndarray
    low: np.ndarray
    median: np.ndarray
    high: np.ndarray
    paired: bool


def _quantiles(arr: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
        return np.nanpercentile(arr, BAND_Q, axis=axis)


def difference(run: ScenarioRun, baseline: ScenarioRun, variable: str) -> Difference | None:
    """``run`` minus ``baseline`` for one output at the times both saved.

    Returns
    -------
    Difference or None
        None when the runs share no saved time.
    """
    t_run, t_base = np.asarray(run.times, float), np.asarray(baseline.times, float)
    common = np.intersect1d(np.round(t_run, 6), np.round(t_base, 6))
    if common.size == 0:
        return None
    i = np.searchsorted(np.round(t_run, 6), common)
    j = np.searchsorted(np.round(t_base, 6), common)
    paired = _paired(run, baseline)
    m = MAX_INDEPENDENT
    q = np.empty((len(BAND_Q), len(common)))
    for c, (a, b) in enumerate(zip(i, j, strict=True)):  # one saved time (N members) at a time
        x, y = run.row(variable, int(a)), baseline.row(variable, int(b))
        d = x - y if paired else (x[:m, None] - y[None, :m]).ravel()
        q[:, c] = _quantiles(d, axis=0)
    return Difference(common, q[0], q[1], q[2], paired)


def chart_markers(run: ScenarioRun, span: tuple[float, float]) -> list[Marker]:
    """End of the observed data and the start of each of the scenario's levers."""
    starts = lever_starts(run.scenario.levers)
    return markers(starts, {k: lever_name(k) for k in starts}, span)


def _draw_markers(ax, marks: list[Marker]) -> None:
    for m in marks:
        style = ({"color": DATA_END_COLOUR, "ls": "--"} if m.kind == "data_end"
                 else {"color": LEVER_COLOUR, "ls": ":"})
        line = ax.axvline(m.year, lw=1.2, zorder=1, label=m.label, **style)
        line.set_gid(f"marker:{m.kind}:{m.year:g}")


def _thousands(x: float, _pos=None) -> str:
    return f"{x:,.10g}" if abs(x) < 1000 else f"{x:,.0f}"


def _signed(x: float, _pos=None) -> str:
    text = _thousands(abs(x))
    return "0" if x == 0 else ("+" if x > 0 else "−") + text


def _style_time_axis(ax, span: tuple[float, float], label: bool) -> None:
    ax.set_xlim(span)
    ax.set_xticks(year_ticks(*span))
    ax.tick_params(labelsize=FONT["tick"], labelbottom=label)
    ax.grid(alpha=0.3)


def _band(ax, times, q: np.ndarray, colour: str, label: str, members: int, scale: float):
    """Draw the median and 5-95% band ``q`` (:data:`BAND_Q` x times) of an output."""
    lo, med, hi = np.asarray(q, dtype=float) * scale
    if members > 1:
        ax.fill_between(times, lo, hi, color=colour, alpha=0.18, lw=0,
                        label=f"{label}, 5–95% of members")
    ax.plot(times, med, color=colour, lw=2, label=f"{label}, median")


def comparison_figure(run: ScenarioRun, baseline: ScenarioRun | None,
                      history: Mapping[str, pd.Series] | None = None):
    """Levels and differences from the baseline of exports, imports, balance and world share.

    Parameters
    ----------
    run : ScenarioRun
    baseline : ScenarioRun or None
        No difference panels without one, or when ``run`` is the baseline.
    history : mapping, optional
        Output name -> observed Series indexed by year (black dots).

    Returns
    -------
    matplotlib.figure.Figure
        Agg canvas, no global pyplot state. Axes carry gids ``level:<output>``
        and ``difference:<output>``; marker lines ``marker:<kind>:<year>``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with figure_fonts():
        return _comparison_figure(run, baseline, history or {}, Figure, FigureCanvasAgg)


def _comparison_figure(run, baseline, history, Figure, FigureCanvasAgg):
    panels = [v for v in CHART_PANELS if v in run.result]
    compare = baseline is not None and baseline is not run
    span = (float(run.times[0]), float(run.times[-1]))
    marks = chart_markers(run, span)
    rows = -(-len(panels) // 2) or 1
    per = 2 if compare else 1
    fig = Figure(figsize=(11, (4.6 if compare else 3.2) * rows + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows * per, 2, height_ratios=([2.2, 1.3] if compare else [1]) * rows)
    for k, var in enumerate(panels):
        r, c = divmod(k, 2)
        ax = fig.add_subplot(grid[r * per, c])
        ax.set_gid(f"level:{var}")
        scale = PANEL_SCALE.get(var, 1.0)
        if compare and var in baseline.result:
            _band(ax, baseline.times, baseline.quantiles(var, BAND_Q), BASELINE_COLOUR, "baseline",
                  baseline.members, scale)
        _band(ax, run.times, run.quantiles(var, BAND_Q), SCENARIO_COLOUR, run.name, run.members,
              scale)
        obs = history.get(var)
        if obs is not None:
            obs = obs[(obs.index >= span[0]) & (obs.index <= span[1])]
            ax.plot(obs.index, obs.to_numpy(float) * scale, "o", color="black", ms=3.5,
                    label="observed, UNCTAD", zorder=4)
        _draw_markers(ax, marks)
        ax.set_title(PANEL_TITLES.get(var, var), fontsize=FONT["title"], loc="left")
        ax.set_ylabel(PANEL_UNITS.get(var, ""), fontsize=FONT["label"])
        ax.yaxis.set_major_formatter(_thousands)
        _style_time_axis(ax, span, label=not compare)
        if not compare:
            ax.set_xlabel("year", fontsize=FONT["label"])
        if compare and var in baseline.result:
            _difference_panel(fig.add_subplot(grid[r * per + 1, c], sharex=ax), run, baseline,
                              var, marks, span)
    handles, labels = _legend_entries(fig)
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=FONT["legend"],
               frameon=False)
    what = f"{run.members} members, {run.method}" if run.members > 1 else run.method
    fig.suptitle(f"{run.name} ({what})", fontsize=FONT["suptitle"])
    return fig


def _difference_panel(ax, run, baseline, var, marks, span) -> None:
    ax.set_gid(f"difference:{var}")
    scale = PANEL_SCALE.get(var, 1.0)
    d = difference(run, baseline, var)
    ax.axhline(0.0, color="black", lw=0.8, zorder=1)
    title = f"{run.name} − baseline"
    if d is not None:
        how = "paired, member by member" if d.paired else "all pairs of members"
        if np.any(d.high > d.low):
            ax.fill_between(d.times, d.low * scale, d.high * scale, color=DIFFERENCE_COLOUR,
                            alpha=0.2, lw=0, label=f"difference from the baseline, 5–95% ({how})")
        ax.plot(d.times, d.median * scale, color=DIFFERENCE_COLOUR, lw=2,
                label="difference from the baseline, median")
        title += f", {d.times[-1]:g}: {_end_text(d, scale)}"
    _draw_markers(ax, marks)
    ax.yaxis.set_major_formatter(_signed)
    ax.set_title(title, fontsize=FONT["label"], loc="left")
    ax.set_ylabel(DIFFERENCE_UNITS.get(var, PANEL_UNITS.get(var, "")), fontsize=FONT["label"])
    ax.set_xlabel("year", fontsize=FONT["label"])
    _style_time_axis(ax, span, label=True)


def _end_text(d: Difference, scale: float) -> str:
    """``−319 [−416, −233]``: the last year's median and band, to three significant digits."""
    def g(x: float) -> str:
        x = float(x) * scale
        text = f"{abs(x):,.0f}" if abs(x) >= 100 else f"{abs(x):.3g}"
        return "0" if x == 0 else ("+" if x > 0 else "−") + text
    if d.high[-1] > d.low[-1]:
        return f"{g(d.median[-1])} [{g(d.low[-1])}, {g(d.high[-1])}]"
    return g(d.median[-1])


def _legend_entries(fig):
    """Each label once, in the order the panels drew them."""
    seen: dict[str, object] = {}
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    return list(seen.values()), list(seen)
