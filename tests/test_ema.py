"""The EMA Workbench adapter: the same numbers as EMA's own evaluator, chunking, PRIM example."""
from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ema_workbench", reason="the [ema] extra is not installed")

from ema_workbench import (  # noqa: E402
    Constant,
    RealParameter,
    ScalarOutcome,
    SequentialEvaluator,
    TimeSeriesOutcome,
    perform_experiments,
)
from ema_workbench.em_framework.samplers import LHSSampler, sample_parameters  # noqa: E402

from sim.ema import (  # noqa: E402
    MdlModel,
    VectorizedEvaluator,
    uncertainties_from_model,
    uncertainties_from_scenario,
)

REPO = Path(__file__).resolve().parents[1]
logging.getLogger("EMA").setLevel(logging.WARNING)

DECAY = """{UTF-8}
Stock = INTEG(Inflow - Outflow, Initial Stock)
	~	Widget
	~	|
Inflow = Inflow Rate * (1 + 0.2 * SIN(Time))
	~	Widget/Month
	~	|
Outflow = Stock / Residence Time
	~	Widget/Month
	~	|
Initial Stock = 50
	~	Widget [0, 100]
	~	|
Inflow Rate = 10
	~	Widget/Month [5, 15]
	~	|
Residence Time = 4
	~	Month [1, 8]
	~	|
Unranged = 3
	~	Widget
	~	|
INITIAL TIME = 0
	~	Month
	~	|
FINAL TIME = 10
	~	Month
	~	|
TIME STEP = 0.125
	~	Month
	~	|
SAVEPER = 1
	~	Month
	~	|
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "decay.mdl"
    path.write_text(DECAY, encoding="utf-8")
    m = MdlModel("decay", path)
    m.uncertainties = uncertainties_from_model(m.sim_model, ["Inflow Rate", "Residence Time"])
    m.levers = [RealParameter("Initial Stock", 0, 100)]
    m.constants = [Constant("Unranged", 3)]
    m.outcomes = [TimeSeriesOutcome("Stock"), TimeSeriesOutcome("TIME"),
                  ScalarOutcome("final outflow", variable_name="Outflow", function=lambda x: x[-1])]
    return m


def run(model, evaluator, n_scenarios=40, n_policies=3):
    np.random.seed(5)
    scenarios = sample_parameters(model.uncertainties, n_scenarios, LHSSampler())
    policies = sample_parameters(model.levers, n_policies, LHSSampler())
    with evaluator:
        return perform_experiments(model, scenarios, policies=policies, evaluator=evaluator)


def test_vectorized_gives_emas_own_numbers(model):
    ex_v, out_v = run(model, VectorizedEvaluator(model))
    ex_s, out_s = run(model, SequentialEvaluator(model))
    assert len(ex_v) == 120
    cols = ["Inflow Rate", "Residence Time", "Initial Stock"]
    np.testing.assert_array_equal(ex_v[cols].to_numpy(float), ex_s[cols].to_numpy(float))
    for name in ("Stock", "TIME", "final outflow"):
        np.testing.assert_array_equal(out_v[name], out_s[name], err_msg=name)
    assert out_v["Stock"].shape == (120, 11)


def test_chunking_does_not_change_the_numbers(model):
    _, whole = run(model, VectorizedEvaluator(model))
    _, chunked = run(model, VectorizedEvaluator(model, chunk=7))
    np.testing.assert_array_equal(whole["Stock"], chunked["Stock"])


def test_uncertainties_come_from_declared_ranges_and_scenarios(model, tmp_path):
    (p,) = uncertainties_from_model(model.sim_model, ["Residence Time"])
    assert (p.name, p.lower_bound, p.upper_bound) == ("Residence Time", 1, 8)
    with pytest.raises(ValueError, match="'Unranged' declares no finite"):
        uncertainties_from_model(model.sim_model, ["Unranged"])
    all_ranged = {u.name for u in uncertainties_from_model(model.sim_model)}
    assert all_ranged == {"Initial Stock", "Inflow Rate", "Residence Time"}
    sc = tmp_path / "s.yaml"
    sc.write_text("name: s\ndescription: d\nbase: model\nparameters: {Unranged: 2}\n"
                  "uncertainty:\n  Inflow Rate: {dist: uniform, low: 6, high: 9}\n")
    (u,), (c,) = uncertainties_from_scenario(sc)
    assert (u.name, u.lower_bound, u.upper_bound) == ("Inflow Rate", 6, 9)
    assert (c.name, c.value) == ("Unranged", 2)
    sc.write_text("name: s\ndescription: d\nbase: model\nuncertainty:\n"
                  "  Inflow Rate: {dist: triangular, low: 6, mode: 7, high: 9}\n")
    with pytest.raises(ValueError, match="triangular; EMA's RealParameter samples uniformly"):
        uncertainties_from_scenario(sc)


def test_the_prim_example_finds_a_box_for_low_2035_exports(capsys):
    spec = importlib.util.spec_from_file_location("ema_prim", REPO / "docs" / "examples" /
                                                  "ema_prim.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["ema_prim"] = mod
    spec.loader.exec_module(mod)
    result = mod.main(["--experiments", "400"])
    assert result["coverage"] > 0.2 and result["density"] > 0.7
    assert "World DDS Annual Growth Assumption" in result["box"]
    lo, hi = result["box"]["World DDS Annual Growth Assumption"]
    assert hi < 0.2                                     # low world growth: low exports
    assert "PRIM box: coverage" in capsys.readouterr().out
