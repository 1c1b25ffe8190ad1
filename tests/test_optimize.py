"""`sim optimize`: a toy problem with a known answer, determinism, outputs, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.engine.model import load_model
from sim.optimize.evaluate import Problem
from sim.optimize.search import non_dominated, run_search
from sim.optimize.spec import OptimizeSpecError, load_spec
from sim.scenarios import load_scenarios

REPO = Path(__file__).resolve().parents[1]

# Y = K (2 A + B): A buys two units of Y per unit, B one, at the same cost; K is uncertain.
# Cheapest mix with the 10th percentile of Y at least 4: B stays at 1 and
# A = (4 / K10 - 1) / 2, K10 the 10th percentile of K's sample. (The trade variables are
# there because a scenario records the project's summary outputs.)
TOY = """{UTF-8}
Y = K * (2 * A + B)
	~	Widget
	~	|
Acc = INTEG(Y, 0)
	~	Widget*Year
	~	|
A = 1
	~	Dmnl [0, 5]
	~	|
B = 1
	~	Dmnl [0, 5]
	~	|
K = 1
	~	Widget [0.5, 1.5]
	~	|
Digitally Deliverable Exports = Y
	~	Widget
	~	|
Digitally Deliverable Imports = 0
	~	Widget
	~	|
Digital Trade Balance = Y
	~	Widget
	~	|
INITIAL TIME = 2020
	~	Year
	~	|
FINAL TIME = 2025
	~	Year
	~	|
TIME STEP = 0.25
	~	Year
	~	|
SAVEPER = 1
	~	Year
	~	|
"""

SCENARIO = """name: toy
description: K uncertain
base: model
horizon: 2025
members: 200
seed: 7
uncertainty:
  K: {dist: uniform, low: 0.8, high: 1.2}
