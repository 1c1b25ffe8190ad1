"""Bad input is refused with a message a user can act on; bad numbers are reported, not hidden.

Each error is checked on its message (``pytest.raises(..., match=...)``)
around the one call that must raise.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conformance import mdl_text

import sim
from sim.cli import main as cli_main

MODELS = Path(__file__).parent / "models"
DECAY = MODELS / "decay.mdl"


def write(tmp_path: Path, equations: list[str], name: str = "bad.mdl", **controls) -> Path:
    path = tmp_path / name
    path.write_text(mdl_text(equations, **controls), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def decay() -> sim.Model:
    return sim.load_model(DECAY)


# ------------------------------------------------------------------ model files
UNSUPPORTED = [
    pytest.param("x = GAMMA LN(Time + 1)", "GAMMA LN", id="gamma-ln"),
    pytest.param("x = NPV(Time, 0.1, 0, 1)", "NPV", id="npv"),
    # a file named indirectly (resolved by Vensim from a .lst); GET XLS/DIRECT otherwise run
    pytest.param("x := GET XLS DATA('?data', 'Sheet1', 'A', 'B2')", "GET XLS", id="get-xls-data"),
    pytest.param("x = GET DIRECT CONSTANTS('?data', ',', 'B2')", "GET XLS/DIRECT CONSTANTS",
                 id="get-direct-constants"),
    pytest.param("x = XPULSE(1, 2)", "XPULSE", id="xpulse"),
]


@pytest.mark.parametrize(("equation", "construct"), UNSUPPORTED)
def test_unsupported_function_is_named(tmp_path, equation, construct):
    path = write(tmp_path, [equation])
    pattern = rf"^{re.escape(str(path))}, variable 'x': (function )?{re.escape(construct)}.* not supported"
    with pytest.raises(sim.ModelError, match=pattern):
        sim.load_model(path)


def test_unsupported_function_lists_the_supported_ones(tmp_path):
    path = write(tmp_path, ["x = GAMMA LN(Time + 1)"])
    with pytest.raises(sim.ModelError, match=r"supported: ABS, .*IF THEN ELSE.*XIDZ, ZIDZ") as info:
        sim.load_model(path)
    assert info.value.construct == "GAMMA LN"
    assert info.value.variable == "x"


def test_undefined_name_in_an_equation(tmp_path):
    path = write(tmp_path, ["growth = 2", "x = grwth * 2"])
    with pytest.raises(sim.ModelError, match=r"variable 'x': refers to an undefined variable 'grwth'"):
        sim.load_model(path)


def test_unknown_function_in_an_equation(tmp_path):
    path = write(tmp_path, ["x = FOO BAR(Time)"])
    with pytest.raises(sim.ModelError, match=r"variable 'x': unknown function 'FOO_BAR'"):
        sim.load_model(path)


def test_algebraic_loop(tmp_path):
    path = write(tmp_path, ["x = y + 1", "y = 2 * x"])
    with pytest.raises(sim.ModelError, match=r"circular definition \(algebraic loop\) through (x -> y -> x|y -> x -> y)"):
        sim.load_model(path)


GARBAGE = [
    pytest.param("this is not a model\nfoo bar baz {{{ ~~~ |||\n", id="garbage-text"),
    pytest.param("x = (1 + \n\t~\t\n\t~\t\t|\n", id="unbalanced-parenthesis"),
]


@pytest.mark.parametrize("text", GARBAGE)
def test_malformed_file(tmp_path, text):
    path = tmp_path / "garbage.mdl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(sim.ModelError, match=rf"^{re.escape(str(path))}: cannot be parsed as a Vensim model"):
        sim.load_model(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mdl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(sim.ModelError, match=rf"^{re.escape(str(path))}: "):
        sim.load_model(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "missing.mdl"
    with pytest.raises(sim.ModelError, match=rf"^{re.escape(str(path))}: no such model file"):
        sim.load_model(path)


def test_not_an_mdl_file(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("x = 1", encoding="utf-8")
    with pytest.raises(sim.ModelError, match=r"unsupported file type '.txt'; expected a Vensim .mdl"):
        sim.load_model(path)


def test_an_xmile_file_without_its_namespace(tmp_path):
    path = tmp_path / "model.xmile"
    path.write_text("<xmile/>", encoding="utf-8")
    with pytest.raises(sim.ModelError, match=r"not an XMILE model: the root element is <xmile> "
                       "without a default namespace"):
        sim.load_model(path)


@pytest.mark.parametrize("step", [0, -0.5], ids=["zero", "negative"])
def test_time_step_in_the_file_must_be_positive(tmp_path, step):
    path = write(tmp_path, ["x = Time"], step=step, saveper=1)
    # refused at load or at simulate, but refused, with the value
    with pytest.raises(sim.SimError, match=rf"TIME STEP must be a positive number, got {float(step)}"):
        sim.load_model(path).simulate(method="euler")


# ------------------------------------------------------------------- simulate
@pytest.mark.parametrize("step", [0, -0.125, float("nan")], ids=["zero", "negative", "nan"])
def test_time_step_override_must_be_positive(decay, step):
    with pytest.raises(sim.ParameterError, match=r"TIME STEP must be a positive number, got "):
        decay.simulate(method="euler", time_step=step)


def test_unknown_method(decay):
    with pytest.raises(sim.ParameterError, match=r"method 'leapfrog' is not one of scipy, euler, rk4"):
        decay.simulate(method="leapfrog")


def test_unknown_scipy_method(decay):
    with pytest.raises(sim.ParameterError, match=r"scipy_method 'Euler' is not one of RK45"):
        decay.simulate(method="scipy", scipy_method="Euler")


@pytest.mark.parametrize("rtol", [0, -1e-6], ids=["zero", "negative"])
def test_tolerance_must_be_positive(decay, rtol):
    with pytest.raises(sim.ParameterError, match=r"rtol must be a positive number"):
        decay.simulate(method="scipy", rtol=rtol)


def test_saveper_must_be_a_multiple_of_time_step(decay):
    with pytest.raises(sim.ParameterError, match=r"SAVEPER \(0.3\) must be a whole multiple of TIME STEP \(0.125\)"):
        decay.simulate(method="euler", saveper=0.3)


def test_final_time_must_follow_initial_time(decay):
    with pytest.raises(sim.ParameterError, match=r"FINAL TIME \(-1.0\) must be after INITIAL TIME \(0.0\)"):
        decay.simulate(method="euler", final_time=-1)


def test_unknown_parameter_lists_close_names(decay):
    with pytest.raises(sim.ParameterError, match=r"no variable named 'Decay Tme'; did you mean 'Decay Time'"):
        decay.simulate({"Decay Tme": 3.0}, method="euler")


def test_unknown_output_lists_close_names(decay):
    with pytest.raises(sim.ParameterError, match=r"no variable named 'Amont'; did you mean 'Amount'"):
        decay.simulate(method="euler", outputs=["Amont"])


def test_only_constants_can_be_set(decay):
    with pytest.raises(sim.ParameterError, match=r"'Outflow' is a flow, not a constant"):
        decay.simulate({"Outflow": 3.0}, method="euler")


@pytest.mark.parametrize("value", ["hot", None, {"a": 1}, True],
                         ids=["string", "none", "dict", "bool"])
def test_non_numeric_override(decay, value):
    with pytest.raises(sim.ParameterError, match=r"parameter 'Decay Time': expected a number"):
        decay.simulate({"Decay Time": value}, method="euler")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1.0, float("nan")]], ids=["nan", "inf", "array-nan"])
def test_non_finite_override(decay, value):
    with pytest.raises(sim.ParameterError, match=r"parameter 'Decay Time': values? must be finite"):
        decay.simulate({"Decay Time": value}, method="euler")


def test_ensemble_arrays_of_different_lengths(decay):
    params = {"Decay Time": [1.0, 2.0, 3.0], "Initial Amount": [10.0, 20.0]}
    with pytest.raises(sim.ParameterError, match=r"'Initial Amount': has 2 values but another parameter has 3; "
                                                 r"all ensemble arrays must have the same length"):
        decay.simulate(params, method="euler")


@pytest.mark.parametrize("value", [[[1.0, 2.0]], []], ids=["2-D", "empty"])
def test_ensemble_array_must_be_1d_and_non_empty(decay, value):
    with pytest.raises(sim.ParameterError, match=r"must be a 1-D array with one value per member"):
        decay.simulate({"Decay Time": value}, method="euler")


def test_time_varying_controls_refuse_scipy(tmp_path):
    path = write(tmp_path, ["x = Time"], step="IF THEN ELSE(Time < 2, 0.5, 0.25)", saveper="TIME STEP")
    model = sim.load_model(path)
    with pytest.raises(sim.ParameterError, match=r"TIME STEP, SAVEPER or FINAL TIME change over time; "
                                                 r"such models run with method='euler' only"):
        model.simulate(method="scipy")


# ------------------------------------------------------------------------- CLI
def test_cli_unknown_set_name(capsys, tmp_path):
    code = cli_main(["simulate", str(DECAY), "--set", "Decay Tme=3", "-o", str(tmp_path / "out.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(r"^error: .*no variable named 'Decay Tme'; did you mean 'Decay Time'", err)
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(("item", "message"), [
    ("Decay Time=slow", r"--set 'Decay Time=slow': value 'slow' is not a number"),
    ("Decay Time", r"--set 'Decay Time': expected NAME=VALUE"),
], ids=["non-numeric", "no-equals"])
def test_cli_bad_set_value(capsys, tmp_path, item, message):
    code = cli_main(["simulate", str(DECAY), "--set", item, "-o", str(tmp_path / "out.csv")])
    assert code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out.csv").exists()


def test_cli_missing_model(capsys, tmp_path):
    missing = tmp_path / "missing.mdl"
    assert cli_main(["simulate", str(missing)]) == 2
    assert re.search(rf"error: {re.escape(str(missing))}: no such model file", capsys.readouterr().err)


# ------------------------------------------------------ non-finite ensemble members
@pytest.fixture(scope="module")
def fragile(tmp_path_factory) -> sim.Model:
    """Return a model: a stock fed by 1/divisor, one fed by 1/(Blowup Time - Time), and one that decays."""
    path = write(tmp_path_factory.mktemp("fragile"), [
        "divisor = 1", "Inflow = 1 / divisor", "Stock = INTEG(Inflow, 0)",
        "Blowup Time = 10", "Risky = 1 / (Blowup Time - Time)", "Other = INTEG(Risky, 0)",
        "Decaying = INTEG(-Decaying / 3, 1)"],
        name="fragile.mdl")
    return sim.load_model(path)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_zero_divisor_member_is_masked(fragile, method):
    res = fragile.simulate({"divisor": [1.0, 0.0, 2.0]}, method=method)
    assert res.failures == [sim.Failure(member=1, time=0.0, variable="Inflow")]
    assert not res.success
    for name in res.variables:
        assert np.isnan(res[name][:, 1]).all(), name
    for member, divisor in ((0, 1.0), (2, 2.0)):
        single = fragile.simulate({"divisor": divisor}, method=method)
        for name in res.variables:
            np.testing.assert_array_equal(res[name][:, member], single[name], err_msg=name)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_member_masked_from_the_time_it_fails(fragile, method):
    # member 1 divides by zero at t = 2 (a saved time); it is kept before, NaN from then on
    res = fragile.simulate({"Blowup Time": [10.0, 2.0, 10.5]}, method=method)
    assert res.failures == [sim.Failure(member=1, time=2.0, variable="Risky")]
    before = res.times < 2.0
    single = fragile.simulate({"Blowup Time": 2.0}, method=method)
    for name in res.variables:
        np.testing.assert_array_equal(res[name][before, 1], single[name][before], err_msg=name)
        assert np.isnan(res[name][~before, 1]).all(), name
    for member, value in ((0, 10.0), (2, 10.5)):
        single = fragile.simulate({"Blowup Time": value}, method=method)
        for name in res.variables:
            np.testing.assert_array_equal(res[name][:, member], single[name], err_msg=name)


@pytest.mark.parametrize("scipy_method", ["RK45", "DOPRI5"])
def test_zero_divisor_member_is_masked_scipy(fragile, scipy_method):
    res = fragile.simulate({"divisor": [1.0, 0.0, 2.0]}, method="scipy", rtol=1e-8, atol=1e-10,
                           scipy_method=scipy_method)
    assert [(f.member, f.variable) for f in res.failures] == [(1, "Inflow")]
    assert res.failures[0].time == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(res["Stock"][1:, 1]).all()
    for member, divisor in ((0, 1.0), (2, 2.0)):
        single = fragile.simulate({"divisor": divisor}, method="scipy", rtol=1e-8, atol=1e-10,
                                  scipy_method=scipy_method)
        np.testing.assert_allclose(res["Stock"][:, member], single["Stock"], rtol=1e-7, atol=1e-9)


def test_single_run_reports_non_finite(fragile):
    res = fragile.simulate({"divisor": 0.0}, method="euler")
    assert res.failures == [sim.Failure(member=0, time=0.0, variable="Inflow")]
    assert not res.success


@pytest.mark.parametrize("scipy_method", ["RK45", "DOPRI5"])
def test_single_scipy_run_reports_non_finite(fragile, scipy_method):
    res = fragile.simulate({"divisor": 0.0}, method="scipy", scipy_method=scipy_method)
    assert not res.success
    assert len(res.failures) == 1
    assert res.failures[0].member == 0
    assert res.failures[0].time == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("scipy_method", ["RK45", "DOPRI5"])
def test_scipy_ensemble_singular_member_does_not_sink_the_others(fragile, scipy_method):
    # member 1 integrates 1/(2 - Time): the solver cannot pass t = 2 for it;
    # it is frozen and reported, and the others complete
    kw = dict(method="scipy", rtol=1e-8, atol=1e-10, scipy_method=scipy_method)
    res = fragile.simulate({"Blowup Time": [10.0, 2.0, 10.5]}, **kw)
    assert [(f.member, f.variable) for f in res.failures] == [(1, "Other")]
    assert res.failures[0].time == pytest.approx(2.0, abs=1e-6)
    for member, value in ((0, 10.0), (2, 10.5)):
        single = fragile.simulate({"Blowup Time": value}, **kw)
        assert single.success
        for name in res.variables:
            np.testing.assert_allclose(res[name][:, member], single[name], rtol=1e-6, atol=1e-9, err_msg=name)
    before = res.times < 2.0
    exact = -np.log1p(-res.times[before] / 2.0)  # integral of 1/(2 - s) from 0 to t
    np.testing.assert_allclose(res["Other"][before, 1], exact, rtol=1e-6)
    assert np.isnan(res["Other"][~before, 1]).all()


@pytest.mark.parametrize("method", ["euler", "scipy"])
@pytest.mark.parametrize("kernel", ["jit", "python"])
def test_first_member_failing_leaves_shared_quantities_right(fragile, method, kernel):
    # 'Decaying' does not depend on the divisor: the same for every member, computed once by
    # the tape; member 0 is frozen at t = 0, so it must be computed for a member still running
    kw = dict(method=method, kernel=kernel) | ({"rtol": 1e-8, "atol": 1e-10} if method == "scipy" else {})
    res = fragile.simulate({"divisor": [0.0, 1.0, 2.0]}, **kw)
    assert [(f.member, f.variable) for f in res.failures] == [(0, "Inflow")]
    # (scipy: the members share adaptive steps, so they agree with single runs to its tolerance)
    rtol = 1e-6 if method == "scipy" else 1e-12
    for member, divisor in ((1, 1.0), (2, 2.0)):
        single = fragile.simulate({"divisor": divisor}, **kw)
        for name in res.variables:
            np.testing.assert_allclose(res[name][:, member], single[name], rtol=rtol, atol=1e-12,
                                       err_msg=name)
