"""The live view's model: what a lever move computes, before anything is drawn.

``app.py``'s ``live`` fragment runs the scenario and the baseline (through the
budgeted workers), then draws. Everything between those runs and the widgets
is here, pure and testable: the scenario texts to run (:func:`plan`), the
headline numbers (:func:`metrics`), each chart's data and Vega-Lite spec
(:func:`chart`), and the band's caption (:func:`band_caption`). Nothing here
touches Streamlit.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.app import charts as C
from sim.app import state as S
from sim.app.i18n import t


@dataclass(frozen=True)
class LivePlan:
    """The runs a lever position asks for.

    Attributes
    ----------
    scenario_text : str
        The current settings as the scenario YAML ``sim run`` reads.
    baseline_text : str
        The baseline (no lever moved) to the same horizon.
    band_baseline_text : str or None
        The baseline with the band's draws, for member-by-member differences;
        None when the scenario samples its own ensemble.
    trade, stocks : tuple of str
        The outputs of the trade and stocks tabs this model has.
    """

    scenario_text: str
    baseline_text: str
    band_baseline_text: str | None
    trade: tuple[str, ...]
    stocks: tuple[str, ...]

    @property
    def outputs(self) -> tuple[str, ...]:
        """Return every charted output: trade, then stocks."""
        return self.trade + self.stocks


def plan(settings: Mapping[str, float], specs, model, extras: S.Extras, *, band: bool,
         calibrated_band: bool) -> LivePlan:
    """Return the runs of the current settings.

    Raises
    ------
    sim.SimError
        Settings that make no valid scenario.
    """
    scenario_text = S.scenario_text(S.scenario_doc(
        settings, specs, model, name="app", description="app", extras=extras, band=band,
        calibrated_band=calibrated_band))
    baseline_text = S.scenario_text(S.baseline_doc(model, extras.horizon(model)))
    names = {v.name for v in model.variables.values()}
    band_baseline = None if S.has_own_ensemble(extras.fields) else S.scenario_text(
        S.scenario_doc(S.baseline_settings(specs), specs, model, name="app", description="app",
                       extras=S.Extras(fields={"horizon": extras.horizon(model)}), band=True,
                       calibrated_band=calibrated_band))
    return LivePlan(scenario_text, baseline_text, band_baseline,
                    tuple(n for n in S.TRADE_OUTPUTS if n in names),
                    tuple(n for n in S.STOCK_OUTPUTS if n in names))


@dataclass(frozen=True)
class Metric:
    """One headline number: label, value text and its difference from the baseline."""

    label: str
    value: str
    delta: str | None


def metrics(current, baseline, names: Sequence[str], units_of: Mapping[str, str],
            lang: str) -> list[Metric]:
    """Return the headline numbers of ``names`` at the run's final year."""
    final_year = float(current.times[-1])
    out = []
    for name in names:
        value, delta = C.metric_text(name, units_of[name], C.value_at(current, name, final_year),
                                     C.value_at(baseline, name, final_year), lang)
        out.append(Metric(C.metric_label(name, units_of[name], int(final_year), lang), value,
                          delta or None))
    return out


@dataclass(frozen=True)
class Chart:
    """One output's charts: the run beside the baseline, and its difference when it has one."""

    frame: pd.DataFrame
    spec: dict
    difference_frame: pd.DataFrame | None = None
    difference_spec: dict | None = None


def chart(name: str, current, baseline, observed: Mapping[str, pd.Series],
          bands: Mapping, diffs: Mapping, units: str, lang: str, *, band: bool,
          marks) -> Chart:
    """Return the charts of output ``name`` (the difference only when the runs differ)."""
    obs_name = S.OBSERVED_FOR.get(name, (None, True))[0]
    frame = C.series_frame(name, current.times, current[name], baseline[name],
                           observed.get(obs_name) if obs_name else None, bands.get(name), lang)
    spec = C.line_spec(name, units, frame, lang, band_layer=band, marks=marks)
    if np.allclose(current[name], baseline[name], rtol=1e-9, atol=0.0):
        return Chart(frame, spec)  # nothing to compare: the settings are the baseline's
    diff = C.difference_frame(name, current.times, current[name], baseline[name],
                              diffs.get(name))
    return Chart(frame, spec, diff, C.difference_spec(name, units, diff, lang,
                                                      band_layer=band and name in diffs,
                                                      marks=marks))


def band_parts(value) -> tuple[dict, dict]:
    """Return the band per output and the band of the differences, of a band result."""
    if isinstance(value, tuple):
        return value[0], value[3]
    return {}, {}


