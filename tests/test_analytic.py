"""Analytic cases: the engine against closed-form solutions.

Two fixtures in ``tests/models``:

* ``decay.mdl``: d(Amount)/dt = -Amount / tau, Amount(0) = A0, so
  Amount(t) = A0 exp(-t / tau);
* ``oscillator.mdl``: x'' = -omega^2 x as two stocks (Position, Velocity),
  x(0) = x0, v(0) = 0, so x(t) = x0 cos(omega t), v(t) = -x0 omega sin(omega t).

Fixed-step methods are checked twice: against the exact discrete recurrence
they implement (Vensim's Euler is y[n+1] = y[n] + h f(y[n]); equality to
rounding) and against the continuous solution through their convergence order
(error ~ h^p, p fitted from runs at halved TIME STEP). SciPy runs are checked
against the continuous solution relative to the tolerance requested.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import ode, solve_ivp

import sim
from sim.engine.running.evaluator import Evaluator

MODELS = Path(__file__).parent / "models"

# parameters written in the fixtures (asserted below, so a fixture edit cannot
# silently change what the closed forms mean)
TAU, A0 = 2.0, 100.0
OMEGA, X0 = 1.5, 2.0


def decay_exact(t: np.ndarray) -> dict[str, np.ndarray]:
    return {"Amount": A0 * np.exp(-t / TAU), "Outflow": A0 / TAU * np.exp(-t / TAU)}


def oscillator_exact(t: np.ndarray) -> dict[str, np.ndarray]:
    return {"Position": X0 * np.cos(OMEGA * t), "Velocity": -X0 * OMEGA * np.sin(OMEGA * t),
            "Acceleration": -OMEGA ** 2 * X0 * np.cos(OMEGA * t)}


EXACT = {"decay": decay_exact, "oscillator": oscillator_exact}


@pytest.fixture(scope="module")
def models() -> dict[str, sim.Model]:
    return {name: sim.load_model(MODELS / f"{name}.mdl") for name in EXACT}


def max_rel_error(res: sim.SimulationResult, exact) -> float:
    """Largest error over all saved times and variables, relative to each variable's amplitude."""
    errs = []
    for name, want in exact(res.times).items():
        errs.append(np.max(np.abs(res[name] - want)) / np.max(np.abs(want)))
    return max(errs)


def test_fixture_parameters(models):
    assert models["decay"].constants == {"decay_time": TAU, "initial_amount": A0, "final_time": 10.0,
                                         "initial_time": 0.0, "saveper": 0.5, "time_step": 0.125}
    assert models["oscillator"].constants["angular_frequency"] == OMEGA
    assert models["oscillator"].constants["initial_position"] == X0
    assert models["decay"].stocks == ("amount",)
    assert set(models["oscillator"].stocks) == {"position", "velocity"}


# ------------------------------------------------------- exact discrete recurrences
@pytest.mark.parametrize("h", [0.125, 0.05, 0.5], ids=["h=1/8", "h=0.05", "h=1/2"])
def test_euler_is_the_discrete_recurrence_decay(models, h):
    # y[n] = A0 (1 - h/tau)^n at t = n h
    res = models["decay"].simulate(method="euler", time_step=h)
    n = np.rint(res.times / h)
    np.testing.assert_allclose(res["Amount"], A0 * (1 - h / TAU) ** n, rtol=1e-12)
    np.testing.assert_allclose(res["Outflow"], res["Amount"] / TAU, rtol=1e-14)


