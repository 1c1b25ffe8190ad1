"""Figures and tables of the app: tidy frames and Vega-Lite specifications.

The app renders the specifications with ``st.vega_lite_chart`` (Streamlit's
own Vega-Lite, drawn in the browser); these functions only build data, so
they are tested without Streamlit. Dict specifications rather than Altair
objects keep a redraw cheap (no schema validation on every slider move).

As the scenario charts of ``sim run`` (:mod:`sim.reporting.figures_scenario`):
when the settings differ from the baseline, a second chart shows the
difference from the baseline with its band (paired: the same parameter draws
in both ensembles); rules mark the end of the observed data and each lever's
start; the horizon year is a tick; shares are in percent.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sim.app.i18n import fmt_delta, fmt_number, fmt_share, short_label, t, unit_label, var_label
from sim.project import CALIBRATION_WINDOW
from sim.reporting.labels import series_name
from sim.reporting.timeaxis import DATA_END, Marker, year_ticks

SERIES_COLORS = {"current": "#d62728", "baseline": "#1f77b4", "observed": "#222222",
                 "difference": "#b2182b", "data_end": "#555555", "lever": "#e08214"}
OBS_WINDOW = CALIBRATION_WINDOW


def is_share(name: str) -> bool:
    """Return outputs shown as a percentage."""
    return name == "China World Share"


def _scale(name: str) -> float:
    return 100.0 if is_share(name) else 1.0


def axis_title(name: str, units: str, lang: str) -> str:
    """Return the unit of a chart's y axis (the variable's name is the chart's title)."""
    return "%" if is_share(name) else unit_label(units, lang)


def column_title(name: str, units: str, lang: str) -> str:
    """``Name (unit)`` for table columns."""
    unit = axis_title(name, units, lang)
    return f"{var_label(name, lang)} ({unit})" if lang == "en" else f"{var_label(name, lang)}（{unit}）"


def series_frame(name: str, times: np.ndarray, current: np.ndarray, baseline: np.ndarray | None,
                 observed: pd.Series | None, band: tuple[np.ndarray, np.ndarray] | None,
                 lang: str, run_label: str = "series_current") -> pd.DataFrame:
    """Tidy rows for one chart: columns year, series, value, lo, hi.

    ``series`` holds the localised labels of current / baseline / observed;
    ``lo``/``hi`` (the band) are on the current-settings rows only. Shares are
    in percent.
    """
    k = _scale(name)
    years = np.asarray(times, dtype=float)
    n = len(years)
    cols_year, cols_series, cols_value = [years], [np.full(n, t(run_label, lang), dtype=object)], \
        [np.asarray(current, float) * k]
    lo = [np.full(n, np.nan)] if band is None else [np.asarray(band[0], float) * k]
    hi = [np.full(n, np.nan)] if band is None else [np.asarray(band[1], float) * k]
    extra = []
    if baseline is not None:
        extra.append((years, t("series_baseline", lang), np.asarray(baseline, float) * k))
    if observed is not None and len(observed):
        obs = observed[(observed.index >= OBS_WINDOW[0]) & (observed.index <= OBS_WINDOW[1])]
        extra.append((obs.index.to_numpy(dtype=float), t("series_observed", lang),
                      obs.to_numpy(dtype=float) * k))
    for y, label, v in extra:
        cols_year.append(y)
        cols_series.append(np.full(len(y), label, dtype=object))
        cols_value.append(v)
        lo.append(np.full(len(y), np.nan))
        hi.append(np.full(len(y), np.nan))
    return pd.DataFrame({"year": np.concatenate(cols_year), "series": np.concatenate(cols_series),
                         "value": np.concatenate(cols_value), "lo": np.concatenate(lo),
                         "hi": np.concatenate(hi)})


def markers(settings: Mapping[str, float], specs, lang: str,
            span: tuple[float, float] | None = None) -> list[Marker]:
    """Rules of a time axis: the end of the observed data and each moved lever's start.

    Levers starting the same year share one rule; a rule outside ``span`` is
    left out. Labels are in ``lang``.
    """
    from sim.app.state import changed_levers
    out = [Marker(float(DATA_END), "data_end", t("marker_data_end", lang, year=DATA_END))]
    by_year: dict[float, list[str]] = {}
    for spec in changed_levers(settings, specs):
        year = float(round(settings.get(spec.start.name, spec.start.default)))
        by_year.setdefault(year, []).append(var_label(spec.value.name, lang))
    sep = "、" if lang == "zh" else ", "
    for year, names in sorted(by_year.items()):
        out.append(Marker(year, "lever", t("marker_lever", lang, names=sep.join(names),
                                           year=int(year))))
    if span is not None:
        out = [m for m in out if span[0] - 1e-9 <= m.year <= span[1] + 1e-9]
    return out


