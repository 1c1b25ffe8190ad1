"""The what-if app, headless: every control through ``streamlit.testing.v1.AppTest``.

The app (``app.py``) is driven as a user would (sliders, picker, reset,
language, band toggle, upload) and its displayed numbers are compared with
runs made directly through the library (:mod:`sim.scenarios`, as ``sim run``),
from scenario YAML written here by hand. The pure conversions of
:mod:`sim.app` are tested beside them. The real browser is
``tests/test_app_browser.py``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import sim
from sim import scenarios as sc
from sim.app import charts as C
from sim.app import diagram as D
from sim.app import i18n
from sim.app import resources as R
from sim.app import state as S
from sim.reporting.labels import series_name

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
MODEL = ROOT / "model" / "digital_trade.mdl"
TIMEOUT = 120

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} not in the repository yet")

EXPORTS = "Digitally Deliverable Exports"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


@pytest.fixture(scope="module")
def specs(model):
    return S.lever_specs(model)[0]


def calibrated_doc(model) -> dict:
    """Return a small calibrated.yaml for the model: three constants, one moved off its default."""
    picked = []
    for py, value in sorted(model.constants.items()):
        info = model.variables[py]
        lo, hi = info.limits
        if info.name in {s for lv in sc.LEVERS.values() for s in (lv.value, lv.start)}:
            continue
        if lo is None or hi is None or not lo < value < hi or info.units.strip() == "Year":
            continue
        picked.append((info.name, float(value), float(lo), float(hi)))
    picked = picked[:3]
    assert len(picked) == 3, "the model needs constants with [min, max] ranges"
    params, stats, fitted = {}, {}, {}
    for i, (name, value, lo, hi) in enumerate(picked):
        width = 0.05 * (hi - lo)
        est = value + (width if i == 0 else 0.0)  # the first estimate differs from the default
        params[name] = {"estimate": est, "interval": [est - width, est + width],
                        "interval_bootstrap": [est - 0.8 * width, est + 0.8 * width],
                        "bounds": [lo, hi], "flag": "identified"}
    years = list(range(2015, 2023))
    for series, var in (("china_dds_exports_unctad", EXPORTS),
                        ("china_dds_imports_unctad", "Digitally Deliverable Imports")):
        stats[series] = {"variable": var, "role": "target", "weight": 1.0, "n": 8, "r2": 0.9,
                         "mape_pct": 5.0, "rmse": 80.0, "theil_u": 0.03, "theil_um": 0.1,
                         "theil_us": 0.2, "theil_uc": 0.7, "durbin_watson": 1.5,
                         "autocorrelation": [0.2, 0.1, 0.0], "trend": {"r2": 0.8, "mape_pct": 7.0}}
        fitted[series] = {"years": years, "observed": [1000.0 + 100 * k for k in range(8)],
                          "simulated": [1000.0 + 90 * k for k in range(8)],
                          "trend": [1000.0 + 95 * k for k in range(8)]}
    return {"schema": "sim.calibrated/1", "description": "test fixture", "parameters": params,
            "fit": {"window": [2015, 2022]}, "statistics": stats, "fitted": fitted,
            "provenance": {"seed": 1}}


@pytest.fixture(scope="module")
def calib_path(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("calib") / "calibrated.yaml"
    path.write_text(yaml.safe_dump(calibrated_doc(model), sort_keys=False), encoding="utf-8")
    return path


SCENARIO_FILE = """\
scenarios:
  - name: baseline
    description: No change.
  - name: push
    extends: baseline
    description: Infrastructure 1.4 from 2024.
    levers:
      infrastructure: {value: 1.4, start: 2024}
  - name: ramped
    extends: baseline
    description: Talent ramps to 1.5 over 2025-2030.
    levers:
      talent: {ramp: {value: 1.5, start: 2025, end: 2030}}
"""


@pytest.fixture(scope="module")
def scen_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("scenarios")
    (d / "policies.yaml").write_text(SCENARIO_FILE, encoding="utf-8")
    return d


@pytest.fixture
def env(monkeypatch, calib_path, scen_dir):
    """Return the app on the repository's model with the fixture calibration and scenarios."""
    monkeypatch.setenv("DDS_MODEL", str(MODEL))
    monkeypatch.setenv("DDS_CALIBRATED", str(calib_path))
    monkeypatch.setenv("DDS_SCENARIOS", str(scen_dir))
    return calib_path


