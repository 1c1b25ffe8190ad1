"""Text of the held-out check (:mod:`sim.calibration.holdout`): Markdown for reading, CSV for reuse.

Series are named as people do (:func:`sim.reporting.labels.series_name`); the
CSV files keep the ids beside the names. Band coverage (how many figures lie
inside the ensemble's 5-95 % band, which should hold 90 % of them) is given
per series and overall, as "k of n" and as a share.
"""
from __future__ import annotations

import io
from collections.abc import Mapping

import pandas as pd

from sim.calibration.holdout import BAND, NOMINAL_COVERAGE, HeldOutCheck
from sim.reporting.labels import series_name

ALL_SERIES = "all series"
"""The ``series`` of the overall row of :func:`scores_frame`."""


def _num(x: float, digits: int = 1) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"


def _band_text() -> str:
    lo, hi = BAND
    return f"{lo:g}–{hi:g} %"


def coverage_text(inside: int, n: int) -> str:
    """``3 of 4 (75 %)``: figures inside the band, of those compared, and the share."""
    if n == 0:
        return "0 of 0"
    return f"{inside} of {n} ({100.0 * inside / n:.0f} %)"


def points_frame(check: HeldOutCheck) -> pd.DataFrame:
    """Return one row per compared figure.

    Columns: series id and name, role, year, observed, median, band, error,
    inside the band, benchmarks.
    """
    return pd.DataFrame([{
        "series": p.series, "name": series_name(p.series), "role": p.role, "year": p.year,
        "observed": p.observed, "median": p.median, f"p{BAND[0]:g}": p.low,
        f"p{BAND[1]:g}": p.high, "error_pct": p.error_pct, "inside_band": p.inside,
        "trend": p.trend, "naive": p.naive, "persistence": p.persistence,
    } for p in check.points])


def scores_frame(check: HeldOutCheck) -> pd.DataFrame:
    """One row per series and one for all series together (``series`` = :data:`ALL_SERIES`).

    Columns: series, name, role, n, inside (figures inside the band),
    coverage_pct, nominal_coverage_pct (90), mape_model_pct, mape_trend_pct,
    mape_naive_pct, mape_persistence_pct, bias_pct (mean signed error of the median; blank
    overall).
    """
    rows = [{
        "series": s.series, "name": series_name(s.series), "role": s.role, "n": s.n,
        "inside": s.inside, "coverage_pct": s.coverage_pct,
        "nominal_coverage_pct": NOMINAL_COVERAGE, "mape_model_pct": s.mape["model"],
        "mape_trend_pct": s.mape["trend"], "mape_naive_pct": s.mape["naive"],
        "mape_persistence_pct": s.mape.get("persistence", float("nan")),
        "bias_pct": s.bias_pct,
    } for s in check.scores]
    rows.append({"series": ALL_SERIES, "name": ALL_SERIES, "role": "", "n": check.n,
                 "inside": check.inside, "coverage_pct": check.coverage_pct,
                 "nominal_coverage_pct": NOMINAL_COVERAGE, "mape_model_pct": float("nan"),
                 "mape_trend_pct": float("nan"), "mape_naive_pct": float("nan"),
                 "mape_persistence_pct": float("nan"), "bias_pct": float("nan")})
    return pd.DataFrame(rows)


def _csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.10g")
    return buf.getvalue().encode("utf-8")


def holdout_csv(check: HeldOutCheck) -> bytes:
    """Return the points table (:func:`points_frame`) as CSV (UTF-8)."""
    return _csv(points_frame(check))


def scores_csv(check: HeldOutCheck) -> bytes:
    """Return the scores with the band coverage (:func:`scores_frame`) as CSV (UTF-8)."""
    return _csv(scores_frame(check))


def coverage_lines(check: HeldOutCheck) -> list[str]:
    """Return the band coverage for the console: overall, then one line per series."""
    head = (f"band coverage: {coverage_text(check.inside, check.n)} of the held-out figures "
            f"inside the ensemble's {_band_text()} band (a {NOMINAL_COVERAGE:g} % band)")
    return [head] + [f"  {series_name(s.series)}: {coverage_text(s.inside, s.n)}"
                     for s in check.scores]


def holdout_markdown(check: HeldOutCheck, provenance: Mapping[str, object]) -> str:
    """Return the check as a Markdown page.

    Coverage and scores per series, every figure, what was skipped, provenance.
    """
    band = _band_text()
    years = sorted({p.year for p in check.points})
    span = f"{years[0]}–{years[-1]}" if years else "none"
    w0, w1 = check.window
    lines = [
        f"# Held-out check: the projection against figures after {w1}",
        "",
        f"{check.n} figures ({span}) of {len(check.scores)} series compared with the "
        f"ensemble's median and {band} band. Benchmarks fitted to {w0}–{w1} only: a "
        "log-linear trend, the last observed growth carried forward (naive), and share "
        "persistence (the last ratio to the driver, China's world share for exports, times the "
        "driver grown by the baseline's projection rule).",
        "",
        f"**Band coverage: {coverage_text(check.inside, check.n)}** of the figures lie inside "
        f"the {band} band, which should hold about {NOMINAL_COVERAGE:g} % of them. With few "
        "figures the share is coarse: read it with its count.",
        "",
        f"| series | role | years | in the {band} band | MAPE model % | MAPE trend % "
        "| MAPE naive % | MAPE persistence % | bias of the median % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in check.scores:
        lines.append(f"| {series_name(s.series)} | {s.role} | {s.n} | "
                     f"{coverage_text(s.inside, s.n)} | {_num(s.mape['model'])} | "
                     f"{_num(s.mape['trend'])} | {_num(s.mape['naive'])} | "
                     f"{_num(s.mape.get('persistence', float('nan')))} | "
                     f"{_num(s.bias_pct, 1)} |")
    lines.append(f"| **{ALL_SERIES}** | | {check.n} | "
                 f"**{coverage_text(check.inside, check.n)}** | | | | | |")
    lines += ["", "## Every figure", "",
              f"| series | year | observed | median | {BAND[0]:g} % | {BAND[1]:g} % | error % "
              "| in band | trend | naive | persistence |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for p in check.points:
        lines.append(f"| {series_name(p.series)} | {p.year} | {_num(p.observed, 2)} | "
                     f"{_num(p.median, 2)} | {_num(p.low, 2)} | {_num(p.high, 2)} | "
                     f"{_num(p.error_pct, 1)} | {'yes' if p.inside else 'no'} | "
                     f"{_num(p.trend, 2)} | {_num(p.naive, 2)} | {_num(p.persistence, 2)} |")
    if check.skipped:
        lines += ["", "## Not compared", ""] + [f"- {series_name(s.series)} {s.year}: {s.reason}"
                                                  for s in check.skipped]
    lines += ["", "## Provenance", ""]
    lines += [f"- {k}: {v}" for k, v in provenance.items()]
    return "\n".join(lines) + "\n"
