"""Where a ``scipy`` run is split: the model's known switch times, and only those.

SciPy's solvers assume a smooth right-hand side; the engine integrates
piecewise between the times at which STEP, PULSE, PULSE TRAIN, RAMP and
time lookups switch, when those times are static. A switch multiplied by
a static 0 (a STEP of height 0, a policy lever left at its default; a shock of
size 0 times a PULSE) switches nothing and does not split the run.
The split points are observed by wrapping the integrator the model calls.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conformance import mdl_text

import sim
import sim.engine.model


def split_points(tmp_path: Path, equations: list[str], params=None, **controls) -> list[float]:
    path = tmp_path / "switches.mdl"
    path.write_text(mdl_text(equations, **controls), encoding="utf-8")
    model = sim.load_model(path)
    seen: list = []
    real = sim.engine.model.scipy_piecewise

    def spy(problem):
        seen.append(list(problem.breaks))
        return real(problem)

    mp = pytest.MonkeyPatch()
    mp.setattr(sim.engine.model, "scipy_piecewise", spy)
    try:
        model.simulate(params, method="scipy")
    finally:
        mp.undo()
    assert len(seen) == 1
    return seen[0]


STOCK = ["Level = INTEG(Inflow, 0)"]


@pytest.mark.parametrize("inflow, expected", [
    ("STEP(2, 3)", [3.0]),
    ("STEP(0, 3)", []),                                  # height 0: no switch
    ("STEP(Lever - 1, 3)", []),                          # a lever at its default 1
    ("STEP(Level, 3)", [3.0]),                           # height depends on a stock: kept
    ("PULSE(2, 1.5)", [2.0, 3.5]),
    ("RAMP(1, 2, 5)", [2.0, 5.0]),
    ("PULSE TRAIN(1, 0.5, 3, 6)", [1.0, 1.5, 4.0, 4.5, 6.0]),
    ("STEP(1, Level + 3)", []),                          # the time depends on a stock: unknown
    ("Size * PULSE(2, 1)", []),                          # a shock of size 0
    ("PULSE(2, 1) * Size / 4", []),
    ("Size * 2 * (1 + PULSE(2, 1))", []),                # 0 times anything that switches
    ("Lever * PULSE(2, 1)", [2.0, 3.0]),
    ("Level * PULSE(2, 1)", [2.0, 3.0]),                 # the factor depends on a stock: kept
    ("PULSE(2, 1) / Size", [2.0, 3.0]),                  # a divisor of 0 does not cancel
    ("Size * PULSE(2, 1) + STEP(1, 5)", [5.0]),
    ("STEP(1, 3 + 1 / Size)", []),                       # a time of 1/0: inf, no switch
    ("STEP(1, 3 + LN(Size + 1))", [3.0]),
    ("STEP(1 / Size, 2) + PULSE(SQRT(Lever + 3), 1)", [2.0, 3.0]),  # a height of inf switches
])
def test_runs_are_split_at_static_switch_times(tmp_path, inflow, expected):
    got = split_points(tmp_path, STOCK + [f"Inflow = {inflow}", "Lever = 1", "Size = 0"], final=8)
    assert got == expected


@pytest.mark.parametrize("members", [1, 3])
def test_one_run_and_an_ensemble_see_the_same_switches(tmp_path, members):
    # one member reads them from the scalar closures, an ensemble from the vector ones
    eqs = STOCK + ["Inflow = STEP(Lever - 1, Start) + Size * PULSE(Start / 2, Width) "
                   "+ RAMP(1, Start + Width, 7)", "Lever = 1", "Size = 0", "Start = 3",
                   "Width = 0.5"]
    params = {"Lever": 2.0, "Size": 1.0, "Start": 4.0}
    if members > 1:
        params = {k: np.full(members, v) for k, v in params.items()}
    assert split_points(tmp_path, eqs, params, final=8) == [2.0, 2.5, 4.0, 4.5, 7.0]


def test_a_lever_moved_from_its_default_splits_the_run(tmp_path):
    eqs = STOCK + ["Inflow = STEP(Lever - 1, 3)", "Lever = 1"]
    assert split_points(tmp_path, eqs, {"Lever": 1.5}, final=8) == [3.0]
    # in an ensemble, one member away from 0 is enough
    assert split_points(tmp_path, eqs, {"Lever": np.array([1.0, 1.0, 2.0])}, final=8) == [3.0]


def test_a_shock_given_a_size_splits_the_run(tmp_path):
    eqs = STOCK + ["Inflow = Size * PULSE(2, 1)", "Size = 0"]
    assert split_points(tmp_path, eqs, {"Size": 0.5}, final=8) == [2.0, 3.0]
    assert split_points(tmp_path, eqs, {"Size": np.array([0.0, 0.1])}, final=8) == [2.0, 3.0]
    assert split_points(tmp_path, eqs, {"Size": np.array([0.0, 0.0])}, final=8) == []


def test_zero_height_step_changes_nothing_in_the_result(tmp_path):
    # the run without the split equals the closed form as closely as the one with it
    path = tmp_path / "zero.mdl"
    path.write_text(mdl_text(["Level = INTEG(-Level / 2 + STEP(Lever - 1, 3), 1)", "Lever = 1"],
                             final=8), encoding="utf-8")
    res = sim.load_model(path).simulate(method="scipy", rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res["Level"], np.exp(-res.times / 2), rtol=1e-7)


def test_switch_tables_of_the_back_ends_line_up():
    # one switch per entry in each back end, in the same order, with the same gates: the
    # scalar closures (one member) and the vector ones (ensembles) describe the same switches
    from conformance import models_dir, supported_cases

    paths = [mdl for _, mdl, _ in supported_cases(models_dir())]
    paths.append(Path(__file__).parents[1] / "model" / "digital_trade.mdl")
    for mdl in paths:
        p = sim.load_model(mdl).program
        sb, vb = p.backends["scalar"], p.backends["vector"]
        n = len(vb.breakpoints)
        assert len(sb.breakpoints) == len(p.breakpoint_deps) == len(p.breakpoint_gates) == n, mdl
        assert [k for k, _ in sb.breakpoints] == [k for k, _ in vb.breakpoints], mdl
        assert [len(v) for _, v in sb.breakpoints] == [len(v) for _, v in vb.breakpoints], mdl
        assert [len(g) for g in sb.gates] == [len(g) for g in vb.gates] == \
            [len(g) for g in p.breakpoint_gates], mdl