def start(lang: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    if lang:
        at.radio(key="lang").set_value(lang)
        at.run()
    return at


def open_tab(at: AppTest, key: str, lang: str = "en") -> None:
    """Open a tab (only the open tab is drawn), as a click on it does."""
    at.session_state["view"] = i18n.t(key, lang)
    at.run()
    assert not at.exception, at.exception


def metric(at: AppTest, i: int = 0) -> str:
    return at.metric[i].value


def library_value(yaml_text: str, calib: Path | None, var: str = EXPORTS, year: float = 2035.0,
                  model=None) -> float:
    """``var`` in ``year`` of the first scenario of ``yaml_text``, run as ``sim run`` runs it."""
    model = model or sim.load_model(MODEL)
    scenario = sc.load_scenarios_text(yaml_text, "test")[0]
    calibrated = sc.load_calibrated(calib) if calib else None
    resolved = sc.resolve(scenario, model, calibrated, members=1)
    res = model.simulate(method="scipy", **resolved.simulate_kwargs())
    return float(res.at(var, year))


def lever_yaml(short: str, value: float, start_year: int) -> str:
    return (f"name: t\ndescription: t\nlevers:\n  {short}: {{value: {value}, start: {start_year}}}\n")


def shown(x: float) -> str:
    return i18n.fmt_number(x, "en")


# ------------------------------------------------------------ the app, headless
def test_repository_defaults_render_without_error():
    """Whatever exists in the repository (calibrated.yaml or not), the app renders."""
    at = start()
    assert not at.exception
    assert len(at.metric) == 4
    assert at.title[0].value == i18n.t("title", "zh")
    if not (ROOT / "model" / "calibrated.yaml").exists():
        assert any("calibrated.yaml" in w.value for w in at.warning)


def test_baseline_metrics_equal_library_run(env, model):
    at = start("en")
    expected = library_value("name: b\ndescription: b\n", env, model=model)
    assert metric(at) == shown(expected)
    assert at.metric[0].delta == ""  # no change from baseline


@pytest.mark.parametrize("short", list(sc.LEVERS), ids=list(sc.LEVERS))
def test_each_lever_slider_changes_exports_as_the_library(env, model, specs, short):
    spec = next(s for s in specs if s.short == short)
    target = spec.value.max if spec.value.default < spec.value.max else spec.value.min
    at = start("en")
    before = metric(at)
    at.slider(key=spec.value.key).set_value(target)
    at.slider(key=spec.start.key).set_value(2020)
    at.run()
    assert not at.exception
    expected = library_value(lever_yaml(short, target, 2020), env, model=model)
    assert metric(at) == shown(expected)
    assert metric(at) != before
    assert at.metric[0].delta != ""


def test_infrastructure_to_1_5_raises_2035_exports(env, specs):
    spec = next(s for s in specs if s.short == "infrastructure")
    at = start("en")
    base = float(metric(at).replace(",", ""))
    at.slider(key=spec.value.key).set_value(1.5)
    at.run()
    moved = float(metric(at).replace(",", ""))
    assert moved > base
    assert at.metric[0].delta.startswith("+")


@pytest.mark.parametrize("short", list(sc.LEVERS), ids=list(sc.LEVERS))
def test_each_start_year_slider_shifts_the_effect(env, model, specs, short):
    spec = next(s for s in specs if s.short == short)
    target = spec.value.max if spec.value.default < spec.value.max else spec.value.min
    at = start("en")
    at.slider(key=spec.value.key).set_value(target)
    at.slider(key=spec.start.key).set_value(2018)
    at.run()
    early = metric(at)
    at.slider(key=spec.start.key).set_value(2032)
    at.run()
    late = metric(at)
    assert late == shown(library_value(lever_yaml(short, target, 2032), env, model=model))
    assert early != late


def test_scenario_picker_loads_levers_and_runs_them(env, model, specs):
    at = start("en")
    at.selectbox(key="scenario").set_value("policies.yaml::push")
    at.run()
    assert not at.exception
    infra = next(s for s in specs if s.short == "infrastructure")
    assert at.slider(key=infra.value.key).value == pytest.approx(1.4)
    assert at.slider(key=infra.start.key).value == 2024
    assert any("push" in s.value for s in at.success)
    assert metric(at) == shown(library_value(lever_yaml("infrastructure", 1.4, 2024), env,
                                             model=model))


RAMPED = ("name: t\ndescription: t\nlevers:\n"
          "  talent: {ramp: {value: 1.5, start: 2025, end: 2030}}\n")


def test_scenario_picker_runs_a_ramp_as_in_the_file_and_says_so(env, model, specs):
    at = start("en")
    at.selectbox(key="scenario").set_value("policies.yaml::ramped")
    at.run()
    talent = next(s for s in specs if s.short == "talent")
    # the sliders show the ramp's final value and first year; the run is the ramp itself
    assert at.slider(key=talent.value.key).value == pytest.approx(1.5)
    assert at.slider(key=talent.start.key).value == 2025
    assert any("ramp" in i.value for i in at.info)
    ramp = library_value(RAMPED, env, model=model)
    step = library_value(lever_yaml("talent", 1.5, 2025), env, model=model)
    assert shown(ramp) != shown(step)  # the two runs differ on screen
    assert metric(at) == shown(ramp)


def test_moving_a_ramped_lever_makes_it_a_step(env, model, specs):
    at = start("en")
    at.selectbox(key="scenario").set_value("policies.yaml::ramped")
    at.run()
    talent = next(s for s in specs if s.short == "talent")
    at.slider(key=talent.start.key).set_value(2027)
    at.run()
    assert metric(at) == shown(library_value(lever_yaml("talent", 1.5, 2027), env, model=model))


def test_downloaded_yaml_keeps_a_ramp(model, specs):
    loaded = S.from_scenario(sc.load_scenarios_text(RAMPED, "test")[0], specs)
    doc = S.scenario_doc(loaded.settings, specs, model, name="n", description="d",
                         extras=loaded.extras)
    assert doc["levers"] == {"talent": {"ramp": {"value": 1.5, "start": 2025.0, "end": 2030.0}}}
    # and it is a valid scenario that runs as the file does
    again = S.validate_doc(doc)
    assert again.levers["talent"] == sc.load_scenarios_text(RAMPED, "test")[0].levers["talent"]


REPO_SCENARIOS = [c.key for c in R.scenario_choices(ROOT / "scenarios")[0]]


@pytest.mark.skipif(not REPO_SCENARIOS, reason="no scenarios/*.yaml in the repository yet")
@pytest.mark.parametrize("key", REPO_SCENARIOS or ["none"], ids=REPO_SCENARIOS or ["none"])
def test_every_shipped_scenario_loads_in_the_picker(monkeypatch, model, key):
    monkeypatch.setenv("DDS_SCENARIOS", str(ROOT / "scenarios"))
    at = start("en")
    at.selectbox(key="scenario").set_value(key)
    at.run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.success
    file, _, name = key.partition("::")
    scenario = next(s for s in sc.load_scenarios(ROOT / "scenarios" / file) if s.name == name)
    calib = ROOT / "model" / "calibrated.yaml"
    calibrated = sc.load_calibrated(calib)
    resolved = sc.resolve(scenario, model, calibrated, members=1)
    res = model.simulate(method="scipy", **resolved.simulate_kwargs())
    # ramps and tables included: they run as in the file
    assert metric(at) == shown(float(res.at(EXPORTS, resolved.final_time)))


def test_reset_returns_every_slider_and_the_outputs_to_baseline(env, specs):
    at = start("en")
    base = [m.value for m in at.metric]
    for spec in specs:
        at.slider(key=spec.value.key).set_value(spec.value.max)
        at.slider(key=spec.start.key).set_value(int(spec.start.min))
    at.selectbox(key="scenario").set_value("policies.yaml::push")
    at.run()
    assert [m.value for m in at.metric] != base
    at.button(key="reset").click()
    at.run()
    for spec in specs:
        assert at.slider(key=spec.value.key).value == pytest.approx(spec.value.default)
        assert at.slider(key=spec.start.key).value == int(spec.start.default)
    assert at.selectbox(key="scenario").value == ""
    assert [m.value for m in at.metric] == base


def test_language_switch_translates_and_keeps_settings(env, specs):
    infra = next(s for s in specs if s.short == "infrastructure")
    at = start()
    assert at.radio(key="lang").value == "zh"
    assert "亿美元" in at.metric[0].label
    at.slider(key=infra.value.key).set_value(1.5)
    at.run()
    zh_value = metric(at)
    at.radio(key="lang").set_value("en")
    at.run()
    assert at.title[0].value == i18n.t("title", "en")
    assert "100M USD" in at.metric[0].label and "Exports" in at.metric[0].label
    assert at.slider(key=infra.value.key).value == pytest.approx(1.5)
    assert metric(at) == zh_value
    assert at.tabs[0].label == "Trade"
    open_tab(at, "tab_stocks")
    at.radio(key="lang").set_value("zh")
    at.run()
    assert at.tabs[0].label == "贸易"
    assert at.slider(key=infra.value.key).value == pytest.approx(1.5)
    assert at.session_state["view"] == "存量"  # the open tab stays open


def _specs_of(at: AppTest) -> list[str]:
    out = []

    def walk(node):
        kids = getattr(node, "children", None)
        for c in (kids.values() if isinstance(kids, dict) else kids or []):
            if getattr(c, "type", None) == "vega_lite_chart":
                out.append(c.proto.spec)
            walk(c)
    walk(at.main)
    return out


def test_band_toggle_adds_and_removes_the_uncertainty_band(env):
    at = start("en")
    assert at.toggle(key="band").value is True
    assert any('"area"' in s for s in _specs_of(at))
    caption = i18n.t("band_caption", "en", n=S.BAND_MEMBERS)
    assert any(c.value == caption for c in at.caption)
    at.toggle(key="band").set_value(False)
    at.run()
    assert not any('"area"' in s for s in _specs_of(at))
    assert not any(c.value == caption for c in at.caption)


def test_band_brackets_the_point_run(env, model):
    """The band's 5-95% range holds the point run at the calibrated estimates (most years)."""
    doc = S.scenario_doc(S.baseline_settings(S.lever_specs(model)[0]), S.lever_specs(model)[0],
                         model, name="b", description="b", band=True)
    scenario = S.validate_doc(doc)
    calibrated = sc.load_calibrated(env)
    point, _ = S.simulate_scenario(scenario, model, calibrated)
    ens, resolved = S.simulate_scenario(scenario, model, calibrated, members=None,
                                        outputs=[EXPORTS])
    assert resolved.members == S.BAND_MEMBERS
    lo, hi = S.band(ens[EXPORTS])
    inside = (lo <= point[EXPORTS] + 1e-9) & (point[EXPORTS] <= hi + 1e-9)
    assert inside.mean() >= 0.8
    assert np.all(hi >= lo)


def test_upload_of_a_valid_scenario_sets_the_sliders(env, model, specs):
    at = start("en")
    text = lever_yaml("talent", 1.7, 2027).replace("name: t", "name: uploaded")
    at.file_uploader(key="upload").upload("mine.yaml", text.encode(), "application/x-yaml")
    at.run()
    assert not at.exception and not at.error
    talent = next(s for s in specs if s.short == "talent")
    assert at.slider(key=talent.value.key).value == pytest.approx(1.7)
    assert at.slider(key=talent.start.key).value == 2027
    assert any("uploaded" in s.value for s in at.success)
    assert metric(at) == shown(library_value(text, env, model=model))


@pytest.mark.parametrize("content, match", [
    (b"name: x\nlevers: {talnt: {value: 1.2, start: 2026}}\n", "talnt"),
    (b"name: x\ndescription: y\nlevers: {talent: {value: 99, start: 2026}}\n", "outside"),
    (b"name: [unclosed\n", "YAML"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
], ids=["unknown-lever", "out-of-range", "bad-yaml", "not-utf8"])
def test_upload_of_an_invalid_scenario_is_an_error_message(env, specs, content, match):
    at = start("en")
    before = {s.key: s.value for s in at.slider}
    at.file_uploader(key="upload").upload("bad.yaml", content, "application/x-yaml")
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert match.lower() in at.error[0].value.lower()
    assert {s.key: s.value for s in at.slider} == before


def test_missing_calibration_is_said_plainly(monkeypatch, tmp_path):
    monkeypatch.setenv("DDS_MODEL", str(MODEL))
    monkeypatch.setenv("DDS_CALIBRATED", str(tmp_path / "nowhere.yaml"))
    at = start("en")
    assert not at.exception and not at.error
    assert any("No calibration results" in w.value for w in at.warning)
    assert at.toggle(key="band").disabled
    assert not any('"area"' in s for s in _specs_of(at))
    open_tab(at, "tab_calibration")
    assert any("No calibration results" in i.value for i in at.info)
    assert not at.dataframe


def test_broken_calibration_is_an_error_message_not_a_traceback(monkeypatch, tmp_path):
    bad = tmp_path / "calibrated.yaml"
    bad.write_text("parameters: [1, 2\n", encoding="utf-8")
    monkeypatch.setenv("DDS_MODEL", str(MODEL))
    monkeypatch.setenv("DDS_CALIBRATED", str(bad))
    at = start("en")
    assert not at.exception
    assert any("could not be read" in e.value for e in at.error)
    assert len(at.metric) == 4  # the model still runs, on its own parameters


def test_calibration_for_another_model_is_an_error_message(monkeypatch, tmp_path, model):
    doc = calibrated_doc(model)
    doc["parameters"]["No Such Constant"] = {"estimate": 1.0, "interval": [0.5, 1.5],
                                             "flag": "identified"}
    bad = tmp_path / "calibrated.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.setenv("DDS_MODEL", str(MODEL))
    monkeypatch.setenv("DDS_CALIBRATED", str(bad))
    at = start("en")
    assert not at.exception
    assert any("No Such Constant" in e.value for e in at.error)
    assert metric(at) == shown(library_value("name: b\ndescription: b\n", None, model=model))


def test_missing_model_is_an_error_message(monkeypatch, tmp_path):
    monkeypatch.setenv("DDS_MODEL", str(tmp_path / "none.mdl"))
    at = start("en")
    assert not at.exception
    assert any("Model file not found" in e.value for e in at.error)


def test_calibrated_estimates_are_the_base(env, monkeypatch, tmp_path, model):
    with_cal = metric(start("en"))
    monkeypatch.setenv("DDS_CALIBRATED", str(tmp_path / "none.yaml"))
    without = metric(start("en"))
    assert with_cal == shown(library_value("name: b\ndescription: b\n", env, model=model))
    assert without == shown(library_value("name: b\ndescription: b\n", None, model=model))


def test_calibration_tab_shows_fit_and_parameters(env, model):
    at = start("en")
    open_tab(at, "tab_calibration")
    doc = calibrated_doc(model)
    frames = [d.value for d in at.dataframe]
    params = next(f for f in frames if "Parameter" in f.columns)
    assert list(params["Parameter"]) == list(doc["parameters"])
    first = next(iter(doc["parameters"].values()))
    assert params["Estimate"].iloc[0] == pytest.approx(first["estimate"])
    fit = next(f for f in frames if "Series" in f.columns)
    assert list(fit["Series"]) == [series_name(k) for k in doc["statistics"]]  # people's names
    assert fit["R²"].tolist() == [0.9, 0.9]
    assert any(series_name("china_dds_exports_unctad") in s for s in _specs_of(at))


def test_results_table_and_downloads_are_offered(env):
    at = start("en")
    open_tab(at, "tab_table")
    table = next(d.value for d in at.dataframe if "Year" in d.value.columns)
    assert table["Year"].iloc[-1] == 2035
    exports_col = next(c for c in table.columns if c.startswith("Digitally deliverable exports"))
    assert shown(table[exports_col].iloc[-1]) == metric(at)
    labels = [d.label for d in at.get("download_button")]
    assert labels == [i18n.t("download_yaml", "en"), i18n.t("download_csv", "en")]


def test_structure_tab_draws_the_model(env, model):
    at = start("en")
    assert not at.get("graphviz_chart")  # a closed tab is not drawn
    open_tab(at, "tab_structure")
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    dot = charts[0].proto.spec
    for py in model.stocks:
        assert f'"{py}"' in dot
    at.toggle(key="diagram_constants").set_value(True)
    at.run()
    assert len(at.get("graphviz_chart")[0].proto.spec) > len(dot)


def test_structure_tab_shows_the_model_checks(env, model):
    at = start("en")
    open_tab(at, "tab_structure")
    table = next(d.value for d in at.dataframe if "Check" in d.value.columns)
    assert set(table["Category"]) == {"structure", "units", "step", "expectations"}
    assert (table["Result"] == "✓").all()
    n = len(table)
    assert any(f"{n} of {n} pass" in m.value for m in at.markdown)


# ------------------------------------------------ downloads run with `sim run`
def test_downloaded_scenario_runs_unchanged_and_reproduces_the_app(env, model, specs, tmp_path):
    settings = S.baseline_settings(specs)
    settings["Infrastructure Investment Lever"] = 1.5
    settings["Infrastructure Lever Start Year"] = 2027
    settings["Foreign Barrier Shock Size"] = 0.1
    text = S.download_text(settings, specs, model, name="my what-if", description="from the app",
                           band=True)
    path = tmp_path / "my-what-if.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = sc.load_scenarios(path)
    assert len(loaded) == 1 and loaded[0].name == "my what-if"
    assert loaded[0].members == S.BAND_MEMBERS and loaded[0].seed == S.BAND_SEED
    calibrated = sc.load_calibrated(env)
    resolved = sc.resolve(loaded[0], model, calibrated, members=1)
    res = model.simulate(method="scipy", **resolved.simulate_kwargs())
    # the app's own run of the same settings
    at = start("en")
    for key, value in S.widget_values(settings, specs).items():
        at.slider(key=key).set_value(value)
    at.run()
    assert metric(at) == shown(float(res.at(EXPORTS, 2035)))
    # and the upload of that file restores the same settings
    back = S.parse_upload(text.encode(), "my-what-if.yaml", specs)[0]
    assert back.settings == pytest.approx(settings)


def test_downloaded_scenario_runs_with_the_sim_run_command(env, model, specs, tmp_path):
    """`sim run` on the downloaded file gives the app's numbers and the app's band."""
    pytest.importorskip("sim.commands.run", reason="`sim run` not built yet")
    import pandas as pd

    from sim.cli import main
    settings = S.baseline_settings(specs)
    settings["Talent Training Lever"] = 1.4
    path = tmp_path / "s.yaml"
    path.write_text(S.download_text(settings, specs, model, name="s", description="d", band=True),
                    encoding="utf-8")
    out = tmp_path / "out"
    rc = main(["run", str(path), "--out", str(out), "--calibrated", str(env), "--no-charts",
               "--no-progress"])
    assert rc == 0
    pct = pd.read_csv(out / "s" / "percentiles.csv").set_index("time")
    doc = S.scenario_doc(settings, specs, model, name="s", description="d", band=True)
    ens, _ = S.simulate_scenario(S.validate_doc(doc), model, sc.load_calibrated(env), members=None,
                                 outputs=[EXPORTS])
    lo, hi = S.band(ens[EXPORTS])
    np.testing.assert_allclose(pct[f"{EXPORTS} p5"].to_numpy(), lo, rtol=1e-9)
    np.testing.assert_allclose(pct[f"{EXPORTS} p95"].to_numpy(), hi, rtol=1e-9)


def test_blank_name_is_refused_for_download(model, specs):
    with pytest.raises(S.AppInputError, match="name"):
        S.download_text(S.baseline_settings(specs), specs, model, name="  ", description="d")


def test_results_csv_has_every_variable_by_time(model):
    res = model.simulate(method="scipy")
    text = C.results_csv(res)
    header = text.splitlines()[0].split(",")
    assert header[0] == "Time"
    assert EXPORTS in header
    assert len(text.splitlines()) == len(res.times) + 1


# ------------------------------------------------------------ pure functions
def test_lever_specs_follow_the_model_ranges(model, specs):
    assert [s.short for s in specs] == list(sc.LEVERS)
    for spec in specs:
        info = model.variables[spec.value.py_name]
        assert (spec.value.min, spec.value.max) == info.limits
        assert spec.start.min >= model.controls.initial_time
        assert spec.start.max <= model.controls.final_time
        n_steps = (spec.value.max - spec.value.min) / spec.value.step
        assert 30 <= n_steps <= 200


@pytest.mark.parametrize("span, step", [(1.5, 0.05), (0.5, 0.01), (3.0, 0.05), (20.0, 0.5),
                                        (0.0, 0.01)], ids=str)
def test_nice_step(span, step):
    assert S.nice_step(span) == pytest.approx(step)


def test_widget_values_round_trip(specs):
    settings = S.baseline_settings(specs)
    settings["Reform Pace Lever"] = 1.35
    settings["Reform Lever Start Year"] = 2030
    values = S.widget_values(settings, specs)
    assert S.settings_from_widgets(values, specs) == pytest.approx(settings)


@pytest.mark.parametrize("value, match", [(99.0, "outside its range"), (float("nan"), "finite"),
                                          ("abc", "expected a number"), (True, "expected a number")],
                         ids=["range", "nan", "text", "bool"])
def test_invalid_widget_values_raise(specs, value, match):
    values = S.widget_values(S.baseline_settings(specs), specs)
    values[specs[0].value.key] = value
    with pytest.raises(S.AppInputError, match=match):
        S.settings_from_widgets(values, specs)


def test_scenario_doc_lists_only_changed_levers(model, specs):
    settings = S.baseline_settings(specs)
    settings["Talent Lever Start Year"] = 2030  # start alone: no change
    settings["Innovation Protection Lever"] = 1.2 + 1e-16
    doc = S.scenario_doc(settings, specs, model, name="n", description="d")
    assert doc["levers"] == {"innovation": {"value": 1.2, "start": 2026}}
    assert "members" not in doc


def test_parse_upload_reports_every_file_problem(specs):
    with pytest.raises(S.AppInputError, match="not UTF-8"):
        S.parse_upload(b"\xff\xfe", "x.yaml", specs)
    with pytest.raises(S.AppInputError, match="more than"):
        S.parse_upload(b"#" * (sc.MAX_TEXT_BYTES + 1), "x.yaml", specs)
    loaded = S.parse_upload(SCENARIO_FILE.encode(), "p.yaml", specs)
    assert [s.name for s in loaded] == ["baseline", "push", "ramped"]
    assert loaded[2].notes and "ramp" in loaded[2].notes[0]


def test_band_ignores_failed_members():
    arr = np.array([[1.0, 2.0, 3.0, np.nan], [1.0, 1.0, 1.0, 1.0]])
    lo, hi = S.band(arr, 0, 100)
    assert lo.tolist() == [1.0, 1.0] and hi.tolist() == [3.0, 1.0]
    with pytest.raises(ValueError, match="ensemble"):
        S.band(np.zeros(3))


def test_every_string_has_both_languages():
    for key, entry in i18n.STRINGS.items():
        assert set(entry) == set(i18n.LANGS), key
        assert all(entry[lang].strip() for lang in i18n.LANGS), key
    with pytest.raises(ValueError, match="lang"):
        i18n.t("title", "fr")


@pytest.mark.parametrize("lang, value, units, text", [
    ("en", 2070.07, "100M USD", "2,070.1 100M USD"),
    ("zh", 2070.07, "100M USD", "2,070.1 亿美元"),
    ("en", -498.5, "100M USD", "-498.5 100M USD"),
    ("zh", float("nan"), "100M USD", "—"),
], ids=["en", "zh", "negative", "nan"])
def test_number_formats(lang, value, units, text):
    assert i18n.fmt_value(value, units, lang) == text


def test_share_and_delta_formats():
    assert i18n.fmt_share(0.05068, "en") == "5.07%"
    assert i18n.fmt_delta(0.0012, "zh", digits=2, percent=True) == "+0.12个百分点"
    assert i18n.fmt_delta(0.0012, "en", digits=2, percent=True) == "+0.12 pp"
    assert i18n.fmt_delta(-1234.5, "en") == "-1,234.5"


def test_dot_has_every_stock_and_flow_edge(model):
    dot = D.to_dot(model, "zh", {"Infrastructure Investment Lever"})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for py in model.stocks:
        assert f'"{py}" [label=' in dot
    for py, info in model.variables.items():
        if info.kind == "stock":
            assert info.inflows or info.outflows
            for dep in info.inflows:  # filling flows point into the stock
                assert f'"{dep}" -> "{py}" [color="#c0504d"' in dot
            for dep in info.outflows:  # draining flows point out of it
                assert f'"{py}" -> "{dep}" [color="#c0504d"' in dot
    assert "基础设施投资" in dot  # the lever, labelled in Chinese
    stats = D.stats(model)
    assert stats.stocks == sum(v.kind == "stock" for v in model.variables.values())


def test_series_frame_scales_shares_and_keeps_the_window():
    import pandas as pd
    obs = pd.Series([0.03, 0.04, 0.05], index=[2012, 2015, 2022])
    frame = C.series_frame("China World Share", np.array([2015.0, 2016.0]), np.array([0.04, 0.05]),
                           None, obs, (np.array([0.03, 0.04]), np.array([0.05, 0.06])), "en")
    observed = frame[frame["series"] == "Observed"]
    assert observed["year"].tolist() == [2015.0, 2022.0]  # 2012 is outside 2015-2022
    assert frame["value"].iloc[0] == pytest.approx(4.0)
    spec = C.line_spec("China World Share", "Dmnl", frame, "en")
    assert spec["layer"][0]["mark"]["type"] == "area"
    assert "data" not in spec  # the frame is passed beside the spec
    inline = C.line_spec("China World Share", "Dmnl", frame, "en", inline=True)
    assert len(inline["data"]["values"]) == len(frame)
    assert all(r["lo"] is None or not math.isnan(r["lo"]) for r in inline["data"]["values"])


def test_sim_app_command_line():
    from sim.cli import build_parser
    from sim.commands.app import APP_FILE, app_folder, command
    args = build_parser().parse_args(["app", "--port", "8600", "--headless"])
    cmd = command(args)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(app_folder() / APP_FILE)
    assert cmd[5:] == ["--server.port", "8600", "--server.headless", "true"]
    assert app_folder() / APP_FILE == Path(APP)


@pytest.mark.slow
def test_sim_app_serves_the_app_and_stops_with_it(tmp_path):
    """`sim app` starts Streamlit on the app; SIGTERM to `sim app` stops Streamlit too."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/_stcore/health"
    log = open(tmp_path / "sim-app.log", "w", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "app", "--headless", "--port",
                             str(port), "--address", "127.0.0.1", "--",
                             "--browser.gatherUsageStats", "false"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                            start_new_session=True)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
    try:
        deadline = time.monotonic() + 90
        while not healthy():
            assert proc.poll() is None, (tmp_path / "sim-app.log").read_text()
            assert time.monotonic() < deadline, "sim app did not serve within 90 s"
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) is not None
        deadline = time.monotonic() + 30
        while healthy():  # the Streamlit child is gone with its parent
            assert time.monotonic() < deadline, "streamlit outlived `sim app`"
            time.sleep(0.3)
    finally:
        import os
        try:  # whatever is left of the process group this test started
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.wait(timeout=15)
        log.close()


def test_app_band_is_the_calibrated_forecast_band(model, specs):
    """Check the app's band is the baseline scenario's ``bands: calibrated``.

    With a calibrated.yaml that has a bands section, the app's band (and the
    scenario it offers for download) is the baseline scenario's.
    """
    settings = S.baseline_settings(specs)
    doc = S.scenario_doc(settings, specs, model, name="s", description="d", band=True,
                         calibrated_band=True)
    assert doc["bands"] == "calibrated" and doc["members"] == S.BAND_MEMBERS
    assert "bands" not in S.scenario_doc(settings, specs, model, name="s", description="d",
                                         band=True)
    text = S.download_text(settings, specs, model, name="s", description="d", band=True,
                           calibrated_band=True)
    assert sc.load_scenarios_text(text, "s.yaml")[0].bands == "calibrated"


def test_loops_tab_scores_the_loops_of_the_current_settings(env, model, specs):
    at = start("en")
    assert not [d for d in at.dataframe if "Polarity" in d.value.columns]  # closed: not drawn
    open_tab(at, "tab_loops")
    table = next(d.value for d in at.dataframe if "Polarity" in d.value.columns)
    names = " ".join(table["Loop"])
    for loop in ("R1 learning by exporting", "R2 talent attraction", "B1 protection response"):
        assert loop in names
    assert set(table["Polarity"]) <= {"reinforcing", "balancing", "mixed", "inactive"}
    assert any(i18n.t("loops_axis", "en") in s for s in _specs_of(at))
    before = table.set_index("Loop")["Mean relative score"]
    # the scores follow the levers: a talent push changes the loops' shares
    talent = next(s for s in specs if s.short == "talent")
    at.slider(key=talent.value.key).set_value(talent.value.max)
    at.slider(key=talent.start.key).set_value(2020)
    at.run()
    assert not at.exception
    after = next(d.value for d in at.dataframe if "Polarity" in d.value.columns)
    assert not after.set_index("Loop")["Mean relative score"].equals(before)


def test_sensitivity_tab_runs_sobol_for_the_chosen_output(env, model):
    at = start("en")
    open_tab(at, "tab_sensitivity")
    assert not [d for d in at.dataframe if "Factor" in d.value.columns]   # nothing until asked
    at.button(key="sens_run").click()
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "Factor" in d.value.columns)
    totals = table["ST (final year)"]
    assert len(table) == 42                # the constants with a declared range, dates left out
    assert totals.max() > 0.05                                    # something matters
    assert (totals >= -0.1).all()                                 # Sobol ST: not negative
    assert any(i18n.t("sens_axis", "en") in s for s in _specs_of(at))