def _x_axis(frame: pd.DataFrame, lang: str) -> dict:
    """Year axis with whole-year ticks, the last year (the horizon) among them."""
    years = frame["year"].to_numpy(dtype=float)
    years = years[np.isfinite(years)]
    axis: dict = {"format": "d", "tickMinStep": 1}
    if years.size:
        axis["values"] = year_ticks(float(years.min()), float(years.max()))
    return {"field": "year", "type": "quantitative", "title": t("year", lang), "axis": axis,
            "scale": {"zero": False, "nice": False}}


def _marker_layers(marks: Sequence[Marker], x: dict, labels: bool = True) -> list[dict]:
    """Vertical rules at ``marks`` (``x``: the chart's year axis), labelled at the top.

    Colours are set on the marks, not encoded, so the rules stay out of the
    series legend. The end of the data is labelled to its left (history), a
    lever to the right of its start.
    """
    out = []
    for kind, align, dx in (("data_end", "right", -3), ("lever", "left", 3)):
        rows = [{"year": m.year, "kind": m.kind, "label": m.label} for m in marks
                if m.kind == kind]
        if not rows:
            continue
        colour = SERIES_COLORS[kind]
        out.append({"data": {"values": rows},
                    "mark": {"type": "rule", "color": colour, "strokeDash": [5, 3],
                             "strokeWidth": 1.2},
                    "encoding": {"x": x, "tooltip": [{"field": "label", "type": "nominal",
                                                      "title": " "}]}})
        if labels:
            out.append({"data": {"values": rows},
                        "mark": {"type": "text", "align": align, "baseline": "top", "dx": dx,
                                 "y": 2, "fontSize": 10, "color": colour},
                        "encoding": {"x": x, "text": {"field": "label"}}})
    return out


