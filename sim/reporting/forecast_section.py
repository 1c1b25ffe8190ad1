"""Report sections on forecast skill: ex-ante forecasts, structural variants, the share path.

Built from the ``out_of_sample``, ``forecast_skill``, ``bands`` and
``variants`` sections of ``calibrated.yaml`` (written by
:mod:`sim.calibration.forecast_doc`), plus one baseline run for the share
decomposition. Every number shown from the file is a :class:`Num` tied to its
path, as in the rest of the report.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from sim.calibration.exante import METHODS
from sim.project import (
    EXPORTS,
    LAST_OBSERVED_YEAR,
    OBSERVED_FOR,
    REPORT_YEARS,
    SHARE,
    SHARE_PACE_STARTS,
    WORLD_EXPORTS,
)
from sim.reporting import figures_calibration as figs

METHOD_LABELS = {"model": "model", "trend": "log-linear trend", "naive": "naive growth",
                 "persistence": "share persistence"}
"""How each forecast method is named in the report."""

VARIANTS_TITLE = "Structural hypotheses for China's share"
SHARE_TITLE = "China's world share: growth decomposition and history"
SHARE_SERIES = OBSERVED_FOR[SHARE][0]
WORLD = WORLD_EXPORTS

_PACES = tuple(f"{first}-{LAST_OBSERVED_YEAR}" for first in SHARE_PACE_STARTS)
"""The historical paces of the share, as the report names them (``2010-2022``)."""


def _label(series: str) -> str:
    try:
        from sim.reporting.labels import series_name
        return series_name(series)
    except (ImportError, KeyError):
        return series


def _cr():
    from sim.reporting import (
        calibration_report as cr,  # the report's table types (imported lazily: cycle)
    )
    return cr


def exante_section(inp):
    """Every origin and horizon, the pooled skill against each benchmark, and the band's coverage."""
    cr = _cr()
    doc = inp.doc
    skill = doc.get("forecast_skill") or {}
    rows, verdicts = [], []
    for s, k in skill.items():
        base = ("forecast_skill", s)
        rows.append([_label(s), k["n"]]
                    + [cr.Num(k["exante_mape"][m], base + ("exante_mape", m), 3)
                       if m in k["exante_mape"] else "–" for m in METHODS]
                    + [cr.Num(k["conditional_mape"][m], base + ("conditional_mape", m), 3)
                       if m in k["conditional_mape"] else "–" for m in ("model", "persistence")]
                    + [f"{k['inside']} of {k['total']}",
                       cr.Num(k["winkler_pct"], base + ("winkler_pct",), 3)])
        best = min((v, m) for m, v in k["exante_mape"].items() if m != "model")
        if k["beats_every_benchmark"]:
            verdicts.append(f"{_label(s)}: the model's mean ex-ante error "
                            f"({cr.fmt(k['exante_mape']['model'], 3)}%) is below every "
                            f"benchmark's; the closest is {METHOD_LABELS[best[1]]} "
                            f"({cr.fmt(best[0], 3)}%).")
        else:
            verdicts.append(f"{_label(s)}: the model does NOT beat every benchmark: its mean "
                            f"ex-ante error is {cr.fmt(k['exante_mape']['model'], 3)}%, "
                            f"{METHOD_LABELS[best[1]]} gets {cr.fmt(best[0], 3)}%.")
        verdicts.append(f"{_label(s)}: {k['inside']} of {k['total']} observed figures "
                        f"({cr.fmt(100 * k['coverage'], 3)}%) inside the 90% band (target "
                        "80-97%).")
    summary = cr.Table(
        ["series", "points"] + [f"ex-ante MAPE % {METHOD_LABELS[m]}" for m in METHODS]
        + ["conditional MAPE % model", "conditional MAPE % share persistence",
           "inside the 90% band", "interval score % (Winkler)"], rows,
        "Pooled over every origin and horizon. Ex-ante: no figure after the origin, inputs "
        "projected by the baseline's rule. Conditional: the observed inputs after the origin, "
        "compared with share persistence given the same information.")
    detail = []
    for i, o in enumerate(doc.get("out_of_sample") or []):
        for s, f in o["series"].items():
            base = ("out_of_sample", i, "series", s)
            for j, year in enumerate(f["years"]):
                inside = f["low"][j] <= f["observed"][j] <= f["high"][j]
                detail.append([o["origin"], year, year - o["origin"], _label(s),
                               cr.Num(f["observed"][j], base + ("observed", j))]
                              + [cr.Num(f["exante"][m][j], base + ("exante", m, j))
                                 if m in f["exante"] else "–" for m in METHODS]
                              + [f"{cr.fmt(f['low'][j])}–{cr.fmt(f['high'][j])}",
                                 "yes" if inside else "no"])
    table = cr.Table(["origin", "year", "h", "series", "observed"]
                     + [METHOD_LABELS[m] for m in METHODS] + ["90% band", "inside"], detail,
                     "Ex-ante forecasts from each origin (100M USD).")
    shrink = inp.spec.out_of_sample.prior_sd
    shrunk = ("" if shrink is None else
              f" (shrunk toward the model's documented values by a weak prior: sd {shrink:g} of "
              "the bounds' range in unit coordinates against a "
              f"{100 * inp.spec.out_of_sample.error_scale:g}% log error, since two or three "
              "years cannot identify three parameters)")
    text = ("Each origin's forecast is refitted to 2015..origin" + shrunk + "; the world "
            "demand and the digital economy after the origin follow the projection rule of the "
            "baseline (trailing seven-year mean log growth) with rates from data up to the origin; "
            "China's graduates are held at their last value. Benchmarks use the same years of "
            "history: a log-linear trend, the last growth carried forward, and share "
            "persistence (the last ratio to the driver, China's world share for exports and "
            "imports per unit of the digital economy for imports, times the driver projected by "
            "the same rule). The band combines the refitted parameters' uncertainty, the "
            "inputs' random walks (their 2010..origin year-to-year spread) and an AR(1) model "
            "error from the in-window residuals.")
    blocks = [text, ("list", verdicts), summary,
              ("img", figs.data_uri(_exante_chart(doc)), "ex-ante forecasts"), table]
    return cr.Section("Ex-ante forecasts: skill and band coverage", blocks, "exante")


