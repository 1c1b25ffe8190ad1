"""Text of the held-out check (:mod:`sim.calibration.holdout`): Markdown for reading, CSV for reuse."""
from __future__ import annotations

import io
from collections.abc import Mapping

import pandas as pd

from ..calibration.holdout import BAND, HeldOutCheck


def _num(x: float, digits: int = 1) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"


def points_frame(check: HeldOutCheck) -> pd.DataFrame:
    """One row per compared figure: series, role, year, observed, median, band, error, benchmarks."""
    return pd.DataFrame([{
        "series": p.series, "role": p.role, "year": p.year, "observed": p.observed,
        "median": p.median, f"p{BAND[0]:g}": p.low, f"p{BAND[1]:g}": p.high,
        "error_pct": p.error_pct, "inside_band": p.inside, "trend": p.trend, "naive": p.naive,
    } for p in check.points])


def holdout_csv(check: HeldOutCheck) -> bytes:
    """The points table as CSV (UTF-8)."""
    buf = io.StringIO()
    points_frame(check).to_csv(buf, index=False, float_format="%.10g")
    return buf.getvalue().encode("utf-8")


def holdout_markdown(check: HeldOutCheck, provenance: Mapping[str, object]) -> str:
    """The check as a Markdown page: scores per series, every figure, what was skipped, provenance."""
    lo, hi = BAND
    years = sorted({p.year for p in check.points})
    span = f"{years[0]}–{years[-1]}" if years else "none"
    w0, w1 = check.window
    lines = [
        f"# Held-out check: the projection against figures after {w1}",
        "",
        f"{len(check.points)} figures ({span}) of {len(check.scores)} series compared with the "
        f"ensemble's median and {lo:g}–{hi:g} % band. Benchmarks fitted to {w0}–{w1} only: a "
        "log-linear trend, and the last observed growth carried forward (naive).",
        "",
        "| series | role | years | MAPE model % | MAPE trend % | MAPE naive % "
        f"| in {lo:g}–{hi:g} % band | bias of the median % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in check.scores:
        lines.append(f"| {s.series} | {s.role} | {s.n} | {_num(s.mape['model'])} | "
                     f"{_num(s.mape['trend'])} | {_num(s.mape['naive'])} | {s.inside} of {s.n} | "
                     f"{_num(s.bias_pct, 1)} |")
    lines += ["", "## Every figure", "",
              f"| series | year | observed | median | {lo:g} % | {hi:g} % | error % | in band "
              "| trend | naive |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for p in check.points:
        lines.append(f"| {p.series} | {p.year} | {_num(p.observed, 2)} | {_num(p.median, 2)} | "
                     f"{_num(p.low, 2)} | {_num(p.high, 2)} | {_num(p.error_pct, 1)} | "
                     f"{'yes' if p.inside else 'no'} | {_num(p.trend, 2)} | {_num(p.naive, 2)} |")
    if check.skipped:
        lines += ["", "## Not compared", ""] + [f"- {s}" for s in check.skipped]
    lines += ["", "## Provenance", ""]
    lines += [f"- {k}: {v}" for k, v in provenance.items()]
    return "\n".join(lines) + "\n"
