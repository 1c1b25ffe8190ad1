"""The reviewer's calibration report: one self-contained HTML file (and Markdown).

Built from ``calibrated.yaml`` (the numbers of the calibration, shown exactly
as written there) plus what only a model run can show: the uncertainty band
of the fits (an ensemble of the bootstrap parameter sets, one run), global
sensitivity of exports to the parameters and the policy levers (Sobol, one
run), and the validity tests (units, extreme conditions, integration error).

Every number taken from ``calibrated.yaml`` is rendered in a cell that carries
its path and exact value (``data-key``, ``data-value``), and the document's
sections are embedded as JSON (``<script id="calibration-data">``), so a test
or a reviewer can check the report against the file it was built from.
"""
from __future__ import annotations

import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.calibration import bands
from sim.calibration.pipeline import random_streams
from sim.calibration.results import estimates as doc_estimates
from sim.calibration.results import plain, read_calibrated
from sim.calibration.sensitivity import Factor, SensitivityResult, analyse, choose_method
from sim.calibration.spec import CalibrationSpec, load_spec, spec_hash
from sim.calibration.uncertainty import CHI2_95
from sim.calibration.validity import (
    ExtremeResult,
    IntegrationResult,
    UnitsResult,
    check_units,
    extreme_conditions,
    integration_error,
)
from sim.data.observed import SERIES_UNITS, ObservedData, display_path, load_observed
from sim.engine.model import load_model
from sim.errors import SimError
from sim.io import atomic_write_text
from sim.reporting import figures_calibration as figs
from sim.reporting.fonts import figure_fonts
from sim.reporting.labels import THEIL_PARTS, series_name
from sim.reporting.report_text import (
    Rich,
    decisions_html,
    decisions_markdown,
    html_of,
    markdown_of,
    notes_blocks,
    rich,
    symbols,
    theil,
)

BAND_MAX_MEMBERS = 1000
BAND_PERCENTILES = [5.0, 50.0, 95.0]
"""The projection band: central 90%, as the ex-ante bands whose coverage is measured."""
SHARE_VARIABLES = ("World DDS Exports", "China World Share")
"""Also run for the share decomposition (when the model has them)."""


def _has(model, name: str) -> bool:
    try:
        model.py_name(name)
        return True
    except SimError:
        return False

JSON_SECTIONS = ("parameters", "fixed", "fit", "statistics", "cross_checks", "out_of_sample",
                 "forecast_skill", "bands", "variants",
                 "correlation", "targets", "settings", "provenance")


# --------------------------------------------------------------------- inputs
@dataclass
class ReportInputs:
    """What the report is built from (read by :func:`load_inputs`)."""

    doc: dict
    calibrated_path: Path
    spec: CalibrationSpec
    spec_path: Path
    model: object
    model_path: Path
    observed: ObservedData
    warnings: list = field(default_factory=list)


def load_inputs(calibrated_path: str | Path) -> ReportInputs:
    """Read ``calibrated.yaml`` and the specification, model and data it names.

    Hash mismatches (the model, data or spec changed since the calibration)
    become warnings shown at the top of the report.
    """
    path = Path(calibrated_path)
    doc = read_calibrated(path)
    base = path.parent
    prov = doc["provenance"]
    spec_path = base / prov["spec"]["path"]
    spec = load_spec(spec_path)
    model_path = base / prov["model"]["path"]
    model = load_model(model_path)
    data_path = base / prov["data"]["path"]
    observed = load_observed(data_path)
    warnings = []
    for what, now in (("model", model.model_hash), ("data", observed.data_hash),
                      ("spec", spec_hash(spec_path))):
        if prov[what]["hash"] != now:
            warnings.append(f"The {what} file has changed since the calibration (hash "
                            f"{prov[what]['hash'][:12]}… recorded, {now[:12]}… now): rerun "
                            "`sim calibrate`.")
    if doc["settings"].get("quick"):
        warnings.append("This calibration was run with --quick (fewer starts, bootstrap "
                        "replicates and profile points): a smoke run, not the production one.")
    return ReportInputs(doc, path, spec, spec_path, model, model_path, observed, warnings)


# ------------------------------------------------------------------ computed
@dataclass
class Computed:
    """What the report computes by running the model.

    ``central``/``default``: variable -> (T,) at the estimates / the model's own
    values, yearly to the model's final time; ``band``: variable -> (3, T)
    5/50/95 percentiles over the bootstrap parameter sets, with the inputs'
    random walks and the AR(1) model error after the window.
    """

    times: np.ndarray
    central: dict
    default: dict
    band: dict
    n_band: int
    sensitivity: SensitivityResult | None
    sensitivity_error: str
    units: UnitsResult
    extremes: list[ExtremeResult]
    integration: IntegrationResult
    seconds: dict
    analyses: object = None  # sim.reporting.analyses_section.AnalysesInputs