def line_spec(name: str, units: str, frame: pd.DataFrame, lang: str, *, height: int = 260,
              run_label: str = "series_current", title: str | None = None,
              inline: bool = False, y_title: str | None = None,
              band_layer: bool | None = None, marks: Sequence[Marker] = ()) -> dict:
    """Vega-Lite: band (area), current and baseline (lines), observed (points), ``marks``.

    The band layer is drawn when ``band_layer`` (default: when ``frame`` has
    band values); an empty band layer keeps the specification the same before
    and after the band is computed, so only the data change in the browser.
    Only the series present in ``frame`` appear in the legend. With ``inline``
    the rows are part of the specification; otherwise pass ``frame`` as the
    chart's data (Streamlit then updates an unchanged specification's data in
    place in the browser, without rebuilding the chart).
    """
    labels = [t(run_label, lang), t("series_baseline", lang), t("series_observed", lang)]
    colors = [SERIES_COLORS["current"], SERIES_COLORS["baseline"], SERIES_COLORS["observed"]]
    present = set(frame["series"].unique())
    keep = [i for i, lab in enumerate(labels) if lab in present]
    labels_shown, colors_shown = [labels[i] for i in keep], [colors[i] for i in keep]
    color = {"field": "series", "type": "nominal", "title": None,
             "scale": {"domain": labels_shown, "range": colors_shown},
             "legend": {"orient": "bottom"}}
    x = _x_axis(frame, lang)
    y_title = y_title or axis_title(name, units, lang)
    y = {"field": "value", "type": "quantitative", "title": y_title, "scale": {"zero": False}}
    tip_fmt = ".2f" if is_share(name) else ",.1f"
    tooltip = [{"field": "series", "type": "nominal", "title": " "},
               {"field": "year", "type": "quantitative", "format": "d", "title": t("year", lang)},
               {"field": "value", "type": "quantitative", "format": tip_fmt,
                "title": t("value", lang)}]
    layers = []
    if frame["lo"].notna().any() if band_layer is None else band_layer:
        layers.append({
            "transform": [{"filter": "isValid(datum.lo)"}],
            "mark": {"type": "area", "opacity": 0.18, "color": SERIES_COLORS["current"]},
            "encoding": {"x": x, "y": {"field": "lo", "type": "quantitative", "title": y_title},
                         "y2": {"field": "hi"}}})
    layers.append({
        "transform": [{"filter": {"field": "series", "oneOf": labels[:2]}}],
        "mark": {"type": "line", "strokeWidth": 2},
        "encoding": {"x": x, "y": y, "color": color,
                     "strokeDash": {"field": "series", "type": "nominal", "legend": None,
                                    "scale": {"domain": [x for x in labels[:2] if x in present],
                                              "range": [[1, 0], [6, 4]][:len(
                                                  [x for x in labels[:2] if x in present])]}},
                     "tooltip": tooltip}})
    layers.append({
        "transform": [{"filter": {"field": "series", "equal": labels[2]}}],
        "mark": {"type": "point", "filled": True, "size": 45},
        "encoding": {"x": x, "y": y, "color": color, "tooltip": tooltip}})
    layers += _marker_layers(marks, x)
    return {"height": height, "padding": {"top": 12, "left": 5, "right": 5, "bottom": 5},
            # canvas: a redraw repaints pixels instead of rebuilding every SVG mark
            "usermeta": {"embedOptions": {"renderer": "canvas"}},
            "title": {"text": title or var_label(name, lang), "anchor": "start"},
            **({"data": {"values": records(frame)}} if inline else {}), "layer": layers}


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows of a frame as JSON-safe dicts (NaN -> null), inlined in a spec.

    Inline values skip Streamlit's Arrow conversion of a DataFrame per chart,
    the largest cost of a redraw.
    """
    cols = list(frame.columns)
    arrays = [frame[c].tolist() for c in cols]
    out = []
    for row in zip(*arrays, strict=True):
        out.append({c: (None if isinstance(v, float) and v != v else v)
                    for c, v in zip(cols, row, strict=True)})
    return out


def difference_band(current: np.ndarray, baseline: np.ndarray, lo_q: float = 5.0,
                    hi_q: float = 95.0) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles of the member-by-member difference of two paired ensembles.

    Parameters
    ----------
    current, baseline : ndarray
        (T, N) values of one output, member ``j`` of both run with the same
        parameter draw (the same seed, sampling and distributions).

    Returns
    -------
    (ndarray, ndarray)
        ``lo_q`` and ``hi_q`` percentiles over members, shape (T,); members
        masked to NaN in either run are left out.

    Raises
    ------
    ValueError
        The arrays are not (T, N) of the same shape.
    """
    a, b = np.asarray(current, dtype=float), np.asarray(baseline, dtype=float)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"expected two (T, N) ensembles of the same shape, got {a.shape} "
                         f"and {b.shape}")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN year gives NaN
        q = np.nanpercentile(a - b, [lo_q, hi_q], axis=1)
    return q[0], q[1]


def difference_frame(name: str, times: np.ndarray, current: np.ndarray, baseline: np.ndarray,
                     band: tuple[np.ndarray, np.ndarray] | None) -> pd.DataFrame:
    """Tidy rows of the difference chart: year, diff (current − baseline), lo, hi.

    Shares are in percentage points (the levels are in percent).
    """
    k = _scale(name)
    n = len(times)
    lo = np.full(n, np.nan) if band is None else np.asarray(band[0], float) * k
    hi = np.full(n, np.nan) if band is None else np.asarray(band[1], float) * k
    return pd.DataFrame({"year": np.asarray(times, dtype=float),
                         "diff": (np.asarray(current, float) - np.asarray(baseline, float)) * k,
                         "lo": lo, "hi": hi})


def difference_axis_title(name: str, units: str, lang: str) -> str:
    """Return unit of a difference: percentage points for a share, else the variable's unit."""
    return t("unit_pp", lang) if is_share(name) else unit_label(units, lang)


