"""What-if app for the digitally deliverable services trade model.

Run ``sim app`` or ``streamlit run app.py``. A thin shell: layout and widgets
here; conversions and runs in :mod:`sim.app.state` (through
:mod:`sim.scenarios`, as ``sim run``), files in :mod:`sim.app.resources`,
figures in :mod:`sim.app.charts` and :mod:`sim.app.diagram`, strings in
:mod:`sim.app.i18n`. ``DDS_MODEL``, ``DDS_CALIBRATED`` and ``DDS_SCENARIOS``
redirect the files read. Every run goes to a worker process within the app's
time and memory budget (:mod:`sim.app.budget`: ``DDS_APP_TIME_BUDGET``,
``DDS_APP_MEMORY_BUDGET``); one over it is stopped with a message, and the
other sessions go on.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import streamlit as st

import sim
from sim.app import budget as B
from sim.app import charts as C
from sim.app import diagram as D
from sim.app import resources as R
from sim.app import state as S
from sim.app import view as V
from sim.app import worker as W
from sim.app.i18n import LANG_NAMES, LANGS, t, unit_label, var_label
from sim.data.observed import SERIES_UNITS
from sim.reporting.labels import series_name
from sim.scenarios import load_calibrated

st.set_page_config(page_title="DDS what-if", layout="wide")
try:
    paths = R.AppPaths.from_env()
except sim.SimError as exc:  # no project folder: say so instead of a traceback
    st.error(str(exc))
    st.stop()


def _mtime(path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


# ------------------------------------------------------------------ caches
@st.cache_resource(show_spinner=False, max_entries=4)
def get_model(path: str, mtime: int | None) -> sim.Model:
    return sim.load_model(path)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_checks(path: str, mtime: int | None, checks_mtime: int | None):
    """``sim check``'s outcomes for the model (and its NAME.checks.yaml beside it)."""
    from sim.checks.run import run_checks
    return run_checks(path)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_calibrated(path: str, mtime: int | None):
    """(Calibrated or None, error message or None)."""
    try:
        return load_calibrated(path), None
    except (sim.SimError, OSError, UnicodeDecodeError) as exc:
        return None, str(exc)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_calibration_view(path: str, mtime: int | None):
    try:
        return R.load_calibration_view(path), None
    except FileNotFoundError:
        return None, None
    except (sim.SimError, OSError, UnicodeDecodeError, ImportError) as exc:
        return None, str(exc)


@st.cache_resource(show_spinner=False)
def get_observed():
    """(series name -> pandas.Series, error message or None)."""
    from sim.data.observed import load_observed
    try:
        data = load_observed()
        return {s: data.series(s) for s, _ in S.OBSERVED_FOR.values()}, None
    except (sim.SimError, OSError, KeyError) as exc:
        return {}, str(exc)


@st.cache_resource(show_spinner=False, max_entries=8)
def get_choices(directory: str, stamp: tuple):
    return R.scenario_choices(directory)


@st.cache_resource(show_spinner=False)
def runner() -> B.Runner:
    """Return the worker processes every run goes to, shared by the sessions."""
    return B.Runner()


@st.cache_resource(show_spinner=False)
def stopped_runs() -> S.LRU:
    """Return the runs stopped over the budget, by request: said again at once, not run again."""
    return S.LRU(64)


def _files(model_key: tuple, calib_key: tuple | None) -> dict:
    return {"model": model_key[0], "calibrated": None if calib_key is None else calib_key[0]}


@st.cache_resource(show_spinner=False, max_entries=256)
def _point(model_key: tuple, calib_key: tuple | None, scenario_text: str, seconds: float,
           memory: int):
    ans = runner().run({"op": "point", **_files(model_key, calib_key), "scenario": scenario_text},
                       B.Budget(seconds, memory), "the point run")
    return W.result_from_parts(ans["result"]), tuple(ans["notes"])


