"""The engine's run side as data (issue #15).

A frozen program with shared caches, typed failures and methods, one tidy
format and one ``at`` rule.
"""
from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conformance import mdl_text

import sim
from sim.app.worker import decode, encode, result_from_parts, result_parts
from sim.cli import build_parser
from sim.engine.compiled.program import SLOT_KINDS, Slot
from sim.engine.results import AT_TOLERANCE, NON_FINITE, SOLVER, TIDY_COLUMNS, Failure, FailureKind
from sim.engine.running.cache import ProgramCache
from sim.engine.running.evaluator import Evaluator
from sim.engine.running.methods import METHODS, SCIPY_METHODS
from sim.ensembles.batch import ScenarioRun

MODELS = Path(__file__).parent / "models"
DECAY = MODELS / "decay.mdl"


@pytest.fixture(scope="module")
def decay() -> sim.Model:
    return sim.load_model(DECAY)


@pytest.fixture(scope="module")
def fragile(tmp_path_factory) -> sim.Model:
    path = tmp_path_factory.mktemp("fragile") / "fragile.mdl"
    path.write_text(mdl_text(["divisor = 1", "Inflow = 1 / divisor", "Stock = INTEG(Inflow, 0)",
                              "Decaying = INTEG(-Decaying / 3, 1)"]), encoding="utf-8")
    return sim.load_model(path)


# ------------------------------------------------------------------ program and cache
def test_program_is_frozen_and_holds_no_cache(decay):
    decay.simulate(method="scipy")
    decay.simulate({"Decay Time": [2.0, 3.0]}, method="euler")
    p = decay.program
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.path = "elsewhere.mdl"
    assert set(vars(p)) == {f.name for f in dataclasses.fields(p)}


def test_cache_entries_are_keyed_by_value_and_shared(decay):
    cache = ProgramCache(decay.program)
    a = Evaluator(decay.program, "vector", {}, {}, 2, kernel="jit", cache=cache)
    b = Evaluator(decay.program, "vector", {}, {}, 2, kernel="jit", cache=cache)
    assert a.run_order is b.run_order and a.tapes is b.tapes
    with pytest.raises(ValueError, match="another program"):
        Evaluator(sim.load_model(DECAY).program, "scalar", {}, {}, 1, cache=cache)


def _runs(model: sim.Model) -> list[dict]:
    return [dict(params={"Decay Time": 2.0 + k % 3}, method=("scipy", "euler", "rk4")[k % 3],
                 kernel=("jit", "python")[k % 2]) for k in range(6)] + \
        [dict(params={"Decay Time": np.linspace(1.0, 4.0, 5)}, method="scipy"),
         dict(params={"Decay Time": np.linspace(1.0, 4.0, 5)}, method="euler", kernel="python")]


def test_one_model_run_from_several_threads_gives_the_sequential_results(tmp_path):
    # a fresh model (empty caches), so the threads race to build every entry
    want_model = sim.load_model(DECAY)
    want = [want_model.simulate(**kw) for kw in _runs(want_model)]
    model = sim.load_model(DECAY)
    jobs = _runs(model) * 3
    got: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(worker: int) -> None:
        try:
            start.wait()
            for j in range(worker, len(jobs), 4):
                got[j] = model.simulate(**jobs[j])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert sorted(got) == list(range(len(jobs)))
    for j, res in got.items():
        ref = want[j % len(want)]
        assert res.variables == ref.variables
        for name in ref.variables:
            np.testing.assert_array_equal(res.values(name), ref.values(name), err_msg=f"{j} {name}")


# ------------------------------------------------------------------------- slot kinds
def test_slot_kinds_are_the_documented_eleven(decay):
    assert len(SLOT_KINDS) == 11 and {"internal", "pipeline", "discrete"} <= set(SLOT_KINDS)
    assert {s.kind for s in decay.program.slots} <= set(SLOT_KINDS)


def test_an_unknown_slot_kind_is_refused():
    with pytest.raises(ValueError, match="kind 'auxilary' is not one of constant"):
        Slot("x", "x", "auxilary")


# ---------------------------------------------------------------------- failure kinds
def test_non_finite_failure_has_its_kind(fragile):
    res = fragile.simulate({"divisor": [1.0, 0.0]}, method="euler")
    assert res.failures == [Failure(1, 0.0, "Inflow", NON_FINITE, sim.FailureKind.NON_FINITE)]
    assert not res.failures[0].kind.of_solver and not res.failures[0].of_solver