def compute(inp: ReportInputs, sobol_samples: int | None = None) -> Computed:
    """Band ensemble, sensitivity and validity tests for the report.

    Parameters
    ----------
    sobol_samples : int, optional
        Override the specification's Sobol base sample (tests use a small one).
    """
    spec, model, doc = inp.spec, inp.model, inp.doc
    est = doc_estimates(doc)
    names = list(doc["parameters"])
    rng = random_streams(spec.seed)
    secs = {}

    t0 = time.perf_counter()
    variables = list(dict.fromkeys([t.variable for t in spec.targets] + [
        v for c in spec.cross_checks for v in c.variables] + list(SHARE_VARIABLES)))
    variables = [v for v in variables if _has(model, v)]
    central = model.simulate(params=est, method=spec.method, saveper=1.0, outputs=variables)
    default = model.simulate(method=spec.method, saveper=1.0, outputs=variables)
    boot = np.asarray(doc["bootstrap"]["estimates"], dtype=float).reshape(-1, len(names))
    if len(boot) > BAND_MAX_MEMBERS:
        boot = boot[np.sort(rng["band"].choice(len(boot), BAND_MAX_MEMBERS, replace=False))]
    band = {}
    if len(boot) >= 2:
        # the projection band: bootstrap parameters, the inputs' random walks and the AR(1)
        # model error after the window (sim.calibration.bands), a 90% band
        params = {n: boot[:, j] for j, n in enumerate(names)}
        bdoc = doc.get("bands") or {}
        if bdoc.get("inputs"):
            params.update(bands.projection_inputs(bdoc, model.controls.final_time, len(boot),
                                                  rng["band"]))
        ens = model.simulate(params=params, method=spec.method, saveper=1.0, outputs=variables)
        errs = bands.errors_from_document(bdoc) if bdoc else {}
        last = float(bdoc.get("last_observed_year", spec.window[1]))
        vals = {}
        for v in variables:
            arr = np.asarray(ens[v], dtype=float).reshape(len(ens.times), -1)
            if v in errs:
                arr = bands.apply_error(ens.times, arr, errs[v], last, rng["band"])
            vals[v] = arr
            band[v] = np.nanpercentile(arr, BAND_PERCENTILES, axis=1)
        for c in spec.cross_checks:
            tot = sum(vals[v] for v in c.variables)
            band["+".join(c.variables)] = np.nanpercentile(tot, BAND_PERCENTILES, axis=1)
    secs["band"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sens, sens_err = None, ""
    try:
        factors = [Factor(n, *spec.parameters[n].bounds, spec.parameters[n].scale == "log",
                          "parameter") for n in names]
        factors += [Factor(n, *lv.range, False, "lever") for n, lv in
                    spec.sensitivity.levers.items()]
        s = spec.sensitivity
        n_base = sobol_samples or s.base_samples
        method = s.method
        if method == "auto":
            method = choose_method(model, factors, s.output, s.years, est, n_base,
                                   s.budget_seconds, spec.method)
        seed = int(rng["sensitivity"].integers(2 ** 31 - 1))
        sens = analyse(model, factors, s.output, list(s.years), base_params=est,
                       method=method, base_samples=n_base, seed=seed, sim_method=spec.method)
    except Exception as exc:  # shown in the report; the rest still builds
        sens_err = f"{type(exc).__name__}: {exc}"
    secs["sensitivity"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    units = check_units(inp.model_path)
    extremes = extreme_conditions(model, spec, est)
    integ = integration_error(model, spec, est, [t.variable for t in spec.targets])
    secs["validity"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from sim.reporting.analyses_section import compute_analyses
    from sim.scenarios import load_calibrated
    shipped = inp.calibrated_path.parent.parent / "scenarios" / "optimize"
    specs = sorted(shipped.glob("*.yaml")) if shipped.is_dir() else []
    analyses = compute_analyses(model, inp.model_path, est,
                                float((doc.get("bands") or {}).get("last_observed_year",
                                                                   spec.window[1])),
                                specs, load_calibrated(inp.calibrated_path) if specs else None)
    secs["analyses"] = time.perf_counter() - t0
    return Computed(times=central.times, central={v: np.asarray(central[v]) for v in variables},
                    default={v: np.asarray(default[v]) for v in variables}, band=band,
                    n_band=len(boot), sensitivity=sens, sensitivity_error=sens_err,
                    units=units, extremes=extremes, integration=integ, seconds=secs,
                    analyses=analyses)


# ------------------------------------------------------------------- tables
def fmt(x, sig: int = 4) -> str:
    """Return a number for a table cell ('–' for missing)."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    x = float(x)
    if not math.isfinite(x):
        return "–"
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.{sig - 1}e}"
    return f"{x:.{sig}g}" if abs(x) < 10 ** sig else f"{x:.0f}"


@dataclass(frozen=True)
class Num:
    """A numeric cell tied to its place in ``calibrated.yaml`` (``key``: path)."""

    value: object
    key: tuple = ()
    sig: int = 4


class Table:
    """A table rendered to HTML or Markdown; numeric cells keep their exact value."""

    def __init__(self, headers: list[str], rows: list[list], caption: str = "") -> None:
        self.headers, self.rows, self.caption = headers, rows, caption

    @staticmethod
    def _text(c) -> str:
        return fmt(c.value, c.sig) if isinstance(c, Num) else str(c)

    @staticmethod
    def _md(c) -> str:
        if isinstance(c, Rich):
            return c.markdown().replace("\n", " ")
        return Table._text(c).replace("|", "\\|").replace("\n", " ")

    def html(self) -> str:
        out = ["<table>"]
        if self.caption:
            out.append(f"<caption>{html_of(self.caption)}</caption>")
        out.append("<tr>" + "".join(f"<th>{html_of(h)}</th>" for h in self.headers)
                   + "</tr>")
        for row in self.rows:
            cells = []
            for c in row:
                if isinstance(c, Num):
                    attrs = ""
                    if c.key:
                        attrs = (f' data-key="{html.escape(json.dumps(list(c.key)))}"'
                                 f' data-value="{html.escape(json.dumps(plain(c.value)))}"')
                    cells.append(f'<td class="num"{attrs}>{html.escape(self._text(c))}</td>')
                else:
                    cells.append(f"<td>{html_of(c)}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
        return "\n".join(out)

    def markdown(self) -> str:
        lines = []
        if self.caption:
            lines.append(f"*{self._md(self.caption)}*\n")
        lines.append("| " + " | ".join(self._md(h) for h in self.headers) + " |")
        lines.append("|" + "---|" * len(self.headers))
        for row in self.rows:
            lines.append("| " + " | ".join(self._md(c) for c in row) + " |")
        return "\n".join(lines)


@dataclass
class Section:
    title: str
    blocks: list  # str or Rich (paragraph), Table, ("img", uri, alt), ("pre", text),
    #                ("list", items), ("h3", text), ("decisions", [Decision, ...])
    anchor: str = ""


# ------------------------------------------------------------------ content
def _unit(series: str) -> str:
    return SERIES_UNITS.get(series, "")


def _sources_section(inp: ReportInputs) -> Section:
    spec, obs = inp.spec, inp.observed
    start, end = spec.window
    roles = [(t.series, f"target ({t.role})", t.variable) for t in spec.targets]
    roles += [(c.series, "cross-check only (not fitted)", " + ".join(c.variables))
              for c in spec.cross_checks]
    roles += [(s, "exogenous input (embedded in the model)", "") for s in spec.exogenous]
    rows, used = [], set()
    for series, role, var in roles:
        s = obs.series(series)
        s = s[(s.index >= start) & (s.index <= end)]
        rows_ = [r for r in obs.rows if r.series == series and start <= r.year <= end]
        ids = sorted({r.source_id for r in rows_})
        used |= set(ids)
        status = ", ".join(sorted({r.status for r in rows_}))
        years = f"{s.index.min()}–{s.index.max()} ({len(s)})" if len(s) else "none"
        rows.append([series_name(series), series, role, var, _unit(series), years, status,
                     ", ".join(ids)])
    t1 = Table(["series", "id (observed.csv)", "use", "model variable", "unit",
                "years in window (n)", "status", "source ids"], rows)
    srows = []
    for src in obs.sources:
        if src.source_id in used:
            srows.append([src.source_id, src.publisher, src.title, src.url, src.note])
    t2 = Table(["source id", "publisher", "title", "url", "note"], srows,
               "Sources (model/data/sources.csv)")
    text = (f"Calibration window {start}–{end}. Primary targets are the UNCTAD digitally "
            "deliverable services trade flows (one consistent vintage); secondary targets are "
            "the stock proxies. MOFCOM totals are a different vintage and definition: they are "
            "a cross-check only and are never mixed into the fitted series (the specification "
            "refuses them as targets). Data hash: "
            f"{inp.observed.data_hash}.")
    return Section("Data used", [text, t1, t2], "data")


def _setup_section(inp: ReportInputs) -> Section:
    spec, doc = inp.spec, inp.doc
    fit = doc["fit"]
    err = ("ln(model) − ln(observed)" if spec.error_model == "log"
           else "(model − observed)/observed")
    text = (f"Bounded nonlinear least squares (scipy.optimize.least_squares, trust-region "
            f"reflective) on the weighted residuals √w·e with e = {err}, over "
            f"{fit['n_observations']} observations and {fit['n_parameters']} free parameters. "
            f"{doc['settings']['starts']} start points (the model's own values plus a seeded "
            f"Latin hypercube) were screened in one ensemble run; the best "
            f"{doc['settings']['polish']} were polished. Integration: {spec.method}, "
            f"time step {inp.model.controls.time_step}. Seed {spec.seed}.")
    rows = [[series_name(t.series), t.variable, t.role, Num(t.weight), Num(t.scale)]
            for t in spec.targets]
    t1 = Table(["series", "model variable", "role", "weight", "scale (obs ≈ scale × model)"],
               rows, "Targets")
    frows = [[n, Num(f["value"], ("fixed", n, "value")), f["source"]]
             for n, f in doc["fixed"].items()]
    t2 = Table(["fixed parameter", "value (model)", "source"], frows,
               "Fixed parameters (not estimated)")
    return Section("Calibration set-up", [text, t1, t2], "setup")


def _series_label(inp: ReportInputs, series: str) -> str:
    """Return a chart title: the series as people name it (the model variable is in 'Data used')."""
    return series_name(series)


def _window(inp: ReportInputs, comp: Computed) -> np.ndarray:
    return comp.times <= inp.spec.window[1] + 1e-9


def _fit_section(inp: ReportInputs, comp: Computed) -> Section:
    doc, spec = inp.doc, inp.spec
    w = _window(inp, comp)
    panels = []
    for t in spec.targets:
        f = doc["fitted"][t.series]
        band = comp.band.get(t.variable)
        panels.append({"title": _series_label(inp, t.series), "unit": _unit(t.series),
                       "years": f["years"], "observed": f["observed"],
                       "times": comp.times[w], "simulated": comp.central[t.variable][w] * t.scale,
                       "band": None if band is None else band[[0, 2]][:, w] * t.scale,
                       "trend": f["trend"]})
    blocks = [("img", figs.data_uri(figs.fit_chart(panels)), "fit to the targets")]
    if comp.n_band:
        blocks.append(f"Bands: 5–95% of {comp.n_band} runs at the bootstrap parameter "
                      "sets (one ensemble run); inside the window the inputs are observed, so "
                      "the band is parameter uncertainty only.")
    hdr = ["series", "role", "n", "R²", "MAPE %", "RMSE", "Theil U",
           *(theil(k) for k in THEIL_PARTS), "Durbin-Watson", "r(1)", "r(2)", "r(3)"]
    rows = []
    for series, st in doc["statistics"].items():
        for who, s, base in (("model", st, ("statistics", series)),
                             ("log-linear trend", st["trend"], ("statistics", series, "trend"))):
            row = [series_name(series) if who == "model" else "  " + who,
                   st["role"] if who == "model"
                   else "benchmark", Num(s["n"], base + ("n",))]
            for k in ("r2", "mape_pct", "rmse", "theil_u", "theil_um", "theil_us", "theil_uc",
                      "durbin_watson"):
                row.append(Num(s[k], base + (k,)))
            for i in range(3):
                row.append(Num(s["autocorrelation"][i], base + ("autocorrelation", i), 3))
            rows.append(row)
    m, s_, c_ = (theil(k) for k in THEIL_PARTS)
    blocks.append(Table(hdr, rows, rich(
        "Fit statistics over the window (Sterman 1984). R² = 1 − SSE/SST; Theil's inequality "
        "proportions ", m, " (bias) + ", s_, " (unequal variation) + ", c_,
        " (unequal covariation) = 1; Durbin-Watson and r(k) are of the error model's "
        "residuals.")))
    parts = [[series_name(s), Num(v, ("fit", "payoff_parts", s))]
             for s, v in doc["fit"]["payoff_parts"].items()]
    parts.append(["total payoff", Num(doc["fit"]["payoff"], ("fit", "payoff"))])
    parts.append(["σ² (payoff/(m−k))", Num(doc["fit"]["sigma2"], ("fit", "sigma2"))])
    blocks.append(Table(["series", "part of the payoff"], parts, "Payoff by series"))
    return Section("Fit to the targets", blocks, "fit")


def _cross_section(inp: ReportInputs, comp: Computed) -> Section:
    doc = inp.doc
    blocks = []
    for series, c in doc["cross_checks"].items():
        key = "+".join(c["variables"])
        w = _window(inp, comp)
        total = sum(comp.central[v] for v in c["variables"])[w]
        band = comp.band.get(key)
        other = None
        if "mofcom" in series:
            u = inp.observed.series("china_dds_total_unctad")
            u = u[(u.index >= inp.spec.window[0]) & (u.index <= inp.spec.window[1])]
            if len(u):
                other = (u.index.to_numpy(), u.to_numpy())
        fig = figs.cross_check_chart(f"Model exports + imports vs {series_name(series)}",
                                     c["years"], c["observed"], comp.times[w], total,
                                     _unit(series),
                                     band=None if band is None else band[[0, 2]][:, w],
                                     other=other,
                                     other_label=f"{series_name('china_dds_total_unctad')} "
                                                 "(the fitted vintage)",
                                     observed_label=f"{series_name(series)} (observed)")
        blocks.append(("img", figs.data_uri(fig), f"cross-check {series_name(series)}"))
        rows = [[y, Num(o, ("cross_checks", series, "observed", i)),
                 Num(s, ("cross_checks", series, "simulated", i)),
                 Num(p, ("cross_checks", series, "percent_difference", i), 3)]
                for i, (y, o, s, p) in enumerate(zip(c["years"], c["observed"], c["simulated"],
                                                     c["percent_difference"], strict=True))]
        rows.append(["mean |difference| %", "", "", Num(c["mape_pct"],
                                                        ("cross_checks", series, "mape_pct"), 3)])
        blocks.append(Table(["year", f"{series_name(series)} (observed)", "model total",
                             "difference %"],
                            rows, c["note"]))
    if not blocks:
        blocks.append("No cross-check series in the specification.")
    else:
        blocks.insert(0, "MOFCOM publishes digitally deliverable trade under its own "
                         "definition and vintage; the levels differ from UNCTAD's by design. "
                         "The comparison shows whether the calibrated model's total moves like "
                         "the independent series; it is not fitted.")
    return Section("Cross-check against MOFCOM totals", blocks, "crosscheck")


def _param_section(inp: ReportInputs) -> Section:
    doc = inp.doc
    rows = []
    for n, p in doc["parameters"].items():
        key = ("parameters", n)
        olo, ohi = p["interval_open"]
        prior = p["prior"]
        ptxt = "none (bounds only)" if prior is None else (
            f"{prior['distribution']} 95% [{fmt(prior['interval_95'][0])}, "
            f"{fmt(prior['interval_95'][1])}] ({prior['source']})")
        rows.append([n, Num(p["estimate"], key + ("estimate",), 5),
                     Num(p["interval"][0], key + ("interval", 0)),
                     Num(p["interval"][1], key + ("interval", 1)),
                     ("open below" if olo else "") + (" open above" if ohi else "") or "closed",
                     Num(p["interval_bootstrap"][0], key + ("interval_bootstrap", 0)),
                     Num(p["interval_bootstrap"][1], key + ("interval_bootstrap", 1)),
                     Num(p["standard_error"], key + ("standard_error",), 3),
                     f"[{fmt(p['bounds'][0])}, {fmt(p['bounds'][1])}]", ptxt, p["flag"],
                     p["source"]])
    t = Table(["parameter", "estimate", "profile 95% low", "profile 95% high", "profile sides",
               "bootstrap 95% low", "bootstrap 95% high", "std. error (Jacobian)", "bounds",
               "prior", "flag", "source"], rows,
              "Free parameters: estimate and two 95% intervals")
    ev = ("list", [f"{n}: {p['flag']} — {p['evidence']}" for n, p in doc["parameters"].items()])
    profs = []
    for n, p in doc["parameters"].items():
        pr = doc["profiles"][n]
        profs.append({"name": n, "theta": pr["theta"], "delta": pr["delta_chi2"],
                      "interval_bootstrap": p["interval_bootstrap"], "estimate": p["estimate"],
                      "flag": p["flag"], "log": p.get("scale") == "log"})
    text = (f"Profile likelihood: for each parameter on a grid, the payoff minimised over the "
            f"others; Δχ² = (S_profile − S_min)/σ²; the 95% interval is where Δχ² ≤ {CHI2_95} "
            f"(σ² = {fmt(doc['fit']['sigma2'])} from the residuals). Residual bootstrap: "
            f"{doc['bootstrap']['converged']} of {doc['bootstrap']['replicates']} replicates "
            "converged (errors resampled within each series, refitted from the estimate); "
            "2.5–97.5 percentiles. Flags: identified = profile closed on both sides within the "
            "bounds and narrow; weakly identified = open on one side or wide; not identified = "
            "flat profile. Priors are the literature's and are not in the payoff: compare.")
    c = doc["correlation"]
    crow = [[a] + [Num(c["matrix"][i][j], ("correlation", "matrix", i, j), 3)
                   for j in range(len(c["parameters"]))] for i, a in enumerate(c["parameters"])]
    ct = Table(["correlation"] + c["parameters"], crow,
               f"Correlation of the estimates (σ²(JᵀJ)⁺ at the optimum; Jacobian rank "
               f"{doc['fit']['jacobian_rank']} of {doc['fit']['n_parameters']})")
    return Section("Parameters", [text, t, ev,
                                  ("img", figs.data_uri(figs.profile_chart(profs, CHI2_95)),
                                   "profile likelihoods"), ct,
                                  ("img", figs.data_uri(figs.correlation_chart(
                                      c["parameters"], c["matrix"])), "correlation matrix")],
                   "parameters")


def _projection_section(inp: ReportInputs, comp: Computed) -> Section:
    doc, spec = inp.doc, inp.spec
    primary = [t for t in spec.targets if t.role == "primary"]
    panels, rows = [], []
    years = [y for y in spec.sensitivity.years if y <= comp.times[-1] + 1e-9]
    for t in primary:
        f = doc["fitted"][t.series]
        band = comp.band.get(t.variable)
        panels.append({"title": f"{series_name(t.series)}: calibrated run to "
                                f"{fmt(comp.times[-1])}",
                       "unit": _unit(t.series), "years": f["years"], "observed": f["observed"],
                       "times": comp.times, "simulated": comp.central[t.variable] * t.scale,
                       "default": comp.default[t.variable] * t.scale,
                       "band": None if band is None else band[[0, 2]] * t.scale,
                       "median": None if band is None else band[1] * t.scale})
        for y in years:
            k = int(np.argmin(np.abs(comp.times - y)))
            row = [series_name(t.series), fmt(y), Num(comp.central[t.variable][k] * t.scale)]
            row += ([Num(band[q][k] * t.scale) for q in range(3)] if band is not None
                    else ["–"] * 3)
            row.append(Num(comp.default[t.variable][k] * t.scale))
            rows.append(row)
    text = ("The same calibrated model run past the window with the baseline assumptions "
            "(levers at 1) and its 90% band, the band whose coverage the ex-ante forecasts "
            "measure: the bootstrap parameter sets, world demand and the digital economy as "
            "random walks with the drift and year-to-year spread of their projection rule, "
            "and the AR(1) model error estimated from the in-window residuals. 'calibrated' "
            "is the point run (estimates, the rules' growth); the band median is the "
            "ensemble's.")
    t = Table(["variable", "year", "calibrated (point run)", "band 5%", "band median",
               "band 95%", "model defaults"], rows,
              "Baseline projection (not a forecast target)")
    last = float(spec.window[1])
    return Section("Projection and its 90% band",
                   [text, ("img", figs.data_uri(figs.projection_chart(panels, last)),
                           "projection"), t], "projection")


def _targets_section(inp: ReportInputs) -> Section:
    doc = inp.doc
    rows = []
    for i, c in enumerate(doc["targets"]["criteria"]):
        key = ("targets", "criteria", i)
        rows.append([symbols(c["criterion"]), series_name(c["series"]),
                     Num(c["value"], key + ("value",)),
                     Num(c["benchmark"], key + ("benchmark",)),
                     "met" if c["met"] else "NOT MET"])
    n_ok = sum(c["met"] for c in doc["targets"]["criteria"])
    n = len(doc["targets"]["criteria"])
    head = (f"{n_ok} of {n} criteria met." + (" All targets are met." if doc["targets"]["all_met"]
                                               else " The targets not met are listed as such: "
                                               "the calibration does not hide them."))
    blocks = [head, Table(["criterion", "series", "value", "benchmark / limit", "result"], rows)]
    notes = notes_blocks(inp.spec.notes)
    if notes:
        blocks.append(("h3", "Calibrator's decisions and their evidence"))
        blocks += notes
    return Section("Targets the calibration is held to", blocks, "targets")


def _sensitivity_section(inp: ReportInputs, comp: Computed) -> Section:
    s = comp.sensitivity
    if s is None:
        return Section("Global sensitivity", [f"Not computed: {comp.sensitivity_error}"],
                       "sensitivity")
    names = [f.name for f in s.factors]
    fig = figs.sensitivity_chart(names, s.years, s.first, s.total, s.method, s.output)
    what = ("Sobol indices (Saltelli sampling, SALib), first-order S1 and total ST with 95% "
            "bootstrap confidence" if s.method == "sobol" else
            "Morris elementary effects (SALib; Sobol would have exceeded the time budget): "
            "μ* and σ divided by the mean output")
    text = (f"{what}, of {s.output} in {', '.join(fmt(y) for y in s.years)}; "
            f"{s.n_runs} runs in one vectorised ensemble"
            + (f" ({s.failed} non-finite runs replaced by the median)" if s.failed else "")
            + ". Free parameters vary over their bounds, levers over the ranges below; the "
              "other constants stay at the model's values.")
    rows = []
    for j, f in enumerate(s.factors):
        rng = f"[{fmt(f.low)}, {fmt(f.high)}]" + (" log" if f.log else "")
        row = [f.name, f.kind, rng]
        for i in range(len(s.years)):
            row += [Num(s.first[i, j], (), 3), Num(s.total[i, j], (), 3)]
        rows.append(row)
    l1, l2 = ("S1", "ST") if s.method == "sobol" else ("μ*", "σ")
    hdr = ["factor", "kind", "range"] + [f"{lab} {fmt(y)}" for y in s.years for lab in (l1, l2)]
    return Section("Global sensitivity", [text, ("img", figs.data_uri(fig), "sensitivity"),
                                          Table(hdr, rows)], "sensitivity")


def _validity_section(inp: ReportInputs, comp: Computed) -> Section:
    blocks = []
    u = comp.units
    if not u.available:
        blocks.append(f"Dimensional consistency: not checked ({u.error}).")
    elif u.error:
        blocks.append(f"Dimensional consistency: the checker failed ({u.error}).")
    elif not u.issues:
        blocks.append("Dimensional consistency (sim.engine.reading.units.check_units): PASSED — every "
                      "equation's inferred unit equals its declared unit.")
    else:
        blocks.append(f"Dimensional consistency (sim.engine.reading.units.check_units): FAILED — "
                      f"{len(u.issues)} issue(s):")
        blocks.append(("list", u.issues))
    rows = []
    for ex in comp.extremes:
        for c in ex.checks:
            settings = ", ".join(f"{k} = {fmt(v)}" for k, v in ex.settings.items())
            rows.append([ex.name, settings, c.variable, c.check, c.detail,
                         "pass" if c.passed else "FAIL"])
    if rows:
        blocks.append(Table(["case", "settings", "variable", "expectation", "outcome",
                             "result"], rows, "Extreme conditions (from the calibrated "
                                               "estimates, run to the model's final time)"))
        blocks.append(("list", [f"{ex.name}: {ex.description}" for ex in comp.extremes]))
    else:
        blocks.append("Extreme conditions: no cases in the specification.")
    ig = comp.integration
    irows = [[v, Num(c, (), 3), "pass" if c <= ig.tolerance else "FAIL"]
             for v, c in ig.max_relative_change.items()]
    for label, d in ig.alternative.items():
        for v, c in d.items():
            irows.append([f"{v} ({label})", Num(c, (), 3), "information"])
    blocks.append(Table(["variable", "max relative change", "result"], irows,
                        f"Integration error: {ig.method}, time step {fmt(ig.step)} vs "
                        f"{fmt(ig.half_step)} (tolerance {fmt(ig.tolerance)}), yearly values to "
                        f"the final time"))
    return Section("Validity tests", blocks, "validity")


def _repro_section(inp: ReportInputs, comp: Computed, report_cmd: str) -> Section:
    doc = inp.doc
    prov = doc["provenance"]
    cmds = f"{prov['command']}\n{report_cmd}"
    rows = [["model", prov["model"]["path"], prov["model"]["hash"]],
            ["data", prov["data"]["path"], prov["data"]["hash"]],
            ["specification", prov["spec"]["path"], prov["spec"]["hash"]]]
    t = Table(["file", "path (from calibrated.yaml)", "sha256"], rows)
    v = Table(["package", "version"], [[k, x] for k, x in prov["versions"].items()])
    opt = doc["fit"]["optimizer"]
    st = doc["fit"]["starts"]
    text = (f"Seed {prov['seed']}. Optimiser: {opt['message']}; {st['same_optimum']} of "
            f"{st['polished']} polished starts reached the best payoff. Rerunning the commands "
            "with the same package versions rewrites calibrated.yaml and this report byte for "
            "byte: neither holds a date or a timing (sim report prints how long it took).")
    return Section("Reproducibility", [("pre", cmds), text, t, v], "repro")


def _summary(inp: ReportInputs) -> list:
    doc = inp.doc
    items = []
    for series, st in doc["statistics"].items():
        if st["role"] == "primary":
            parts = [p for k in THEIL_PARTS for p in (", " * (k != "theil_um"), theil(k),
                                                      f" {fmt(st[k], 2)}")]
            items.append(rich(f"{series_name(series)}: MAPE {fmt(st['mape_pct'], 3)}% "
                              f"(log-linear trend {fmt(st['trend']['mape_pct'], 3)}%), R² "
                              f"{fmt(st['r2'], 3)}, Theil U {fmt(st['theil_u'], 3)} (",
                              *parts, ")"))
    flags = {}
    for n, p in doc["parameters"].items():
        flags.setdefault(p["flag"], []).append(n)
    for flag in ("identified", "weakly identified", "not identified"):
        if flag in flags:
            items.append(f"{flag}: {', '.join(flags[flag])}")
    n_ok = sum(c["met"] for c in doc["targets"]["criteria"])
    items.append(f"targets met: {n_ok} of {len(doc['targets']['criteria'])}")
    return items


def sections(inp: ReportInputs, comp: Computed, report_cmd: str) -> list[Section]:
    """All sections of the report, in reading order."""
    from sim.reporting import analyses_section as an
    from sim.reporting import forecast_section as fs
    extra = []
    if comp.analyses is not None:
        extra = [an.loops_section(comp.analyses, Section, Table, Num),
                 an.checks_section(comp.analyses, Section, Table, inp.model_path.name)]
        opt = an.optimize_section(comp.analyses, Section, Table, Num)
        if opt is not None:
            extra.append(opt)
    return [_targets_section(inp), _sources_section(inp), _setup_section(inp),
            _fit_section(inp, comp), _cross_section(inp, comp), _param_section(inp),
            _projection_section(inp, comp), fs.exante_section(inp), fs.variants_section(inp),
            fs.share_section(inp, comp), _sensitivity_section(inp, comp),
            _validity_section(inp, comp), *extra, _repro_section(inp, comp, report_cmd)]


# ------------------------------------------------------------------- render
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.82em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}
img{max-width:100%;display:block;margin:.5em 0}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:.5em 1em}
.summary{background:#eef4fb;border:1px solid #b7cde6;padding:.5em 1em}
ul.decisions li{margin-bottom:.5em}.evidence{color:#444;font-size:.95em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
nav a{margin-right:1em}
"""


def _block_html(b) -> str:
    if isinstance(b, Table):
        return b.html()
    if isinstance(b, (str, Rich)):
        return f"<p>{html_of(b)}</p>"
    kind = b[0]
    if kind == "img":
        return f'<img src="{b[1]}" alt="{html.escape(b[2])}">'
    if kind == "pre":
        return f"<pre>{html.escape(b[1])}</pre>"
    if kind == "h3":
        return f"<h3>{html.escape(b[1])}</h3>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{html_of(i)}</li>" for i in b[1]) + "</ul>"
    if kind == "decisions":
        return decisions_html(b[1])
    raise ValueError(f"unknown block {kind!r}")


def _block_md(b) -> str:
    if isinstance(b, Table):
        return b.markdown()
    if isinstance(b, (str, Rich)):
        return markdown_of(b)
    kind = b[0]
    if kind == "img":
        return f"![{b[2]}]({b[1]})"
    if kind == "pre":
        return "```\n" + b[1] + "\n```"
    if kind == "h3":
        return f"### {b[1]}"
    if kind == "list":
        return "\n".join(f"- {markdown_of(i)}" for i in b[1])
    if kind == "decisions":
        return decisions_markdown(b[1])
    raise ValueError(f"unknown block {kind!r}")


def machine_readable(doc: dict) -> str:
    """Return the report's JSON block: the calibrated document's sections, verbatim."""
    data = {k: doc[k] for k in JSON_SECTIONS if k in doc}
    text = json.dumps(plain(data), ensure_ascii=False, allow_nan=True)
    return text.replace("</", "<\\/")


def render_html(inp: ReportInputs, secs: list[Section]) -> str:
    doc = inp.doc
    title = "Calibration report: " + Path(doc["provenance"]["model"]["path"]).name
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(doc['description'])}</p>"]
    for w in inp.warnings:
        out.append(f'<p class="warn">{html.escape(w)}</p>')
    out.append('<div class="summary"><strong>Summary</strong><ul>' + "".join(
        f"<li>{html_of(i)}</li>" for i in _summary(inp)) + "</ul></div>")
    out.append("<nav>" + "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>'
                                 for s in secs) + "</nav>")
    for s in secs:
        out.append(f'<h2 id="{s.anchor}">{html.escape(s.title)}</h2>')
        out += [_block_html(b) for b in s.blocks]
    out.append('<script type="application/json" id="calibration-data">'
               + machine_readable(doc) + "</script>")
    out.append("</body></html>")
    return "\n".join(out)


