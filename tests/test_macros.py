"""Vensim macros (``sim.engine.reading.macros``): one copy of the macro's variables per call.

* Parity: a model calling a macro that holds a stock from several equations
  (with numbers, references and expressions as arguments), a macro calling
  another macro, and two calls in one equation give PySD's own run of the
  same file.
* Analytic: every call has its own stock (``GROW(rate, start)`` is
  ``start * e^(rate t)``), in a subscripted equation too.
* Names: copies are named ``variable.site`` (``.2`` for a second call).
* A recursive macro, a call with the wrong number of arguments and a macro
  with extra outputs are refused at load, naming the file, the macro and the
  construct.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conformance import mdl_text, pysd_run

import sim

GROW = ":MACRO: GROW(rate, start)\nGROW = INTEG(rate * GROW, start)\n\t~\t\n\t~\t\t|\n:END OF MACRO:\n"
HALF = ":MACRO: HALF(x)\nHALF = x / 2\n\t~\t\n\t~\t\t|\n:END OF MACRO:\n"
SMOOTHED = (":MACRO: SMOOTHED(input, tau)\nSMOOTHED = INTEG((doubled - SMOOTHED) / tau, input)\n"
            "\t~\t\n\t~\t\t|\ndoubled = HALF(input) * 2\n\t~\t\n\t~\t\t|\n:END OF MACRO:\n")


def write(path: Path, macros: list[str], equations: list[str], **controls) -> Path:
    """Write a model: ``macros`` (definitions) first, then ``equations`` and the controls."""
    text = mdl_text(equations, **controls)
    path.write_text(text.replace("{UTF-8}\n", "{UTF-8}\n" + "".join(macros), 1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("macros") / "macros.mdl", [GROW, HALF, SMOOTHED], [
        "a = GROW(0.1, 1)", "b = GROW(growth, 2)", "growth = 0.2",
        "c = GROW(growth * 2, a)",
        "y = SMOOTHED(Time, 2) + SMOOTHED(Time * 3, 1)",
        "Region: north, south", "r[Region] = 0.1, 0.3", "x[Region] = GROW(r[Region], 1)",
    ], final=4, step=0.5)


def test_equals_pysd_column_for_column(model_path, tmp_path):
    ours = sim.load_model(model_path).simulate(method="euler").to_frame()
    theirs = pysd_run(model_path, tmp_path)
    for col in ("a", "b", "c", "y"):
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float),
                                   rtol=1e-12, atol=1e-12, err_msg=col)


def test_each_call_has_its_own_stock(model_path):
    res = sim.load_model(model_path).simulate(method="scipy", rtol=1e-10, atol=1e-12)
    t = res.times
    np.testing.assert_allclose(res["a"], np.exp(0.1 * t), rtol=1e-7)
    np.testing.assert_allclose(res["b"], 2 * np.exp(0.2 * t), rtol=1e-7)
    # the argument 'start' of c is the stock a: read at the initial time only
    np.testing.assert_allclose(res["c"], np.exp(0.4 * t), rtol=1e-7)
    np.testing.assert_allclose(res["x[north]"], np.exp(0.1 * t), rtol=1e-7)
    np.testing.assert_allclose(res["x[south]"], np.exp(0.3 * t), rtol=1e-7)


def test_copies_are_named_after_the_call_site(model_path):
    model = sim.load_model(model_path)
    columns = list(model.simulate(method="euler").to_frame().columns)
    for name in ("GROW.a", "GROW.b", "GROW.c", "rate.c", "SMOOTHED.y", "SMOOTHED.y.2",
                 "doubled.y", "doubled.y.2", "HALF.doubled.y", "input.y", "GROW.x(north)"):
        assert name in columns, name
    assert model.variables[model.py_name("GROW.a")].kind == "stock"
    assert model.variables[model.py_name("GROW.x(south)")].kind == "stock"
    assert not any(c.lower() in ("grow", "half", "smoothed", "doubled") for c in columns)


def test_a_macro_defined_after_its_use(tmp_path):
    path = tmp_path / "late.mdl"
    text = mdl_text(["a = GROW(0.5, 3)"], final=1, step=1) + GROW
    path.write_text(text, encoding="utf-8")
    res = sim.load_model(path).simulate(method="euler")
    np.testing.assert_array_equal(res["a"], [3.0, 4.5])


def test_parameters_and_lookups_of_a_macro(tmp_path):
    # a parameter named like a subscript element is the argument, not the element's position
    scale = (":MACRO: SCALE(a1, x)\nSCALE = a1 * shape(x)\n\t~\t\n\t~\t\t|\n"
             "shape((0,0),(10,20))\n\t~\t\n\t~\t\t|\n:END OF MACRO:\n")
    path = write(tmp_path / "lookup.mdl", [scale], ["Dim: a0, a1", "v[Dim] = 1, 2",
                                                     "y = SCALE(3, Time) + SCALE(v[a1], 5)"],
                 final=2, step=1)
    res = sim.load_model(path).simulate(method="euler")
    np.testing.assert_allclose(res["y"], 3 * 2 * res.times + 2 * 10)


@pytest.mark.parametrize(("macros", "equations", "message", "variable"), [
    ([":MACRO: LOOP(x)\nLOOP = LOOP(x) + 1\n\t~\t\n\t~\t\t|\n:END OF MACRO:\n"], ["a = LOOP(1)"],
     r"macro LOOP calls itself \(LOOP -> LOOP\)", "LOOP.a"),
    ([":MACRO: P(x)\nP = Q(x)\n\t~\t\n\t~\t\t|\n:END OF MACRO:\n",
      ":MACRO: Q(x)\nQ = P(x)\n\t~\t\n\t~\t\t|\n:END OF MACRO:\n"], ["a = P(1)"],
     r"macro P calls itself \(P -> Q -> P\)", "Q.P.a"),
    ([GROW], ["a = GROW(1)"],
     r"macro GROW takes 2 argument\(s\) \(rate, start\), the call gives 1", "a"),
    ([":MACRO: M(a : out)\nM = a\n\t~\t\n\t~\t\t|\nout = 2 * a\n\t~\t\n\t~\t\t|\n"
      ":END OF MACRO:\n"], ["b = M(1)"], r"macro M has extra outputs \(out\)", "M"),
])
def test_misused_macros_are_refused(tmp_path, macros, equations, message, variable):
    path = write(tmp_path / "bad.mdl", macros, equations)
    with pytest.raises(sim.ModelError, match=rf"^{re.escape(str(path))}.*{message}") as info:
        sim.load_model(path)
    assert info.value.construct == ":MACRO:"
    assert info.value.variable == variable