def run_point(model_key: tuple, calib_key: tuple | None, scenario_text: str, budget: B.Budget):
    """One run of the scenario (members = 1), in a worker within ``budget``: (result, notes)."""
    key = (model_key, calib_key, scenario_text, budget)
    stopped = stopped_runs().get(key)
    if stopped is not None:
        raise stopped
    try:
        return _point(model_key, calib_key, scenario_text, budget.seconds, budget.memory)
    except B.BudgetExceeded as exc:
        stopped_runs().put(key, exc)
        raise


def run_band(model_key: tuple, calib_key: tuple | None, scenario_text: str, outputs: tuple,
             base_text: str | None, budget: B.Budget):
    """Return the scenario's ensemble, run in a worker within ``budget``.

    The result: {output: (lo, hi)}, members run, members failed, and
    {output: (lo, hi)} of its difference from the baseline's ensemble.

    The difference is member by member (``base_text``: the baseline with the same
    parameter draws, kept by the worker); empty when there is no such baseline or
    the draws differ. An ensemble whose estimated memory does not fit is refused
    before it runs.
    """
    scenario = S.scenario_from_text(scenario_text)
    model_ = get_model(*model_key)

    def check(resident: int) -> None:
        B.check_ensemble(scenario, model_, outputs, budget, resident)

    ans = runner().run({"op": "band", **_files(model_key, calib_key), "scenario": scenario_text,
                        "outputs": list(outputs), "base": base_text}, budget, "the band",
                       check=check)
    return ans["bands"], ans["members"], ans["failed"], ans["diffs"]


@st.cache_resource(show_spinner=False)
def band_pool() -> ThreadPoolExecutor:
    """Threads that wait for the bands while the script runs the point runs and the numbers."""
    return ThreadPoolExecutor(max_workers=runner().max_workers, thread_name_prefix="dds-band")


@st.cache_resource(show_spinner=False)
def band_store() -> S.LRU:
    """Bands computed so far, by (model, calibration, scenario, outputs): drawn at once when known."""
    return S.LRU(64)


# ---------------------------------------------------------------- language
TAB_KEYS = ("tab_trade", "tab_stocks", "tab_structure", "tab_calibration", "tab_table",
            "tab_loops", "tab_sensitivity")
SENSITIVITY_SAMPLES = 64
"""Sobol base sample of the app's sensitivity analysis (N x (factors + 2) runs)."""


def on_language() -> None:
    """Keep the open tab open: its label changes with the language."""
    open_tab = st.session_state.get("view")
    for old in LANGS:
        labels = [t(k, old) for k in TAB_KEYS]
        if open_tab in labels:
            st.session_state["view"] = t(TAB_KEYS[labels.index(open_tab)],
                                         st.session_state["lang"])
            return


st.session_state.setdefault("lang", "zh")
st.sidebar.radio(t("language", st.session_state["lang"]), LANGS, key="lang",
                 format_func=LANG_NAMES.get, horizontal=True, on_change=on_language)
lang = st.session_state["lang"]

# ------------------------------------------------------------------- model
model_key = (str(paths.model), _mtime(paths.model))
if model_key[1] is None:
    st.title(t("title", lang))
    st.error(t("model_missing", lang, path=paths.display(paths.model)))
    st.stop()
try:
    model = get_model(*model_key)
except (sim.SimError, OSError) as exc:
    st.title(t("title", lang))
    st.error(t("model_bad", lang, msg=str(exc)))
    st.stop()

specs, missing = S.lever_specs(model)
baseline = S.baseline_settings(specs)
for key, value in S.widget_values(baseline, specs).items():
    st.session_state.setdefault(key, value)
st.session_state.setdefault("extras", S.Extras())
st.session_state.setdefault("sc_name", "what-if")
st.session_state.setdefault("sc_desc", "")

calib_key = (str(paths.calibrated), _mtime(paths.calibrated))
calibrated, calib_err = get_calibrated(*calib_key)
st.session_state.setdefault("band", calibrated is not None)
band_on = bool(st.session_state["band"]) and calibrated is not None
# the band is the calibrated forecast band (bands: calibrated) when calibrated.yaml has one
cal_band = calibrated is not None and bool(calibrated.bands)