def render_markdown(inp: ReportInputs, secs: list[Section]) -> str:
    doc = inp.doc
    lines = ["# Calibration report: " + Path(doc["provenance"]["model"]["path"]).name, "",
             doc["description"], ""]
    lines += [f"> **Warning:** {w}\n" for w in inp.warnings]
    lines += ["**Summary**", ""] + [f"- {markdown_of(i)}" for i in _summary(inp)] + [""]
    for s in secs:
        lines += [f"## {s.title}", ""]
        for b in s.blocks:
            lines += [_block_md(b), ""]
    return "\n".join(lines)


def build_report(calibrated: str | Path, out: str | Path, markdown: bool = False,
                 sobol_samples: int | None = None) -> list[Path]:
    """Build the report from ``calibrated`` and write it (atomically) to ``out``.

    Parameters
    ----------
    calibrated : path-like
        ``calibrated.yaml``.
    out : path-like
        HTML file to write.
    markdown : bool
        Also write the Markdown version beside it (same name, ``.md``).
    sobol_samples : int, optional
        Override the Sobol base sample (tests).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    inp = load_inputs(calibrated)
    comp = compute(inp, sobol_samples)
    cmd = (f"sim report --calibrated {display_path(calibrated)} --out {display_path(out)}"
           + (" --markdown" if markdown else ""))
    with figure_fonts():  # names in Chinese draw with a CJK font
        secs = sections(inp, comp, cmd)
    written = [atomic_write_text(out, render_html(inp, secs))]
    if markdown:
        written.append(atomic_write_text(out.with_suffix(".md"), render_markdown(inp, secs)))
    return written
