"""Issue #16, reliability: no run hangs, every failure is reported the same way, Ctrl-C stops.

Each SciPy run is bounded (steps, wall time; a collapsed step size is a failure) and a
failure reads (member, time, variable or 'solver', reason) for every method. Each test
states the exact outcome and runs under a watchdog, so a hang is a failure, not a stuck
suite. The Ctrl-C tests start the real program in a subprocess and send it SIGINT.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conformance import mdl_text

import sim
from sim.cli import main
from sim.engine.results import NON_FINITE, SOLVER, Failure
from sim.engine.running.integrators import DEFAULT_MAX_STEPS, DEFAULT_TIME_LIMIT, SCIPY_METHODS

REPO = Path(__file__).resolve().parents[2]
PROJECT_MODEL = REPO / "model" / "digital_trade.mdl"
METHODS = [("euler", None), ("rk4", None)] + [("scipy", m) for m in SCIPY_METHODS]
IDS = ["euler", "rk4"] + list(SCIPY_METHODS)
WATCHDOG_S = 30  # a test still running after this long has hung


class Hung(Exception):
    """Raised by the watchdog in a test that runs too long."""


@pytest.fixture(autouse=True)
def watchdog():
    """Fail, instead of hanging, a test that runs longer than WATCHDOG_S."""
    def fire(signum, frame):
        raise Hung(f"still running after {WATCHDOG_S} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def kw(method: str, scipy_method: str | None) -> dict:
    return {"method": method} | ({"scipy_method": scipy_method} if scipy_method else {})


def write(tmp: Path, name: str, equations: list[str], **controls) -> Path:
    path = tmp / name
    path.write_text(mdl_text(equations, **controls), encoding="utf-8")
    return path


# A model that divides by zero at t = 0: by a constant 0 (LSODA stepped forever; BDF and
# Radau raised ValueError; RK45/RK23/DOP853/DOPRI5 printed SciPy's text as the variable),
# and by a stock's initial value (the model did not even load: ZeroDivisionError).
DIVIDE_BY_ZERO = {
    "constant": ["zero = 0", "rate = x / zero", "x = INTEG(rate, 1)"],
    "initial value": ["rate = 1 / (x - 1)", "x = INTEG(rate, 1)"],
}
# An oscillation over 10^7 time units (millions of steps for every solver), saved once:
# DOPRI5's compiled code runs the whole horizon in one call
LONG = ["w = 1", "x = INTEG(w * COS(Time), 0)"]
LONG_CONTROLS = {"final": "1e+07", "step": 1, "saveper": "1e+07"}


@pytest.fixture(scope="module")
def project() -> sim.Model:
    return sim.load_model(PROJECT_MODEL)


@pytest.fixture(scope="module")
def long_model(tmp_path_factory) -> sim.Model:
    return sim.load_model(write(tmp_path_factory.mktemp("long"), "long.mdl", LONG,
                                **LONG_CONTROLS))


# ------------------------------------------------------------------ One Year = 0
@pytest.mark.parametrize("method,scipy_method", METHODS, ids=IDS)
def test_one_year_zero_fails_at_once_as_euler_reports_it(project, method, scipy_method):
    # 'One Year' divides the growth rates: 0 makes them NaN (0 * inf before 2022) at the
    # start; RK45 hung (> 10 min) on the NaN first step size it guessed from them
    start = time.monotonic()
    res = project.simulate({"One Year": 0.0}, **kw(method, scipy_method))
    assert time.monotonic() - start < 10
    euler = project.simulate({"One Year": 0.0}, method="euler")
    t0 = project.controls.initial_time
    assert [(f.member, f.time) for f in euler.failures] == [(0, t0)]
    assert euler.failures[0].variable != SOLVER
    assert [(f.member, f.time, f.variable) for f in res.failures] == \
        [(f.member, f.time, f.variable) for f in euler.failures]
    assert res.failures == euler.failures == [Failure(0, t0, euler.failures[0].variable,
                                                      NON_FINITE)]
    assert np.isnan(res.values(euler.failures[0].variable)).all()


def test_one_year_zero_sim_simulate_exits_1_with_one_line(tmp_path, capsys):
    out = tmp_path / "run.csv"
    start = time.monotonic()
    assert main(["simulate", str(PROJECT_MODEL), "--set", "One Year=0", "-o", str(out)]) == 1
    assert time.monotonic() - start < 20
    err = capsys.readouterr().err
    t0 = f"{sim.load_model(PROJECT_MODEL).controls.initial_time:.10g}"
    assert re.fullmatch(rf"failed: member 0, time {t0}, '[^']+': non-finite value\n", err), err
    assert out.exists()  # the run's values up to the failure (NaN from there)


TINY = [  # the trade outputs `sim run` summarises; growth divided by One Year as in the model
    "One Year = 1", "Adjustment Rate = 1",
    "World Growth Rate = STEP(1, 2022) * LN(1 + 0.08) / One Year",
    "Export Change = World Growth Rate * Digitally Deliverable Exports + Adjustment Rate * "
    "(100 * (1 + 0.5 * SIN(Time)) - Digitally Deliverable Exports)",
    "Digitally Deliverable Exports = INTEG(Export Change, 100)",
    "Digitally Deliverable Imports = INTEG(0.05 * Digitally Deliverable Imports, 80)",
    "Digital Trade Balance = Digitally Deliverable Exports - Digitally Deliverable Imports",
]
SCENARIO = """\
name: {name}
description: issue 16
base: model
parameters: {{{parameter}: {value}}}
outputs: [Digitally Deliverable Exports, Digitally Deliverable Imports, Digital Trade Balance]
"""


def tiny_run(tmp_path: Path, parameter: str, value: float, name: str) -> list[str]:
    model = write(tmp_path, "tiny.mdl", TINY, initial=2015, final=2035, step=0.25)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO.format(name=name, parameter=parameter, value=value),
                        encoding="utf-8")
    return ["run", str(scenario), "--model", str(model), "--no-calibration",
            "--out", str(tmp_path / "out"), "--no-progress", "--no-charts"]


def test_one_year_zero_scenario_sim_run_fails_that_scenario(tmp_path, capsys):
    # `sim run` hung (> 90 s) on a schema-valid scenario with parameters {One Year: 0}
    start = time.monotonic()
    assert main(tiny_run(tmp_path, "One Year", 0, "one year zero")) == 1
    assert time.monotonic() - start < 20
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert ("FAILED: " + str(tmp_path / "scenario.yaml") + ", scenario 'one year zero': "
            "numerical failure at t = 2015: 'World Growth Rate' became non-finite\n") in err
    assert "(1 scenario(s), 1 failed)" in err  # the base run (as baseline) ran


# ------------------------------------------------------------ huge elasticity
def test_huge_elasticity_ends_at_the_step_limit(tmp_path, capsys):
    # Export Capability ^ 1e308: RK45 crawled at ~1e-9 year a step (> 120 s); now the step
    # budget ends it with one line naming member, time, 'solver' and the reason
    args = ["simulate", str(PROJECT_MODEL), "--allow-out-of-range", "--set",
            "Share Elasticity to Capability=1e308", "--max-steps", "2000",
            "-o", str(tmp_path / "run.csv")]
    start = time.monotonic()
    assert main(args) == 1
    assert time.monotonic() - start < 20
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: --set 'Share Elasticity to Capability=1e+308'")
    m = re.fullmatch(r"failed: member 0, time ([0-9.e+-]+), solver: step limit reached: 2000 "
                     r"steps \(max_steps\)", err[1])
    assert m and 2015 < float(m.group(1)) < 2015.01, err
    assert len(err) == 2


def test_huge_elasticity_ends_at_the_time_limit(project):
    start = time.monotonic()
    res = project.simulate({"Share Elasticity to Capability": 1e308}, time_limit=1.0)
    took = time.monotonic() - start
    assert 1.0 <= took < 4.0
    [f] = res.failures
    assert (f.member, f.variable, f.reason) == (0, SOLVER, "time limit reached: 1 s (time_limit)")
    assert 2015 < f.time < 2016
    assert res.metadata["max_steps"] == DEFAULT_MAX_STEPS == 100_000


# ---------------------------------------------------------- divide by zero at t = 0
@pytest.mark.parametrize("case", list(DIVIDE_BY_ZERO))
@pytest.mark.parametrize("method,scipy_method", METHODS, ids=IDS)
def test_divide_by_zero_at_t0_is_named_by_every_method(tmp_path, case, method, scipy_method):
    model = sim.load_model(write(tmp_path, "div.mdl", DIVIDE_BY_ZERO[case], final=10, step=0.25))
    start = time.monotonic()
    res = model.simulate(**kw(method, scipy_method))
    assert time.monotonic() - start < 5
    assert [(f.member, f.time, f.variable) for f in res.failures] == [(0, 0.0, "rate")]
    assert res.failures == [Failure(0, 0.0, "rate", NON_FINITE)]
    assert np.isnan(res["x"][1:]).all()


@pytest.mark.parametrize("scipy_method", SCIPY_METHODS)
def test_divide_by_zero_in_one_member_masks_it_only(tmp_path, scipy_method):
    model = sim.load_model(write(tmp_path, "div.mdl", DIVIDE_BY_ZERO["constant"], final=10,
                                 step=0.25))
    res = model.simulate({"zero": [1.0, 0.0]}, scipy_method=scipy_method)
    [f] = res.failures  # (seen inside the first segment: a hair after t = 0)
    assert (f.member, f.variable) == (1, "rate")
    assert f.time == pytest.approx(0.0, abs=1e-9)
    assert f.reason == NON_FINITE
    one = model.simulate({"zero": 1.0}, scipy_method=scipy_method)
    np.testing.assert_allclose(res["x"][:, 0], one["x"], rtol=1e-4)


@pytest.mark.parametrize("scipy_method", SCIPY_METHODS)
def test_divide_by_zero_sim_simulate_prints_the_variable(tmp_path, capsys, scipy_method):
    path = write(tmp_path, "div.mdl", DIVIDE_BY_ZERO["constant"], final=10, step=0.25)
    assert main(["simulate", str(path), "--scipy-method", scipy_method,
                 "-o", str(tmp_path / "run.csv")]) == 1
    assert capsys.readouterr().err == "failed: member 0, time 0, 'rate': non-finite value\n"


# ------------------------------------------------------------------ the bounds
@pytest.mark.parametrize("scipy_method", SCIPY_METHODS)
def test_max_steps_is_honoured_by_every_scipy_method(long_model, scipy_method):
    res = long_model.simulate(scipy_method=scipy_method, max_steps=200)
    [f] = res.failures
    assert (f.member, f.variable, f.reason) == (0, SOLVER, "step limit reached: 200 steps "
                                                           "(max_steps)")
    assert 0 < f.time < 1e7
    assert np.isnan(res["x"][-1])


@pytest.mark.parametrize("scipy_method", SCIPY_METHODS)
def test_time_limit_is_honoured_by_every_scipy_method(long_model, scipy_method):
    start = time.monotonic()
    res = long_model.simulate(scipy_method=scipy_method, time_limit=0.3, max_steps=10**9)
    took = time.monotonic() - start
    assert 0.3 <= took < 2.0
    [f] = res.failures
    assert (f.member, f.variable, f.reason) == (0, SOLVER, "time limit reached: 0.3 s "
                                                           "(time_limit)")


@pytest.mark.parametrize("scipy_method", SCIPY_METHODS)
def test_a_bound_stops_the_whole_ensemble(long_model, scipy_method):
    res = long_model.simulate({"w": [1.0, 2.0]}, scipy_method=scipy_method, max_steps=100)
    [f] = res.failures
    assert (f.member, f.variable, f.reason) == (-1, SOLVER, "step limit reached: 100 steps "
                                                            "(max_steps)")
    assert np.isnan(res["x"][-1]).all()


def test_bounds_are_checked(long_model, capsys):
    with pytest.raises(sim.ParameterError, match=r"max_steps must be a whole number >= 1, got 0"):
        long_model.simulate(max_steps=0)
    with pytest.raises(sim.ParameterError, match=r"time_limit must be a positive number of "
                                                 r"seconds, got -1"):
        long_model.simulate(time_limit=-1)
    with pytest.raises(SystemExit) as info:
        main(["simulate", "x.mdl", "--time-limit", "0"])
    assert info.value.code == 2
    assert "argument --time-limit: must be a positive number of seconds, got 0" in \
        capsys.readouterr().err
    assert DEFAULT_TIME_LIMIT == 60.0


# -------------------------------------------------------------------- Ctrl-C
def start_sim(args: list[str], cwd: Path) -> subprocess.Popen:
    """Start the `sim` program (its console entry point, main() reading sys.argv).

    It says 'started' on standard error once imported (a SIGINT before would
    hit Python's import).
    """
    code = ("import sys; from sim.cli import main; sys.stderr.write('started\\n'); "
            "sys.stderr.flush(); sys.exit(main())")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


def interrupt(proc: subprocess.Popen, busy_s: float) -> tuple[int, str, float]:
    """Send SIGINT ``busy_s`` after the program started.

    Returns (exit code, stderr after 'started', seconds from SIGINT to exit).
    """
    assert proc.stderr.readline() == "started\n"
    time.sleep(busy_s)
    assert proc.poll() is None, "the command ended before it was interrupted"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("SIGINT did not stop the command within 10 s")
    return proc.returncode, err, time.monotonic() - sent


@pytest.mark.parametrize("scipy_method", ["RK45", "LSODA", "DOPRI5"])
def test_sigint_stops_sim_simulate_within_a_second(tmp_path, scipy_method):
    # started with SIGINT ignored, as a non-interactive shell starts `sim ... &`: Ctrl-C and
    # kill -INT were ignored; DOPRI5's compiled loop held the KeyboardInterrupt to its end
    model = write(tmp_path, "long.mdl", LONG, **LONG_CONTROLS)
    out = tmp_path / "run.csv"
    proc = start_sim(["simulate", str(model), "--scipy-method", scipy_method, "--max-steps",
                      "1000000000", "--time-limit", "none", "-o", str(out)], tmp_path)
    code, err, took = interrupt(proc, busy_s=2.0)
    assert (code, err) == (130, "interrupted\n")
    assert took < 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mdl"]  # no CSV, no temp file


def test_sigint_stops_sim_run_within_a_second(tmp_path):
    # a scenario the default RK45 integrates for ~10^9 steps (Adjustment Rate 1e9: stiff)
    args = tiny_run(tmp_path, "Adjustment Rate", 1e9, "stiff") + [
        "--max-steps", "1000000000", "--time-limit", "none"]
    proc = start_sim(args, tmp_path)
    code, err, took = interrupt(proc, busy_s=3.0)
    assert code == 130
    assert err.endswith("interrupted\n") and "Traceback" not in err
    assert took < 1.0


def test_sigint_while_the_sim_program_loads_is_no_traceback(tmp_path):
    # `import sim` is light (its public names load on first use), so a Ctrl-C while numpy,
    # pandas and PySD load falls inside main(): one line and 130, not an import traceback
    code = ("import sys; t0 = __import__('time').monotonic(); from sim.cli import main; "
            "sys.stderr.write(f'imported {__import__(\"time\").monotonic() - t0:.3f}\\n'); "
            "sys.stderr.write(str('numpy' in sys.modules) + '\\n'); sys.stderr.flush(); "
            "sys.exit(main())")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(REPO / "scenarios"),
                             "--out", str(tmp_path / "out"), "--no-progress"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline().startswith("imported ")
    assert proc.stderr.readline() == "False\n"  # numpy not loaded yet: main() loads it
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == "interrupted\n"
    assert not (tmp_path / "out").exists()
