"""The live view's model (sim.app.view): what a lever move computes, without Streamlit."""
from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.app import state as S
from sim.app import view as V

MODEL = Path(__file__).resolve().parents[1] / "model" / "digital_trade.mdl"


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


@pytest.fixture(scope="module")
def specs(model):
    return S.lever_specs(model)[0]


def run(model, text: str):
    return S.simulate_scenario(S.scenario_from_text(text), model, None)[0]


def test_the_plan_runs_the_settings_and_the_baseline(model, specs):
    settings = S.baseline_settings(specs)
    talent = next(sp for sp in specs if sp.lever.short == "talent")
    settings[talent.value.name] = 1.5
    p = V.plan(settings, specs, model, S.Extras(), band=True, calibrated_band=False)
    assert p.trade == tuple(S.TRADE_OUTPUTS) and p.outputs == p.trade + p.stocks
    assert "talent:\n    value: 1.5" in p.scenario_text and "members: 200" in p.scenario_text
    assert "talent" not in p.baseline_text
    assert "members: 200" in p.band_baseline_text and "talent" not in p.band_baseline_text
    own = S.Extras(fields={"members": 20, "seed": 1, "uncertainty": {
        "talent": {"dist": "uniform", "low": 1.0, "high": 1.2}}})
    assert V.plan(settings, specs, model, own, band=True,
                  calibrated_band=False).band_baseline_text is None


def test_metrics_and_charts_of_a_moved_lever(model, specs):
    settings = S.baseline_settings(specs)
    talent = next(sp for sp in specs if sp.lever.short == "talent")
    settings[talent.value.name] = 1.5
    p = V.plan(settings, specs, model, S.Extras(), band=False, calibrated_band=False)
    current, base = run(model, p.scenario_text), run(model, p.baseline_text)
    units = {n: model.variables[model.py_name(n)].units for n in p.outputs}
    ms = V.metrics(current, base, p.trade, units, "en")
    assert [m.label.split(",")[0] for m in ms][0] == "Exports"
    assert ms[0].delta is not None and ms[0].delta.startswith("+")
    c = V.chart(p.trade[0], current, base, {}, {}, {}, units[p.trade[0]], "en", band=False,
                marks=[])
    assert c.difference_spec is not None and len(c.difference_frame) == len(current.times)
    same = V.chart(p.trade[0], base, base, {}, {}, {}, units[p.trade[0]], "en", band=False,
                   marks=[])
    assert same.difference_frame is None and same.difference_spec is None


@pytest.mark.parametrize(("value", "own", "kind", "text"), [
    (None, False, None, None),
    ("stopped at 1 GiB", False, "warning", "stopped at 1 GiB"),
    (({}, 0, 0, {}), False, "caption", "no identified parameter"),
    (({"x": 1}, 200, 3, {}), False, "caption", "200"),
    (({"x": 1}, 20, 0, {}), True, "caption", "20"),
], ids=["none", "error", "empty", "failures", "own"])
def test_band_caption(value, own, kind, text):
    got = V.band_caption(value, own, "en")
    if kind is None:
        assert got is None
        return
    assert got[0] == kind and text in got[1]
    if value is not None and not isinstance(value, str) and value[2]:
        assert "3" in got[1].split("·")[-1]


def test_band_parts():
    assert V.band_parts(None) == ({}, {}) and V.band_parts("error") == ({}, {})
    assert V.band_parts(({"a": 1}, 5, 0, {"b": 2})) == ({"a": 1}, {"b": 2})
