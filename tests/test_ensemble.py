"""Ensembles: one vectorised run equals the member-by-member runs (property-based)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim

MODELS = Path(__file__).parent / "models"


@pytest.fixture(scope="module")
def decay() -> sim.Model:
    return sim.load_model(MODELS / "decay.mdl")


@pytest.fixture(scope="module")
def oscillator() -> sim.Model:
    return sim.load_model(MODELS / "oscillator.mdl")


@pytest.fixture(scope="module")
def kitchen() -> sim.Model:
    """Every supported construct, fed by one constant ``k`` (tests/models/kitchen.mdl)."""
    return sim.load_model(MODELS / "kitchen.mdl")


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
finite = dict(allow_nan=False, allow_infinity=False)


def members(min_value, max_value):
    return st.lists(st.floats(min_value, max_value, **finite), min_size=2, max_size=6)


def assert_equals_singles(model, params: dict, n: int, method: str):
    ens = model.simulate(params, method=method)
    assert ens.n_members == n
    assert ens.failures == []
    for m in range(n):
        one = {k: (v[m] if np.ndim(v) else v) for k, v in params.items()}
        single = model.simulate(one, method=method)
        np.testing.assert_array_equal(ens.times, single.times)
        for name in ens.variables:
            np.testing.assert_allclose(ens[name][:, m], single[name], rtol=1e-12, atol=0, err_msg=f"{name}[{m}]")


@SETTINGS
@given(taus=members(0.5, 50.0), data=st.data())
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_decay_ensemble_equals_single_runs(decay, method, taus, data):
    n = len(taus)
    amounts = data.draw(st.lists(st.floats(0.0, 1e6, **finite), min_size=n, max_size=n))
    assert_equals_singles(decay, {"Decay Time": np.array(taus), "initial_amount": np.array(amounts)}, n, method)


@SETTINGS
@given(omegas=members(0.1, 3.0), x0=st.floats(-10, 10, **finite))
def test_oscillator_ensemble_with_a_scalar_equals_single_runs(oscillator, omegas, x0):
    # an array and a plain float mix: the float is shared by every member
    assert_equals_singles(oscillator, {"Angular Frequency": omegas, "Initial Position": x0}, len(omegas), "euler")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ks=st.lists(st.one_of(st.floats(-3.0, 3.0, **finite), st.sampled_from([-1.0, 0.0, 0.5, 1.0])),
                   min_size=2, max_size=5))
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_every_construct_same_in_ensemble_and_single_runs(kitchen, method, ks):
    # the ensemble runs the numpy primitives with member-varying arguments, a
    # single run the Python-float ones: both must give the same numbers, for
    # zero denominators (k = 0, k = 1), switch times on the grid (k = 0.5, 1)
    # and negative arguments alike
    assert_equals_singles(kitchen, {"k": np.array(ks)}, len(ks), method)


@SETTINGS
@given(taus=members(0.5, 50.0))
def test_scipy_ensemble_is_within_tolerance_of_closed_form(decay, taus):
    # members share the adaptive steps, so compare each with the exact solution, not bit for bit
    res = decay.simulate({"Decay Time": taus}, method="scipy", rtol=1e-8, atol=1e-10)
    exact = 100.0 * np.exp(-res.times[:, None] / np.array(taus)[None, :])
    np.testing.assert_allclose(res["Amount"], exact, rtol=1e-6, atol=1e-8)


@SETTINGS
@given(taus=members(0.5, 50.0), outputs=st.sampled_from([None, ["Amount"], ["Outflow", "Decay Time"]]))
def test_to_frame_long_format(decay, taus, outputs):
    res = decay.simulate({"Decay Time": taus}, method="euler", outputs=outputs)
    df = res.to_frame()
    n, t = len(taus), len(res.times)
    names = res.variables
    assert list(df.columns) == ["run_id", "time", "variable", "value"]
    assert len(df) == n * t * len(names)
    assert sorted(df["variable"].unique()) == sorted(names)
    if outputs is not None:
        assert sorted(names) == sorted(outputs)
    assert sorted(df["run_id"].unique()) == list(range(n))
    np.testing.assert_array_equal(np.unique(df["time"]), res.times)
    # every row is the value of that variable, member and time
    for name in names:
        block = df[df["variable"] == name].pivot(index="time", columns="run_id", values="value")
        np.testing.assert_array_equal(block.to_numpy(), res[name])


def test_single_value_array_is_a_single_run(decay):
    res = decay.simulate({"Decay Time": [3.0]}, method="euler")
    assert res.n_members == 1
    assert res["Amount"].shape == (len(res.times),)
    np.testing.assert_array_equal(res["Amount"], decay.simulate({"Decay Time": 3.0}, method="euler")["Amount"])


def test_ensemble_shapes_and_metadata(decay):
    res = decay.simulate({"Decay Time": np.linspace(1, 5, 7)}, method="rk4")
    assert res["Amount"].shape == (len(res.times), 7)
    assert res.metadata["n_members"] == 7
    assert res.metadata["method"] == "rk4"
    assert res.metadata["params"] == {"Decay Time": "array[7]"}
    assert res.metadata["model_hash"] == decay.model_hash


def test_ensemble_does_not_mutate_inputs(decay):
    taus = np.array([1.0, 2.0, 3.0])
    params = {"Decay Time": taus}
    decay.simulate(params, method="euler")
    np.testing.assert_array_equal(taus, [1.0, 2.0, 3.0])
    assert params == {"Decay Time": taus}
    assert decay.constants["decay_time"] == 2.0


# ----------------------------------------- time series with a value per member
DIGITAL_TRADE = Path(__file__).parents[1] / "model" / "digital_trade.mdl"


@pytest.fixture(scope="module")
def project() -> sim.Model:
    return sim.load_model(DIGITAL_TRADE)


@pytest.mark.parametrize("kernel", ["jit", "python"])
@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("make", [
    lambda v: sim.Ramp(v, 2024, 2030),
    lambda v: sim.Step(v, 2026),
    lambda v: sim.Ramp(1.5, 2024, 2030, before=v),
], ids=["ramp-value", "step-value", "ramp-before"])
def test_time_series_with_a_value_per_member_equals_single_runs(project, method, kernel, make):
    # a lever ramped to a different level in each member: the levels vary, the switch
    # times do not; every member equals its own single run, bit for bit
    levels = np.array([0.8, 1.0, 1.3, 1.6])
    ens = project.simulate({"Talent Training Lever": make(levels), "Reform Pace Lever": 1.2},
                           method=method, kernel=kernel)
    assert ens.n_members == 4 and ens.failures == []
    for m, level in enumerate(levels):
        one = project.simulate({"Talent Training Lever": make(float(level)),
                                "Reform Pace Lever": 1.2}, method=method, kernel=kernel)
        for name in ens.variables:
            np.testing.assert_allclose(ens[name][:, m], one[name], rtol=1e-12, atol=0,
                                       err_msg=f"{name}[{m}]")
    assert np.ptp(ens["Talent Training Lever"], axis=1).max() == pytest.approx(0.8)  # 1.6 - 0.8


def test_time_series_per_member_mixes_with_constant_arrays(project):
    res = project.simulate({"Talent Training Lever": sim.Step(np.array([1.0, 2.0]), 2026),
                            "Reform Pace Lever": np.array([1.0, 1.5])}, method="euler")
    assert res.n_members == 2
    with pytest.raises(sim.ParameterError, match="has 2 values but another parameter has 3"):
        project.simulate({"Talent Training Lever": sim.Step(np.array([1.0, 2.0, 3.0]), 2026),
                          "Reform Pace Lever": np.array([1.0, 1.5])}, method="euler")
    with pytest.raises(sim.ParameterError, match="Ramp: a value per member must be a 1-D array "
                                                 r"of the same length \(3\)"):
        project.simulate({"Talent Training Lever": sim.Ramp(np.array([1.0, 2.0, 3.0]), 2024, 2030,
                                                            before=np.array([1.0, 1.1]))})