def band_caption(value, own_ensemble: bool, lang: str) -> tuple[str, str] | None:
    """Return (``"warning"`` or ``"caption"``, text) saying what the band is, or None.

    ``value`` is the band run's result: None (no band), an error message, or
    ``(bands, members run, members failed, difference bands)``. A band
    stopped or refused is a warning, not a note.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return "warning", t("band_unavailable", lang, msg=value)
    bands, n_run, failed = value[:3]
    if not bands:
        return "caption", t("band_unavailable", lang, msg=t("band_nothing", lang))
    note = t("band_caption_own" if own_ensemble else "band_caption", lang, n=n_run)
    return "caption", note + (" · " + t("band_failures", lang, k=failed) if failed else "")


LOOPS_DRAWN = 8
"""Loops drawn in the loops tab's chart (the strongest by largest relative score)."""


@dataclass(frozen=True)
class LoopView:
    """The loops tab: a chart of relative loop scores and a table of every loop."""

    frame: pd.DataFrame
    spec: dict
    table: pd.DataFrame


def _lines_spec(series: str, y_title: str, lang: str, height: int,
                y_scale: dict | None = None, tooltip: list | None = None) -> dict:
    """Return a Vega-Lite spec of one line per ``series`` value over ``year``."""
    y = {"field": "value", "type": "quantitative", "title": y_title}
    if y_scale is not None:
        y["scale"] = y_scale
    encoding = {
        "x": {"field": "year", "type": "quantitative", "title": t("year", lang),
              "axis": {"format": "d"}},
        "y": y,
        "color": {"field": series, "type": "nominal", "title": None,
                  "legend": {"orient": "right", "labelLimit": 260}},
    }
    if tooltip is not None:
        encoding["tooltip"] = tooltip
    return {"mark": {"type": "line", "strokeWidth": 1.6}, "height": height,
            "encoding": encoding}


def loops(answer: Mapping, lang: str, top: int = LOOPS_DRAWN) -> LoopView:
    """Return the loops tab's chart and table from the worker's loop analysis.

    Parameters
    ----------
    answer : mapping
        ``{"times": [...], "loops": [{name, polarity, variables, relative}, ...]}``,
        strongest loop first (:func:`sim.app.worker.run_loops`).
    lang : {'zh', 'en'}
    top : int
        Loops drawn in the chart; the table lists all.
    """
    from sim.app.i18n import var_label
    from sim.loops.output import label

    times = np.asarray(answer["times"], float)
    rows = []
    for k, lp in enumerate(answer["loops"][:top]):
        shown = label(k, lp.get("name", ""))
        rows += [{"year": float(x), "loop": shown, "value": float(v)}
                 for x, v in zip(times, lp["relative"], strict=True)]
    frame = pd.DataFrame(rows, columns=["year", "loop", "value"])
    spec = _lines_spec("loop", t("loops_axis", lang), lang, 320, y_scale={"domain": [-1, 1]},
                       tooltip=[{"field": "loop", "type": "nominal",
                                 "title": t("loops_loop", lang)},
                                {"field": "year", "type": "quantitative", "format": ".2f",
                                 "title": t("year", lang)},
                                {"field": "value", "type": "quantitative", "format": ".3f",
                                 "title": t("value", lang)}])
    table = pd.DataFrame([{
        t("loops_loop", lang): label(k, lp.get("name", "")),
        t("loops_polarity", lang): t(f"polarity_{lp['polarity']}", lang),
        t("loops_peak", lang): round(float(np.max(np.abs(lp["relative"]))), 3)
        if lp["relative"] else 0.0,
        t("loops_mean", lang): round(float(np.mean(lp["relative"])), 3) if lp["relative"] else 0.0,
        t("loops_variables", lang): " → ".join(var_label(v, lang) for v in lp["variables"]),
    } for k, lp in enumerate(answer["loops"])])
    return LoopView(frame, spec, table)


def checks_table(outcomes, lang: str) -> pd.DataFrame:
    """Return ``sim check``'s outcomes as the structure tab's table."""
    return pd.DataFrame([{t("checks_result", lang): "✓" if o.passed else "✗",
                          t("checks_category", lang): o.category,
                          t("checks_check", lang): o.name,
                          t("checks_detail", lang): o.detail} for o in outcomes])


SENSITIVITY_DRAWN = 8
"""Factors drawn in the sensitivity tab's chart (the largest total index)."""


def sensitivity(answer: Mapping, lang: str, top: int = SENSITIVITY_DRAWN) -> tuple:
    """Return the sensitivity tab's (frame, Vega-Lite spec, table) from the worker's answer."""
    from sim.app.i18n import var_label

    times = np.asarray(answer["times"], float)
    rows = []
    for f in answer["factors"][:top]:
        rows += [{"year": float(x), "factor": var_label(f["name"], lang), "value": float(v)}
                 for x, v in zip(times, f["total"], strict=True)]
    frame = pd.DataFrame(rows, columns=["year", "factor", "value"])
    spec = _lines_spec("factor", t("sens_axis", lang), lang, 300)
    table = pd.DataFrame([{t("sens_factor", lang): var_label(f["name"], lang),
                           t("sens_total", lang): round(float(f["total"][-1]), 3),
                           t("sens_first", lang): round(float(f["first"][-1]), 3)}
                          for f in answer["factors"]])
    return frame, spec, table