def _exante_chart(doc: dict) -> Figure:
    skill = list((doc.get("forecast_skill") or {}).keys())
    fig = Figure(figsize=(10.5, 3.6))
    axes = [fig.add_subplot(1, max(len(skill), 1), i + 1) for i in range(max(len(skill), 1))]
    for ax, s in zip(axes, skill, strict=False):
        fitted = doc["fitted"][s]
        ax.plot(fitted["years"], fitted["observed"], label="observed", **figs.OBS)
        first = True
        for o in doc["out_of_sample"]:
            f = o["series"].get(s)
            if f is None:
                continue
            ys = [o["origin"]] + list(f["years"])
            y0 = [v for y, v in zip(fitted["years"], fitted["observed"], strict=True)
                  if y == o["origin"]]
            ax.fill_between(f["years"], f["low"], f["high"], color=figs.BAND, alpha=0.25,
                            label="90% band" if first else None)
            ax.plot(ys, y0 + list(f["exante"]["model"]), color=figs.MODEL, lw=1.5,
                    label="model (ex ante)" if first else None)
            if "persistence" in f["exante"]:
                ax.plot(ys, y0 + list(f["exante"]["persistence"]), color=figs.NAIVE, lw=1,
                        ls=":", label="share persistence" if first else None)
            first = False
        ax.set_title(_label(s), fontsize=10)
        ax.set_ylabel("100M USD", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def variants_section(inp):
    """Return the structural hypotheses side by side, and which the evidence prefers."""
    cr = _cr()
    doc = inp.doc
    variants = doc.get("variants") or []
    if not variants:
        return cr.Section(VARIANTS_TITLE, ["No variants in the specification."], "variants")
    hist = _share_pace(inp)
    rows = []
    series = list((doc.get("forecast_skill") or {}).keys())
    for i, v in enumerate(variants):
        base = ("variants", i)
        share = {int(y): val for y, val in v["share"].items()}
        years = sorted(share)
        rows.append([v["name"], v["k"], cr.Num(v["payoff"], base + ("payoff",)),
                     cr.Num(v["aicc"], base + ("aicc",), 4), cr.Num(v["bic"], base + ("bic",), 4)]
                    + [cr.Num(v["exante_mape"].get(s, {}).get("model"),
                              base + ("exante_mape", s, "model"), 3) for s in series]
                    + [f"{v['coverage'][s][0]} of {v['coverage'][s][1]}" for s in series
                       if s in v["coverage"]]
                    + [f"{100 * share[y]:.1f}%" for y in years]
                    + [f"{100 * v['share_growth']:.1f}%/yr"])
    headers = (["variant", "k", "payoff", "AICc", "BIC"]
               + [f"ex-ante MAPE % {_label(s)}" for s in series]
               + [f"in 90% band, {_label(s)}" for s in series]
               + [f"share {y}" for y in sorted(int(y) for y in variants[0]["share"])]
               + ["share growth after the window"])
    best_aicc = min(v["aicc"] for v in variants)
    best_skill = min(variants, key=lambda v: np.mean([v["exante_mape"][s]["model"]
                                                      for s in series]))
    items = [f"{v['name']}: {v['hypothesis']}" for v in variants]
    text = (f"Each hypothesis is calibrated with the same specification. Lowest AICc: "
            f"{[v['name'] for v in variants if v['aicc'] == best_aicc][0]}; lowest mean ex-ante "
            f"error: {best_skill['name']}. China's share of world DDS exports grew "
            f"{100 * hist[0]:.1f}%/yr over {_PACES[0]} and {100 * hist[1]:.1f}%/yr over "
            f"{_PACES[1]}. "
            "The model card (model/README.md) records which structure is adopted and why.")
    t = cr.Table(headers, rows, "Structural hypotheses: fit penalised for parameters (AICc, BIC "
                 "on the weighted least-squares payoff), ex-ante skill, band coverage and the "
                 "baseline share path.")
    return cr.Section(VARIANTS_TITLE, [("list", items), text, t], "variants")


def _share_pace(inp) -> tuple[float, float]:
    s = inp.observed.series(SHARE_SERIES)
    last = LAST_OBSERVED_YEAR
    first, recent = SHARE_PACE_STARTS
    return (math.log(s.loc[last] / s.loc[first]) / (last - first),
            math.log(s.loc[last] / s.loc[recent]) / (last - recent))


def share_section(inp, comp):
    """Projected export growth split into world demand and share, and the share beside its history."""
    cr = _cr()
    t = comp.times
    need = (WORLD, EXPORTS, SHARE)
    if not all(v in comp.central for v in need):
        return cr.Section(SHARE_TITLE, ["The model has no variables named "
                                       f"{', '.join(need)}: no share decomposition."], "share")
    last = float(inp.spec.window[1])
    marks = [last] + [float(y) for y in REPORT_YEARS if y > last and y <= t[-1] + 1e-9]
    idx = [int(np.argmin(np.abs(t - y))) for y in marks]
    rows = []
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        years = t[b] - t[a]
        gx = math.log(comp.central[EXPORTS][b] / comp.central[EXPORTS][a]) / years
        gw = math.log(comp.central[WORLD][b] / comp.central[WORLD][a]) / years
        gs = math.log(comp.central[SHARE][b] / comp.central[SHARE][a]) / years
        rows.append([f"{t[a]:.0f}–{t[b]:.0f}", f"{100 * gx:.2f}", f"{100 * gw:.2f}",
                     f"{100 * gs:.2f}"])
    hist = _share_pace(inp)
    s = inp.observed.series(SHARE_SERIES)
    tbl = cr.Table(["period", "export growth %/yr", "= world demand %/yr", "+ share %/yr"], rows,
                   "Baseline (calibrated point run): mean log growth; exports = world demand x "
                   "share, so the growth rates add.")
    text = (f"China's share of world DDS exports grew {100 * hist[0]:.1f}%/yr over {_PACES[0]} "
            f"(UNCTAD) and {100 * hist[1]:.1f}%/yr over {_PACES[1]}. The chart shows the "
            "projected share beside that history; the lines mark the two historical paces "
            f"carried forward from {LAST_OBSERVED_YEAR}.")
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(s.index, 100 * s.to_numpy(), label="observed (UNCTAD)", **figs.OBS)
    ax.plot(t, 100 * comp.central[SHARE], color=figs.MODEL, lw=2, label="model, calibrated")
    if SHARE in comp.band:
        b = comp.band[SHARE]
        ax.fill_between(t, 100 * b[0], 100 * b[2], color=figs.BAND, alpha=0.4,
                        label="parameter band")
    future = t[t >= last]
    s_last = float(s.loc[int(last)])
    for pace, ls, lab in ((hist[0], "--", f"{_PACES[0]} pace"), (hist[1], ":", f"{_PACES[1]} pace")):
        ax.plot(future, 100 * s_last * np.exp(pace * (future - last)), color=figs.TREND, ls=ls,
                lw=1, label=lab)
    ax.axvline(last, color="#555", lw=0.8)
    ax.set_ylabel("% of world DDS exports", fontsize=9)
    ax.set_title("China's share of world DDS exports", fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return cr.Section(SHARE_TITLE, [text, tbl, ("img", figs.data_uri(fig), "share path")], "share")