outputs: [Y]
"""


def toy_spec(extra: str = "", goal: str = "goal: min_cost\nrequire: {at_least: 4}\n") -> str:
    return ("schema: sim.optimize/1\nname: toy\nscenario: toy.yaml\n"
            "levers:\n  A: {low: 1, high: 3, cost: 1}\n  B: {low: 1, high: 3, cost: 1}\n"
            "objective: {sum_of: [Y], year: 2025, robustness: {rule: percentile, q: 10}}\n"
            + goal + "search: {seed: 3, generations: 60, population: 10}\n" + extra)


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "toy.mdl").write_text(TOY, encoding="utf-8")
    (tmp_path / "toy.yaml").write_text(SCENARIO, encoding="utf-8")
    return tmp_path


def problem(folder: Path, text: str) -> Problem:
    path = folder / "opt.yaml"
    path.write_text(text, encoding="utf-8")
    return Problem(load_spec(path), path, load_model(folder / "toy.mdl"), None)


def k10(folder: Path) -> float:
    pr = problem(folder, toy_spec())
    return float(np.percentile(pr.resolved.params["K"], 10))


def test_min_cost_finds_the_analytic_cheapest_mix(toy):
    pr = problem(toy, toy_spec())
    res = run_search(pr, progress=None)
    a = (4 / k10(toy) - 1) / 2
    assert res.best is not None
    np.testing.assert_allclose(res.best.x, [a, 1.0], atol=0.02)
    assert res.best.objective >= 4 - 1e-9
    assert res.best.cost == pytest.approx(a - 1, abs=0.02)
    # the reported objective is what an independent evaluation of the mix gives
    again = pr.evaluate(res.best.x[None, :])
    assert again.objective[0] == pytest.approx(res.best.objective, rel=1e-12)


def test_same_seed_same_answer(toy):
    one = run_search(problem(toy, toy_spec()), progress=None).best
    two = run_search(problem(toy, toy_spec()), progress=None).best
    np.testing.assert_array_equal(one.x, two.x)


def test_max_objective_within_a_budget_spends_it_on_the_better_lever(toy):
    pr = problem(toy, toy_spec(goal="goal: max_objective\nbudget: 1.0\n"))
    res = run_search(pr, progress=None)
    np.testing.assert_allclose(res.best.x, [2.0, 1.0], atol=0.03)
    assert res.best.cost <= 1.0 + 1e-9


def test_infeasible_requirement_says_so_with_the_closest_mix(toy, tmp_path):
    pr = problem(toy, toy_spec(goal="goal: min_cost\nrequire: {at_least: 100}\n"))
    res = run_search(pr, progress=None)
    assert res.best is None
    assert res.closest is not None and res.closest.x[0] == pytest.approx(3.0, abs=0.05)


def test_constraints_bind_or_not(toy):
    # any mix meeting q10(Y) >= 4 has mean(Y) = 4 mean(K) / K10 > 4.3: infeasible together
    tight = toy_spec("constraints:\n  - {sum_of: [Y], year: 2025, at_most: 4.3, "
                     "robustness: {rule: mean}}\n")
    res = run_search(problem(toy, tight), progress=None)
    assert res.best is None
    assert np.all(res.closest.margins >= 0)                 # the closest respects the cap
    # a slack constraint leaves the answer where it was
    slack = toy_spec("constraints:\n  - {sum_of: [Y], year: 2025, at_most: 100, "
                     "robustness: {rule: mean}}\n")
    free = run_search(problem(toy, toy_spec()), progress=None).best
    capped = run_search(problem(toy, slack), progress=None).best
    np.testing.assert_allclose(capped.x, free.x, atol=0.02)


def test_non_dominated_keeps_the_front():
    from sim.optimize.search import Candidate
    c = [Candidate(np.zeros(1), cost, obj, np.zeros(0), True)
         for cost, obj in [(0, 1), (1, 3), (1, 2), (2, 2.5), (3, 4)]]
    assert [(x.cost, x.objective) for x in non_dominated(c)] == [(0, 1), (1, 3), (3, 4)]


def test_command_writes_a_scenario_that_sim_run_loads(toy, tmp_path, capsys):
    spec = toy / "opt.yaml"
    spec.write_text(toy_spec("pareto: {points: 3}\n"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["optimize", str(spec), "--model", str(toy / "toy.mdl"), "--no-calibration",
                 "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["best.yaml", "candidates.csv", "history.csv", "metadata.json",
                     "pareto.csv", "pareto.png", "pareto_archive.csv", "summary.md"]
    (best,) = load_scenarios(out / "best.yaml")
    assert set(best.parameters) == {"A", "B"} and best.uncertainty["K"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 3 and len(meta["model_hash"]) == 64
    assert "generation 0" in capsys.readouterr().err
    assert main(["run", str(out / "best.yaml"), "--model", str(toy / "toy.mdl"),
                 "--no-calibration", "--out", str(tmp_path / "run"), "--method", "euler"]) == 0


@pytest.mark.parametrize("text, words", [
    (toy_spec().replace("cost: 1}\n  B", "cost: 1, price: 2}\n  B"),
     "field 'levers.A.price': unknown key; accepted: low, high, start, cost"),
    (toy_spec().replace("goal: min_cost\nrequire: {at_least: 4}\n", "goal: min_cost\n"),
     "goal min_cost needs 'require"),
    (toy_spec().replace("measure", "x").replace("robustness: {rule: percentile, q: 10}",
                                                "measure: gain"),
     "measure 'gain' needs 'reference:'"),
    (toy_spec().replace("schema: sim.optimize/1", "schema: sim.optimize/9"), "field 'schema'"),
])
def test_bad_specs_name_file_and_field(tmp_path, text, words):
    path = tmp_path / "opt.yaml"
    path.write_text(text)
    with pytest.raises(OptimizeSpecError) as err:
        load_spec(path)
    assert "opt.yaml" in str(err.value) and words in str(err.value)


def test_unknown_lever_and_start_on_a_constant_are_named(toy):
    with pytest.raises(OptimizeSpecError, match=r"'Aa' is neither a lever.*did you mean 'A'"):
        problem(toy, toy_spec().replace("  A: {low", "  Aa: {low"))
    with pytest.raises(OptimizeSpecError, match=r"levers\.A\.start': only a lever"):
        problem(toy, toy_spec().replace("  A: {low: 1, high: 3, cost: 1}",
                                        "  A: {low: 1, high: 3, cost: 1, start: 2022}"))


def test_the_shipped_example_is_valid():
    spec = load_spec(REPO / "scenarios" / "optimize" / "offset_fragmentation.yaml")
    assert spec.goal == "min_cost" and spec.objective.measure == "gain"
    assert (REPO / "scenarios" / "optimize" / spec.scenario).resolve().exists()


def test_regret_is_measured_against_the_best_reference_mix_per_member(toy):
    from sim.optimize.search import set_regret_reference

    text = toy_spec(goal="goal: max_objective\nbudget: 1.0\n").replace(
        "robustness: {rule: percentile, q: 10}", "robustness: {rule: regret, q: 90}")
    pr = problem(toy, text)
    set_regret_reference(pr, seed=3)
    # the reference set's best per member is at most the bounds' best, Y = K (2*3 + 3)
    k = np.asarray(pr.resolved.params["K"])
    assert np.all(pr.best_per_member <= 9 * k + 1e-9)
    ev = pr.evaluate(np.array([[1.0, 1.0], [2.0, 1.0]]))
    regret = np.maximum(pr.best_per_member[None, :] - ev.members, 0)
    np.testing.assert_allclose(ev.objective, -np.percentile(regret, 90, axis=1))
    assert ev.objective[1] > ev.objective[0]                   # more A, less regret
    res = run_search(pr, progress=None)
    np.testing.assert_allclose(res.best.x, [2.0, 1.0], atol=0.03)  # the budget spent on A


def test_the_report_section_states_the_answer_and_the_starting_point(toy):
    from sim.reporting.analyses_section import AnalysesInputs, optimize_section
    from sim.reporting.calibration_report import Num, Section, Table

    pr = problem(toy, toy_spec())
    neutral = pr.evaluate(pr.neutral())
    res = run_search(pr, progress=None)
    a = AnalysesInputs(None, "", [], "", 2022.0, ((toy / "opt.yaml", pr, res, neutral),))
    sec = optimize_section(a, Section, Table, Num)
    assert sec.title == "Cheapest robust lever mix"
    text = " ".join(b for b in sec.blocks if isinstance(b, str))
    assert f"robust objective is {float(neutral.objective[0]):.4g}" in text
    table = next(b for b in sec.blocks if isinstance(b, Table))
    cells = {row[0]: row[1].value for row in table.rows}
    assert cells["A"] == pytest.approx(res.best.x[0]) and cells["B"] == pytest.approx(1.0, abs=0.02)
    assert cells["cost (lever units)"] == pytest.approx(res.best.cost)
    none = AnalysesInputs(None, "", [], "", 2022.0, ())
    assert optimize_section(none, Section, Table, Num) is None


def test_the_shipped_examples_answer_loads_in_the_app_and_sim_run(tmp_path):
    """A short search of the shipped spec: its best.yaml is a scenario the app and sim run load."""
    from sim.app import state as S
    from sim.scenarios import load_calibrated

    src = REPO / "scenarios" / "optimize" / "offset_fragmentation.yaml"
    text = src.read_text(encoding="utf-8")
    text = text.replace("scenario: ../04_fragmentation.yaml",
                        f"scenario: {REPO / 'scenarios' / '04_fragmentation.yaml'}")
    text = text.replace("reference: ../00_baseline.yaml",
                        f"reference: {REPO / 'scenarios' / '00_baseline.yaml'}")
    text = text.replace("generations: 100, population: 8", "generations: 3, population: 4")
    spec = tmp_path / "short.yaml"
    spec.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    model = REPO / "model" / "digital_trade.mdl"
    rc = main(["optimize", str(spec), "--model", str(model), "--members", "20",
               "--out", str(out)])
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "without the searched levers: robust objective" in summary
    assert rc == 0, summary           # 32 mixes x 20 members: some meet the target
    m = load_model(model)
    specs = S.lever_specs(m)[0]
    (loaded,) = S.parse_upload((out / "best.yaml").read_bytes(), "best.yaml", specs, model=m,
                               calibrated=load_calibrated(REPO / "model" / "calibrated.yaml"))
    (best,) = load_scenarios(out / "best.yaml")
    assert loaded.settings["Innovation Protection Lever"] == pytest.approx(
        best.levers["innovation"].value)
    assert main(["run", str(out / "best.yaml"), "--model", str(model), "--members", "10",
                 "--method", "euler", "--no-charts", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