@pytest.mark.parametrize("scipy_method", ["RK45", "DOPRI5"])
@pytest.mark.parametrize("members", [1, 3], ids=["one", "ensemble"])
def test_step_limit_failure_has_its_kind(decay, scipy_method, members):
    taus = 3.0 if members == 1 else np.linspace(2.0, 4.0, members)
    res = decay.simulate({"Decay Time": taus}, method="scipy", scipy_method=scipy_method,
                         max_steps=2)
    [f] = res.failures
    assert (f.member, f.variable, f.kind) == (0 if members == 1 else -1, SOLVER,
                                              FailureKind.STEP_LIMIT)
    assert f.kind.of_solver and f.kind.is_bound and f.of_solver
    assert f.reason.startswith("step limit reached: 2 steps")


def test_time_limit_failure_has_its_kind(decay):
    [f] = decay.simulate(method="scipy", time_limit=1e-9).failures
    assert (f.variable, f.kind) == (SOLVER, FailureKind.TIME_LIMIT)


def test_failure_kind_survives_the_app_workers_encoding(decay):
    res = decay.simulate(method="scipy", max_steps=2)
    back = result_from_parts(decode(encode(result_parts(res))))
    assert back.failures == res.failures
    assert type(back.failures[0].kind) is FailureKind


def test_an_unknown_failure_kind_is_refused():
    with pytest.raises(ValueError, match="'overflow' is not a valid FailureKind"):
        Failure(0, 0.0, "x", "why", "overflow")
    assert json.loads(json.dumps(FailureKind.STEP_LIMIT)) == "max_steps"


# ---------------------------------------------------------------------------- methods
def _choices(command: str) -> dict[str, list]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {a.dest: a.choices for a in sub.choices[command]._actions if a.choices}


@pytest.mark.parametrize("command", ["simulate", "run"])
def test_command_lines_offer_the_engines_methods(command):
    choices = _choices(command)
    assert list(choices["method"]) == list(METHODS) == ["scipy", "euler", "rk4"]
    assert list(choices["scipy_method"]) == list(SCIPY_METHODS)
    assert list(SCIPY_METHODS) == ["RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA", "DOPRI5"]


def test_simulate_refuses_an_unknown_scipy_method(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["simulate", str(DECAY), "--scipy-method", "RK99"])
    assert exc.value.code == 2
    assert "invalid choice: 'RK99'" in capsys.readouterr().err


# -------------------------------------------------------------- tidy format, at rule
def _scenario_run(res) -> ScenarioRun:
    resolved = SimpleNamespace(scenario=SimpleNamespace(name="policy"))
    return ScenarioRun(resolved=resolved, result=res, method="euler")


@pytest.mark.parametrize("members", [1, 3], ids=["one", "ensemble"])
def test_one_long_format(decay, members):
    taus = 3.0 if members == 1 else np.linspace(2.0, 4.0, members)
    res = decay.simulate({"Decay Time": taus}, method="euler")
    tidy = res.tidy()
    assert list(tidy.columns) == list(TIDY_COLUMNS) == ["run_id", "time", "variable", "value"]
    assert len(tidy) == len(res.times) * members * len(res.variables)
    for name in res.variables:
        block = tidy[tidy["variable"] == name].pivot(index="time", columns="run_id",
                                                     values="value")
        np.testing.assert_array_equal(block.to_numpy(), res.values(name))
    run = _scenario_run(res)
    st = run.tidy()
    assert list(st.columns) == ["run_id", "scenario", "time", "variable", "value"]
    assert (st["scenario"] == "policy").all()
    pd.testing.assert_frame_equal(st.drop(columns="scenario"), tidy)
    if members > 1:
        pd.testing.assert_frame_equal(res.to_frame(), tidy)


@pytest.mark.parametrize("members", [1, 3], ids=["one", "ensemble"])
def test_one_at_rule_a_time_not_saved_is_nan(decay, members):
    taus = 3.0 if members == 1 else np.linspace(2.0, 4.0, members)
    res = decay.simulate({"Decay Time": taus}, method="euler", saveper=1.0)
    run = _scenario_run(res)
    k = 4
    t = float(res.times[k])
    want = res.values("Amount")[k]
    for near in (t, t + AT_TOLERANCE / 2, t - AT_TOLERANCE / 2):
        np.testing.assert_array_equal(np.atleast_1d(res.at("Amount", near)), want)
        np.testing.assert_array_equal(run.at("Amount", near), want)
    for off in (t + 0.5, t + 3 * AT_TOLERANCE, float(res.times[-1]) + 1.0):
        assert np.isnan(res.at("Amount", off)).all() and np.shape(res.at("Amount", off)) == \
            np.shape(res["Amount"][0])
        got = run.at("Amount", off)
        assert got.shape == (members,) and np.isnan(got).all()
