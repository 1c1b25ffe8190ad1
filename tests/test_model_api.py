"""The Model object's metadata: kinds, dependencies, flows in and out, controls."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conformance import models_dir

import sim

SIR = models_dir() / "samples" / "SIR" / "SIR.mdl"
TEACUP = models_dir() / "samples" / "teacup" / "teacup.mdl"
REPO_MODEL = Path(__file__).resolve().parents[1] / "model" / "digital_trade.mdl"

pytestmark = pytest.mark.skipif(not SIR.is_file(), reason="conformance models not found")


def test_sir_flows_in_and_out():
    m = sim.load_model(SIR)
    s = m.variables["susceptible"]
    i = m.variables["infectious"]
    r = m.variables["recovered"]
    assert (s.kind, i.kind, r.kind) == ("stock", "stock", "stock")
    assert s.inflows == () and s.outflows == ("succumbing",)
    assert i.inflows == ("succumbing",) and i.outflows == ("recovering",)
    assert r.inflows == ("recovering",) and r.outflows == ()
    assert m.variables["succumbing"].kind == "flow"
    assert m.variables["total_population"].kind == "constant"


def test_teacup_metadata_and_controls():
    m = sim.load_model(TEACUP)
    heat = m.variables["heat_loss_to_room"]
    assert heat.name == "Heat Loss to Room"
    assert heat.units == "Degrees Fahrenheit/Minute"
    assert heat.depends_on == ("characteristic_time", "room_temperature", "teacup_temperature")
    assert m.variables["teacup_temperature"].limits == (32.0, 212.0)
    assert m.controls == sim.Controls(0.0, 30.0, 0.125, 0.125)
    assert m.py_name("Teacup Temperature") == "teacup_temperature"
    assert len(m.model_hash) == 64


def test_values_is_two_dimensional_for_one_run_and_ensembles():
    m = sim.load_model(TEACUP)
    one = m.simulate(method="euler")
    many = m.simulate({"Room Temperature": [60.0, 70.0]}, method="euler")
    assert one.values("Teacup Temperature").shape == (len(one.times), 1)
    assert many.values("teacup_temperature").shape == (len(many.times), 2)
    np.testing.assert_array_equal(one.values("Teacup Temperature")[:, 0], one["Teacup Temperature"])


def test_switch_times_beyond_the_segment_cap_are_noted(tmp_path, monkeypatch):
    from conformance import mdl_text

    import sim.engine.model as sm

    path = tmp_path / "switch.mdl"
    path.write_text(mdl_text(["Level = INTEG(STEP(1, Switch Time), 0)", "Switch Time = 5"],
                             final=10, step=0.25), encoding="utf-8")
    model = sim.load_model(path)
    switch = np.array([2.0, 3.0, 4.0, 6.0, 7.0])
    monkeypatch.setattr(sm, "MAX_SEGMENTS", 2)
    res = model.simulate({"Switch Time": switch}, method="scipy", rtol=1e-8, atol=1e-10)
    assert res.metadata["notes"] == ["5 switch times; the horizon was split at the first 2 only"]
    # the solver's error control still meets the switches it was not told about
    np.testing.assert_allclose(res.values("Level")[-1], 10.0 - switch, rtol=1e-4)


# ------------------------------------------------- PySD's conventions (issue #13)
def test_a_pandas_series_is_a_time_series_as_in_pysd(tmp_path):
    import pandas as pd

    m = sim.load_model(REPO_MODEL)
    name = "World Demand Growth Lever"
    series = pd.Series([1.0, 1.0, 1.5, 1.5], index=[2015, 2024.999, 2025, 2035])
    via_series = m.simulate({name: series}, method="euler")
    via_table = m.simulate({name: sim.Table({2015: 1.0, 2024.999: 1.0, 2025: 1.5, 2035: 1.5})},
                           method="euler")
    assert via_series.n_members == 1                       # not a 4-member ensemble
    np.testing.assert_array_equal(via_series["World DDS Exports"], via_table["World DDS Exports"])
    assert via_series.metadata["time_series"] == [name]


@pytest.mark.parametrize("value, words", [
    ("frame", "a DataFrame is ambiguous"),
    ("text_index", "its index must be times"),
    ("repeated", "must be distinct finite times"),
])
def test_ambiguous_pandas_input_is_refused_naming_the_parameter(value, words):
    import pandas as pd

    m = sim.load_model(REPO_MODEL)
    given = {"frame": pd.DataFrame({"a": [1.0, 2.0]}),
             "text_index": pd.Series([1.0, 2.0], index=["a", "b"]),
             "repeated": pd.Series([1.0, 2.0], index=[2020, 2020])}[value]
    with pytest.raises(sim.ParameterError, match=f"parameter 'Trade Adjustment Time': .*{words}"):
        m.simulate({"Trade Adjustment Time": given})


def test_return_columns_is_pysds_name_for_outputs():
    m = sim.load_model(REPO_MODEL)
    res = m.simulate(method="euler", return_columns=["Openness"])
    assert res.variables == ["Openness"]
    with pytest.raises(sim.ParameterError, match="not both"):
        m.simulate(outputs=["Openness"], return_columns=["Openness"])
