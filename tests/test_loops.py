"""Loops That Matter on models with known answers, the project's named loops, `sim loops`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.engine.model import load_model
from sim.loops.graph import build_graph, find_loops
from sim.loops.names import LoopNamesError, load_loop_names
from sim.loops.scores import analyse_loops

REPO = Path(__file__).resolve().parents[1]

CONTROL = """
INITIAL TIME = 0
	~	Month
	~	|
FINAL TIME = {final}
	~	Month
	~	|
TIME STEP = {dt}
	~	Month
	~	|
SAVEPER = 1
	~	Month
	~	|
"""

GOAL_SEEKING = """{UTF-8}
Level = INTEG(Adjustment, 10)
	~	Widget
	~	|
Adjustment = Gap / Adjustment Time
	~	Widget/Month
	~	|
Gap = Goal - Level
	~	Widget
	~	|
Goal = 100
	~	Widget
	~	|
Adjustment Time = 4
	~	Month
	~	|
"""

# S-shaped growth with the two loops apart: R (Population -> Births -> Population) and
# B (Population -> Fractional Growth -> Births -> Population). Dominance shifts where
# g dP = P |dg|, i.e. r (1 - P/K) = r P / K: at P = K / 2, the inflection point.
LOGISTIC = """{UTF-8}
Population = INTEG(Births, 1)
	~	Widget
	~	|
Births = Population * Fractional Growth
	~	Widget/Month
	~	|
Fractional Growth = Maximum Growth * (1 - Population / Carrying Capacity)
	~	1/Month
	~	|
Maximum Growth = 0.5
	~	1/Month
	~	|
Carrying Capacity = 1000
	~	Widget
	~	|
"""

OSCILLATOR = """{UTF-8}
Position = INTEG(Velocity, 1)
	~	Meter
	~	|
Velocity = INTEG(Acceleration, 0)
	~	Meter/Month
	~	|
Acceleration = -Stiffness * Position
	~	Meter/(Month*Month)
	~	|
Stiffness = 1
	~	1/(Month*Month)
	~	|
"""


def load(tmp_path: Path, text: str, final: float = 20, dt: float = 0.0625):
    path = tmp_path / "m.mdl"
    path.write_text(text + CONTROL.format(final=final, dt=dt), encoding="utf-8")
    return load_model(path)


def test_goal_seeking_has_one_balancing_loop_at_100_percent(tmp_path):
    a = analyse_loops(load(tmp_path, GOAL_SEEKING))
    (loop,) = a.loops
    assert set(loop.variables) == {"Level", "Gap", "Adjustment"}
    assert loop.polarity == "balancing"
    np.testing.assert_allclose(loop.relative, -1.0)


def test_s_shaped_growth_hands_dominance_to_the_balancing_loop_at_the_inflection(tmp_path):
    model = load(tmp_path, LOGISTIC, final=30)
    a = analyse_loops(model)
    assert len(a.loops) == 2
    r = next(lp for lp in a.loops if lp.polarity == "reinforcing")
    b = next(lp for lp in a.loops if lp.polarity == "balancing")
    assert set(r.variables) == {"Population", "Births"}
    assert set(b.variables) == {"Population", "Fractional Growth", "Births"}
    np.testing.assert_allclose(np.abs(r.relative) + np.abs(b.relative), 1.0, atol=1e-12)
    pop = model.simulate(method="euler", saveper=model.controls.time_step)["Population"][1:]
    shift = a.times[np.argmax(np.abs(b.relative) > np.abs(r.relative))]
    inflection = a.times[np.argmax(pop >= 500)]
    assert abs(shift - inflection) <= 2 * model.controls.time_step
    assert r.relative[0] > 0.99 and b.relative[-1] < -0.99


def test_an_oscillator_is_one_balancing_loop_through_both_stocks(tmp_path):
    a = analyse_loops(load(tmp_path, OSCILLATOR, final=12, dt=0.01))
    (loop,) = a.loops
    assert set(loop.variables) == {"Position", "Velocity", "Acceleration"}
    active = loop.score != 0
    assert active.mean() > 0.9
    np.testing.assert_allclose(loop.relative[active], -1.0)


def test_an_independent_loop_set_covers_every_link_on_a_loop(tmp_path):
    model = load(tmp_path, LOGISTIC)
    graph = build_graph(model.program)
    every, complete = find_loops(graph)
    some, partial = find_loops(graph, max_loops=1)
    assert complete and not partial
    links = {(c[i], c[(i + 1) % len(c)]) for c in every for i in range(len(c))}
    covered = {(c[i], c[(i + 1) % len(c)]) for c in some for i in range(len(c))}
    assert covered == links


def test_the_projects_named_loops_are_all_found_with_their_polarity():
    model = load_model(REPO / "model" / "digital_trade.mdl")
    names = load_loop_names(REPO / "model" / "digital_trade.loops.yaml", model)
    a = analyse_loops(model, names=names, final_time=2035)
    assert a.times[0] > 2015 and a.times[-1] == 2035
    found = {lp.name: lp.polarity for lp in a.loops if lp.name}
    assert set(found) == set(names)
    for name, polarity in found.items():
        assert polarity == ("reinforcing" if name.startswith("R") else "balancing"), name


def test_loops_through_a_variable_share_its_relative_scores():
    model = load_model(REPO / "model" / "digital_trade.mdl")
    a = analyse_loops(model, variable="Digital Talent")
    assert a.loops and all("Digital Talent" in lp.variables for lp in a.loops)
    total = np.sum([np.abs(lp.relative) for lp in a.loops], axis=0)
    np.testing.assert_allclose(total[total > 0], 1.0, atol=1e-9)


def test_sim_loops_prints_and_writes(tmp_path, capsys):
    assert main(["loops", str(REPO / "model" / "digital_trade.mdl"), "--top", "3",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "feedback loops; relative loop scores" in out
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["L1", "L2", "L3"]
    assert not out.splitlines()[5].startswith("L4")            # --top 3
    assert (tmp_path / "loops.png").stat().st_size > 0
    header = (tmp_path / "loops.csv").read_text().splitlines()[0]
    assert header == "loop,name,polarity,time,score,relative,variables"


def test_bad_loop_names_are_named(tmp_path):
    model = load(tmp_path, GOAL_SEEKING)
    bad = tmp_path / "n.yaml"
    bad.write_text("schema: sim.loops/1\nloops:\n  B1: [Levl]\n")
    with pytest.raises(LoopNamesError, match=r"n.yaml, field 'loops.B1'.*did you mean 'Level'"):
        load_loop_names(bad, model)
    bad.write_text("schema: sim.loops/2\nloops: {B1: [Level]}\n")
    with pytest.raises(LoopNamesError, match=r"field 'schema': expected 'sim.loops/1'"):
        load_loop_names(bad)