# --------------------------------------------------------------- callbacks
def flash(kind: str, text: str) -> None:
    st.session_state.setdefault("_flash", []).append((kind, text))


def apply_loaded(loaded: S.LoadedScenario, ok_key: str) -> None:
    for key, value in S.widget_values(loaded.settings, specs).items():
        st.session_state[key] = value
    st.session_state["extras"] = loaded.extras
    st.session_state["sc_name"] = loaded.name
    st.session_state["sc_desc"] = loaded.description
    flash("success", t(ok_key, lang, name=loaded.name))
    for note in loaded.notes:
        flash("info", note)


def on_reset() -> None:
    for key, value in S.widget_values(baseline, specs).items():
        st.session_state[key] = value
    st.session_state["scenario"] = ""
    st.session_state["extras"] = S.Extras()
    st.session_state["sc_name"] = "what-if"
    st.session_state["sc_desc"] = ""


def on_scenario() -> None:
    choice = st.session_state.get("scenario", "")
    if not choice:
        return
    try:
        scenario = R.load_choice(paths.scenarios, choice)
        S.check_with_model(scenario, model, calibrated)
        loaded = S.from_scenario(scenario, specs)
    except (sim.SimError, OSError) as exc:
        flash("error", t("scenario_bad", lang, msg=str(exc)))
        return
    apply_loaded(loaded, "scenario_loaded")


def on_upload() -> None:
    up = st.session_state.get("upload")
    if up is None:
        return
    try:
        loaded = S.parse_upload(up.getvalue(), up.name, specs, model=model,
                                calibrated=calibrated)
    except sim.SimError as exc:
        flash("error", t("upload_bad", lang, msg=str(exc)))
        return
    apply_loaded(loaded[0], "upload_ok")
    if len(loaded) > 1:
        flash("info", t("upload_several", lang, n=len(loaded), name=loaded[0].name))


# ----------------------------------------------------------------- sidebar
# Drawn after the main area: the widgets' values are in the session state from the
# start of a run, and sending the numbers and charts first makes the page answer a
# slider move sooner (the browser applies the updates in order).
def render_controls() -> None:
    """Sidebar controls that change more than the levers (a full rerun): scenario, reset, band, upload."""
    sb = st.sidebar
    scenario_dir = paths.scenarios
    stamp = tuple((p.name, _mtime(p)) for p in R.list_scenario_files(scenario_dir))
    choices, choice_errors = get_choices(str(scenario_dir), stamp)
    keys = [""] + [c.key for c in choices]
    labels = {c.key: (c.name if c.name == c.file.rsplit(".", 1)[0] else f"{c.name} ({c.file})")
              for c in choices}
    if st.session_state.get("scenario") not in keys:
        st.session_state["scenario"] = ""
    sb.selectbox(t("scenario", lang), keys, key="scenario", on_change=on_scenario,
                 format_func=lambda k: labels.get(k, "—"), help=t("scenario_help", lang))
    if not choices:
        sb.caption(t("scenario_dir_empty", lang))
    for err in choice_errors:
        sb.error(t("scenario_bad", lang, msg=err))
    sb.button(t("reset", lang), key="reset", on_click=on_reset, width="stretch")
    sb.toggle(t("band_toggle", lang), key="band", disabled=calibrated is None)
    sb.file_uploader(t("upload", lang), type=["yaml", "yml"], key="upload", on_change=on_upload)


def render_levers() -> None:
    """Draw the lever sliders (inside the live fragment: moving one reruns only the fragment)."""
    sb = st.sidebar
    sb.subheader(t("levers", lang))
    for spec in specs:
        v, s = spec.value, spec.start
        unit = unit_label(v.units, lang) if spec.lever.shock else t("times_baseline", lang)
        sb.slider(t("lever_value", lang, name=var_label(v.name, lang), unit=unit),
                  min_value=v.min, max_value=v.max, step=v.step, key=v.key, help=v.name)
        when = t("shock_year" if spec.lever.shock else "lever_start", lang)
        sb.slider(f"↳ {var_label(v.name, lang)} · {when}", min_value=int(s.min),
                  max_value=int(s.max), step=1, key=s.key, help=s.name)
    if missing:
        sb.warning(t("lever_missing", lang, names=", ".join(missing)))