@pytest.mark.parametrize("h", [0.0625, 0.25], ids=["h=1/16", "h=1/4"])
def test_euler_is_the_discrete_recurrence_oscillator(models, h):
    # [x, v][n+1] = M [x, v][n] with M = [[1, h], [-omega^2 h, 1]]
    res = models["oscillator"].simulate(method="euler", time_step=h)
    m = np.array([[1.0, h], [-OMEGA ** 2 * h, 1.0]])
    want = np.array([np.linalg.matrix_power(m, int(round(t / h))) @ [X0, 0.0] for t in res.times])
    np.testing.assert_allclose(res["Position"], want[:, 0], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(res["Velocity"], want[:, 1], rtol=1e-11, atol=1e-12)


def test_rk4_is_the_discrete_recurrence_decay(models):
    # one RK4 step of y' = -y/tau multiplies y by the degree-4 Taylor polynomial of exp(-h/tau)
    h = 0.25
    z = -h / TAU
    growth = 1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24
    res = models["decay"].simulate(method="rk4", time_step=h)
    np.testing.assert_allclose(res["Amount"], A0 * growth ** np.rint(res.times / h), rtol=1e-12)


# ------------------------------------------------------------- convergence orders
ORDER_CASES = [
    pytest.param("decay", "euler", 1.0, [1 / 16, 1 / 32, 1 / 64, 1 / 128], id="decay-euler"),
    pytest.param("oscillator", "euler", 1.0, [1 / 64, 1 / 128, 1 / 256, 1 / 512], id="oscillator-euler"),
    pytest.param("decay", "rk4", 4.0, [1 / 4, 1 / 8, 1 / 16, 1 / 32], id="decay-rk4"),
    pytest.param("oscillator", "rk4", 4.0, [1 / 4, 1 / 8, 1 / 16, 1 / 32], id="oscillator-rk4"),
]


@pytest.mark.parametrize(("model", "method", "order", "steps"), ORDER_CASES)
def test_convergence_order(models, model, method, order, steps):
    errors = [max_rel_error(models[model].simulate(method=method, time_step=h), EXACT[model])
              for h in steps]
    assert all(e > 0 for e in errors)
    fitted = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert fitted == pytest.approx(order, abs=0.2), f"errors {errors}"


@pytest.mark.parametrize("model", list(EXACT))
def test_methods_at_the_model_time_step(models, model):
    # at the model's own TIME STEP rk4 is far closer to the closed form than euler
    m = models[model]
    e_euler = max_rel_error(m.simulate(method="euler"), EXACT[model])
    e_rk4 = max_rel_error(m.simulate(method="rk4"), EXACT[model])
    assert e_rk4 < 1e-4
    assert e_rk4 < e_euler / 100


# ---------------------------------------------------------------------- scipy
@pytest.mark.parametrize("scipy_method", ["RK45", "LSODA", "DOP853", "BDF", "DOPRI5"])
@pytest.mark.parametrize("model", list(EXACT))
def test_scipy_tight_tolerance(models, model, scipy_method):
    res = models[model].simulate(method="scipy", scipy_method=scipy_method, rtol=1e-8, atol=1e-10)
    assert res.success
    assert max_rel_error(res, EXACT[model]) < 1e-6


# Error control is local, so the global error may exceed rtol by a small
# factor (the oscillator runs for ~2 periods and accumulates phase error).
# BDF (variable order <= 5, meant for stiff problems) accumulates more on this
# non-stiff oscillator, hence its larger factor.
MULTIPLE = {"RK45": 10, "DOP853": 10, "LSODA": 10, "BDF": 100, "DOPRI5": 10}


@pytest.mark.parametrize("rtol", [1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
@pytest.mark.parametrize("scipy_method", list(MULTIPLE))
@pytest.mark.parametrize("model", list(EXACT))
def test_scipy_error_scales_with_rtol(models, model, scipy_method, rtol):
    res = models[model].simulate(method="scipy", scipy_method=scipy_method, rtol=rtol, atol=rtol * 1e-3)
    err = max_rel_error(res, EXACT[model])
    assert err < MULTIPLE[scipy_method] * rtol


@pytest.mark.parametrize("scipy_method", ["RK45", "LSODA", "DOPRI5"])
def test_last_saved_time_a_rounding_error_past_final_time(models, scipy_method):
    # 0.1 * 7 = 0.7000000000000001 > FINAL TIME 0.7: the last row is still the solution there
    res = models["decay"].simulate(method="scipy", scipy_method=scipy_method, final_time=0.7,
                                   time_step=0.1, saveper=0.1, rtol=1e-9, atol=1e-12)
    assert res.times[-1] > 0.7
    assert res.success
    assert max_rel_error(res, EXACT["decay"]) < 1e-7


@pytest.mark.parametrize("model", list(EXACT))
def test_scipy_saves_at_saveper(models, model):
    m = models[model]
    res = m.simulate(method="scipy")
    c = m.controls
    n = int(round((c.final_time - c.initial_time) / c.saveper))
    np.testing.assert_allclose(res.times, c.initial_time + c.saveper * np.arange(n + 1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scipy_method", ["RK45", "LSODA", "BDF", "DOP853"])
def test_scipy_driver_equals_solve_ivp(models, scipy_method):
    # the engine steps solve_ivp's solver classes itself: on a run without switch
    # times it must return what solve_ivp(..., dense_output=True) returns there
    model = models["oscillator"]
    res = model.simulate(method="scipy", scipy_method=scipy_method, rtol=1e-7, atol=1e-9)
    c = model.controls
    stocks = [model.variables[s].name for s in model.stocks]
    y0 = [res[s][0] for s in stocks]
    ev = Evaluator(model.program, "scalar", {}, {}, 1, kernel="python", continuous=True)
    ev.initialize(c.initial_time, 0.0, c.time_step)
    sol = solve_ivp(lambda t, y: np.array(ev.rates_scalar(t, y.tolist(), False)),
                    (c.initial_time, c.final_time), y0, method=scipy_method, rtol=1e-7, atol=1e-9,
                    dense_output=True)
    want = np.column_stack([sol.sol(t) for t in res.times]).T
    got = np.column_stack([res[s] for s in stocks])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("scipy_method", ["RK45", "RK23", "DOP853"])
def test_restarted_rk_solver_equals_a_new_one_per_segment(scipy_method, monkeypatch):
    # the engine starts the last explicit RK solver again at each switch time instead of
    # building one per segment: the same steps, bit for bit (the project model has 6 segments)
    import sim.engine.running.integrators as integrators

    model = sim.load_model(Path(__file__).parents[1] / "model" / "digital_trade.mdl")
    starts = []
    real = integrators._Starter.__call__
    fresh_each = [False]

    def spy(self, *a):
        if fresh_each[0]:
            self.last = None  # nothing to start again: the starter builds a new solver
        solver = real(self, *a)
        starts.append(solver)  # held, so ids stay distinct
        return solver

    monkeypatch.setattr(integrators._Starter, "__call__", spy)
    reused = model.simulate(scipy_method=scipy_method)
    assert len(starts) == 6 and len({id(s) for s in starts}) == 1
    fresh_each[0] = True
    starts.clear()
    fresh = model.simulate(scipy_method=scipy_method)
    assert len({id(s) for s in starts}) == 6
    for name in fresh.variables:
        np.testing.assert_array_equal(reused[name], fresh[name], err_msg=name)


def test_dopri5_sets_its_first_steps_the_public_way_too(models, monkeypatch):
    # without access to DOPRI5's work array the engine re-creates the integrator with
    # first_step: the same steps, the same numbers
    import sim.engine.running.integrators as integrators

    model = models["oscillator"]
    kw = dict(method="scipy", scipy_method="DOPRI5", rtol=1e-7, atol=1e-9)
    fast = model.simulate(**kw)
    monkeypatch.setattr(integrators, "_dopri5_work", lambda solver: None)
    public = model.simulate(**kw)
    for name in fast.variables:
        np.testing.assert_allclose(public[name], fast[name], rtol=1e-12, atol=1e-15)


def test_dopri5_is_scipy_dopri5_landing_on_each_saved_time(models):
    # DOPRI5 is scipy.integrate.ode("dopri5") integrating from saved time to saved time
    # (the engine starts each call with the solver's last full step instead of DOPRI5's
    # own guess, so the two agree to the tolerance, not to rounding)
    model = models["oscillator"]
    res = model.simulate(method="scipy", scipy_method="DOPRI5", rtol=1e-7, atol=1e-9)
    c = model.controls
    stocks = [model.variables[s].name for s in model.stocks]
    ev = Evaluator(model.program, "scalar", {}, {}, 1, kernel="python", continuous=True)
    y0 = np.array(ev.initialize(c.initial_time, 0.0, c.time_step), dtype=float)
    r = ode(lambda t, y: np.array(ev.rates_scalar(t, y.tolist(), False)))
    r.set_integrator("dopri5", rtol=1e-7, atol=1e-9, nsteps=100_000).set_initial_value(y0, c.initial_time)
    want = [y0] + [np.array(r.integrate(t)) for t in res.times[1:]]
    got = np.column_stack([res[s] for s in stocks])
    np.testing.assert_allclose(got, np.array(want), rtol=1e-6, atol=1e-8)
