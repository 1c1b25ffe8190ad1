"""China's world share in a scenario batch: growth decomposition and the share beside its history.

Exports are world demand times China's share, so their mean log growth over a
period is the world-demand growth plus the share growth. For every scenario of
a batch, ``share.csv`` splits the median member's export growth that way over
the periods between the last observed year and the report years, and
``share.png``/``share.svg`` draw each scenario's median share (the baseline
with its 5-95% band) beside the observed 2010-2022 share and its two historical
paces carried forward.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.ensembles.batch import BatchResult, ScenarioRun
from sim.io import atomic_write_bytes
from sim.project import EXPORTS, LAST_OBSERVED_YEAR, REPORT_YEARS, SHARE, SHARE_PACE_STARTS

LAST_OBSERVED = LAST_OBSERVED_YEAR
YEARS = REPORT_YEARS


def _median_at(run: ScenarioRun, variable: str, year: float) -> float:
    return float(np.nanmedian(run.at(variable, year)))


def _periods(run: ScenarioRun, last: int, years: Sequence[int]) -> list[tuple[int, int]]:
    ends = [y for y in years if last < y <= run.times[-1] + 1e-9]
    marks = [last] + ends
    out = list(zip(marks[:-1], marks[1:], strict=True))
    if len(ends) > 1:
        out.append((last, ends[-1]))
    return out


def share_table(batch: BatchResult, *, last: int = LAST_OBSERVED,
                years: Sequence[int] = YEARS) -> pd.DataFrame:
    """Per scenario and period: export, world-demand and share growth [%/year], median members.

    Growth is the mean log growth of the members' medians; the world demand's is
    the exports' minus the share's (exports = world demand x share).
    """
    rows = []
    for run in batch.runs:
        if EXPORTS not in run.variables or SHARE not in run.variables:
            continue
        for a, b in _periods(run, last, years):
            x0, x1 = _median_at(run, EXPORTS, a), _median_at(run, EXPORTS, b)
            s0, s1 = _median_at(run, SHARE, a), _median_at(run, SHARE, b)
            if min(x0, x1, s0, s1) <= 0 or not all(map(math.isfinite, (x0, x1, s0, s1))):
                continue
            gx = math.log(x1 / x0) / (b - a)
            gs = math.log(s1 / s0) / (b - a)
            rows.append({"scenario": run.name, "period": f"{a}-{b}",
                         "export_growth_pct": 100 * gx, "world_demand_growth_pct": 100 * (gx - gs),
                         "share_growth_pct": 100 * gs, "share_start_pct": 100 * s0,
                         "share_end_pct": 100 * s1})
    return pd.DataFrame(rows)


def historical_paces(history: pd.Series, last: int = LAST_OBSERVED) -> dict[str, float]:
    """Mean log growth of the observed share over 2010-last and 2017-last [1/year]."""
    out = {}
    for first in SHARE_PACE_STARTS:
        if first in history.index and last in history.index:
            out[f"{first}-{last}"] = math.log(history.loc[last] / history.loc[first]) / (last - first)
    return out


def share_figure(batch: BatchResult, history: pd.Series | None, *, last: int = LAST_OBSERVED):
    """Median share of each scenario (baseline with its band) beside the observed share [%]."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    if history is not None and len(history):
        ax.plot(history.index, 100 * history.to_numpy(), "o", color="black", ms=4,
                label="observed (UNCTAD)", zorder=5)
        s_last = float(history.loc[last]) if last in history.index else None
        if s_last is not None:
            t_end = max(float(r.times[-1]) for r in batch.runs) if batch.runs else last
            future = np.linspace(last, t_end, 50)
            for (span, pace), ls in zip(historical_paces(history, last).items(), ("--", ":"),
                                        strict=False):
                ax.plot(future, 100 * s_last * np.exp(pace * (future - last)), color="#777",
                        ls=ls, lw=1, label=f"{span} pace ({100 * pace:.1f}%/yr)")
    colours = ["#1f5fa8", "#c0504d", "#4f8f3a", "#8064a2", "#e08a1e", "#2aa0a4", "#7f7f7f"]
    for i, run in enumerate(batch.runs):
        if SHARE not in run.variables:
            continue
        lo, med, hi = 100 * run.quantiles(SHARE, (5, 50, 95))  # one saved time at a time
        c = colours[i % len(colours)]
        ax.plot(run.times, med, color=c, lw=2 if i == 0 else 1.3,
                label=f"{run.name} (median)")
        if batch.baseline is not None and run is batch.baseline and run.members > 1:
            ax.fill_between(run.times, lo, hi, color=c, alpha=0.15, label=f"{run.name} 5-95%")
    ax.axvline(last, color="#555", lw=0.8)
    ax.set_ylabel("% of world DDS exports")
    ax.set_title("China's share of world DDS exports")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


def write_share(batch: BatchResult, out_dir: str | Path, history: Mapping | None,
                figure_bytes, formats: Sequence[str]) -> list[Path]:
    """Write ``share.csv`` and the share chart into ``out_dir``; nothing if no scenario has it."""
    table = share_table(batch)
    if table.empty:
        return []
    out_dir = Path(out_dir)
    written = [atomic_write_bytes(out_dir / "share.csv",
                                  table.to_csv(index=False, float_format="%.4g").encode())]
    hist = (history or {}).get(SHARE)
    fig = share_figure(batch, hist)
    for fmt in formats:
        written.append(atomic_write_bytes(out_dir / f"share.{fmt}", figure_bytes(fig, fmt)))
    return written