def difference_spec(name: str, units: str, frame: pd.DataFrame, lang: str, *, height: int = 170,
                    band_layer: bool | None = None, marks: Sequence[Marker] = ()) -> dict:
    """Vega-Lite: the difference from the baseline (line) with its band (area), a zero rule.

    The band layer is drawn when ``band_layer`` (default: when ``frame`` has
    band values), as in :func:`line_spec`.
    """
    x = _x_axis(frame, lang)
    y_title = difference_axis_title(name, units, lang)
    tip_fmt = "+.2f" if is_share(name) else "+,.1f"
    tooltip = [{"field": "year", "type": "quantitative", "format": "d", "title": t("year", lang)},
               {"field": "diff", "type": "quantitative", "format": tip_fmt,
                "title": t("delta_vs_baseline", lang)}]
    layers = []
    if frame["lo"].notna().any() if band_layer is None else band_layer:
        layers.append({
            "transform": [{"filter": "isValid(datum.lo)"}],
            "mark": {"type": "area", "opacity": 0.2, "color": SERIES_COLORS["difference"]},
            "encoding": {"x": x, "y": {"field": "lo", "type": "quantitative", "title": y_title},
                         "y2": {"field": "hi"}}})
    y = {"field": "diff", "type": "quantitative", "title": y_title}
    layers.append({"data": {"values": [{"diff": 0.0}]},
                   "mark": {"type": "rule", "color": "#000000", "strokeWidth": 0.8},
                   "encoding": {"y": y}})
    layers.append({"mark": {"type": "line", "strokeWidth": 2, "color": SERIES_COLORS["difference"]},
                   "encoding": {"x": x, "y": y, "tooltip": tooltip}})
    layers += _marker_layers(marks, x, labels=False)  # labelled on the level chart above
    return {"height": height, "padding": {"top": 12, "left": 5, "right": 5, "bottom": 5},
            "usermeta": {"embedOptions": {"renderer": "canvas"}},
            "title": {"text": t("diff_title", lang, name=var_label(name, lang)), "anchor": "start"},
            "layer": layers}


def results_table(result, names: list[str], units: Mapping[str, str], lang: str) -> pd.DataFrame:
    """Yearly values of ``names`` at the saved times (one column per output, localised)."""
    data = {t("year", lang): np.asarray(result.times, dtype=float).round(6)}
    for n in names:
        if n in result:
            data[column_title(n, units.get(n, ""), lang)] = np.round(
                np.asarray(result[n], float) * _scale(n), 3 if is_share(n) else 2)
    return pd.DataFrame(data)


def results_csv(result, names: list[str] | None = None) -> str:
    """Return the current run as CSV: one row per saved time, one column per variable (Vensim names).

    The same layout as ``sim simulate``.
    """
    df = result.to_frame()
    if names is not None:
        df = df[[n for n in names if n in df.columns]]
    df.index.name = "Time"
    return df.to_csv(float_format="%.10g")


def metric_text(name: str, units: str, value: float, base: float | None, lang: str
                ) -> tuple[str, str]:
    """(value, delta vs baseline) strings for st.metric; the unit goes in the label.

    The delta is empty when the value equals the baseline at the shown precision.
    """
    if is_share(name):
        v = fmt_share(value, lang)
        d = "" if base is None else fmt_delta(value - base, lang, digits=2, percent=True)
        same = base is None or abs(value - base) < 5e-5
    else:
        v = fmt_number(value, lang)
        d = "" if base is None else fmt_delta(value - base, lang)
        same = base is None or abs(value - base) < 0.05
    return v, "" if same else d


def metric_label(name: str, units: str, year: int, lang: str) -> str:
    """Return ``Exports, 2035 (100M USD)`` / ``出口（2035 年，亿美元）``."""
    unit = "%" if is_share(name) else unit_label(units, lang)
    if lang == "zh":
        return f"{short_label(name, lang)}（{year} 年，{unit}）"
    return f"{short_label(name, lang)}, {year} ({unit})"


def value_at(result, name: str, year: float) -> float:
    """Value of ``name`` at the saved time nearest ``year`` (one run)."""
    return float(result.at(name, year))


def slug(name: str) -> str:
    """Return a file-name-safe version of a scenario name (Chinese characters kept)."""
    out = "".join(ch if (ch.isalnum() or ch in "-_") else "-" for ch in name.strip())
    out = "-".join(p for p in out.split("-") if p)
    return out or "scenario"


def describe_settings(settings: Mapping[str, float], specs, lang: str) -> str:
    """One line per changed lever: ``Infrastructure investment 1.5 from 2026``."""
    from sim.app.state import changed_levers
    parts = []
    for spec in changed_levers(settings, specs):
        v = settings.get(spec.value.name, spec.value.default)
        y = int(round(settings.get(spec.start.name, spec.start.default)))
        name = var_label(spec.value.name, lang)
        parts.append(f"{name} {v:g}（{y} 年起）" if lang == "zh" else f"{name} {v:g} from {y}")
    return ("；" if lang == "zh" else "; ").join(parts)


def _stat_value(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in v)
    return str(v)


