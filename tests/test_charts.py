"""Charts that show the finding: differences from the baseline, markers, % shares, the horizon.

The scenario runs here are synthetic (made up arrays, no model run), so the
sign and size of every difference is known.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

from sim.engine.results import SimulationResult
from sim.ensembles.batch import ScenarioRun
from sim.reporting import figures_scenario as FS
from sim.reporting.fonts import cjk_families, figure_fonts
from sim.reporting.timeaxis import lever_starts, markers, year_ticks
from sim.scenarios.resolved import ResolvedScenario
from sim.scenarios.schema import Scenario

TIMES = np.arange(2015.0, 2036.0)
MEMBERS = 50
OUTPUTS = ("Digitally Deliverable Exports", "Digitally Deliverable Imports",
           "Digital Trade Balance", "China World Share")


def fake_run(name: str, levers: dict, shift: float, samples: np.ndarray) -> ScenarioRun:
    """Return a run whose outputs are a common member spread times a level, minus ``shift`` after 2025.

    The spread (±40 %) makes the level bands of two runs overlap even where
    every member's difference is ``-shift``.
    """
    spread = 1.0 + 0.4 * (samples - 0.5)
    level = np.linspace(1000.0, 12000.0, TIMES.size)[:, None] * spread[None, :]
    after = (TIMES >= 2025.0)[:, None]
    data = {
        "Digitally Deliverable Exports": level - shift * after,
        "Digitally Deliverable Imports": 0.3 * level,
        "Digital Trade Balance": 0.7 * level - shift * after,
        "China World Share": 0.05 * spread[None, :] + 0.0 * level - 0.01 * (shift > 0) * after,
    }
    result = SimulationResult(times=TIMES, data=data, n_members=MEMBERS, metadata={})
    scenario = Scenario.model_validate({
        "name": name, "description": "synthetic", "members": MEMBERS, "seed": 1,
        "calibration_uncertainty": "identified",
        "levers": levers})
    resolved = ResolvedScenario(scenario=scenario, params={}, final_time=2035.0,
                                outputs=OUTPUTS, members=MEMBERS,
                                samples={"Share Elasticity to Capability": samples},
                                distributions={}, base_used="calibrated", notes=(),
                                estimated_bytes=0)
    return ScenarioRun(resolved=resolved, result=result, method="euler")


@pytest.fixture(scope="module")
def runs():
    samples = np.random.default_rng(5).uniform(size=MEMBERS)
    base = fake_run("baseline", {}, 0.0, samples)
    frag = fake_run("fragmentation", {"barrier_shock": {"value": 0.15, "start": 2025},
                                      "data_flow": {"value": 1.5, "start": 2027}}, 300.0, samples)
    return base, frag


@pytest.fixture(scope="module")
def figure(runs):
    base, frag = runs
    history = {"Digitally Deliverable Exports": pd.Series([900.0, 2100.0], index=[2015, 2022]),
               "China World Share": pd.Series([0.037, 0.051], index=[2015, 2022])}
    return FS.comparison_figure(frag, base, history)


def axes_by_gid(fig) -> dict:
    return {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}


def test_year_ticks_include_the_horizon():
    assert year_ticks(2015, 2035) == [2015, 2020, 2025, 2030, 2035]
    assert year_ticks(2015, 2033)[-1] == 2033
    assert 2035 in year_ticks(2010, 2035) and 2034 in year_ticks(2015, 2034)
    assert 2030 not in year_ticks(2015, 2031)  # it would collide with 2031
    with pytest.raises(ValueError, match="step must be >= 1"):
        year_ticks(2015, 2035, 0)


def test_lever_starts_and_markers(runs):
    _, frag = runs
    starts = lever_starts(frag.scenario.levers)
    assert starts == {"barrier_shock": 2025.0, "data_flow": 2027.0}
    got = markers({"a": 2025.0, "b": 2025.0, "c": 2040.0}, span=(2015, 2035))
    assert [(m.year, m.kind) for m in got] == [(2022.0, "data_end"), (2025.0, "lever")]
    assert got[1].label == "a, b from 2025"


def test_difference_is_paired_and_negative(runs):
    base, frag = runs
    d = FS.difference(frag, base, "Digitally Deliverable Exports")
    assert d.paired
    np.testing.assert_allclose(d.median, np.where(TIMES >= 2025, -300.0, 0.0))
    np.testing.assert_allclose(d.low, d.median)  # every member loses exactly 300
    np.testing.assert_allclose(d.high, d.median)


def test_difference_panel_has_the_right_sign_though_the_bands_overlap(figure, runs):
    base, frag = runs
    lo_base = np.percentile(base.values("Digitally Deliverable Exports"), 5, axis=1)
    hi_frag = np.percentile(frag.values("Digitally Deliverable Exports"), 95, axis=1)
    assert np.all(hi_frag[TIMES >= 2025] > lo_base[TIMES >= 2025])  # overlapping levels
    axes = axes_by_gid(figure)
    for var in OUTPUTS:
        assert f"level:{var}" in axes and f"difference:{var}" in axes
    ax = axes["difference:Digitally Deliverable Exports"]
    line = next(ln for ln in ax.get_lines() if ln.get_label().endswith("median"))
    x, y = line.get_data()
    np.testing.assert_allclose(x, TIMES)
    assert np.all(np.asarray(y)[x >= 2025] == pytest.approx(-300.0))
    assert "2035: −300" in ax.get_title(loc="left")


def test_no_difference_panel_for_the_baseline_itself(runs):
    base, _ = runs
    axes = axes_by_gid(FS.comparison_figure(base, base))
    assert not any(g.startswith("difference:") for g in axes)
    assert "level:Digitally Deliverable Exports" in axes


@pytest.mark.parametrize("panel", ["level", "difference"])
def test_markers_at_the_end_of_the_data_and_each_lever_start(figure, panel):
    ax = axes_by_gid(figure)[f"{panel}:Digitally Deliverable Exports"]
    gids = {ln.get_gid() for ln in ax.get_lines() if ln.get_gid()}
    assert gids == {"marker:data_end:2022", "marker:lever:2025", "marker:lever:2027"}
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    assert list(lines["marker:data_end:2022"].get_xdata()) == [2022, 2022]


def test_legend_names_the_markers_outside_the_panels(figure):
    (legend,) = figure.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert "end of observed data, 2022" in texts
    assert "foreign barrier shock from 2025" in texts
    assert "data-flow tightening from 2027" in texts
    assert all(ax.get_legend() is None for ax in figure.axes)
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 8


def test_shares_in_percent(figure):
    axes = axes_by_gid(figure)
    level = axes["level:China World Share"]
    assert "%" in level.get_ylabel() and "dmnl" not in level.get_ylabel().lower()
    median = next(ln for ln in level.get_lines() if ln.get_label() == "fragmentation, median")
    assert np.nanmax(median.get_ydata()) == pytest.approx(5.0, abs=1.0)  # 5 %, not 0.05
    diff = axes["difference:China World Share"]
    assert diff.get_ylabel() == "percentage points"
    line = next(ln for ln in diff.get_lines() if ln.get_label().endswith("median"))
    assert np.asarray(line.get_ydata())[-1] == pytest.approx(-1.0)  # -0.01 -> -1 pp


def test_horizon_year_is_a_tick(figure):
    for ax in figure.axes:
        assert 2035 in [round(t) for t in ax.get_xticks()]


# --------------------------------------------------------------------- Chinese text
def _draw_warnings(fig) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=50)
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


def test_chinese_scenario_name_draws_with_a_cjk_font(runs):
    if not cjk_families():
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    base, _ = runs
    named = fake_run("数字贸易壁垒情景", {"barrier_shock": {"value": 0.15, "start": 2025}}, 300.0,
                     base.resolved.samples["Share Elasticity to Capability"])
    fig = FS.comparison_figure(named, base)
    assert _draw_warnings(fig) == []
    assert "数字贸易壁垒情景" in fig.get_suptitle()


def test_without_the_fallback_list_the_same_name_misses_glyphs():
    """The check above can fail: DejaVu Sans alone has no Chinese glyphs."""
    import matplotlib
    from matplotlib.figure import Figure
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        fig = Figure()
        fig.suptitle("数字贸易")
    assert _draw_warnings(fig)
    with figure_fonts():
        fig = Figure()
        fig.suptitle("数字贸易")
    if cjk_families():
        assert _draw_warnings(fig) == []


# ------------------------------------------------------------------------ the app's charts
from pathlib import Path  # noqa: E402

import sim  # noqa: E402
from sim.app import charts as C  # noqa: E402
from sim.app import state as S  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model" / "digital_trade.mdl"


@pytest.fixture(scope="module")
def specs():
    return S.lever_specs(sim.load_model(MODEL))[0]


def moved(specs, **levers) -> dict:
    """Baseline settings with ``short=(value, start)`` levers moved."""
    settings = S.baseline_settings(specs)
    by_short = {sp.short: sp for sp in specs}
    for short, (value, start) in levers.items():
        settings[by_short[short].value.name] = value
        settings[by_short[short].start.name] = start
    return settings


def rules(spec: dict) -> list[tuple[float, str]]:
    """(year, kind) of the marker rules of a Vega-Lite spec."""
    return sorted((r["year"], r["kind"]) for layer in spec["layer"]
                  if layer["mark"]["type"] == "rule" and "values" in layer.get("data", {})
                  for r in layer["data"]["values"] if "kind" in r)


def test_app_markers_for_moved_levers(specs):
    settings = moved(specs, barrier_shock=(0.15, 2025), talent=(1.3, 2028))
    marks = C.markers(settings, specs, "en", (2015, 2035))
    assert [(m.year, m.kind) for m in marks] == [(2022, "data_end"), (2025, "lever"),
                                                 (2028, "lever")]
    assert marks[0].label == "observed data end 2022"
    zh = C.markers(settings, specs, "zh", (2015, 2035))
    assert zh[1].label.endswith("（2025 年起）")
    assert [m.kind for m in C.markers(S.baseline_settings(specs), specs, "en")] == ["data_end"]


def test_app_line_chart_has_markers_and_the_horizon_tick(specs):
    times = np.arange(2015.0, 2036.0)
    frame = C.series_frame("China World Share", times, np.full(times.size, 0.06),
                           np.full(times.size, 0.065), None,
                           (np.full(times.size, 0.05), np.full(times.size, 0.07)), "en")
    marks = C.markers(moved(specs, barrier_shock=(0.15, 2025)), specs, "en", (2015, 2035))
    spec = C.line_spec("China World Share", "Dmnl", frame, "en", marks=marks)
    assert spec["layer"][0]["mark"]["type"] == "area"  # the band stays the first layer
    assert rules(spec) == [(2022.0, "data_end"), (2025.0, "lever")]
    x = spec["layer"][1]["encoding"]["x"]
    assert x["axis"]["values"][-1] == 2035 and 2015 in x["axis"]["values"]
    assert spec["layer"][1]["encoding"]["y"]["title"] == "%"
    assert frame["value"].iloc[0] == pytest.approx(6.0)  # percent, not 0.06


def test_app_difference_chart_has_the_sign_and_band_of_the_paired_difference(specs):
    times = np.arange(2015.0, 2036.0)
    rng = np.random.default_rng(3)
    spread = rng.uniform(0.6, 1.4, size=40)
    base = np.linspace(1000, 12000, times.size)[:, None] * spread[None, :]
    cur = base - 300.0 * (times >= 2025)[:, None] * spread[None, :]
    lo, hi = C.difference_band(cur, base)
    assert np.all(hi[times >= 2025] < 0)  # every member lower, though the level bands overlap
    np.testing.assert_allclose(lo[times >= 2025], -300 * np.percentile(spread, 95))
    frame = C.difference_frame("Digitally Deliverable Exports", times, cur[:, 0], base[:, 0],
                               (lo, hi))
    assert frame.loc[frame.year >= 2025, "diff"].lt(0).all()
    assert frame.loc[frame.year < 2025, "diff"].eq(0).all()
    marks = C.markers(moved(specs, barrier_shock=(0.15, 2025)), specs, "en", (2015, 2035))
    spec = C.difference_spec("Digitally Deliverable Exports", "100M USD", frame, "en",
                             marks=marks)
    kinds = [layer["mark"]["type"] for layer in spec["layer"]]
    assert kinds[:3] == ["area", "rule", "line"]  # band, zero, difference
    assert rules(spec) == [(2022.0, "data_end"), (2025.0, "lever")]
    assert spec["title"]["text"] == "Digitally deliverable exports: difference from the baseline"
    assert 2035 in spec["layer"][2]["encoding"]["x"]["axis"]["values"]
    no_band = C.difference_spec("Digitally Deliverable Exports", "100M USD", frame, "en",
                                band_layer=False)
    assert '"area"' not in str(no_band).replace("'", '"')
    with pytest.raises(ValueError, match="same shape"):
        C.difference_band(cur, base[:, :3])


def test_app_difference_of_a_share_is_in_percentage_points():
    times = np.array([2024.0, 2030.0])
    frame = C.difference_frame("China World Share", times, np.array([0.05, 0.06]),
                               np.array([0.05, 0.07]), None)
    np.testing.assert_allclose(frame["diff"], [0.0, -1.0])
    spec = C.difference_spec("China World Share", "Dmnl", frame, "zh")
    assert spec["layer"][1]["encoding"]["y"]["title"] == "百分点"
    assert spec["layer"][0]["mark"]["type"] == "rule"  # no band given: no area


def test_app_draws_a_difference_chart_once_a_lever_moves(specs, monkeypatch, tmp_path):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("DDS_MODEL", str(MODEL))
    monkeypatch.setenv("DDS_CALIBRATED", str(tmp_path / "none.yaml"))  # no band: fast
    monkeypatch.setenv("DDS_SCENARIOS", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.radio(key="lang").set_value("en")
    at.run()

    def difference_specs():
        return [c.proto.spec for c in at.get("vega_lite_chart")
                if "difference from the baseline" in c.proto.spec]

    assert not at.exception and difference_specs() == []  # the baseline: nothing to compare
    shock = next(sp for sp in specs if sp.short == "barrier_shock")
    at.slider(key=shock.value.key).set_value(0.15)
    at.slider(key=shock.start.key).set_value(2026)
    at.run()
    assert not at.exception, at.exception
    diffs = difference_specs()
    assert len(diffs) >= 3  # exports, imports, balance, share (those that change)
    assert all('"year": 2026.0' in d and '"kind": "lever"' in d for d in diffs)


# ------------------------------------------------------------------------------- names
def test_every_series_has_a_name_in_both_languages():
    from sim.data.observed import SERIES_UNITS
    from sim.project import SERIES_NAMES
    from sim.reporting.labels import series_name
    assert set(SERIES_NAMES) == set(SERIES_UNITS)
    assert series_name("china_dds_exports_unctad") == "China's DDS exports, UNCTAD"
    assert series_name("china_dds_exports_unctad", "zh") == "中国数字可交付服务出口（UNCTAD）"
    assert series_name("my_own_series") == "my_own_series"  # a user's series stays readable
    names = [series_name(k) for k in SERIES_UNITS]
    assert len(set(names)) == len(names)  # no two series share a name
    with pytest.raises(ValueError, match="lang 'fr'"):
        series_name("china_dds_exports_unctad", "fr")


def test_every_lever_has_a_name():
    from sim.project import LEVER_NAMES
    from sim.scenarios.levers import LEVERS
    assert set(LEVER_NAMES) == set(LEVERS)