# -------------------------------------------------------------- main area
st.title(t("title", lang))
ctl = model.controls
st.caption(t("subtitle", lang, start=int(ctl.initial_time), end=int(ctl.final_time)))
for kind, text in st.session_state.pop("_flash", []):
    getattr(st, kind)(text)
if calibrated is None and calib_err is None:
    st.warning(t("calibrated_missing", lang, path=paths.display(paths.calibrated)))
elif calib_err is not None:
    st.error(t("calibrated_bad", lang, path=paths.display(paths.calibrated), msg=calib_err))

render_controls()


@st.fragment
def live() -> None:
    """Everything a lever move changes: the runs, numbers, charts, levers and downloads.

    A fragment: moving a lever reruns only this function, so the browser redraws
    only what it wrote (measured: the full page's re-render was most of a redraw).
    """
    started = time.perf_counter()
    band = band_on
    extras: S.Extras = st.session_state["extras"]
    used_calib = calib_key if calibrated is not None else None
    try:
        budget = B.Budget.from_env()
    except ValueError as exc:
        st.error(t("budget_bad", lang, msg=str(exc)))
        budget = B.Budget()
    try:
        settings = S.settings_from_widgets(st.session_state, specs)
        runs = V.plan(settings, specs, model, extras, band=band, calibrated_band=cal_band)
        doc_text, base_text = runs.scenario_text, runs.baseline_text
        trade, stocks = list(runs.trade), list(runs.stocks)
        band_key = (model_key, used_calib, doc_text, runs.outputs)
        band_value = band_store().get(band_key) if band else None
        # the ensemble starts now, in a worker of its own beside the point runs (its baseline
        # has the band's draws: differences member by member)
        band_job = band_pool().submit(run_band, *band_key, runs.band_baseline_text, budget) \
            if band and band_value is None else None
        try:
            # the baseline first: it reads only the model and calibrated.yaml, so its errors are
            # the calibration's, and the scenario's own errors are not blamed on it
            base_run, _ = run_point(model_key, used_calib, base_text, budget)
        except B.BudgetExceeded:
            raise
        except sim.SimError as exc:
            if used_calib is None:
                raise
            # calibrated.yaml that does not fit this model: say so, run on the model's values
            st.error(t("calibrated_bad", lang, path=paths.display(paths.calibrated), msg=str(exc)))
            used_calib, band = None, False
            base_run, _ = run_point(model_key, used_calib, base_text, budget)
        current, notes = run_point(model_key, used_calib, doc_text, budget)
    except B.BudgetExceeded as exc:
        st.error(t("run_stopped", lang, msg=str(exc)))
        render_levers()
        return
    except sim.SimError as exc:
        st.error(t("settings_bad", lang, msg=str(exc)))
        render_levers()
        return
    for note in S.notes_to_show(notes):
        st.info(note)
    if current.failures:
        f = current.failures[0]
        st.error(t("sim_nonfinite", lang, time=f"{f.time:g}", var=f.variable))

    units_of = {n: model.variables[model.py_name(n)].units for n in trade + stocks}
    observed, observed_err = get_observed()
    if observed_err:
        st.warning(t("observed_bad", lang, msg=observed_err))

    final_year = float(current.times[-1])
    cols = st.columns(len(trade) or 1)
    for col, m in zip(cols, V.metrics(current, base_run, trade, units_of, lang), strict=False):
        col.metric(m.label, m.value, m.delta,
                   delta_description=t("delta_vs_baseline", lang) if m.delta else None)
    st.caption(t("metrics_shown", lang, year=int(final_year), method=S.METHOD_LABEL,
                 base=t("base_model" if used_calib is None else "base_calibrated", lang)))

    # Only the open tab is drawn (the others cost nothing on a slider move).
    tabs = st.tabs([t(k, lang) for k in TAB_KEYS], key="view", on_change="rerun")

    span = (float(current.times[0]), float(current.times[-1]))
    marks = C.markers(settings, specs, lang, span)

    def draw_chart(holder, name: str, bands: dict, diffs: dict) -> None:
        view = V.chart(name, current, base_run, observed, bands, diffs, units_of[name], lang,
                       band=band, marks=marks)
        holder.vega_lite_chart(view.frame, view.spec, width="stretch")
        if view.difference_spec is not None:
            holder.vega_lite_chart(view.difference_frame, view.difference_spec, width="stretch")

    # The charts wait for the band (started beside the point run, ~50 ms for 200 members), so
    # each chart is sent once, band included: a second render pass in the browser cost more
    # than the ensemble itself.
    if band_job is not None and band:
        try:
            band_value = band_job.result()
        except sim.SimError as exc:
            band_value = str(exc)
        band_store().put(band_key, band_value)
    shown_bands, diff_bands = V.band_parts(band_value)
    caption = V.band_caption(band_value, S.has_own_ensemble(extras.fields), lang)
    for tab, names in ((tabs[0], trade), (tabs[1], stocks)):
        if not tab.open:
            continue
        with tab:
            grid = st.columns(2)
            for i, name in enumerate(names):
                draw_chart(grid[i % 2], name, shown_bands, diff_bands)
            if caption is not None:  # a band stopped or refused is a warning, not a note
                getattr(st, caption[0])(caption[1])
            if tab is tabs[0]:
                st.caption(t("observed_source", lang, src="UNCTAD"))
            else:
                st.caption(t("observed_proxy", lang, series="rd_personnel_fte → " +
                             var_label("Digital Talent", lang)))

    def structure_tab() -> None:
        show_const = st.toggle(t("diagram_constants", lang), key="diagram_constants", value=False)
        st.graphviz_chart(D.to_dot(model, lang, set(baseline), show_constants=show_const),
                          width="stretch")
        ds = D.stats(model)
        st.caption(t("diagram_caption", lang) + " " + t("diagram_stats", lang, stocks=ds.stocks,
                   flows=ds.flows, aux=ds.auxiliaries, const=ds.constants))
        from sim.checks.expectations import default_path
        try:
            outcomes = get_checks(model_key[0], model_key[1], _mtime(default_path(model_key[0])))
        except sim.SimError as exc:
            st.error(t("checks_bad", lang, msg=str(exc)))
            return
        st.markdown("#### " + t("checks_title", lang, passed=sum(o.passed for o in outcomes),
                                total=len(outcomes)))
        st.dataframe(V.checks_table(outcomes, lang), width="stretch", hide_index=True)

    def calibration_tab() -> None:
        view, view_err = get_calibration_view(*calib_key)
        if view is None:
            if view_err:
                st.error(t("calibrated_bad", lang, path=paths.display(paths.calibrated), msg=view_err))
            else:
                st.info(t("calibrated_missing", lang, path=paths.display(paths.calibrated)))
            return
        st.markdown("#### " + t("calib_fit", lang))
        if view.statistics:
            st.dataframe(C.fit_table(view.statistics, lang), width="stretch", hide_index=True)
            grid = st.columns(2)
            for i, (series, var, frame) in enumerate(C.fit_frames(view, S.OBSERVED_FOR, lang)):
                y_title = None if C.is_share(var) else unit_label(SERIES_UNITS.get(series, ""), lang)
                grid[i % 2].vega_lite_chart(
                    frame, C.line_spec(var, "", frame, lang, height=220, run_label="series_model",
                                       title=series_name(series, lang), y_title=y_title),
                    width="stretch")
        else:
            st.info(t("calib_no_fit", lang))
        st.markdown("#### " + t("calib_params", lang))
        st.dataframe(C.param_table(view.parameters, model, lang), width="stretch", hide_index=True)
        if view.meta:
            with st.expander(t("calib_meta", lang)):
                st.json(view.meta, expanded=False)

    def table_tab() -> None:
        st.caption(t("table_caption", lang))
        st.dataframe(C.results_table(current, trade + stocks, units_of, lang), width="stretch",
                     hide_index=True)

    def loops_tab() -> None:
        try:
            answer = runner().run({"op": "loops", **_files(model_key, used_calib),
                                   "scenario": doc_text}, budget, "the loop analysis")
        except (B.BudgetExceeded, sim.SimError) as exc:
            st.error(t("settings_bad", lang, msg=str(exc)))
            return
        view = V.loops(answer, lang)
        st.markdown("#### " + t("loops_title", lang))
        st.vega_lite_chart(view.frame, view.spec, width="stretch")
        st.caption(t("loops_caption", lang, top=V.LOOPS_DRAWN))
        st.dataframe(view.table, width="stretch", hide_index=True)

    def sensitivity_tab() -> None:
        from sim.sensitivity.factors import declared_factors
        n_runs = SENSITIVITY_SAMPLES * (len(declared_factors(model, dates=False)) + 2)
        output = st.selectbox(t("sens_output", lang), trade + stocks, key="sens_output",
                              format_func=lambda v: var_label(v, lang))
        st.caption(t("sens_hint", lang, runs=f"{n_runs:,}"))
        key = (doc_text, output)
        store = st.session_state.setdefault("sens_results", {})
        if st.button(t("sens_run", lang), key="sens_run"):
            try:
                store[key] = runner().run({"op": "sensitivity", **_files(model_key, used_calib),
                                           "scenario": doc_text, "output": output,
                                           "samples": SENSITIVITY_SAMPLES}, budget,
                                          "the sensitivity analysis")
            except (B.BudgetExceeded, sim.SimError) as exc:
                st.error(t("settings_bad", lang, msg=str(exc)))
                return
        if key in store:
            frame, spec, table = V.sensitivity(store[key], lang)
            st.markdown("#### " + t("sens_title", lang, output=var_label(output, lang)))
            st.vega_lite_chart(frame, spec, width="stretch")
            st.dataframe(table, width="stretch", hide_index=True)

    for tab, draw_tab in ((tabs[2], structure_tab), (tabs[3], calibration_tab), (tabs[4], table_tab),
                          (tabs[5], loops_tab), (tabs[6], sensitivity_tab)):
        if tab.open:
            with tab:
                draw_tab()

    # --------------------------------------------------------------- downloads
    render_levers()
    sb = st.sidebar
    sb.divider()
    sb.text_input(t("scenario_name", lang), key="sc_name")
    auto_desc = C.describe_settings(settings, specs, lang) or t("default_description", lang)
    sb.text_area(t("scenario_description", lang), key="sc_desc", placeholder=auto_desc, height=80)
    file_stem = C.slug(st.session_state["sc_name"])
    try:
        scenario_text = S.download_text(settings, specs, model, name=st.session_state["sc_name"],
                                        description=st.session_state["sc_desc"].strip() or auto_desc,
                                        extras=extras, band=band, calibrated_band=cal_band)
        sb.download_button(t("download_yaml", lang), data=scenario_text.encode("utf-8"),
                           file_name=f"{file_stem}.yaml", mime="application/x-yaml",
                           help=t("download_help", lang), key="dl_yaml", on_click="ignore",
                           width="stretch")
    except sim.SimError as exc:
        sb.error(t("download_bad", lang, msg=str(exc)))
    sb.download_button(t("download_csv", lang), data=lambda: C.results_csv(current).encode("utf-8"),
                       file_name=f"{file_stem}.csv", mime="text/csv", key="dl_csv",
                       on_click="ignore", width="stretch")
    st.caption(t("perf", lang, ms=f"{1000 * (time.perf_counter() - started):.1f}"))


live()