STAT_LABELS = {"variable": {"zh": "模型变量", "en": "Variable"}, "role": {"zh": "角色", "en": "Role"},
               "weight": {"zh": "权重", "en": "Weight"}, "n": {"zh": "n", "en": "n"},
               "r2": {"zh": "R²", "en": "R²"}, "mape_pct": {"zh": "MAPE %", "en": "MAPE %"},
               "rmse": {"zh": "RMSE", "en": "RMSE"}, "theil_u": {"zh": "Theil U", "en": "Theil U"},
               "theil_um": {"zh": "Uᴹ", "en": "Uᴹ"}, "theil_us": {"zh": "Uˢ", "en": "Uˢ"},
               "theil_uc": {"zh": "Uᶜ", "en": "Uᶜ"},
               "durbin_watson": {"zh": "DW", "en": "Durbin-Watson"},
               "autocorrelation": {"zh": "残差自相关", "en": "Residual autocorrelation"},
               "trend": {"zh": "趋势基准", "en": "Trend"}}


def stat_label(key: str, lang: str) -> str:
    """Display name of a fit statistic of calibrated.yaml (the key itself when unknown)."""
    entry = STAT_LABELS.get(key)
    return entry[lang] if entry else key


def fit_table(statistics: Mapping[str, Mapping], lang: str) -> pd.DataFrame:
    """Fit statistics: one row per series, one column per scalar statistic.

    A nested block (the log-linear trend's statistics, the benchmark) adds its
    R² and MAPE as ``trend r2`` / ``trend mape_pct``.
    """
    rows = []
    for series, st_ in statistics.items():
        row = {t("col_series", lang): series_name(series, lang)}
        for k, v in (st_ or {}).items():
            if isinstance(v, Mapping):
                for k2 in ("r2", "mape_pct"):
                    if isinstance(v.get(k2), (int, float)):
                        row[f"{stat_label(k, lang)} {stat_label(k2, lang)}"] = _stat_value(v[k2])
            elif not isinstance(v, (list, tuple)) or len(v) <= 4:
                row[stat_label(k, lang)] = _stat_value(v)
        rows.append(row)
    df = pd.DataFrame(rows)
    num = df.select_dtypes("number").columns
    df[num] = df[num].round(4)
    return df


def fit_pairs(statistics: Mapping[str, Mapping], observed_for: Mapping[str, tuple]
              ) -> dict[str, str]:
    """Calibrated series -> model variable (the entry's ``variable``, else the known map)."""
    inverse = {s: var for var, (s, _) in observed_for.items()}
    out = {}
    for series, st_ in statistics.items():
        var = st_.get("variable") if isinstance(st_, Mapping) else None
        var = var or inverse.get(series)
        if var:
            out[series] = str(var[0] if isinstance(var, (list, tuple)) else var)
    return out


def fit_frames(view, observed_for: Mapping[str, tuple], lang: str):
    """(series, variable, frame) per calibrated series, from ``fitted`` in calibrated.yaml.

    The simulated values are those the calibration wrote (its run), not a rerun.
    """
    out = []
    for series, var in fit_pairs(view.statistics, observed_for).items():
        fitted = view.fitted.get(series)
        if not isinstance(fitted, Mapping) or "years" not in fitted:
            continue
        try:
            years = np.asarray(fitted["years"], dtype=float)
            sim_ = np.asarray(fitted["simulated"], dtype=float)
            obs = pd.Series(np.asarray(fitted["observed"], dtype=float), index=years.astype(int))
        except (KeyError, TypeError, ValueError):
            continue
        if sim_.shape != years.shape or obs.shape != years.shape:
            continue
        frame = series_frame(var, years, sim_, None, obs, None, lang, run_label="series_model")
        out.append((series, var, frame))
    return out


def param_table(parameters: Mapping[str, Mapping], model, lang: str) -> pd.DataFrame:
    """Return the calibrated parameters: estimate, intervals, bounds, flag, model default and units."""
    from sim.app.resources import interval_text
    rows = []
    for name, p in parameters.items():
        p = p if isinstance(p, Mapping) else {"estimate": p}
        default, units = None, ""
        try:
            py = model.py_name(name)
            default = model.constants.get(py)
            units = model.variables[py].units
        except Exception:  # a parameter the model does not have: listed, without a default
            pass
        est = p.get("estimate")
        rows.append({
            t("col_parameter", lang): name,
            t("col_estimate", lang): float(est) if isinstance(est, (int, float)) else None,
            t("col_interval", lang): interval_text(p.get("interval")),
            t("col_interval_bootstrap", lang): interval_text(p.get("interval_bootstrap")),
            t("col_bounds", lang): interval_text(p.get("bounds")),
            t("col_flag", lang): "" if p.get("flag") is None else str(p.get("flag")),
            t("col_default", lang): default,
            t("col_units", lang): units,
        })
    return pd.DataFrame(rows)
