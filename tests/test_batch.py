"""Running scenarios and summarising them (sim.ensembles.batch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.ensembles.batch import (
    RunFailure,
    base_run_of,
    cagr,
    format_summary,
    plan_batch,
    run_batch,
    run_scenario,
    summarize,
    summary_table,
)
from sim.scenarios import ScenarioError, load_scenarios, load_scenarios_text, resolve

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "models" / "levers_fixture.mdl"
REAL_MODEL = REPO / "model" / "digital_trade.mdl"

TWO = """\
scenarios:
  - name: baseline
    description: reference
    base: model
    members: 40
    seed: 0
    uncertainty:
      Capability Growth Rate: {dist: uniform, low: 0.03, high: 0.05}
      World Growth Rate: {dist: triangular, low: 0.06, mode: 0.081, high: 0.1}
  - name: talent push
    extends: baseline
    description: more talent
    levers:
      talent: {value: 2.0, start: 2020}
"""


@pytest.fixture(scope="module")
def model():
    return sim.load_model(FIXTURE)


@pytest.fixture(scope="module")
def batch(model):
    return run_batch(load_scenarios_text(TWO, "two.yaml"), model, None, method="euler")


def test_same_seed_gives_identical_results(model, batch):
    again = run_batch(load_scenarios_text(TWO, "two.yaml"), model, None, method="euler")
    for a, b in zip(batch.runs, again.runs, strict=True):
        for var in a.variables:
            np.testing.assert_array_equal(a.values(var), b.values(var))
        pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    other = run_batch(load_scenarios_text(TWO.replace("seed: 0", "seed: 1"), "two.yaml"),
                      model, None, method="euler")
    assert not np.array_equal(other.runs[0].values("Digitally Deliverable Exports"),
                              batch.runs[0].values("Digitally Deliverable Exports"))


def test_an_ensemble_is_one_vectorised_simulate_call(model, monkeypatch):
    calls = []
    original = type(model).simulate

    def spy(self, params=None, *args, **kwargs):
        calls.append({k: np.shape(v) for k, v in (params or {}).items()})
        return original(self, params, *args, **kwargs)

    monkeypatch.setattr(type(model), "simulate", spy)
    out = run_batch(load_scenarios_text(TWO, "two.yaml"), model, None, method="euler")
    assert len(calls) == 2 and not out.failures
    for shapes in calls:
        assert shapes["Capability Growth Rate"] == (40,)
        assert shapes["World Growth Rate"] == (40,)
    assert out.runs[1].values("Digitally Deliverable Exports").shape == (21, 40)


def test_named_baseline_gives_paired_differences(batch):
    assert batch.baseline is batch.runs[0] and batch.baseline_of is None
    table = summary_table(batch)
    diff = table[(table.measure == "difference")]
    base_rows = diff[diff.scenario == "baseline"]
    assert (base_rows[["p5", "median", "p95"]].to_numpy() == 0).all()
    push = diff[(diff.scenario == "talent push") & (diff.period == "2035") &
                (diff.variable == "Digitally Deliverable Exports")].iloc[0]
    assert push.comparison == "paired" and push.p5 > 0  # more talent -> more exports, every member
    x = batch.runs[1].at("Digitally Deliverable Exports", 2035)
    y = batch.runs[0].at("Digitally Deliverable Exports", 2035)
    assert push["median"] == pytest.approx(np.percentile(x - y, 50))


def test_base_run_is_made_when_no_scenario_is_named_baseline(model):
    sc = load_scenarios_text(TWO, "two.yaml")[1]
    todo, failures, of = plan_batch([sc])
    assert [s.name for s in todo] == ["baseline", "talent push"] and of == "talent push"
    assert todo[0].levers == {} and todo[0].members == sc.members and not failures
    out = run_batch([sc], model, None, method="euler")
    assert out.baseline.name == "baseline" and out.baseline_of == "talent push"
    t = summarize(out.runs[1], out.baseline)
    assert set(t.loc[t.measure == "difference", "comparison"]) == {"paired"}


def test_unpaired_ensembles_compare_all_pairs(model):
    base = resolve(load_scenarios_text(TWO, "t.yaml")[0], model)
    other = resolve(load_scenarios_text(TWO.replace("seed: 0", "seed: 9"), "t.yaml")[0], model)
    rb, ro = run_scenario(base, model, "euler"), run_scenario(other, model, "euler")
    t = summarize(ro, rb)
    row = t[(t.measure == "difference") & (t.period == "2035")].iloc[0]
    assert row.comparison == "independent" and row.n == 40 * 40
    assert row.p5 < 0 < row.p95


def test_failures_are_reported_and_the_others_still_run(model):
    items = load_scenarios_text(TWO, "two.yaml") + load_scenarios_text(
        "scenarios:\n"
        "  - {name: out of range, description: d, base: model,\n"
        "     levers: {talent: {value: 9, start: 2026}}}\n"
        "  - {name: blows up, description: d, base: model, parameters: {Test Blowup Rate: 100}}\n",
        "bad.yaml") + [RunFailure("broken.yaml", None, "broken.yaml, line 1: invalid YAML")]
    out = run_batch(items, model, None, method="euler")
    assert [r.name for r in out.runs] == ["baseline", "talent push"]
    reasons = {f.scenario: f.reason for f in out.failures}
    assert reasons[None].startswith("broken.yaml")
    assert "bad.yaml" in reasons["out of range"] and "outside the model's range" in \
        reasons["out of range"]
    assert "bad.yaml, scenario 'blows up': numerical failure at t = 2023: " \
        "'Digitally Deliverable Imports' became non-finite" in reasons["blows up"]


def test_solver_failure_is_a_failure(model):
    s = load_scenarios_text("name: x\ndescription: d\nbase: model\n"
                            "parameters: {Test Blowup Rate: 100}\n", "x.yaml")[0]
    with pytest.raises(ScenarioError, match="x.yaml, scenario 'x': numerical failure at t = "
                                            r"2022[.0-9]*: the solver: step size collapsed: "
                                            "Required step size"):
        run_scenario(resolve(s, model), model, "scipy")


def test_members_that_go_non_finite_are_left_out_with_a_warning(model):
    s = load_scenarios_text("name: x\ndescription: d\nbase: model\nmembers: 20\nseed: 2\n"
                            "uncertainty: {Test Blowup Rate: {dist: uniform, low: 0, high: 60}}\n",
                            "x.yaml")[0]
    run = run_scenario(resolve(s, model), model, "euler")
    assert 0 < len(run.failed_members) < 20
    assert any("members became non-finite" in w for w in run.warnings)
    exp = run.experiments()
    assert exp["failed"].sum() == len(run.failed_members)
    assert (exp.loc[exp.failed, "Test Blowup Rate"] > 30).all()
    t = summarize(run, run)
    row = t[(t.measure == "value") & (t.period == "2035")].iloc[0]
    assert np.isfinite(row["median"]) and row.n == 20 - len(run.failed_members)


def test_duplicate_names_across_files_fail(model):
    a = load_scenarios_text("name: same\ndescription: d\nbase: model\n", "a.yaml")
    b = load_scenarios_text("name: Same\ndescription: d\nbase: model\n", "b.yaml")
    out = run_batch(a + b, model, None, method="euler")
    assert [r.name for r in out.runs] == ["baseline", "same"]
    assert len(out.failures) == 1 and "already used by a scenario in a.yaml" in \
        out.failures[0].reason


def test_tables_have_the_documented_columns(batch):
    run = batch.runs[1]
    tidy = run.tidy()
    assert list(tidy.columns) == ["run_id", "scenario", "time", "variable", "value"]
    assert len(tidy) == 40 * 21 * len(run.variables)
    exp = run.experiments()
    assert list(exp.columns[:4]) == ["run_id", "scenario", "seed", "sampling"]
    assert {"Capability Growth Rate", "World Growth Rate"} <= set(exp.columns)
    wide = run.percentiles()
    assert wide.shape == (21, 1 + 6 * len(run.variables))
    med = wide["Digitally Deliverable Exports p50"].to_numpy()
    np.testing.assert_allclose(med, np.median(run.values("Digitally Deliverable Exports"), axis=1))


def test_cagr_is_compound_annual_growth():
    np.testing.assert_allclose(cagr(np.array([100.0, 100.0]), np.array([200.0, 100.0]), 10),
                               [2 ** 0.1 - 1, 0.0])
    assert np.isnan(cagr(np.array([-1.0]), np.array([5.0]), 3)).all()


def test_summary_years_outside_the_horizon_are_nan(model):
    s = load_scenarios_text("name: short\ndescription: d\nbase: model\nhorizon: 2028\n", "s.yaml")
    out = run_batch(s, model, None, method="euler")
    t = summary_table(out)
    v = t[(t.scenario == "short") & (t.measure == "value")].set_index(["variable", "period"])
    assert np.isnan(v.loc[("Digitally Deliverable Exports", "2030"), "median"])
    assert np.isfinite(v.loc[("Digitally Deliverable Exports", "2025"), "median"])
    c = t[(t.scenario == "short") & (t.measure == "cagr")]
    assert set(c.period) == {"2022-2025"}


def test_format_summary_lists_levels_growth_and_bands(batch):
    text = format_summary(summary_table(batch))
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["scenario", "variable", "2025", "2030", "2035", "CAGR"]
    assert "Δ2035 vs baseline [5%, 95%]" in lines[0]
    push = [ln for ln in lines if ln.startswith("talent push") and " exports " in ln][0]
    assert "[" in push and "%" in push
    assert "CAGR 2022-2035" in text and "paired" in text
    balance = [ln for ln in lines if ln.startswith("talent push") and " balance " in ln][0]
    assert "%" not in balance  # no growth rate for a balance (it changes sign)


def test_base_run_of_keeps_the_ensemble():
    sc = load_scenarios_text(TWO, "two.yaml")[1]
    b = base_run_of(sc)
    assert (b.name, b.levers, b.parameters, b.members, b.seed, b.uncertainty) == \
        ("baseline", {}, {}, sc.members, sc.seed, sc.uncertainty)


@pytest.mark.skipif(not REAL_MODEL.exists(), reason="model/digital_trade.mdl not written yet")
def test_shipped_scenarios_run_on_the_real_model():
    m = sim.load_model(REAL_MODEL)
    items = [s for p in sorted((REPO / "scenarios").glob("*.yaml")) for s in load_scenarios(p)]
    from sim.scenarios import load_calibrated
    out = run_batch(items, m, load_calibrated(REPO / "model" / "calibrated.yaml"),
                    method="euler", members=16)
    assert not out.failures, out.failures
    t = summary_table(out)
    d = t[(t.measure == "difference") & (t.period == "2035") &
          (t.variable == "Digitally Deliverable Exports")].set_index("scenario")
    assert set(d.comparison) == {"paired"}
    assert d.loc["fragmentation", "median"] < 0 < d.loc["coordinated strategy", "median"]
